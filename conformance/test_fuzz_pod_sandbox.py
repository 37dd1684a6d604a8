"""Fuzzing RunPodSandbox: arbitrary sandbox configs and handler names.

Every drawn request stays inside the run (see fixtures/fuzz/safety.py);
everything else in PodSandboxConfig is fuzzed. Oracles: error codes, health,
no leaks, and the round trip of metadata, labels and annotations.
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.fuzz.target_pods import RunPodSandboxTarget

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


@pytest.mark.contract(
    "X.notfound_code", "X.proto3_presence", "X.nil_platform_config", "RunPodSandbox.id_nonempty",
    "RunPodSandbox.ready_on_success", "RunPodSandbox.failure_cleanup_retry", "RunPodSandbox.labels_preserved",
    "RunPodSandbox.annotations_preserved", "RunPodSandbox.attempt_default", "PodSandboxStatus.metadata_echo",
    "PodSandboxStatus.annotations_identical", "PodSandboxStatus.labels", "PodSandboxStatus.runtime_handler",
    "PodSandboxStatus.created_at_positive", "ListPodSandbox.filter_id", "ListPodSandbox.filter_labels",
    "ListPodSandbox.filter_state", "ListPodSandbox.filter_and", "ListPodSandbox.annotations_identical",
    "StopPodSandbox.state_notready", "RemovePodSandbox.gone", "Status.required_true",
)
def test_fuzz_run_pod_sandbox(fuzz):
    fuzz.run(RunPodSandboxTarget())
