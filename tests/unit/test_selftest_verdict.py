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


def test_plan_runs_the_contract_tests_plus_one_smoke_test_per_smoke_contract():
    plan = plan_for("StopPodSandbox.idempotent")
    assert plan.runnable == [STOP_TWICE]
    assert [t.key for t in plan.selection] == [STOP_TWICE.key, PROBE.key, READY.key]
    assert plan.groups == {"pods"} and not plan.exclusive


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


def test_lanes_keep_runs_of_one_xdist_group_apart():
    lanes, inside, overlaps = Lanes(2), [], []
    lock = threading.Lock()

    def occupy(groups):
        with lanes.slot(groups, exclusive=False):
            with lock:
                inside.append(groups)
                if sum("g" in g for g in inside) > 1:
                    overlaps.append(True)
            time.sleep(0.05)
            with lock:
                inside.remove(groups)

    threads = [threading.Thread(target=occupy, args=({"g"},)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert not overlaps


def test_lanes_run_an_exclusive_run_alone():
    lanes, running, seen = Lanes(2), [0], []
    lock = threading.Lock()

    def occupy(exclusive):
        with lanes.slot(set(), exclusive):
            with lock:
                running[0] += 1
                seen.append((exclusive, running[0]))
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=occupy, args=(flag,)) for flag in (False, True, False, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert all(count == 1 for exclusive, count in seen if exclusive), seen
    assert max(count for _, count in seen) <= 2


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
