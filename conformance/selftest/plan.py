"""Which tests run against each fault.

A fault is checked by the tests that carry one of its contract IDs (the tests
that should catch it) plus a small smoke set. Only tests that passed in the
clean run through the proxy count: a test that is skipped on this runtime, or
already fails, or is a known failure, cannot show the fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cri_conformance.fixtures.proxy import Fault
from cri_conformance.selftest.runner import Outcome, SuiteTest

# One passing test of each: does the runtime still answer, can it still run a pod?
SMOKE_CONTRACTS = ("X.connection_probe", "RunPodSandbox.ready_on_success")

NO_TEST = "no-test"  # no test carries the fault's contracts (yet)
UNTESTABLE = "untestable"  # tests exist, but none passes on this runtime without the fault


@dataclass
class FaultPlan:
    fault: Fault
    contract_tests: list[SuiteTest]
    runnable: list[SuiteTest] = field(default_factory=list)  # contract tests that passed in the clean run
    smoke: list[SuiteTest] = field(default_factory=list)
    not_run: str = ""  # NO_TEST or UNTESTABLE when the fault cannot be checked here
    detail: str = ""

    @property
    def selection(self) -> list[SuiteTest]:
        chosen = {test.key: test for test in self.runnable}
        for test in self.smoke:
            chosen.setdefault(test.key, test)
        return list(chosen.values())

    @property
    def groups(self) -> set[str]:
        return {group for test in self.selection for group in test.groups}

    @property
    def exclusive(self) -> bool:
        return any(test.serial for test in self.selection)


def smoke_tests(tests: list[SuiteTest], baseline: dict[str, Outcome], groups: set[str]) -> list[SuiteTest]:
    """One passing test per smoke contract that adds no xdist group to a run holding `groups`.

    A group keeps its tests from running at the same time, so a smoke test of
    another group would keep the fault's run from overlapping any other run of
    that group; a smoke contract with no such test is left out.
    """
    chosen = []
    for contract in SMOKE_CONTRACTS:
        fitting = [t for t in tests if contract in t.contracts and _passed(baseline, t) and set(t.groups) <= groups]
        chosen.extend(fitting[:1])
    return chosen


def plan_faults(faults: list[Fault], tests: list[SuiteTest], baseline: dict[str, Outcome]) -> list[FaultPlan]:
    plans = []
    for item in faults:
        wanted = set(item.contracts)
        plan = FaultPlan(item, [t for t in tests if wanted.intersection(t.contracts)])
        plan.runnable = [t for t in plan.contract_tests if _passed(baseline, t)]
        if not plan.contract_tests:
            plan.not_run, plan.detail = NO_TEST, "no test for this contract yet"
        elif not plan.runnable:
            plan.not_run = UNTESTABLE
            plan.detail = "no test of its contract passes on this runtime without the fault: " + "; ".join(
                f"{t.key} {_describe(baseline.get(t.key))}" for t in plan.contract_tests)
        else:
            plan.smoke = smoke_tests(tests, baseline, {g for t in plan.runnable for g in t.groups})
        plans.append(plan)
    return plans


def _passed(baseline: dict[str, Outcome], test: SuiteTest) -> bool:
    result = baseline.get(test.key)
    return result is not None and result.outcome == "passed"


def _describe(result: Outcome | None) -> str:
    if result is None:
        return "(did not run)"
    first_line = result.message.strip().splitlines()[0][:120] if result.message.strip() else ""
    return f"({result.outcome}: {first_line})" if first_line else f"({result.outcome})"
