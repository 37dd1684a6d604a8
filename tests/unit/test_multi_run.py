"""`run --runtime NAME=ENDPOINT ...`: parsing, scheduling and the per-runtime command."""

from __future__ import annotations

from pathlib import Path

import pytest

from cri_conformance.cli import main
from cri_conformance.multi_run import (
    RunOptions,
    RuntimeSpec,
    SpecError,
    child_command,
    parse_runtime_spec,
    parse_runtime_specs,
    schedule,
)


def test_spec_with_options():
    assert parse_runtime_spec("kata=unix:///run/containerd/containerd.sock,handler=kata") == RuntimeSpec(
        "kata", "unix:///run/containerd/containerd.sock", handler="kata")
    assert parse_runtime_spec("crio=unix:///run/crio/crio.sock,image-endpoint=unix:///run/img.sock") == RuntimeSpec(
        "crio", "unix:///run/crio/crio.sock", image_endpoint="unix:///run/img.sock")


@pytest.mark.parametrize("text, problem", [
    ("unix:///run/crio/crio.sock", "expected NAME=ENDPOINT"),
    ("=unix:///x.sock", "expected NAME=ENDPOINT"),
    ("a/b=unix:///x.sock", "it names files"),
    ("a=unix:///x.sock,colour=red", "unknown option 'colour=red'"),
])
def test_bad_specs_say_what_is_expected(text, problem):
    with pytest.raises(SpecError, match=problem):
        parse_runtime_spec(text)


def test_names_must_differ():
    with pytest.raises(SpecError, match="repeated: a"):
        parse_runtime_specs(["a=unix:///1.sock", "a=unix:///2.sock"])


def test_runs_sharing_an_endpoint_are_chained_the_others_run_together():
    specs = parse_runtime_specs(["runc=unix:///c.sock", "crio=unix:///crio.sock", "alt=unix:///c.sock,handler=alt"])
    assert [[s.name for s in chain] for chain in schedule(specs)] == [["runc", "alt"], ["crio"]]


def test_each_runtime_runs_the_plain_run_command_with_its_own_report():
    options = RunOptions(Path("/tmp/r"), workers=2, keyword="sandbox", pytest_args=["-m", "not fuzz"])
    command = child_command(RuntimeSpec("alt", "unix:///c.sock", handler="runc-alt"), options)
    assert command[1:4] == ["-m", "cri_conformance.cli", "run"]
    tail = command[4:]
    assert tail == ["--runtime-endpoint", "unix:///c.sock", "--runtime-name", "alt", "--report-dir", "/tmp/r",
                    "-n", "2", "--runtime-handler", "runc-alt", "-k", "sandbox",
                    "--", "--junitxml=/tmp/r/alt.xml", "-m", "not fuzz"]


def test_runtime_option_excludes_the_single_runtime_options(capsys):
    assert main(["run", "--runtime", "a=unix:///a.sock", "--runtime-endpoint", "unix:///b.sock"]) == 2
    assert "excludes --local, --runtime-endpoint" in capsys.readouterr().err


def test_bad_runtime_option_is_one_line(capsys, tmp_path):
    assert main(["run", "--runtime", "nameonly", "--report-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "cri-conformance: error: --runtime 'nameonly': expected NAME=ENDPOINT[,handler=HANDLER][,image-endpoint=ENDPOINT]")
