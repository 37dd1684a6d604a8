"""JUnit reports shaped like the ones the suite writes, for the report tools' unit tests.

A case is (key, outcome, contracts[, message]) with outcome one of the
report model's values; the XML is what pytest's junitxml plus the plugin's
annotation produce for it (checked against a real run in the integration
tests).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

CLASS_PREFIX = "conformance."  # where pytest's classname starts for an editable install

DEFAULT_PROPERTIES = {
    "runtime_name": "containerd",
    "runtime_version": "1.6.20",
    "runtime_api_version": "v1",
    "endpoint": "unix:///run/containerd/containerd.sock",
    "runtime_handler": "",
    "suite_version": "0.1.0",
    "kernel": "Linux 6.1.0 x86_64",
}


def _classname_and_name(key: str) -> tuple[str, str]:
    if key.startswith("session::"):
        return "cri_conformance.session", key.split("::", 1)[1]
    module, *rest = key.split("::")
    return CLASS_PREFIX + ".".join([module.removesuffix(".py"), *rest[:-1]]), rest[-1]


def add_case(suite: ET.Element, key: str, outcome: str, contracts=(), message: str = "") -> None:
    classname, name = _classname_and_name(key)
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0.010")
    if contracts:
        properties = ET.SubElement(case, "properties")
        for cid in contracts:
            ET.SubElement(properties, "property", name="contract", value=cid)
    if outcome == "fail":
        ET.SubElement(case, "failure", message=message or "AssertionError: boom").text = "traceback\n" + message
    elif outcome == "error":
        ET.SubElement(case, "error", message=message or 'failed on setup with "RuntimeError: x"').text = "tb"
    elif outcome == "known-failure":
        ET.SubElement(case, "skipped", type="pytest.xfail", message=message or "known failure of containerd: x")
    elif outcome == "xpass-strict":
        text = "[XPASS(strict)] " + (message or "known failure of containerd: x")
        ET.SubElement(case, "failure", message=text).text = text
    elif outcome == "unsupported":
        ET.SubElement(case, "skipped", type="pytest.skip",
                      message=message or "unsupported by this runtime: X: UNIMPLEMENTED").text = "where"
    elif outcome == "skipped":
        ET.SubElement(case, "skipped", type="pytest.skip", message=message or "needs SELinux").text = "where"
    else:
        assert outcome == "pass", outcome


def junit(cases, name: str = "containerd", **properties) -> str:
    root = ET.Element("testsuites", name="pytest tests")
    suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)))
    props = ET.SubElement(suite, "properties")
    for key, value in {**DEFAULT_PROPERTIES, **properties}.items():
        ET.SubElement(props, "property", name=key, value=value)
    for case in cases:
        add_case(suite, *case)
    return ET.tostring(root, encoding="unicode")


def write(path: Path, cases, name: str = "containerd", **properties) -> Path:
    path.write_text(junit(cases, name, **properties), encoding="utf-8")
    return path


# A small realistic set: two sandbox tests, a Version test, a skip, the leak check.
BASE_CASES = [
    ("test_pod_sandbox.py::test_sandbox_is_ready_after_run", "pass", ["RunPodSandbox.ready_on_success"]),
    ("test_pod_sandbox.py::test_stop_twice_succeeds_and_leaves_it_notready", "pass",
     ["StopPodSandbox.idempotent", "StopPodSandbox.state_notready"]),
    ("test_runtime_info.py::test_version_field_is_set[version]", "pass", ["Version.fields_nonempty"]),
    ("test_runtime_info.py::test_version_reports_api_v1", "pass", ["X.grpc_services"]),
    ("test_runtime_info.py::test_runtime_version_is_semver", "known-failure", ["Version.runtime_version_semver"]),
    ("session::no_leaked_resources", "pass", []),
]


def cases_with(**changes) -> list:
    """BASE_CASES with some outcomes replaced: name=(outcome, message)."""
    result = []
    for key, outcome, contracts in BASE_CASES:
        short = key.split("::")[-1].split("[")[0]
        if short in changes:
            outcome, message = changes[short]
            result.append((key, outcome, contracts, message))
        else:
            result.append((key, outcome, contracts))
    return result
