"""The self-test from start to end: collect, run clean, run once per fault, judge.

1. Collect the suite (no runtime needed) to learn every test's contract IDs.
2. Run the suite directly against the runtime and once through the proxy with
   no fault: both must give the same outcome for every test, or the proxy is
   not transparent and nothing else can be trusted. Tests whose outcomes
   differ are run again, both ways, to tell a flaky test from the proxy.
3. For each fault, run its tests (plan.py) in one pytest process against a
   proxy with only that fault active, and judge the outcome (verdict.py).
   Fault runs go `jobs` at a time, each lane with its own proxy socket; two
   runs never overlap when they share an xdist group or one is serial, as
   within one xdist run.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cri_conformance.fixtures.client import ConnectionProblem
from cri_conformance.fixtures.endpoint import parse_endpoint
from cri_conformance.fixtures.proxy import Fault, FaultProxy
from cri_conformance.fixtures.session import connect
from cri_conformance.selftest.plan import FaultPlan, plan_faults
from cri_conformance.selftest.runner import RunResult, SuiteInvocation, SuiteTest
from cri_conformance.selftest.verdict import AcceptedSurvivor, Verdict, accepted_for, judge

SUITE = ["--pyargs", "cri_conformance"]


@dataclass
class SelftestConfig:
    runtime_endpoint: str
    image_endpoint: str | None
    report_dir: Path
    faults: list[Fault]
    accepted: list[AcceptedSurvivor]
    suite_options: tuple[str, ...] = ()  # --runtime-handler, --known-failures, ... for every run
    pytest_args: tuple[str, ...] = ()
    work_dir: Path = Path("/var/tmp/cri-conformance/runs")
    jobs: int = 2  # fault runs at a time
    workers: int = 2  # xdist workers of the full (direct and clean) runs
    compare_direct: bool = True


@dataclass
class SelftestResult:
    runtime: str = ""  # "containerd 1.6.20"
    tests: list[SuiteTest] = field(default_factory=list)
    direct: RunResult | None = None
    clean: RunResult | None = None
    differences: list[str] = field(default_factory=list)  # tests whose outcome the proxy changed
    flaky: list[str] = field(default_factory=list)  # differed once, agreed when run again
    verdicts: list[Verdict] = field(default_factory=list)
    problem: str = ""  # why the self-test could not judge the faults at all
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problem and not self.differences and not any(v.fails_selftest for v in self.verdicts)


class Lanes:
    """Hands out fault runs to `jobs` lanes: runs sharing an xdist group never
    overlap and a serial run goes alone, as within one xdist run. A lane takes
    the first waiting run that fits, so one blocked run does not idle a lane."""

    def __init__(self, plans: list[FaultPlan], jobs: int):
        self.jobs = jobs
        self._pending = list(plans)
        self._condition = threading.Condition()
        self._groups: Counter = Counter()
        self._running = 0
        self._exclusive = False

    def _fits(self, plan: FaultPlan) -> bool:
        if self._exclusive or self._running >= self.jobs:
            return False
        if plan.exclusive:
            return self._running == 0
        return not any(self._groups[group] for group in plan.groups)

    def next(self) -> FaultPlan | None:
        """The next run for a lane (waiting until one fits), or None when all are handed out."""
        with self._condition:
            while self._pending:
                for plan in self._pending:
                    if self._fits(plan):
                        self._pending.remove(plan)
                        self._running += 1
                        self._exclusive = plan.exclusive
                        self._groups.update(plan.groups)
                        return plan
                    if plan.exclusive:
                        break  # nothing overtakes a serial run, or it could wait forever
                self._condition.wait()
            return None

    def done(self, plan: FaultPlan) -> None:
        with self._condition:
            self._running -= 1
            self._exclusive = False
            self._groups.subtract(plan.groups)
            self._condition.notify_all()


def lane_socket(sockets: Path, lane: int, runtime_endpoint: str) -> Path:
    """Where a lane's proxy listens: a socket that looks like the runtime's.

    Tests may find things by the endpoint's path (a local instance keeps
    files next to its socket, e.g. registry credentials), so the lane's
    directory links the regular files found next to the runtime's socket,
    and the socket keeps the runtime socket's name.
    """
    directory = sockets / f"lane{lane}"
    directory.mkdir()
    endpoint = parse_endpoint(runtime_endpoint)
    if endpoint.scheme != "unix":
        return directory / "cri.sock"
    upstream = Path(endpoint.address)
    for neighbour in upstream.parent.iterdir() if upstream.parent.is_dir() else ():
        try:
            regular = stat.S_ISREG(neighbour.stat().st_mode)
        except OSError:
            continue
        if regular:
            os.symlink(neighbour, directory / neighbour.name)
    return directory / upstream.name


def run_selftest(config: SelftestConfig, progress: Callable[[str], None] = print) -> SelftestResult:
    result = SelftestResult()
    started = time.monotonic()
    try:
        rut = connect(config.runtime_endpoint, config.image_endpoint, connect_timeout=10, request_timeout=60)
    except ConnectionProblem as problem:
        result.problem = str(problem)
        return result
    rut.client.close()
    result.runtime = f"{rut.name} {rut.runtime_version}"
    accepted = accepted_for(config.accepted, rut.name, rut.runtime_version)
    invocation = SuiteInvocation(
        log_dir=config.report_dir / "runs", upstream=config.runtime_endpoint,
        upstream_images=config.image_endpoint, options=config.suite_options,
        pytest_args=config.pytest_args, work_dir=config.work_dir,
    )
    with ExitStack() as stack:
        sockets = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cri-selftest-")))
        lane_proxies = []
        for lane in range(max(1, config.jobs)):
            proxy = FaultProxy(config.runtime_endpoint, lane_socket(sockets, lane, config.runtime_endpoint),
                               image_endpoint=config.image_endpoint)
            proxy.start()
            stack.callback(proxy.stop)
            lane_proxies.append(proxy)

        collected = invocation.run("collect", "", SUITE, collect_only=True)
        result.tests = collected.collected
        result.timings["collect"] = collected.seconds
        if not result.tests:
            result.problem = f"collecting the suite found no tests (exit {collected.returncode}); see {collected.log}"
            return result
        progress(f"{result.runtime}: collected {len(result.tests)} tests in {collected.seconds:.1f} s")

        clean_proxy = lane_proxies[0]
        if config.compare_direct:
            result.direct = invocation.run("direct", config.runtime_endpoint, SUITE, workers=config.workers,
                                           report_dir=config.report_dir / "direct")
            result.timings["direct run"] = result.direct.seconds
            progress(f"direct run: {result.direct.tally()} in {result.direct.seconds:.1f} s")
        result.clean = invocation.run("clean", clean_proxy.endpoint, SUITE, workers=config.workers,
                                      report_dir=config.report_dir / "clean")
        result.timings["clean run"] = result.clean.seconds
        progress(f"clean run through the proxy: {result.clean.tally()} in {result.clean.seconds:.1f} s")
        result.problem = _unusable(result.clean) or (_unusable(result.direct) if result.direct else "")
        if result.problem:
            return result
        if result.direct is not None:
            recheck_started = time.monotonic()
            result.differences, result.flaky = settle_differences(
                invocation, result.direct, result.clean, clean_proxy.endpoint, config.runtime_endpoint, result.tests)
            if result.flaky or result.differences:
                result.timings["re-runs"] = time.monotonic() - recheck_started

        plans = plan_faults(config.faults, result.tests, result.clean.outcomes)
        to_run = [plan for plan in plans if not plan.not_run]
        progress(f"{len(config.faults)} faults: {len(to_run)} to run, "
                 f"{len(plans) - len(to_run)} without a test that can catch them here")
        faults_started = time.monotonic()
        lanes = Lanes(to_run, config.jobs)
        ran: dict[str, Verdict] = {}
        report_lock = threading.Lock()

        def lane_loop(proxy: FaultProxy) -> None:
            while (plan := lanes.next()) is not None:
                try:
                    proxy.set_faults([plan.fault])
                    run = invocation.run(f"fault-{plan.fault.name}", proxy.endpoint,
                                         [test.argument for test in plan.selection])
                    verdict = judge(plan, run, proxy.hits[plan.fault.name], list(proxy.crashes), accepted)
                finally:
                    proxy.set_faults([])
                    lanes.done(plan)
                with report_lock:
                    ran[plan.fault.name] = verdict
                    progress(f"[{len(ran)}/{len(to_run)}] {verdict.status.upper():16} {plan.fault.name} "
                             f"({run.seconds:.1f} s)")

        with ThreadPoolExecutor(max_workers=len(lane_proxies), thread_name_prefix="selftest-lane") as pool:
            for finished in [pool.submit(lane_loop, proxy) for proxy in lane_proxies]:
                finished.result()  # a lane's error ends the self-test with it
        result.timings[f"{len(to_run)} fault runs"] = time.monotonic() - faults_started
        result.verdicts = [ran.get(plan.fault.name) or judge(plan, None, 0, [], accepted) for plan in plans]
    result.timings["total"] = time.monotonic() - started
    return result


def _unusable(run: RunResult) -> str:
    if run.timed_out or not run.outcomes:
        return f"the {run.label} run did not complete (exit {run.returncode}); see {run.log}"
    return ""


def differing(direct: RunResult, clean: RunResult, keys: set[str] | None = None) -> list[str]:
    """Keys of the tests whose outcome differs between the direct and the clean run."""
    keys = keys if keys is not None else set(direct.outcomes) | set(clean.outcomes)
    return sorted(key for key in keys if _outcome(direct, key) != _outcome(clean, key))


def _outcome(run: RunResult, key: str) -> str:
    result = run.outcomes.get(key)
    return result.outcome if result else "not run"


def describe_difference(key: str, direct: RunResult, clean: RunResult) -> str:
    after = clean.outcomes.get(key)
    message = after.message.strip().splitlines()[0][:200] if after and after.message.strip() else ""
    return (f"{key}: direct {_outcome(direct, key)}, through the proxy {_outcome(clean, key)}"
            + (f" ({message})" if message else ""))


def compare(direct: RunResult, clean: RunResult) -> list[str]:
    """Tests whose outcome differs between the direct run and the clean run through the proxy."""
    return [describe_difference(key, direct, clean) for key in differing(direct, clean)]


def settle_differences(invocation: SuiteInvocation, direct: RunResult, clean: RunResult, proxy_endpoint: str,
                       runtime_endpoint: str, tests: list[SuiteTest]) -> tuple[list[str], list[str]]:
    """(differences that stay when the tests run again both ways, those that go away)."""
    keys = differing(direct, clean)
    known = {test.key: test for test in tests}
    arguments = [known[key].argument for key in keys if key in known]
    persistent = set(keys)
    if arguments:
        again_direct = invocation.run("direct-again", runtime_endpoint, arguments)
        again_clean = invocation.run("clean-again", proxy_endpoint, arguments)
        persistent = {key for key in keys if key not in known} | set(
            differing(again_direct, again_clean, {key for key in keys if key in known}))
    return ([describe_difference(key, direct, clean) for key in keys if key in persistent],
            [describe_difference(key, direct, clean) for key in keys if key not in persistent])
