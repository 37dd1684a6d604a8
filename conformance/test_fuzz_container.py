"""Fuzzing CreateContainer: arbitrary container configs, and what the process gets.

`create_container` sends any safe ContainerConfig into one shared sandbox,
checks status and list against it, starts it and removes it.
`container_process` runs containers with fuzzed arguments, environment,
working directory, hostname and DNS settings and reads them back from
inside the container.
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.fuzz.target_containers import ContainerProcessTarget, CreateContainerTarget, process_request
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


@pytest.mark.contract(
    "X.notfound_code", "X.proto3_presence", "X.nil_platform_config", "CreateContainer.id_nonempty",
    "CreateContainer.state_created", "CreateContainer.sandbox_membership", "CreateContainer.failure_cleanup_retry",
    "CreateContainer.labels_preserved", "CreateContainer.annotations_preserved", "ContainerStatus.metadata_echo",
    "ContainerStatus.labels", "ContainerStatus.annotations_identical", "Metadata.attempt_echo",
    "ListContainers.filter_id", "ListContainers.filter_labels", "ListContainers.filter_state",
    "ListContainers.filter_pod", "ListContainers.filter_and", "ListContainers.annotations_identical",
    "RemoveContainer.any_state", "RemoveContainer.gone", "Status.required_true",
)
def test_fuzz_create_container(fuzz):
    fuzz.run(CreateContainerTarget())


@pytest.mark.contract(
    "CreateContainer.command_args", "CreateContainer.envs", "CreateContainer.working_dir",
    "RunPodSandbox.hostname_applied", "RunPodSandbox.dns_config_applied", "StartContainer.running",
    "RemoveContainer.force_running", "RemovePodSandbox.gone", "Status.required_true",
)
def test_fuzz_container_process(fuzz):
    fuzz.run(ContainerProcessTarget())


@pytest.mark.contract("CreateContainer.envs")
def test_binary_env_value_reaches_the_process(fuzz):
    """A fuzzing finding kept as an explicit example: KeyValue.value is bytes, and
    bytes that are not UTF-8 must reach the process unchanged."""
    request = process_request(envs=[pb.KeyValue(key="BINARY", value=b"\xed\xa0\x80\xff")])
    fuzz.example(ContainerProcessTarget(), request)
