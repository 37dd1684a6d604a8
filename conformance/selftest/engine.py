"""The self-test from start to end: collect, run clean, run once per fault, judge.

1. Collect the suite (no runtime needed) to learn every test's contract IDs.
2. Run the suite directly against the runtime and once through the proxy with
   no fault: both must give the same outcome for every test, or the proxy is
   not transparent and nothing else can be trusted.
3. For each fault, run its tests (plan.py) in one pytest process against a
   proxy with only that fault active, and judge the outcome (verdict.py).
   Fault runs go `jobs` at a time, each lane with its own proxy socket; two
   runs never overlap when they share an xdist group or one is serial, as
   within one xdist run.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cri_conformance.fixtures.proxy import Fault, FaultProxy
from cri_conformance.selftest.plan import FaultPlan, plan_faults
from cri_conformance.selftest.runner import RunResult, SuiteInvocation, SuiteTest
from cri_conformance.selftest.verdict import Verdict, judge

SUITE = ["--pyargs", "cri_conformance"]


@dataclass
class SelftestConfig:
    runtime_endpoint: str
    image_endpoint: str | None
    report_dir: Path
    faults: list[Fault]
    accepted: dict[str, str]
    suite_options: tuple[str, ...] = ()  # --runtime-handler, --known-failures, ... for every run
    pytest_args: tuple[str, ...] = ()
    work_dir: Path = Path("/var/tmp/cri-conformance/runs")
    jobs: int = 2  # fault runs at a time
    workers: int = 2  # xdist workers of the full (direct and clean) runs
    compare_direct: bool = True


@dataclass
class SelftestResult:
    tests: list[SuiteTest] = field(default_factory=list)
    direct: RunResult | None = None
    clean: RunResult | None = None
    differences: list[str] = field(default_factory=list)  # tests whose outcome the proxy changed
    verdicts: list[Verdict] = field(default_factory=list)
    problem: str = ""  # why the self-test could not judge the faults at all
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problem and not self.differences and not any(v.fails_selftest for v in self.verdicts)


class Lanes:
    """At most `jobs` runs at once; runs sharing an xdist group, or serial ones, never overlap."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._condition = threading.Condition()
        self._groups: Counter = Counter()
        self._running = 0
        self._exclusive = False

    def _free(self, groups: set[str], exclusive: bool) -> bool:
        if self._exclusive or self._running >= self.jobs:
            return False
        if exclusive:
            return self._running == 0
        return not any(self._groups[group] for group in groups)

    @contextmanager
    def slot(self, groups: set[str], exclusive: bool):
        with self._condition:
            self._condition.wait_for(lambda: self._free(groups, exclusive))
            self._running += 1
            self._exclusive = exclusive
            self._groups.update(groups)
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._exclusive = False
                self._groups.subtract(groups)
                self._condition.notify_all()


def run_selftest(config: SelftestConfig, progress: Callable[[str], None] = print) -> SelftestResult:
    result = SelftestResult()
    started = time.monotonic()
    invocation = SuiteInvocation(
        log_dir=config.report_dir / "runs", upstream=config.runtime_endpoint,
        upstream_images=config.image_endpoint, options=config.suite_options,
        pytest_args=config.pytest_args, work_dir=config.work_dir,
    )
    with ExitStack() as stack:
        sockets = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cri-selftest-")))
        proxies: queue.Queue[FaultProxy] = queue.Queue()
        for lane in range(max(1, config.jobs)):
            proxy = FaultProxy(config.runtime_endpoint, sockets / f"lane{lane}.sock",
                               image_endpoint=config.image_endpoint)
            proxy.start()
            stack.callback(proxy.stop)
            proxies.put(proxy)

        collected = invocation.run("collect", "", SUITE, collect_only=True)
        result.tests = collected.collected
        result.timings["collect"] = collected.seconds
        if not result.tests:
            result.problem = f"collecting the suite found no tests (exit {collected.returncode}); see {collected.log}"
            return result
        progress(f"collected {len(result.tests)} tests in {collected.seconds:.1f} s")

        if config.compare_direct:
            result.direct = invocation.run("direct", config.runtime_endpoint, SUITE, workers=config.workers,
                                           report_dir=config.report_dir / "direct")
            result.timings["direct run"] = result.direct.seconds
            progress(f"direct run: {result.direct.tally()} in {result.direct.seconds:.1f} s")
        proxy = proxies.get()
        result.clean = invocation.run("clean", proxy.endpoint, SUITE, workers=config.workers,
                                      report_dir=config.report_dir / "clean")
        proxies.put(proxy)
        result.timings["clean run"] = result.clean.seconds
        progress(f"clean run through the proxy: {result.clean.tally()} in {result.clean.seconds:.1f} s")
        result.problem = _unusable(result.clean)
        if result.direct is not None:
            result.problem = result.problem or _unusable(result.direct)
            result.differences = compare(result.direct, result.clean)
        if result.problem:
            return result

        plans = plan_faults(config.faults, result.tests, result.clean.outcomes)
        to_run = [plan for plan in plans if not plan.not_run]
        progress(f"{len(config.faults)} faults: {len(to_run)} to run, "
                 f"{len(plans) - len(to_run)} without a test that can catch them here")
        faults_started = time.monotonic()
        lanes = Lanes(config.jobs)
        done = Counter()

        def check(plan: FaultPlan) -> Verdict:
            with lanes.slot(plan.groups, plan.exclusive):
                lane = proxies.get()
                try:
                    lane.set_faults([plan.fault])
                    run = invocation.run(f"fault-{plan.fault.name}", lane.endpoint,
                                         [test.argument for test in plan.selection])
                    verdict = judge(plan, run, lane.hits[plan.fault.name], list(lane.crashes), config.accepted)
                finally:
                    lane.set_faults([])
                    proxies.put(lane)
            done["n"] += 1
            progress(f"[{done['n']}/{len(to_run)}] {verdict.status.upper():16} {plan.fault.name} ({run.seconds:.1f} s)")
            return verdict

        with ThreadPoolExecutor(max_workers=max(1, config.jobs), thread_name_prefix="selftest-lane") as pool:
            ran = dict(zip((plan.fault.name for plan in to_run), pool.map(check, to_run)))
        result.timings[f"{len(to_run)} fault runs"] = time.monotonic() - faults_started
        result.verdicts = [ran.get(plan.fault.name) or judge(plan, None, 0, [], config.accepted) for plan in plans]
    result.timings["total"] = time.monotonic() - started
    return result


def _unusable(run: RunResult) -> str:
    if run.timed_out or not run.outcomes:
        return f"the {run.label} run did not complete (exit {run.returncode}); see {run.log}"
    return ""


def compare(direct: RunResult, clean: RunResult) -> list[str]:
    """Tests whose outcome differs between the direct run and the clean run through the proxy."""
    differences = []
    for key in sorted(set(direct.outcomes) | set(clean.outcomes)):
        before, after = direct.outcomes.get(key), clean.outcomes.get(key)
        if (before and before.outcome) != (after and after.outcome):
            differences.append(f"{key}: direct {before.outcome if before else 'not run'}, "
                               f"through the proxy {after.outcome if after else 'not run'}"
                               + (f" ({after.message[:200]})" if after and after.message else ""))
    return differences
