"""The side-by-side comparison: rows, order, contract view, JSON, and the command."""

from __future__ import annotations

import json

from junit_samples import cases_with, junit, write

from cri_conformance.cli import main
from cri_conformance.compare import compare
from cri_conformance.report_model import Outcome, parse_runs


def runs(*reports):
    return [run for xml in reports for run in parse_runs(xml)]


def test_differences_come_first_then_catalogue_order():
    good = junit(cases_with(), name="good")
    broken = junit(cases_with(test_stop_twice_succeeds_and_leaves_it_notready=("fail", "AssertionError: READY")),
                   name="broken")
    comparison = compare(runs(good, broken))
    assert [row.key for row in comparison.differing] == [
        "test_pod_sandbox.py::test_stop_twice_succeeds_and_leaves_it_notready"]
    assert comparison.rows[0].differs and not any(row.differs for row in comparison.rows[1:])
    groups = [group for group, _ in comparison.grouped(comparison.same)]
    # Catalogue order: cross-cutting (1.), Version (3.1), RunPodSandbox (3.2); session checks last.
    assert groups == ["Cross-cutting contracts", "Version", "RunPodSandbox and PodSandboxConfig", "Session checks"]


def test_a_test_missing_from_one_run_is_a_difference():
    full = junit(cases_with(), name="a")
    partial = junit([c for c in cases_with() if "semver" not in c[0]], name="b")
    comparison = compare(runs(full, partial))
    (row,) = comparison.differing
    assert row.key == "test_runtime_info.py::test_runtime_version_is_semver"
    assert row.outcomes == (Outcome.KNOWN_FAILURE, None)


def test_contract_view_takes_the_worst_test_per_runtime():
    a = junit([("test_a.py::test_1", "pass", ["Version.fields_nonempty"]),
               ("test_a.py::test_2", "pass", ["Version.fields_nonempty"])], name="a")
    b = junit([("test_a.py::test_1", "pass", ["Version.fields_nonempty"]),
               ("test_a.py::test_2", "fail", ["Version.fields_nonempty"])], name="b")
    (contract,) = compare(runs(a, b)).contract_rows()
    assert contract.id == "Version.fields_nonempty" and contract.level == "CLIENT"
    assert contract.outcomes == (Outcome.PASS, Outcome.FAIL) and contract.differs


def test_json_names_each_runtime_outcome_and_message():
    good = junit(cases_with(), name="good")
    broken = junit(cases_with(test_sandbox_is_ready_after_run=("error", 'failed on setup with "RuntimeError: x"')),
                   name="broken")
    data = compare(runs(good, broken)).to_json()
    assert data["schema"] == "cri-conformance/comparison/v1"
    assert [r["label"] for r in data["runs"]] == ["good", "broken"]
    assert data["runs"][1]["counts"]["error"] == 1
    first = data["tests"][0]
    assert first["test"] == "test_pod_sandbox.py::test_sandbox_is_ready_after_run"
    assert first["differs"] is True
    assert first["outcomes"] == {"good": "pass", "broken": "error"}
    assert first["messages"] == {"broken": "setup: RuntimeError: x"}
    assert data["summary"] == {"tests": len(cases_with()), "differing": 1}
    assert any(c["id"] == "RunPodSandbox.ready_on_success" and c["differs"] for c in data["contracts"])


def test_compare_command_prints_and_writes_all_three_formats(tmp_path, capsys):
    a = write(tmp_path / "a.xml", cases_with(), name="a")
    b = write(tmp_path / "b.xml", cases_with(test_version_reports_api_v1=("fail", "AssertionError: v2")), name="b")
    out = tmp_path / "out"
    assert main(["compare", str(a), str(b), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# CRI conformance: a vs b")
    assert "## Differences: 1 of 6 tests" in printed
    assert sorted(p.name for p in out.iterdir()) == ["comparison.html", "comparison.json", "comparison.md"]
    assert json.loads((out / "comparison.json").read_text())["summary"]["differing"] == 1
    assert main(["compare", str(a), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["label"] == "a"


def test_compare_command_rejects_an_unreadable_report(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text("<nope")
    assert main(["compare", str(bad)]) == 2
    assert "bad.xml: not XML" in capsys.readouterr().err
