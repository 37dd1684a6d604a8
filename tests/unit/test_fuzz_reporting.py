"""Fuzz reporting and control, as pure logic: status classes, replay commands,
budgets, settings, lifecycle scripts."""

from __future__ import annotations

import shlex
import time

import grpc
import pytest

from cri_conformance.fixtures.fuzz import failures
from cri_conformance.fixtures.fuzz.lifecycle import LifecycleTarget
from cri_conformance.fixtures.fuzz.oracles import ORACLES, classify, mismatches
from cri_conformance.fixtures.fuzz.runner import Budget, BudgetExhausted
from cri_conformance.fixtures.fuzz.settings import _number, _profile, seed_of
from cri_conformance.fixtures.fuzz.targets import all_targets
from cri_conformance.catalogue import catalogue
from cri_conformance.proto import runtime_v1_pb2 as pb

Code = grpc.StatusCode


@pytest.mark.parametrize("code, verdict", [
    (Code.OK, "ok"), (Code.INVALID_ARGUMENT, "meaningful"), (Code.NOT_FOUND, "meaningful"),
    (Code.UNKNOWN, "unspecific"), (Code.INTERNAL, "unspecific"), (Code.UNAVAILABLE, "unspecific"),
    (Code.DATA_LOSS, "violation"), (Code.DEADLINE_EXCEEDED, "violation"), (Code.CANCELLED, "violation"),
])
def test_status_codes_are_classified(code, verdict):
    assert classify(code) == verdict


def test_a_target_may_allow_more_codes():
    assert classify(Code.DEADLINE_EXCEEDED, frozenset({Code.DEADLINE_EXCEEDED})) == "meaningful"


def test_every_oracle_names_catalogue_contracts():
    for oracle in ORACLES.values():
        assert oracle.contracts and set(oracle.contracts) <= set(catalogue()), oracle.name


def test_every_target_is_registered_with_its_oracles():
    targets = all_targets()
    assert {"run_pod_sandbox", "create_container", "container_process", "list_pod_sandbox", "list_containers",
            "image_status", "pull_image", "exec_sync", "lifecycle"} <= set(targets)
    assert all(cls.oracles for cls in targets.values())


def test_mismatches_say_what_was_sent_and_what_came_back():
    assert mismatches("labels", {"a": "1"}, {"a": "1", "extra": "x"}, subset=True) == []
    [problem] = mismatches("labels", {"a": "1"}, {"a": "2"}, subset=True)
    assert "sent {'a': '1'}" in problem and "got {'a': '2'}" in problem
    [problem] = mismatches("metadata", pb.PodSandboxMetadata(name="a"), pb.PodSandboxMetadata(name="b"))
    assert 'sent {name: "a"}' in problem and 'got {name: "b"}' in problem


# --- replay commands ---------------------------------------------------------------------

def test_the_replay_command_carries_the_request_exactly(tmp_path):
    text = 'config { metadata { name: "it\'s \\"odd\\"" } }'
    command = failures.replay_command("unix:///run/x.sock", "run_pod_sandbox", text)
    words = shlex.split(command)
    assert words[:4] == ["cri-conformance", "replay", "--runtime-endpoint", "unix:///run/x.sock"]
    assert words[4:] == ["run_pod_sandbox", text]


def test_a_long_request_is_replayed_from_its_saved_file(tmp_path):
    text = "x" * (failures.INLINE_LIMIT + 1)
    saved = failures.save(tmp_path, "create_container", "fuzz.no_leak", text, "[fuzz.no_leak] it leaked")
    command = failures.replay_command("unix:///run/x.sock", "create_container", text, saved)
    assert shlex.split(command)[-1] == f"@{saved}"
    assert saved.read_text().splitlines() == ["# [fuzz.no_leak] it leaked", text]


def test_the_failure_text_shows_request_and_command():
    shown = failures.describe("exec_sync", "ExecSync", 'cmd: "a"\ntimeout: 1\n', "cri-conformance replay ...")
    assert 'cmd: "a"' in shown and "timeout: 1" in shown and "replay with:\n    cri-conformance replay ..." in shown


def test_lifecycle_scripts_read_back_as_written():
    target = LifecycleTarget()
    script = ["run_pod p0", "create_container c0 p0 long", "remove_pod p0"]
    assert target.from_text(target.to_text(script, one_line=True)) == script
    assert target.from_text(target.to_text(script)) == script


# --- budget --------------------------------------------------------------------------------

def test_the_budget_stops_generation_when_time_is_up():
    budget = Budget(0.01)
    budget.check()
    time.sleep(0.02)
    with pytest.raises(BudgetExhausted):
        budget.check()


def test_after_a_failure_only_the_shrink_time_counts_and_the_smallest_is_kept(monkeypatch):
    budget = Budget(0.0)
    big, small = AssertionError("big"), AssertionError("small")
    budget.failed(big, 100)
    budget.failed(small, 10)
    budget.failed(AssertionError("bigger again"), 50)
    budget.check()  # generation time no longer matters once there is a failure to shrink
    assert budget.smallest is small
    monkeypatch.setattr("cri_conformance.fixtures.fuzz.runner.SHRINK_SECONDS", 0.0)
    time.sleep(0.01)
    with pytest.raises(BudgetExhausted):
        budget.check()


# --- settings --------------------------------------------------------------------------------

def test_the_default_seed_follows_the_run_id():
    assert seed_of("a8c0b68ca556") == seed_of("a8c0b68ca556") != seed_of("b69999de000c")
    assert 0 <= seed_of("not hex at all") < 2**32


@pytest.mark.parametrize("text, problem", [("x", "wants a number"), ("0", "at least 1")])
def test_bad_numbers_are_usage_errors(text, problem):
    with pytest.raises(pytest.UsageError, match=problem):
        _number(text, int, "--fuzz-examples", minimum=1)


def test_profiles():
    assert _profile("strict") == "strict"
    with pytest.raises(pytest.UsageError, match="compat, strict"):
        _profile("lenient")
