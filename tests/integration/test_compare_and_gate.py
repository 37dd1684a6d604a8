"""Two real containerd instances, one misconfigured: compared in one command,
gated, and the comparison page looked at in a real headless browser.

The second instance is the project's local containerd with one setting
changed: its sandbox (pause) image is one the registry does not have, the
classic air-gapped-node mistake. Every RunPodSandbox then fails, so the tests
that run a pod really differ between the two, and the tests that only ask
Version and Status really do not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import sibling_runtime

from .png_pixels import colour_counts

MISSING_SANDBOX_IMAGE = "cri-conformance.test/pause:absent"
POD_TESTS = {
    "test_pod_sandbox.py::test_sandbox_is_ready_after_run",
    "test_pod_sandbox.py::test_stop_twice_succeeds_and_leaves_it_notready",
}
NO_POD_TESTS = {
    "test_runtime_info.py::test_version_field_is_set[runtime_name]",
    "test_runtime_info.py::test_status_has_required_conditions",
}
# A small selection keeps this fast: two tests that need a pod, two that do not.
SELECTION = " or ".join(sorted({key.split("::")[1].split("[")[0] for key in POD_TESTS | NO_POD_TESTS}))
COMMAND_TIMEOUT = 300

# Colours of the page's stylesheet (render_html.STYLE), as the screenshot must show them.
PASS_BADGE = (0xDA, 0xFB, 0xE1)
ERROR_BADGE = (0xFF, 0xF1, 0xE5)
FAIL_BADGE = (0xFF, 0xEB, 0xE9)
GROUP_ROW = (0xEE, 0xF1, 0xF4)
HEADER_ROW = (0xF6, 0xF8, 0xFA)

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def cri_conformance(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cri_conformance.cli", *args], capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    print(f"$ cri-conformance {' '.join(args)}  -> exit {result.returncode}\n{result.stdout[-6000:]}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def nopause_runtime(local_runtime):
    """A second local containerd beside the good one, whose sandbox image is missing."""
    with sibling_runtime(local_runtime, "nopause", cri_overrides={"sandbox_image": MISSING_SANDBOX_IMAGE}) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def compared(local_runtime, nopause_runtime, tmp_path_factory):
    """One command: both runtimes tested, their reports and the comparison written."""
    report_dir = tmp_path_factory.mktemp("compare")
    result = cri_conformance("run", "--runtime", f"good={local_runtime.endpoint}",
                             "--runtime", f"nopause={nopause_runtime.endpoint}",
                             "--report-dir", str(report_dir), "-n", "1", "-k", SELECTION)
    return result, report_dir


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed when missing (the project's tests need it)."""
    if not shutil.which("chromium"):
        for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                        ["apt-get", "install", "-y", "chromium"]):
            subprocess.run(command, capture_output=True, text=True, timeout=1200,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            if command[1] == "install" and shutil.which("chromium"):
                break
    found = shutil.which("chromium")
    if not found:
        pytest.fail("chromium is missing and `apt-get install -y chromium` did not install it")
    return found


def test_one_command_runs_both_runtimes_and_shows_their_real_differences(compared):
    result, report_dir = compared
    assert result.returncode == 1, f"expected exit 1 (the misconfigured runtime fails tests), got {result.returncode}"
    for name in ("good.xml", "nopause.xml", "good.log", "nopause.log",
                 "comparison.md", "comparison.html", "comparison.json"):
        assert (report_dir / name).is_file(), f"{name} missing from {sorted(p.name for p in report_dir.iterdir())}"
    data = json.loads((report_dir / "comparison.json").read_text())
    assert [run["label"] for run in data["runs"]] == ["good", "nopause"]
    assert all(run["properties"]["runtime_name"] == "containerd" for run in data["runs"])
    outcomes = {test["test"]: test["outcomes"] for test in data["tests"]}
    differing = {test["test"] for test in data["tests"] if test["differs"]}
    assert differing == POD_TESTS, f"differing tests: {sorted(differing)}"
    for key in POD_TESTS:
        assert outcomes[key]["good"] == "pass" and outcomes[key]["nopause"] in ("fail", "error"), outcomes[key]
        message = next(t["messages"]["nopause"] for t in data["tests"] if t["test"] == key)
        assert MISSING_SANDBOX_IMAGE in message, message
    for key in NO_POD_TESTS | {"session::no_leaked_resources"}:
        assert outcomes[key] == {"good": "pass", "nopause": "pass"}, (key, outcomes[key])
    # Differences first, in the terminal too.
    assert f"## Differences: {len(POD_TESTS)} of {len(outcomes)} tests" in result.stdout
    assert result.stdout.index("test_sandbox_is_ready_after_run") < result.stdout.index("## Same outcome")
    assert "[good] " in result.stdout and "[nopause] " in result.stdout


def test_gate_fails_on_the_real_regression_with_contracts_and_messages(compared):
    _, report_dir = compared
    result = cri_conformance("gate", "--baseline", str(report_dir / "good.xml"), str(report_dir / "nopause.xml"))
    assert result.returncode == 1, result.stdout
    assert f"REGRESSIONS ({len(POD_TESTS)};" in result.stdout
    assert "test_pod_sandbox.py::test_sandbox_is_ready_after_run  [RunPodSandbox.ready_on_success (MUST)]" \
        in result.stdout
    assert "StopPodSandbox.idempotent (MUST), StopPodSandbox.state_notready (CRITEST)" in result.stdout
    assert MISSING_SANDBOX_IMAGE in result.stdout
    assert result.stdout.rstrip().endswith(f"gate FAILED: {len(POD_TESTS)} regressions")


def test_gate_passes_on_an_identical_rerun(compared, local_runtime, tmp_path):
    _, report_dir = compared
    rerun = cri_conformance("run", "--runtime-endpoint", local_runtime.endpoint, "--runtime-name", "good",
                            "--report-dir", str(tmp_path), "-n", "1", "-k", SELECTION)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    (report,) = tmp_path.glob("good-*.xml")
    result = cri_conformance("gate", "--baseline", str(report_dir / "good.xml"), str(report))
    assert result.returncode == 0, result.stdout
    assert result.stdout.rstrip().endswith("gate PASSED: no regressions")
    tests = len(json.loads((report_dir / "comparison.json").read_text())["tests"])
    assert f"unchanged: {tests} tests (0 failing on both)" in result.stdout


def test_comparison_page_shows_the_table_in_headless_chromium(compared, chromium, tmp_path):
    _, report_dir = compared
    screenshot = tmp_path / "comparison.png"
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                             "--window-size=1400,1000", (report_dir / "comparison.html").as_uri()],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert screenshot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    print(f"screenshot: {screenshot}")
    size, colours = colour_counts(screenshot)
    assert size == (1400, 1000)
    # The table is drawn: its header and group rows, pass badges for the good
    # runtime, fail or error badges for the misconfigured one.
    for name, colour, least in (("table header", HEADER_ROW, 5000), ("group row", GROUP_ROW, 5000),
                                ("pass badge", PASS_BADGE, 500)):
        assert colours[colour] >= least, f"{name} colour {colour}: {colours[colour]} pixels, expected >= {least}"
    assert colours[FAIL_BADGE] + colours[ERROR_BADGE] >= 500, "no fail or error badge in the screenshot"


def test_a_known_failure_that_passes_fails_the_run_and_is_flagged_by_compare_and_gate(compared, local_runtime,
                                                                                      tmp_path):
    _, report_dir = compared
    profile = tmp_path / "stale-profile.toml"
    profile.write_text('[[known_failure]]\n'
                       'test = "test_runtime_info.py::test_status_has_required_conditions"\n'
                       'runtime = "containerd"\nversions = ">=1.0"\n'
                       'reason = "a stale entry: this contract is kept"\n')
    run = cri_conformance("run", "--runtime-endpoint", local_runtime.endpoint, "--runtime-name", "good",
                          "--report-dir", str(tmp_path), "-n", "1", "-k", SELECTION,
                          "--", "--known-failures", str(profile))
    assert run.returncode == 1, "a known failure that passes must fail the run"
    assert "[XPASS(strict)] known failure of containerd >=1.0: a stale entry" in run.stdout
    (report,) = tmp_path.glob("good-*.xml")
    shown = cri_conformance("compare", str(report_dir / "good.xml"), str(report))
    assert "**Known failures that now pass.**" in shown.stdout
    assert "| `test_runtime_info.py::test_status_has_required_conditions` | Status.conditions_present | pass " \
           "| **KNOWN FAILURE PASSES**: known failure of containerd >=1.0: a stale entry" in shown.stdout
    gated = cri_conformance("gate", "--baseline", str(report_dir / "good.xml"), str(report))
    assert gated.returncode == 1
    assert "KNOWN FAILURES THAT NOW PASS (1; remove them from the known-failures profile)" in gated.stdout
    assert gated.stdout.rstrip().endswith("gate FAILED: 1 known failures now pass")
