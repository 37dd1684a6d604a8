"""The self-test's judgement: which tests run per fault, caught or not, the score."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cri_conformance.fixtures.proxy import Fault, catalogue
from cri_conformance.selftest.engine import Lanes, compare, lane_socket
from cri_conformance.selftest.plan import NO_TEST, UNTESTABLE, plan_faults
from cri_conformance.selftest.outcomes import PACKAGE_DIR, suite_key
from cri_conformance.selftest.runner import Outcome, RunResult, SuiteTest
from cri_conformance.selftest.verdict import (
    ACCEPTED,
    BROKEN,
    CAUGHT,
    ELSEWHERE,
    RUN_ERROR,
    SURVIVED,
    AcceptedSurvivor,
    accepted_for,
    judge,
    load_accepted,
    score,
)

STOP_TWICE = SuiteTest("test_pod.py::test_stop_twice", ("StopPodSandbox.idempotent",), (), False, False)
STOP_UNKNOWN = SuiteTest("test_pod.py::test_stop_unknown", ("StopPodSandbox.not_found_ok",), (), False, False)
PROBE = SuiteTest("test_info.py::test_probe", ("X.connection_probe",), (), False, False)
READY = SuiteTest("test_pod.py::test_ready", ("RunPodSandbox.ready_on_success",), ("pods",), False, False)
TESTS = [STOP_TWICE, STOP_UNKNOWN, PROBE, READY]
BASELINE = {STOP_TWICE.key: Outcome("passed"), STOP_UNKNOWN.key: Outcome("xfailed", "known failure"),
            PROBE.key: Outcome("passed"), READY.key: Outcome("passed")}


def fault(name: str, *contracts: str) -> Fault:
    return Fault(name, ("StopPodSandbox",), contracts, "a test fault.", lambda call, forward: forward(call.request))


def plan_for(*contracts: str):
    return plan_faults([fault("f", *contracts)], TESTS, BASELINE)[0]


def run(outcomes: dict[str, str], returncode: int = 0, timed_out: bool = False) -> RunResult:
    return RunResult("fault-f", returncode, 1.0, Path("/dev/null"),
                     outcomes={key: Outcome(value, "") for key, value in outcomes.items()}, timed_out=timed_out)


def test_plan_runs_the_contract_tests_plus_smoke_tests_that_add_no_group():
    plan = plan_for("StopPodSandbox.idempotent")
    assert plan.runnable == [STOP_TWICE]
    assert [t.key for t in plan.selection] == [STOP_TWICE.key, PROBE.key]  # READY's group would serialize it
    assert plan.groups == set() and not plan.exclusive


def test_plan_takes_a_grouped_smoke_test_when_the_run_holds_its_group_anyway():
    grouped = SuiteTest("test_pod.py::test_grouped", ("StopPodSandbox.idempotent",), ("pods",), False, False)
    plan = plan_faults([fault("f", "StopPodSandbox.idempotent")], TESTS + [grouped],
                       {**BASELINE, grouped.key: Outcome("passed")})[0]
    assert [t.key for t in plan.selection] == [STOP_TWICE.key, grouped.key, PROBE.key, READY.key]
    assert plan.groups == {"pods"}


def test_plan_without_a_test_for_the_contract():
    plan = plan_for("CreateContainer.id_nonempty")
    assert plan.not_run == NO_TEST and plan.selection == []


def test_plan_whose_tests_cannot_pass_here():
    plan = plan_for("StopPodSandbox.not_found_ok")
    assert plan.not_run == UNTESTABLE and "xfailed" in plan.detail


def test_caught_by_a_test_of_the_contract():
    verdict = judge(plan_for("StopPodSandbox.idempotent"),
                    run({STOP_TWICE.key: "failed", PROBE.key: "passed"}, returncode=1), 2, [], {})
    assert verdict.status == CAUGHT and verdict.caught_by == [STOP_TWICE.key]


def test_a_setup_error_of_a_contract_test_counts_as_caught():
    verdict = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "error"}, returncode=1), 1, [], {})
    assert verdict.status == CAUGHT


def test_only_other_tests_failing_is_caught_elsewhere():
    verdict = judge(plan_for("StopPodSandbox.idempotent"),
                    run({STOP_TWICE.key: "passed", PROBE.key: "failed"}, returncode=1), 1, [], {})
    assert verdict.status == ELSEWHERE and verdict.also_failed == [PROBE.key] and verdict.fails_selftest


def test_a_failing_session_without_failing_tests_is_caught_elsewhere():
    verdict = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "passed"}, returncode=1), 1, [], {})
    assert verdict.status == ELSEWHERE and "leak" in verdict.detail


def test_survivor_fails_the_selftest_and_says_when_its_rpcs_were_never_called():
    verdict = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "passed"}), 0, [], {})
    assert verdict.status == SURVIVED and verdict.fails_selftest and "never called" in verdict.detail


def test_accepted_survivor_does_not_fail_and_a_caught_accepted_fault_is_reported():
    accepted = {"f": "a weak test, fixed by issue 3"}
    survived = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "passed"}), 1, [], accepted)
    assert survived.status == ACCEPTED and not survived.fails_selftest and "issue 3" in survived.detail
    caught = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "failed"}, 1), 1, [], accepted)
    assert caught.status == CAUGHT and caught.stale_acceptance


def test_a_crashing_fault_is_never_counted_as_caught():
    verdict = judge(plan_for("StopPodSandbox.idempotent"), run({STOP_TWICE.key: "failed"}, 1), 1,
                    ["f on StopPodSandbox: KeyError: 'x'"], {})
    assert verdict.status == BROKEN and verdict.fails_selftest


def test_a_killed_or_crashed_run_is_a_run_error():
    plan = plan_for("StopPodSandbox.idempotent")
    assert judge(plan, run({}, returncode=-9, timed_out=True), 1, [], {}).status == RUN_ERROR
    assert judge(plan, run({}, returncode=3), 1, [], {}).status == RUN_ERROR


def test_score_counts_only_faults_that_ran():
    plan = plan_for("StopPodSandbox.idempotent")
    verdicts = [judge(plan, run({STOP_TWICE.key: "failed"}, 1), 1, [], {}),
                judge(plan, run({PROBE.key: "failed"}, 1), 1, [], {}),
                judge(plan, run({STOP_TWICE.key: "passed"}), 1, [], {}),
                judge(plan_for("CreateContainer.id_nonempty"), None, 0, [], {})]
    total = score(verdicts)
    assert (total.killed, total.right_test, total.run) == (2, 1, 3)
    assert round(total.percent) == 67


def test_compare_lists_tests_whose_outcome_the_proxy_changed():
    direct = run({STOP_TWICE.key: "passed", PROBE.key: "passed"})
    clean = run({STOP_TWICE.key: "failed", PROBE.key: "passed", READY.key: "passed"})
    differences = compare(direct, clean)
    assert differences == [f"{READY.key}: direct not run, through the proxy passed",
                           f"{STOP_TWICE.key}: direct passed, through the proxy failed"]


def test_shipped_accepted_list_names_real_faults_with_reasons():
    faults = catalogue()
    for entry in load_accepted():
        assert entry.fault in faults, entry.fault
        assert len(entry.reason) > 20, entry.fault


def test_accepted_entries_can_be_limited_to_a_runtime_version():
    entries = [AcceptedSurvivor("a", "any runtime"), AcceptedSurvivor("b", "old containerd", "containerd", "<1.7"),
               AcceptedSurvivor("c", "cri-o only", "cri-o")]
    assert accepted_for(entries, "containerd", "1.6.20~ds1") == {"a": "any runtime", "b": "old containerd"}
    assert accepted_for(entries, "containerd", "1.7.2") == {"a": "any runtime"}


def test_xdist_group_suffix_is_not_part_of_a_test_key():
    assert suite_key(PACKAGE_DIR, "test_pod.py::test_x@pods") == "test_pod.py::test_x"
    assert suite_key(PACKAGE_DIR, "test_pod.py::test_x[ref@sha256:1]@pods") == "test_pod.py::test_x[ref@sha256:1]"
    assert suite_key(PACKAGE_DIR, "test_pod.py::test_x[ref@sha256:1]") == "test_pod.py::test_x[ref@sha256:1]"


def lane_plan(name: str, groups=(), serial=False):
    test = SuiteTest(f"test_x.py::{name}", ("StopPodSandbox.idempotent",), tuple(groups), serial, False)
    plan = plan_faults([fault(name, "StopPodSandbox.idempotent")], [test], {test.key: Outcome("passed")})[0]
    return plan


def run_lanes(plans, jobs=2):
    """Run the plans through Lanes on `jobs` threads; return (name, event) in time order."""
    lanes, events, lock = Lanes(plans, jobs), [], threading.Lock()

    def lane():
        while (plan := lanes.next()) is not None:
            with lock:
                events.append((plan.fault.name, "start"))
            time.sleep(0.03)
            with lock:
                events.append((plan.fault.name, "end"))
            lanes.done(plan)

    threads = [threading.Thread(target=lane) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    return events


def overlapping(events, first: str, second: str) -> bool:
    running, seen = set(), False
    for name, event in events:
        (running.add if event == "start" else running.discard)(name)
        seen = seen or {first, second} <= running
    return seen


def test_lanes_run_independent_faults_side_by_side():
    events = run_lanes([lane_plan("a"), lane_plan("b")])
    assert overlapping(events, "a", "b"), events


def test_lanes_keep_runs_of_one_xdist_group_apart_and_let_others_pass():
    events = run_lanes([lane_plan("a", ["g"]), lane_plan("b", ["g"]), lane_plan("c")])
    assert not overlapping(events, "a", "b"), events
    assert overlapping(events, "a", "c"), events  # c did not wait behind b


def test_lanes_run_a_serial_run_alone():
    events = run_lanes([lane_plan("a"), lane_plan("s", serial=True), lane_plan("b"), lane_plan("c")])
    assert not any(overlapping(events, "s", other) for other in "abc"), events
    assert len(events) == 8


def test_lane_socket_keeps_the_runtime_socket_name_and_its_neighbours(tmp_path):
    runtime_dir, sockets = tmp_path / "instance", tmp_path / "sockets"
    runtime_dir.mkdir()
    sockets.mkdir()
    (runtime_dir / "registry-auth.json").write_text("{}")
    (runtime_dir / "logs").mkdir()
    path = lane_socket(sockets, 0, f"unix://{runtime_dir}/containerd.sock")
    assert path == sockets / "lane0" / "containerd.sock"
    assert (path.parent / "registry-auth.json").resolve() == runtime_dir / "registry-auth.json"
    assert not (path.parent / "logs").exists()
