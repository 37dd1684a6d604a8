"""Running the installed suite as a user would, and reading its JUnit report."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SuiteRun:
    returncode: int
    output: str
    seconds: float
    report: Path | None

    def cases(self) -> list[ET.Element]:
        return list(ET.parse(self.report).getroot().iter("testcase")) if self.report else []

    def suite(self) -> ET.Element:
        root = ET.parse(self.report).getroot()
        return root if root.tag == "testsuite" else root.find("testsuite")

    def outcome(self, case: ET.Element) -> str:
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                message = element.get("message", "")
                if tag == "skipped" and message.startswith("known failure"):
                    return "known-failure"
                return tag
        return "passed"

    def by_outcome(self, outcome: str) -> list[str]:
        return [f"{c.get('classname')}::{c.get('name')}" for c in self.cases() if self.outcome(c) == outcome]


def run_suite(endpoint: str, report_dir: Path, *pytest_args: str, workers: int = 2, timeout: float = 600) -> SuiteRun:
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cri_conformance.cli", "run", "--runtime-endpoint", endpoint,
               "--report-dir", str(report_dir), "-n", str(workers), "--", *pytest_args]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    reports = sorted(report_dir.glob("*.xml"))
    return SuiteRun(result.returncode, result.stdout + result.stderr, seconds, reports[-1] if reports else None)
