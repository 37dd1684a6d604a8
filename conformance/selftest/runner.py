"""One suite run in its own pytest process, and what came out of it.

Each run gets its own run ID, so whatever it leaves behind (a faulty runtime
may not really remove pods) is found by label afterwards and removed through
the real runtime, never through the proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cri_conformance.fixtures.client import CriClient
from cri_conformance.fixtures.resources import find_leftovers, remove_leftovers
from cri_conformance.options import RUN_ID_ENV
from cri_conformance.selftest.outcomes import PACKAGE_DIR, RECORD_ENV

# Settings that must come from the command line we build, not from the environment.
CLEARED_ENV = (RUN_ID_ENV, "CRI_RUNTIME_ENDPOINT", "CRI_IMAGE_ENDPOINT", "CRI_REPORT_DIR", "PYTEST_ADDOPTS")
FAILING = ("failed", "error")


@dataclass(frozen=True)
class SuiteTest:
    key: str  # test_pod_sandbox.py::test_name[param]
    contracts: tuple[str, ...]
    groups: tuple[str, ...]  # xdist_group names: tests of one group never run at the same time
    serial: bool
    fuzz: bool

    @property
    def argument(self) -> str:
        """How to select exactly this test on a pytest command line."""
        file_part, _, rest = self.key.partition("::")
        return f"{PACKAGE_DIR / file_part}::{rest}"


@dataclass(frozen=True)
class Outcome:
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    message: str = ""

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING


@dataclass
class RunResult:
    label: str
    returncode: int
    seconds: float
    log: Path
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    collected: list[SuiteTest] = field(default_factory=list)
    timed_out: bool = False
    leftovers: str = ""  # what the run left behind (removed afterwards)

    def failing(self) -> list[str]:
        return sorted(key for key, result in self.outcomes.items() if result.failing)

    def tally(self) -> str:
        counts: dict[str, int] = {}
        for result in self.outcomes.values():
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no tests ran"


@dataclass(frozen=True)
class SuiteInvocation:
    """What every suite run of one self-test shares."""

    log_dir: Path
    upstream: str  # the real runtime, for cleaning up after a run
    upstream_images: str | None
    options: tuple[str, ...] = ()  # suite options: --runtime-handler, --known-failures, ...
    pytest_args: tuple[str, ...] = ()  # the user's extra pytest arguments
    work_dir: Path = Path("/var/tmp/cri-conformance/runs")
    timeout: float = 900.0

    def run(self, label: str, endpoint: str, selection: list[str], *, workers: int = 1,
            report_dir: Path | None = None, collect_only: bool = False) -> RunResult:
        run_id = f"selftest-{uuid.uuid4().hex[:8]}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{label}.log"
        record = self.log_dir / f"{label}.jsonl"
        record.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pytest", *selection, "-p", "cri_conformance.selftest.outcomes",
                   "-p", "no:cacheprovider", "-q", "-rfE", "-m", "not fuzz", *self.pytest_args]
        if collect_only:
            command.append("--collect-only")
        else:
            command += ["--runtime-endpoint", endpoint, "--run-id", run_id, "--work-dir", str(self.work_dir),
                        *self.options]
            if report_dir is not None:
                command += ["--report-dir", str(report_dir)]
            if workers > 1:
                command += ["-n", str(workers), "--dist", "loadgroup"]
        env = {key: value for key, value in os.environ.items() if key not in CLEARED_ENV}
        env[RECORD_ENV] = str(record)
        started = time.monotonic()
        returncode, timed_out = _run_logged(command, env, log, self.timeout)
        result = RunResult(label, returncode, time.monotonic() - started, log, timed_out=timed_out)
        _read_record(record, result)
        if not collect_only:
            result.leftovers = self._remove_leftovers(run_id)
        return result

    def _remove_leftovers(self, run_id: str) -> str:
        from cri_conformance.fixtures.endpoint import parse_endpoint

        images = parse_endpoint(self.upstream_images) if self.upstream_images else None
        with CriClient(parse_endpoint(self.upstream), images) as client:
            leftovers = find_leftovers(client, run_id)
            described = leftovers.describe() if leftovers else ""
            errors = remove_leftovers(client, leftovers) if leftovers else []
        shutil.rmtree(self.work_dir / run_id, ignore_errors=True)
        return described + (f" (removal failed: {'; '.join(errors)})" if errors else "")


def _run_logged(command: list[str], env: dict, log: Path, timeout: float) -> tuple[int, bool]:
    with open(log, "w", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)  # its own group: a timeout stops its workers too
        try:
            return process.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            out.write(f"\nkilled by the self-test after {timeout:g} s\n")
            return process.returncode, True


def _read_record(record: Path, result: RunResult) -> None:
    if not record.exists():
        return
    for line in record.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "collected" in entry:
            result.collected.append(SuiteTest(entry["collected"], tuple(entry["contracts"]),
                                              tuple(entry["groups"]), entry["serial"], entry["fuzz"]))
        else:
            result.outcomes[entry["key"]] = Outcome(entry["outcome"], entry["message"])
