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
import queue
import stat
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
        proxies: queue.Queue[FaultProxy] = queue.Queue()
        for lane in range(max(1, config.jobs)):
            proxy = FaultProxy(config.runtime_endpoint, lane_socket(sockets, lane, config.runtime_endpoint),
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
        progress(f"{result.runtime}: collected {len(result.tests)} tests in {collected.seconds:.1f} s")

        clean_proxy = proxies.get()
        proxies.put(clean_proxy)
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
        lanes = Lanes(config.jobs)
        done = Counter()
        done_lock = threading.Lock()

        def check(plan: FaultPlan) -> Verdict:
            with lanes.slot(plan.groups, plan.exclusive):
                lane = proxies.get()
                try:
                    lane.set_faults([plan.fault])
                    run = invocation.run(f"fault-{plan.fault.name}", lane.endpoint,
                                         [test.argument for test in plan.selection])
                    verdict = judge(plan, run, lane.hits[plan.fault.name], list(lane.crashes), accepted)
                finally:
                    lane.set_faults([])
                    proxies.put(lane)
            with done_lock:
                done["n"] += 1
                progress(f"[{done['n']}/{len(to_run)}] {verdict.status.upper():16} {plan.fault.name} "
                         f"({run.seconds:.1f} s)")
            return verdict

        with ThreadPoolExecutor(max_workers=max(1, config.jobs), thread_name_prefix="selftest-lane") as pool:
            ran = dict(zip((plan.fault.name for plan in to_run), pool.map(check, to_run)))
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
