"""Reading JUnit reports into outcomes: the taxonomy every report tool relies on."""

from __future__ import annotations

import pytest
from junit_samples import junit, write

from cri_conformance.report_model import (
    SESSION_GROUP,
    Outcome,
    ReportError,
    contract_outcome,
    label_runs,
    load_runs,
    parse_runs,
    summarize,
    group_of,
    case_key,
)

KEY = "test_pod_sandbox.py::test_x"


def only_result(xml: str):
    (run,) = parse_runs(xml)
    (result,) = run.results.values()
    return result


@pytest.mark.parametrize("kind, outcome", [
    ("pass", Outcome.PASS),
    ("fail", Outcome.FAIL),
    ("error", Outcome.ERROR),
    ("known-failure", Outcome.KNOWN_FAILURE),
    ("xpass-strict", Outcome.XPASS_STRICT),
    ("unsupported", Outcome.UNSUPPORTED),
    ("skipped", Outcome.SKIPPED),
])
def test_each_junit_shape_maps_to_its_outcome(kind, outcome):
    assert only_result(junit([(KEY, kind, ["RunPodSandbox.id_nonempty"])])).outcome is outcome


def test_a_skip_is_unsupported_only_with_the_prefix():
    result = only_result(junit([(KEY, "skipped", [], "needs SELinux: unsupported host")]))
    assert result.outcome is Outcome.SKIPPED


def test_xpass_strict_keeps_the_known_failure_reason():
    result = only_result(junit([(KEY, "xpass-strict", [], "known failure of containerd >=1.6: bug")]))
    assert result.message == "known failure of containerd >=1.6: bug"


def test_contracts_and_message_are_read():
    result = only_result(junit([(KEY, "fail", ["A.b", "X.c"], "AssertionError: expected 1, got 2\nassert 1 == 2")]))
    assert result.contracts == ("A.b", "X.c")
    assert result.message == "AssertionError: expected 1, got 2"
    assert "assert 1 == 2" in result.detail


def test_call_failure_and_teardown_error_become_one_failed_result():
    xml = junit([(KEY, "fail", ["A.b"], "AssertionError: boom"),
                 (KEY, "error", ["A.b"], 'failed on teardown with "RuntimeError: cleanup"')])
    (run,) = parse_runs(xml)
    assert list(run.results) == [KEY]
    result = run.results[KEY]
    assert result.outcome is Outcome.FAIL
    assert "boom" in result.message and "teardown: RuntimeError: cleanup" in result.message


def test_pass_then_teardown_error_is_an_error():
    xml = junit([(KEY, "pass", []), (KEY, "error", [], 'failed on teardown with "RuntimeError: cleanup"')])
    assert only_result(xml).outcome is Outcome.ERROR


@pytest.mark.parametrize("classname, name, key", [
    ("conformance.test_pod_sandbox", "test_x[a.b]", "test_pod_sandbox.py::test_x[a.b]"),
    ("usr.lib.python3.site-packages.cri_conformance.test_pod_sandbox", "test_x", "test_pod_sandbox.py::test_x"),
    ("test_pod_sandbox.TestGroup", "test_y", "test_pod_sandbox.py::TestGroup::test_y"),
    ("cri_conformance.session", "no_leaked_resources", "session::no_leaked_resources"),
])
def test_key_does_not_depend_on_where_the_suite_was_installed(classname, name, key):
    assert case_key(classname, name) == key


def test_group_is_the_rpc_of_the_first_specific_contract():
    assert group_of(KEY, ("X.notfound_code", "PodSandboxStatus.not_found_error")) == \
        "PodSandboxStatus and PodSandboxStatusResponse"
    assert group_of(KEY, ("X.grpc_services",)) == "Cross-cutting contracts"
    assert group_of(KEY, ("Future.rpc_contract",)) == "Future"
    assert group_of(KEY, ()) == "No contract"
    assert group_of("session::no_leaked_resources", ()) == SESSION_GROUP


def test_grpc_errors_are_summarized_by_code_and_details():
    message = ('failed on setup with "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated'
               ' with:\n\tstatus = StatusCode.NOT_FOUND\n\tdetails = "failed to get sandbox image "p:1": not found"'
               '\n\tdebug_error_string = "NOT_FOUND: ..."\n>"')
    assert summarize(message) == 'setup: gRPC NOT_FOUND: failed to get sandbox image "p:1": not found'
    assert summarize("AssertionError: a\nb") == "AssertionError: a"


def test_suite_name_and_properties_describe_the_run():
    (run,) = parse_runs(junit([(KEY, "pass", [])], name="crio", runtime_name="cri-o", runtime_version="1.30.1"))
    assert (run.name, run.runtime_version, run.suite_version) == ("crio", "1.30.1", "0.1.0")
    assert run.describe() == "crio (cri-o 1.30.1)"
    assert run.counts()[Outcome.PASS] == 1


@pytest.mark.parametrize("text, problem", [
    ("not xml at all", "not XML"),
    ("<html><body/></html>", "not a JUnit report"),
    ("<testsuites/>", "no <testsuite>"),
])
def test_unreadable_reports_are_one_clear_error(text, problem):
    with pytest.raises(ReportError, match=problem):
        parse_runs(text, "x.xml")


def test_a_directory_holds_one_run_per_file(tmp_path):
    write(tmp_path / "a.xml", [(KEY, "pass", [])], name="a")
    write(tmp_path / "b.xml", [(KEY, "fail", [])], name="b")
    (tmp_path / "comparison.md").write_text("not a report")
    assert [run.name for run in load_runs(tmp_path)] == ["a", "b"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no \\*.xml"):
        load_runs(tmp_path / "empty")


def test_missing_file_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="No such file"):
        load_runs(tmp_path / "absent.xml")


def test_labels_are_unique_even_for_same_named_runs():
    runs = parse_runs(junit([], name="containerd", runtime_version="1.6.20")) + \
        parse_runs(junit([], name="containerd", runtime_version="1.7.0"))
    assert [run.label for run in label_runs(runs)] == ["containerd 1.6.20", "containerd 1.7.0"]
    same = parse_runs(junit([], name="x"), "a.xml") + parse_runs(junit([], name="x"), "a.xml")
    assert len({run.label for run in label_runs(same)}) == 2


def test_a_contract_stands_as_its_worst_test():
    assert contract_outcome([Outcome.PASS, Outcome.FAIL]) is Outcome.FAIL
    assert contract_outcome([Outcome.PASS, Outcome.SKIPPED]) is Outcome.PASS
    assert contract_outcome([Outcome.UNSUPPORTED, Outcome.SKIPPED]) is Outcome.UNSUPPORTED
