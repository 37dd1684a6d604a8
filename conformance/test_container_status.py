"""ContainerStatus: what the runtime reports about one container, field by field.

One running container, created with labels, annotations, a mount and
resources, serves every read-only check.
"""

from __future__ import annotations

import json
import os
import re

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    container_status,
    expect_rpc_error,
    read_log,
    unknown_id,
    wait_container_state,
    wait_for_output,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("container_status")

LABELS = {"app": "conformance", "tier": "container", "empty-value": ""}
ANNOTATIONS = {"example.com/note": "kept exactly", "example.com/json": '{"b": [3, 4]}', "blank": ""}
ATTEMPT = 5
RESOURCES = pb.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                       memory_limit_in_bytes=64 << 20)
MOUNT_PATH = "/mnt/conformance"
SIGTERM = 23  # Signal enum value; names changed between CRI releases, numbers did not
# A digested reference (repo@sha256:...) or an image ID (sha256:...).
DIGESTED = re.compile(r"^(?:[^@\s]+@)?sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def described(module_resources, busybox):
    """(pod, config, container ID) of a running container with everything set."""
    pod = module_resources.run_pod()
    source = pod.log_directory / "mount-source"
    source.mkdir()
    config = module_resources.container_config(
        busybox, labels=LABELS, annotations=ANNOTATIONS, attempt=ATTEMPT,
        command=["sh", "-c", "echo described; trap 'exit 0' TERM; sleep 1000 & wait"],
        mounts=[pb.Mount(container_path=MOUNT_PATH, host_path=str(source), readonly=True)],
        linux=pb.LinuxContainerConfig(resources=RESOURCES),
    )
    container_id = module_resources.start_container(pod, config)
    wait_container_state(module_resources.client.runtime, container_id, pb.CONTAINER_RUNNING)
    return pod, config, container_id


@pytest.fixture(scope="module")
def status(runtime, described) -> pb.ContainerStatus:
    return container_status(runtime, described[2])


@pytest.mark.contract("ContainerStatus.required_fields")
def test_status_has_the_fields_clients_require(status, described):
    assert status.id == described[2], f"status.id {status.id!r}, expected {described[2]!r}"
    missing = [name for name, value in (("metadata.name", status.metadata.name), ("image.image", status.image.image),
                                        ("image_ref", status.image_ref)) if not value]
    assert not missing, f"empty in ContainerStatus: {missing}"
    assert status.created_at != 0, "created_at is 0"


@pytest.mark.contract("ContainerStatus.metadata_echo", "Metadata.attempt_echo")
def test_status_echoes_metadata(status, described):
    sent = described[1].metadata
    assert status.metadata == sent, f"sent metadata {sent}, status has {status.metadata}"


@pytest.mark.contract("CreateContainer.labels_preserved", "ContainerStatus.labels")
def test_status_returns_labels(status, described):
    sent = dict(described[1].labels)
    got = dict(status.labels)
    assert got.items() >= sent.items(), f"labels changed: sent {sent}, got {got}"


@pytest.mark.contract("CreateContainer.annotations_preserved", "ContainerStatus.annotations_identical")
def test_status_returns_annotations_exactly(status):
    got = dict(status.annotations)
    assert got == ANNOTATIONS, f"annotations must be identical: sent {ANNOTATIONS}, got {got}"


@pytest.mark.contract("ContainerStatus.image")
def test_status_echoes_the_image_and_a_digested_ref(status, busybox):
    assert status.image.image == busybox, (
        f"image.image {status.image.image!r}, the container was created with {busybox!r}"
    )
    assert DIGESTED.match(status.image_ref), f"image_ref {status.image_ref!r} is not repo@sha256:... or an image ID"


@pytest.mark.contract("Mount.status_echo", "ContainerStatus.mounts")
def test_status_echoes_the_mount(status, described):
    sent = described[1].mounts[0]
    fields = ("container_path", "host_path", "readonly", "propagation", "selinux_relabel")
    got = [{f: getattr(m, f) for f in fields} for m in status.mounts]
    assert got == [{f: getattr(sent, f) for f in fields}], f"one mount was requested: {sent}; status has {got}"


@pytest.mark.contract("ContainerStatus.log_path", "CreateContainer.log_path")
def test_log_path_is_the_absolute_host_file(status, described):
    pod, config, _ = described
    expected = os.path.join(pod.config.log_directory, config.log_path)
    assert status.log_path == expected, f"log_path {status.log_path!r}, expected {expected!r}"
    wait_for_output(status.log_path, "described")
    assert read_log(status.log_path, complete=False), f"{status.log_path} has no records"


@pytest.mark.contract("ContainerStatus.resources")
def test_status_reports_the_applied_resources(status):
    fields = ("cpu_period", "cpu_quota", "cpu_shares", "memory_limit_in_bytes")
    sent = {f: getattr(RESOURCES, f) for f in fields}
    got = {f: getattr(status.resources.linux, f) for f in fields}
    assert got == sent, f"resources applied at create {sent}; ContainerStatus.resources.linux {got}"


@pytest.mark.contract("ContainerStatus.stop_signal")
def test_status_reports_the_stop_signal(status):
    # The image sets no STOPSIGNAL and the config no stop_signal: SIGTERM is what the runtime uses.
    name = pb.Signal.Name(status.stop_signal) if status.stop_signal in pb.Signal.values() else status.stop_signal
    assert status.stop_signal == SIGTERM, f"stop_signal {name}, expected SIGTERM ({SIGTERM})"


@pytest.mark.contract("ContainerStatus.user")
def test_status_reports_the_user_it_started_with(runtime, status):
    features = runtime.Status(pb.StatusRequest()).features
    if not status.HasField("user") and not features.supplemental_groups_policy:
        pytest.skip("unsupported by this runtime: ContainerStatus.user (no supplemental_groups_policy feature)")
    assert status.HasField("user") and status.user.HasField("linux"), (
        "the runtime advertises supplemental_groups_policy but ContainerStatus.user.linux is unset"
    )
    linux = status.user.linux
    # The busybox image runs as root (uid 0, gid 0) and the config sets no user.
    assert (linux.uid, linux.gid) == (0, 0), f"user.linux uid/gid {linux.uid}/{linux.gid}, expected 0/0"
    assert 0 in linux.supplemental_groups, f"supplemental_groups {list(linux.supplemental_groups)} lack gid 0"


@pytest.mark.contract("ContainerStatus.exit_code", "ContainerStatus.timestamps")
def test_running_container_has_no_exit_yet(status):
    assert (status.finished_at, status.exit_code) == (0, 0), (
        f"a running container has finished_at {status.finished_at}, exit_code {status.exit_code}"
    )


@pytest.mark.contract("ContainerStatus.verbose_info")
def test_status_info_only_when_verbose(runtime, described):
    container_id = described[2]
    plain = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id))
    assert dict(plain.info) == {}, f"info without verbose: {sorted(plain.info)}"
    verbose = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id, verbose=True))
    assert verbose.info, "verbose ContainerStatus returned no info"
    for key, value in verbose.info.items():
        try:
            json.loads(value)
        except ValueError as err:
            raise AssertionError(f"info[{key!r}] is not JSON: {err}: {value[:200]!r}") from None


@pytest.mark.contract("ContainerStatus.not_found_error", "X.notfound_code")
def test_status_of_unknown_container_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.ContainerStatus,
                     pb.ContainerStatusRequest(container_id=unknown_id()))
