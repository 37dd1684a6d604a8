"""Running the installed suite as a user would, and reading its JUnit report."""

from __future__ import annotations

import os
import signal
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


def suite_command(endpoint: str, report_dir: Path, *pytest_args: str, workers: int = 2) -> list[str]:
    report_dir.mkdir(parents=True, exist_ok=True)
    return [sys.executable, "-m", "cri_conformance.cli", "run", "--runtime-endpoint", endpoint,
            "--report-dir", str(report_dir), "-n", str(workers), "--", *pytest_args]


def run_suite(endpoint: str, report_dir: Path, *pytest_args: str, workers: int = 2, timeout: float = 600) -> SuiteRun:
    command = suite_command(endpoint, report_dir, *pytest_args, workers=workers)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    reports = sorted(report_dir.glob("*.xml"))
    return SuiteRun(result.returncode, result.stdout + result.stderr, seconds, reports[-1] if reports else None)


class BackgroundSuite:
    """The suite running as its own process group, so that it can be interrupted mid-run.

    Output goes to a file (a pipe nobody reads could fill up and block the run).
    """

    def __init__(self, command: list[str], output: Path):
        self.output_path = output
        with open(output, "wb") as sink:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def signal(self, signum: int, group: bool = False) -> None:
        """Signal the suite's process (or its whole process group: xdist workers too)."""
        if self.process.poll() is None:
            (os.killpg if group else os.kill)(self.process.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def group_members(self) -> list[int]:
        """Live processes of its process group (e.g. xdist workers that outlived it)."""
        members = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if fields and fields[0] not in ("Z", "X") and int(fields[2]) == self.process.pid:
                members.append(int(entry.name))
        return members

    def stop(self) -> None:
        """Make sure nothing of it keeps running: SIGKILL to its own process group.

        Only while the group exists: the group ID is then still ours, never another's.
        """
        if self.process.poll() is None or self.group_members():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)

    def __enter__(self) -> "BackgroundSuite":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# A test module the suite's plugin runs like its own: each test holds a pod
# with a running container and polls it, until the run is interrupted or the
# runtime stops answering. Written next to the run, selected with -k holds_a_pod.
HOLDING_MODULE = '''
import time

import pytest

from cri_conformance.proto import runtime_v1_pb2 as pb


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", range(4))
def test_holds_a_pod(runtime, resources, busybox, n):
    pod = resources.run_pod()
    resources.start_container(pod, image=busybox)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod.id))
        time.sleep(0.05)
'''


def write_holding_module(directory: Path) -> Path:
    path = directory / "test_holding_pods.py"
    path.write_text(HOLDING_MODULE)
    return path
