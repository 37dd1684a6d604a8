"""The mutation self-test against the real local containerd: the suite must
pass through the clean proxy exactly as it does directly, and fail, in the
right tests, against every fault of the catalogue that a test can see."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from cri_conformance.fixtures.proxy import catalogue
from cri_conformance.selftest import report
from cri_conformance.selftest.engine import SelftestConfig, run_selftest
from cri_conformance.selftest.verdict import CAUGHT, load_accepted, score

from .suite_run import run_suite


@pytest.fixture(scope="module")
def selftest(local_runtime, tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("selftest")
    config = SelftestConfig(
        runtime_endpoint=local_runtime.endpoint, image_endpoint=None, report_dir=report_dir,
        faults=list(catalogue().values()), accepted=load_accepted(),
        suite_options=("--alt-runtime-handler", local_runtime.handlers[1]),
    )
    result = run_selftest(config)
    print(report.text(result, local_runtime.endpoint))
    return result


@pytest.mark.timeout(1200)
def test_clean_run_through_the_proxy_matches_the_direct_run(selftest):
    assert not selftest.problem, selftest.problem
    assert selftest.clean.outcomes and selftest.differences == [], "\n".join(selftest.differences)


@pytest.mark.timeout(1200)
def test_every_fault_a_test_can_see_is_caught(selftest):
    assert not selftest.problem, selftest.problem
    failing = [f"{v.fault.name}: {v.status}: {v.detail}" for v in selftest.verdicts if v.fails_selftest]
    assert failing == [], "\n".join(failing)
    total = score(selftest.verdicts)
    assert total.run > 0 and total.killed == total.run - sum(v.status == "accepted" for v in selftest.verdicts)
    assert selftest.passed


@pytest.mark.timeout(1200)
def test_caught_faults_are_caught_by_tests_of_their_contract(selftest):
    caught = [v for v in selftest.verdicts if v.status == CAUGHT]
    assert caught, "no fault was caught"
    tests = {test.key: test for test in selftest.tests}
    for verdict in caught:
        for key in verdict.caught_by:
            assert set(tests[key].contracts) & set(verdict.fault.contracts), (verdict.fault.name, key)


@pytest.mark.timeout(300)
def test_cli_selftest_of_one_fault_writes_its_report(local_runtime, tmp_path):
    command = [sys.executable, "-m", "cri_conformance.cli", "selftest", "--runtime-endpoint", local_runtime.endpoint,
               "--report-dir", str(tmp_path), "--no-direct", "--fault", "second_stop_of_a_pod_fails"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads((tmp_path / "selftest.json").read_text())
    assert [(f["name"], f["status"]) for f in data["faults"]] == [("second_stop_of_a_pod_fails", "caught")]
    assert "SELF-TEST PASSED" in (tmp_path / "selftest.txt").read_text()


@pytest.mark.timeout(300)
def test_users_gate_fails_against_the_proxy_with_a_fault(local_runtime, tmp_path):
    """The README's recipe: run your gate against `cri-conformance proxy --fault ...`."""
    socket = tmp_path / "broken.sock"
    proxy = subprocess.Popen([sys.executable, "-m", "cri_conformance.cli", "proxy", "--runtime-endpoint",
                              local_runtime.endpoint, "--listen", str(socket), "--fault", "stop_pod_does_nothing"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not socket.is_socket() and proxy.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket.is_socket(), "the proxy did not start"
        broken = run_suite(f"unix://{socket}", tmp_path / "broken", "-k", "stop_twice", workers=1)
        assert broken.returncode == 1 and len(broken.by_outcome("failure")) == 1, broken.output[-3000:]
    finally:
        proxy.terminate()  # SIGTERM: the proxy stops and prints what it intercepted
        output, _ = proxy.communicate(timeout=30)
    assert proxy.returncode == 0 and "stop_pod_does_nothing: intercepted" in output, output
    healthy = run_suite(local_runtime.endpoint, tmp_path / "healthy", "-k", "stop_twice", workers=1)
    assert healthy.returncode == 0, healthy.output[-3000:]
