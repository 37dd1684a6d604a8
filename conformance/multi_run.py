"""One command, several runtimes: run the suite on each, then compare them.

    cri-conformance run --runtime containerd=unix:///run/containerd/containerd.sock \\
                        --runtime crio=unix:///run/crio/crio.sock,handler=runc

Each runtime gets its own `cri-conformance run` process: its own run ID, its
JUnit report REPORT_DIR/NAME.xml and its output in REPORT_DIR/NAME.log (also
echoed here, each line prefixed with [NAME]). Runtimes at different endpoints
are tested at the same time; runs sharing an endpoint go one after the other,
because some tests change node-wide state of their runtime. The comparison is
written next to the reports as comparison.md, comparison.html and
comparison.json, and its differences are printed at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from cri_conformance.compare import compare, write_outputs
from cri_conformance.options import RUN_ID_ENV
from cri_conformance.render_markdown import comparison_markdown
from cri_conformance.report_model import ReportError, load_runs

SPEC_HELP = "NAME=ENDPOINT[,handler=HANDLER][,image-endpoint=ENDPOINT]"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SPEC_OPTIONS = ("handler", "image-endpoint")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    endpoint: str
    handler: str = ""
    image_endpoint: str = ""


def parse_runtime_spec(text: str) -> RuntimeSpec:
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise SpecError(f"--runtime {text!r}: expected {SPEC_HELP}")
    if not NAME_PATTERN.match(name):
        raise SpecError(f"--runtime {text!r}: the name must be letters, digits, '.', '_' or '-' (it names files)")
    endpoint, *options = rest.split(",")
    values = {}
    for option in options:
        key, sep, value = option.partition("=")
        if key not in SPEC_OPTIONS or not sep or not value:
            raise SpecError(f"--runtime {text!r}: unknown option {option!r}; expected {SPEC_HELP}")
        values[key.replace("-", "_")] = value
    return RuntimeSpec(name, endpoint, **values)


def parse_runtime_specs(texts: list[str]) -> list[RuntimeSpec]:
    specs = [parse_runtime_spec(text) for text in texts]
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"--runtime names must differ; repeated: {', '.join(duplicates)}")
    return specs


def schedule(specs: list[RuntimeSpec]) -> list[list[RuntimeSpec]]:
    """Chains that may run at the same time; each chain shares one endpoint
    and runs in order."""
    chains: dict[str, list[RuntimeSpec]] = {}
    for spec in specs:
        chains.setdefault(spec.endpoint, []).append(spec)
    return list(chains.values())


@dataclass
class RunOptions:
    report_dir: Path
    workers: int
    keyword: str | None
    pytest_args: list[str]


def child_command(spec: RuntimeSpec, options: RunOptions) -> list[str]:
    command = [sys.executable, "-m", "cri_conformance.cli", "run", "--runtime-endpoint", spec.endpoint,
               "--runtime-name", spec.name, "--report-dir", str(options.report_dir), "-n", str(options.workers)]
    if spec.handler:
        command += ["--runtime-handler", spec.handler]
    if spec.image_endpoint:
        command += ["--image-endpoint", spec.image_endpoint]
    if options.keyword:
        command += ["-k", options.keyword]
    return command + ["--", f"--junitxml={report_path(spec, options)}", *options.pytest_args]


def report_path(spec: RuntimeSpec, options: RunOptions) -> Path:
    return options.report_dir / f"{spec.name}.xml"


class _Echo:
    """Copies a child's output to its log file and, prefixed, to stdout."""

    lock = threading.Lock()

    def __init__(self, name: str, log: Path):
        self.name, self.log = name, log

    def pump(self, stream) -> None:
        with self.log.open("w", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                with self.lock:
                    sys.stdout.write(f"[{self.name}] {line}")
                    sys.stdout.flush()


def run_one(spec: RuntimeSpec, options: RunOptions) -> int:
    report_path(spec, options).unlink(missing_ok=True)  # never compare a report of an earlier run
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Each run labels its resources and names its host directories with its
    # own random run ID: runs at the same time must not share one.
    env.pop(RUN_ID_ENV, None)
    process = subprocess.Popen(child_command(spec, options), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        _Echo(spec.name, options.report_dir / f"{spec.name}.log").pump(process.stdout)
        return process.wait()
    except BaseException:
        process.terminate()  # our own child, by its handle
        process.wait()
        raise


def run_all(specs: list[RuntimeSpec], options: RunOptions) -> dict[str, int]:
    """Exit status of each runtime's run, by name."""
    options.report_dir.mkdir(parents=True, exist_ok=True)
    codes: dict[str, int] = {}

    def chain_worker(chain: list[RuntimeSpec]) -> None:
        for spec in chain:
            codes[spec.name] = run_one(spec, options)

    threads = [threading.Thread(target=chain_worker, args=(chain,), name=f"run-{chain[0].name}")
               for chain in schedule(specs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def run_and_compare(spec_texts: list[str], options: RunOptions) -> int:
    try:
        specs = parse_runtime_specs(spec_texts)
    except SpecError as err:
        print(f"cri-conformance: error: {err}", file=sys.stderr)
        return 2
    codes = run_all(specs, options)
    runs, missing = [], []
    for spec in specs:
        path = report_path(spec, options)
        try:
            runs += load_runs(path)
        except ReportError:
            missing.append(f"{spec.name}: no report (exit status {codes.get(spec.name)}); "
                           f"see {options.report_dir / (spec.name + '.log')}")
    print()
    for line in missing:
        print(f"cri-conformance: {line}", file=sys.stderr)
    if runs:
        comparison = compare(runs)
        sys.stdout.write(comparison_markdown(comparison, include_same=False))
        written = write_outputs(comparison, options.report_dir)
        print("\n" + "\n".join(f"{fmt}: {path}" for fmt, path in written.items()))
    for spec in specs:
        print(f"{spec.name}: exit status {codes.get(spec.name)}, report {report_path(spec, options)}")
    if missing or any(code not in (0, 1) for code in codes.values()):
        return 2
    return 1 if any(codes.values()) else 0
