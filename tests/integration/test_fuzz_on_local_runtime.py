"""The fuzz tests against the real local containerd: green (known failures aside),
within CI's share of time, reported with their oracles, and replayable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .suite_run import run_suite

FUZZ_WALL_TIME_BUDGET = 180.0  # seconds, on 2 workers: the fuzz share of a CI run
MIN_LIFECYCLE_SEQUENCES = 50


@pytest.fixture(scope="module")
def fuzz_run(local_runtime, tmp_path_factory):
    run = run_suite(local_runtime.endpoint, tmp_path_factory.mktemp("fuzz-reports"), "-m", "fuzz", timeout=900)
    print(run.output[-3000:])
    print(f"fuzz run: {run.seconds:.1f} s wall, {len(run.cases())} test cases")
    return run


def properties(case) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for prop in case.iter("property"):
        found.setdefault(prop.get("name"), []).append(prop.get("value"))
    return found


@pytest.mark.timeout(1200)
def test_fuzz_tests_pass_apart_from_known_failures(fuzz_run):
    assert fuzz_run.report is not None, fuzz_run.output[-2000:]
    assert fuzz_run.by_outcome("failure") == [] and fuzz_run.by_outcome("error") == [], fuzz_run.output[-4000:]
    assert fuzz_run.returncode == 0, fuzz_run.output[-2000:]


@pytest.mark.timeout(1200)
def test_fuzzing_stays_within_its_share_of_ci_time(fuzz_run):
    assert fuzz_run.seconds < FUZZ_WALL_TIME_BUDGET, f"the fuzz tests took {fuzz_run.seconds:.1f} s"


@pytest.mark.timeout(1200)
def test_every_fuzz_case_reports_its_oracles_and_examples(fuzz_run):
    cases = [c for c in fuzz_run.cases() if c.get("classname") != "cri_conformance.session"]
    assert len(cases) >= 9
    for case in cases:
        found = properties(case)
        assert found.get("oracle") and found.get("contract"), (case.get("name"), found)
        assert int(found["fuzz_examples"][0]) >= 1, (case.get("name"), found)
    lifecycle = [c for c in cases if c.get("name") == "test_fuzz_lifecycle_state_machine"]
    assert lifecycle and int(properties(lifecycle[0])["fuzz_examples"][0]) >= MIN_LIFECYCLE_SEQUENCES


def replay(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cri_conformance.cli", "replay", "--runtime-endpoint", endpoint,
                           *args], capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)
def test_replay_sends_a_request_again_and_judges_it(local_runtime):
    result = replay(local_runtime.endpoint, "create_container",
                    'config { metadata { name: "replayed" } image { image: "cri-conformance.test/busybox:1.0" } }')
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "PASSED: no oracle is violated"), result


@pytest.mark.timeout(300)
def test_replay_lifecycle_script(local_runtime):
    result = replay(local_runtime.endpoint, "lifecycle",
                    "run_pod p0; create_container c0 p0 long; start_container c0; exec c0; stop_pod p0; remove_pod p0")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_replay_refuses_a_request_that_reaches_the_host(local_runtime):
    result = replay(local_runtime.endpoint, "create_container",
                    'config { metadata { name: "x" } image { image: "cri-conformance.test/busybox:1.0" } '
                    'mounts { host_path: "/etc" container_path: "/host-etc" } }')
    assert result.returncode == 2 and "REFUSED" in result.stdout and "/etc" in result.stdout, result
