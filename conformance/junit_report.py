"""The JUnit report of one run, named and annotated after the runtime.

pytest's junitxml writes the test cases (each carries its contract IDs as
`contract` properties); this adds what identifies the run: the runtime's
name, version and API version, the endpoint, the handler, the suite's version
and the host kernel, and a test case for the leak check.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from pathlib import Path

import cri_conformance


def suite_properties(rut, settings) -> dict[str, str]:
    return {
        "runtime_name": rut.version.runtime_name,
        "runtime_version": rut.version.runtime_version,
        "runtime_api_version": rut.version.runtime_api_version,
        "endpoint": str(rut.endpoint),
        "endpoint_source": rut.endpoint_source,
        "runtime_handler": settings.runtime_handler,
        "run_id": settings.run_id,
        "suite_version": cri_conformance.__version__,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def annotate(path: Path, rut, settings, leak: str) -> None:
    tree = ET.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    suite.set("name", settings.runtime_name or rut.version.runtime_name)
    properties = suite.find("properties")
    if properties is None:
        properties = ET.Element("properties")
        suite.insert(0, properties)
    for name, value in suite_properties(rut, settings).items():
        ET.SubElement(properties, "property", name=name, value=value)
    case = ET.SubElement(suite, "testcase", classname="cri_conformance.session", name="no_leaked_resources", time="0")
    if leak:
        ET.SubElement(case, "failure", message=leak).text = leak
        suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    tree.write(path, encoding="utf-8", xml_declaration=True)
