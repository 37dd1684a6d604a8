"""Was a fault caught, and by which tests? The mutation score.

A fault is *caught* when a test carrying one of its contract IDs fails (or
errors) against the faulty runtime while it passed against the clean one:
the suite failed, and in the right test. *Caught elsewhere* means only other
tests failed, or the session failed without a test failing (the leak check,
the suite refusing the runtime at start-up): the suite fails, but the
contract's own tests do not notice. A fault that is not caught fails the
self-test unless it is listed as accepted, with a reason; an accepted fault
that is caught after all is reported, so the list can be brought up to date.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cri_conformance.fixtures.proxy import Fault
from cri_conformance.known_failures import version_in_range
from cri_conformance.selftest.plan import NO_TEST, UNTESTABLE, FaultPlan
from cri_conformance.selftest.runner import RunResult

CAUGHT = "caught"
ELSEWHERE = "caught-elsewhere"
SURVIVED = "survived"
ACCEPTED = "accepted"  # not caught, listed with a reason
BROKEN = "broken-fault"  # the fault itself raised: its result would mean nothing
RUN_ERROR = "run-error"  # the run did not complete (killed, internal error, nothing ran)

FAILS_SELFTEST = (ELSEWHERE, SURVIVED, BROKEN, RUN_ERROR)
KILLED = (CAUGHT, ELSEWHERE)
ORDER = (CAUGHT, ELSEWHERE, SURVIVED, ACCEPTED, BROKEN, RUN_ERROR, UNTESTABLE, NO_TEST)

# pytest exit statuses (pytest.ExitCode)
EXIT_TESTS_FAILED, EXIT_INTERRUPTED, EXIT_INTERNAL_ERROR, EXIT_USAGE_ERROR, EXIT_NO_TESTS = 1, 2, 3, 4, 5


@dataclass
class Verdict:
    fault: Fault
    status: str
    detail: str = ""
    caught_by: list[str] = field(default_factory=list)  # tests of the fault's contracts that failed
    also_failed: list[str] = field(default_factory=list)  # other tests that failed
    hits: int = 0  # calls the fault intercepted
    seconds: float = 0.0
    tests_run: int = 0
    # Listed as accepted, yet caught. Only a warning: a weak test may catch a fault
    # now and then (e.g. when another run's pods happen to be listed too).
    stale_acceptance: str = ""

    @property
    def fails_selftest(self) -> bool:
        return self.status in FAILS_SELFTEST


@dataclass(frozen=True)
class AcceptedSurvivor:
    fault: str
    reason: str
    runtime: str = ""  # only for this runtime (Version.runtime_name); empty: any
    versions: str = ""  # and these versions, e.g. ">=1.6, <1.7" (see known_failures.py)

    def applies_to(self, runtime: str, version: str) -> bool:
        if self.runtime and self.runtime != runtime:
            return False
        return not self.versions or version_in_range(version, self.versions)


def load_accepted(path: Path | None = None) -> list[AcceptedSurvivor]:
    """The accepted survivors: the shipped list, or the one in `path`."""
    if path is None:
        text = resources.files("cri_conformance").joinpath("data", "selftest-accepted.toml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return [AcceptedSurvivor(**entry) for entry in tomllib.loads(text).get("accepted", [])]


def accepted_for(entries: list[AcceptedSurvivor], runtime: str, version: str) -> dict[str, str]:
    """Fault name -> why the suite may miss it on this runtime."""
    return {entry.fault: entry.reason for entry in entries if entry.applies_to(runtime, version)}


def judge(plan: FaultPlan, run: RunResult | None, hits: int, crashes: list[str],
          accepted: dict[str, str]) -> Verdict:
    if plan.not_run or run is None:
        return Verdict(plan.fault, plan.not_run or NO_TEST, plan.detail)
    verdict = Verdict(plan.fault, SURVIVED, hits=hits, seconds=run.seconds, tests_run=len(run.outcomes))
    contract_keys = {test.key for test in plan.runnable}
    verdict.caught_by = [key for key in run.failing() if key in contract_keys]
    verdict.also_failed = [key for key in run.failing() if key not in contract_keys]
    if crashes:
        verdict.status, verdict.detail = BROKEN, "the fault raised: " + "; ".join(crashes[:3])
    elif run.timed_out or run.returncode in (EXIT_INTERRUPTED, EXIT_INTERNAL_ERROR, EXIT_NO_TESTS):
        verdict.status = RUN_ERROR
        verdict.detail = f"the run did not complete (exit {run.returncode}{', killed' if run.timed_out else ''}); see {run.log}"
    elif verdict.caught_by:
        verdict.status = CAUGHT
    elif verdict.also_failed:
        verdict.status, verdict.detail = ELSEWHERE, "no test of its contract failed, only other tests"
    elif run.returncode == EXIT_USAGE_ERROR:
        verdict.status, verdict.detail = ELSEWHERE, f"the suite refused the runtime at start-up; see {run.log}"
    elif run.returncode != 0:
        verdict.status, verdict.detail = ELSEWHERE, f"the session failed (exit {run.returncode}) with no test failing, e.g. its leak check; see {run.log}"
    else:
        never_called = " - its RPCs were never called" if hits == 0 else ""
        verdict.detail = f"every test passed against the faulty runtime{never_called}"
    not_run = [test.key for test in plan.runnable if test.key not in run.outcomes]
    if not_run and verdict.status != CAUGHT:
        verdict.detail += f"; did not run: {', '.join(not_run)}"
    reason = accepted.get(plan.fault.name)
    if reason and verdict.status in (SURVIVED, ELSEWHERE):
        verdict.status, verdict.detail = ACCEPTED, f"{verdict.detail} (accepted: {reason})"
    elif reason and verdict.status == CAUGHT:
        verdict.stale_acceptance = "listed as accepted, yet caught: remove the entry if it stays caught"
    return verdict


@dataclass(frozen=True)
class Score:
    killed: int  # caught, in the right test or elsewhere
    right_test: int  # caught by a test of the fault's contract
    run: int  # faults that ran: killed + survived + accepted + broken + errors

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.run if self.run else 0.0


def score(verdicts: list[Verdict]) -> Score:
    ran = [v for v in verdicts if v.status not in (NO_TEST, UNTESTABLE)]
    return Score(killed=sum(v.status in KILLED for v in ran), right_test=sum(v.status == CAUGHT for v in ran),
                 run=len(ran))
