"""The upgrade gate's decisions and its exit status."""

from __future__ import annotations

import json

import pytest
from junit_samples import cases_with, junit, write

from cri_conformance.cli import main
from cri_conformance.gate import EXIT_PASSED, EXIT_REFUSED, EXIT_REGRESSED, gate, render_text
from cri_conformance.report_model import parse_runs

STOP = "test_pod_sandbox.py::test_stop_twice_succeeds_and_leaves_it_notready"


def verdict(baseline_cases, new_cases, baseline_props=None, new_props=None, **allow):
    baseline = parse_runs(junit(baseline_cases, **(baseline_props or {})), "old.xml")
    new = parse_runs(junit(new_cases, **(new_props or {"runtime_version": "1.7.0"})), "new.xml")
    return gate(baseline, new, **allow)


def test_identical_results_pass():
    result = verdict(cases_with(), cases_with())
    assert result.exit_code == EXIT_PASSED
    assert result.pairs[0].unchanged == len(cases_with())
    assert "gate PASSED" in render_text(result)


@pytest.mark.parametrize("now", ["fail", "error", "known-failure", "unsupported", "skipped"])
def test_anything_but_a_pass_after_a_pass_is_a_regression(now):
    result = verdict(cases_with(), cases_with(test_stop_twice_succeeds_and_leaves_it_notready=(now, "")))
    assert result.exit_code == EXIT_REGRESSED
    (regression,) = result.pairs[0].regressions
    assert regression.key == STOP and regression.after.outcome.value == now


def test_regressions_are_printed_with_contracts_and_messages():
    result = verdict(cases_with(), cases_with(
        test_stop_twice_succeeds_and_leaves_it_notready=("fail", "AssertionError: after stop #2: SANDBOX_READY")))
    text = render_text(result)
    assert "REGRESSIONS (1;" in text
    assert f"{STOP}  [StopPodSandbox.idempotent (MUST), StopPodSandbox.state_notready (CRITEST)]" in text
    assert "now:      FAIL: AssertionError: after stop #2: SANDBOX_READY" in text
    assert "note: runtime version: 1.6.20 -> 1.7.0" in text
    assert text.rstrip().endswith("gate FAILED: 1 regressions")


def test_improvements_are_listed_and_do_not_fail_the_gate():
    before = cases_with(test_stop_twice_succeeds_and_leaves_it_notready=("fail", "AssertionError: x"))
    result = verdict(before, cases_with())
    assert result.exit_code == EXIT_PASSED
    assert [c.key for c in result.pairs[0].improvements] == [STOP]
    assert "improvements (1;" in render_text(result)


def test_a_known_failure_that_passes_now_fails_the_gate_until_the_profile_is_updated():
    now = cases_with(test_runtime_version_is_semver=("xpass-strict", "known failure of containerd: semver"))
    result = verdict(cases_with(), now)
    assert result.exit_code == EXIT_REGRESSED
    assert [c.key for c in result.pairs[0].stale_known_failures] == [
        "test_runtime_info.py::test_runtime_version_is_semver"]
    assert "KNOWN FAILURES THAT NOW PASS" in render_text(result)


def test_changes_between_non_passing_outcomes_are_reported_but_not_regressions():
    before = cases_with(test_stop_twice_succeeds_and_leaves_it_notready=("fail", "x"))
    after = cases_with(test_stop_twice_succeeds_and_leaves_it_notready=("error", "y"))
    result = verdict(before, after)
    assert result.exit_code == EXIT_PASSED
    assert [c.key for c in result.pairs[0].other_changes] == [STOP]


def test_different_suite_versions_are_refused_unless_allowed():
    refused = verdict(cases_with(), cases_with(), new_props={"suite_version": "0.2.0"})
    assert refused.exit_code == EXIT_REFUSED
    assert "suite version differs: baseline 0.1.0, now 0.2.0" in render_text(refused)
    allowed = verdict(cases_with(), cases_with(), new_props={"suite_version": "0.2.0"},
                      allow_suite_version_change=True)
    assert allowed.exit_code == EXIT_PASSED


def test_a_changed_test_set_is_refused_and_listed_unless_allowed():
    added = ("test_new.py::test_added", "pass", ["Version.fields_nonempty"])
    new = [c for c in cases_with() if "semver" not in c[0]] + [added]
    refused = verdict(cases_with(), new)
    assert refused.exit_code == EXIT_REFUSED
    pair = refused.pairs[0]
    assert pair.added == ["test_new.py::test_added"]
    assert pair.removed == ["test_runtime_info.py::test_runtime_version_is_semver"]
    text = render_text(refused)
    assert "test set differs: 1 added, 1 removed" in text and "--allow-test-set-change" in text
    assert "    test_new.py::test_added" in text
    allowed = verdict(cases_with(), new, allow_test_set_change=True)
    assert allowed.exit_code == EXIT_PASSED and allowed.pairs[0].removed == pair.removed


def test_environment_differences_are_noted():
    result = verdict(cases_with(), cases_with(), new_props={"runtime_handler": "kata", "kernel": "Linux 6.6"})
    assert result.exit_code == EXIT_PASSED
    notes = result.pairs[0].warnings
    assert "runtime_handler differs: baseline '', now 'kata'" in notes
    assert any(note.startswith("kernel differs") for note in notes)


def test_directories_are_paired_by_runtime_name(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "new").mkdir()
    write(tmp_path / "base" / "containerd.xml", cases_with(), name="containerd")
    write(tmp_path / "base" / "crio.xml", cases_with(), name="crio")
    write(tmp_path / "new" / "containerd.xml", cases_with(), name="containerd")
    write(tmp_path / "new" / "crio.xml", cases_with(test_sandbox_is_ready_after_run=("fail", "x")), name="crio")
    code = main(["gate", "--baseline", str(tmp_path / "base"), str(tmp_path / "new")])
    assert code == EXIT_REGRESSED


def test_a_runtime_without_its_counterpart_is_refused(tmp_path, capsys):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "containerd.xml", cases_with(), name="containerd")
    write(tmp_path / "base" / "crio.xml", cases_with(), name="crio")
    new = write(tmp_path / "containerd-new.xml", cases_with(), name="containerd")
    other = write(tmp_path / "kata.xml", cases_with(), name="kata")
    assert main(["gate", "--baseline", str(tmp_path / "base"), str(new), str(other)]) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "REFUSED: no baseline for 'kata'" in out
    assert "REFUSED: baseline run 'crio' has no new report" in out


def test_gate_command_json_and_unreadable_input(tmp_path, capsys):
    old = write(tmp_path / "old.xml", cases_with())
    new = write(tmp_path / "new.xml", cases_with(test_sandbox_is_ready_after_run=("fail", "AssertionError: x")))
    assert main(["gate", "--baseline", str(old), str(new), "--format", "json"]) == EXIT_REGRESSED
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    (regression,) = data["pairs"][0]["regressions"]
    assert regression["contracts"] == ["RunPodSandbox.ready_on_success"]
    assert regression["now"] == {"outcome": "fail", "message": "AssertionError: x"}
    assert main(["gate", "--baseline", str(tmp_path / "absent.xml"), str(new)]) == 2
    assert "absent.xml" in capsys.readouterr().err


def test_gate_markdown_for_a_pr_comment(tmp_path, capsys):
    old = write(tmp_path / "old.xml", cases_with())
    new = write(tmp_path / "new.xml", cases_with(test_sandbox_is_ready_after_run=("fail", "AssertionError: a|b")))
    assert main(["gate", "--baseline", str(old), str(new), "--format", "markdown"]) == EXIT_REGRESSED
    out = capsys.readouterr().out
    assert out.startswith("# Upgrade gate: FAILED")
    assert "### Regressions (passed on the baseline, not now): 1" in out
    assert "**FAIL**: AssertionError: a\\|b" in out
