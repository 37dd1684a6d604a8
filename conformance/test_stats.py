"""Container and pod sandbox stats: ContainerStats, ListContainerStats,
PodSandboxStats, ListPodSandboxStats (the Stream* variants: test_optional_rpcs.py).

One pod holds a running container that wrote a few MiB, a created one and
an exited one; every check reads them. The pod gets a cgroup parent of its
own, as the kubelet gives every pod one: runtimes read pod-level stats there.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    assert_ns_near,
    call_optional,
    expect_rpc_error,
    list_containers,
    log_file,
    remove_cgroupfs_parent,
    unknown_id,
    uses_systemd_cgroups,
    wait_container_state,
    wait_for_output,
)
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.fixtures.resources import Pod
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("stats")

CASE = "cri-conformance.io/case"
IDLE = "cri-conformance.io/idle-case"  # on the created and exited containers, so CASE selects only the busy one
ANNOTATIONS = {"example.com/stats": "yes", "blank": ""}
MEMORY_LIMIT = 64 << 20
BLOB_BYTES = 4 << 20
BUSY = ["sh", "-c", "dd if=/dev/zero of=/blob bs=1M count=4 2>/dev/null; echo ready; trap 'exit 0' TERM; "
                    "sleep 1000 & wait"]
WRITABLE_LAYER_WAIT = 15.0  # runtimes may refresh filesystem usage on a period (containerd: 10 s)


@dataclass
class Stats:
    case: str
    pod: Pod
    busy: str  # running, with a memory limit
    busy_config: pb.ContainerConfig
    created: str
    exited: str
    started_ns: int
    blob_written_ns: int  # the busy container had written its file by then
    cgroup_parent: str  # "" when the suite cannot make one for this runtime


@pytest.fixture(scope="module")
def world(module_resources, busybox, runtime, cri_settings):
    case = uuid.uuid4().hex
    started = time.time_ns()
    parent = "" if uses_systemd_cgroups(runtime) else f"/cri-conformance-{cri_settings.run_id}-{case[:8]}"
    pod = module_resources.run_pod(labels={CASE: case}, annotations=ANNOTATIONS,
                                   linux=pb.LinuxPodSandboxConfig(cgroup_parent=parent))
    config = module_resources.container_config(
        busybox, command=BUSY, labels={CASE: case, "role": "busy"}, annotations=ANNOTATIONS,
        linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(memory_limit_in_bytes=MEMORY_LIMIT)))
    busy = module_resources.start_container(pod, config)
    created = module_resources.create_container(pod, image=busybox, labels={IDLE: case})
    exited = module_resources.start_container(pod, image=busybox, command=["true"], labels={IDLE: case})
    wait_for_output(log_file(pod, config), "ready")
    blob_written = time.time_ns()
    wait_container_state(runtime, exited, pb.CONTAINER_EXITED)
    yield Stats(case, pod, busy, config, created, exited, started, blob_written, parent)
    if parent:  # the parent cgroup can only go once the pod is gone
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
        runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
        errors = remove_cgroupfs_parent(parent)
        assert not errors, f"cannot remove the pod cgroup parent: {errors}"


def container_stats(runtime, container_id: str) -> pb.ContainerStats:
    return runtime.ContainerStats(pb.ContainerStatsRequest(container_id=container_id)).stats


def listed_stats(runtime, **filter_fields) -> list[str]:
    request = pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(**filter_fields))
    return [s.attributes.id for s in runtime.ListContainerStats(request).stats]


def value(message, field: str) -> int:
    """A UInt64Value field that must be set (unset means 'unknown', not 0)."""
    assert message.HasField(field), f"{type(message).__name__}.{field} is unset"
    return getattr(message, field).value


# --- ContainerStats ----------------------------------------------------------------------------

@pytest.mark.contract("ContainerStats.attributes")
def test_container_stats_identify_the_container(runtime, world):
    attributes = container_stats(runtime, world.busy).attributes
    assert attributes.id == world.busy, f"attributes.id {attributes.id!r}, expected {world.busy!r}"
    assert attributes.metadata == world.busy_config.metadata, f"attributes.metadata {attributes.metadata}"
    assert dict(attributes.labels).items() >= dict(world.busy_config.labels).items(), (
        f"attributes.labels {dict(attributes.labels)} lack {dict(world.busy_config.labels)}"
    )
    assert dict(attributes.annotations) == ANNOTATIONS, (
        f"annotations must be identical: sent {ANNOTATIONS}, got {dict(attributes.annotations)}"
    )


@pytest.mark.contract("ContainerStats.timestamps", "ContainerStats.cpu", "ContainerStats.wrapper_presence",
                      "X.timestamps_ns")
def test_cpu_usage_is_timestamped_and_cumulative(runtime, world):
    first = container_stats(runtime, world.busy).cpu
    assert_ns_near(first.timestamp, "cpu.timestamp", world.started_ns)
    used = value(first, "usage_core_nano_seconds")
    assert used > 0, "usage_core_nano_seconds is 0 for a container that ran dd"
    second = wait_for(lambda: container_stats(runtime, world.busy).cpu, lambda cpu: cpu.timestamp > first.timestamp,
                      timeout=10, what="a newer cpu sample")
    assert value(second, "usage_core_nano_seconds") >= used, (
        f"cumulative CPU went down: {used} -> {second.usage_core_nano_seconds.value}"
    )
    if second.HasField("usage_nano_cores"):
        ceiling = (os.cpu_count() or 1) * 10**9
        assert second.usage_nano_cores.value <= ceiling * 1.1, (
            f"usage_nano_cores {second.usage_nano_cores.value} exceeds {os.cpu_count()} cores"
        )


@pytest.mark.contract("ContainerStats.timestamps", "ContainerStats.memory", "ContainerStats.wrapper_presence")
def test_memory_usage_is_timestamped_and_consistent(runtime, world):
    memory = container_stats(runtime, world.busy).memory
    assert_ns_near(memory.timestamp, "memory.timestamp", world.started_ns)
    working_set, usage = value(memory, "working_set_bytes"), value(memory, "usage_bytes")
    assert 0 < working_set <= usage <= MEMORY_LIMIT, (
        f"expected 0 < working_set ({working_set}) <= usage ({usage}) <= limit ({MEMORY_LIMIT})"
    )
    assert value(memory, "available_bytes") == MEMORY_LIMIT - working_set, (
        f"available_bytes {memory.available_bytes.value} != limit {MEMORY_LIMIT} - working set {working_set}"
    )
    assert value(memory, "rss_bytes") <= usage, f"rss_bytes {memory.rss_bytes.value} > usage_bytes {usage}"
    faults, major = value(memory, "page_faults"), value(memory, "major_page_faults")
    assert 0 < faults and major <= faults, f"page_faults {faults}, major_page_faults {major}"


@pytest.mark.contract("ContainerStats.swap_io_psi")
def test_optional_swap_io_and_psi_are_timestamped(runtime, world):
    stats = container_stats(runtime, world.busy)
    present = [name for name in ("swap", "io") if stats.HasField(name)]
    present += [f"{name}.psi" for name in ("cpu", "memory") if getattr(stats, name).HasField("psi")]
    if not present:
        pytest.skip("unsupported by this runtime: ContainerStats swap, io and PSI are not reported")
    for name in ("swap", "io"):
        if stats.HasField(name):
            assert_ns_near(getattr(stats, name).timestamp, f"{name}.timestamp", world.started_ns)


@pytest.mark.contract("ContainerStats.not_found_error", "X.notfound_code")
def test_stats_of_unknown_container_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.ContainerStats,
                     pb.ContainerStatsRequest(container_id=unknown_id()))


# --- ListContainerStats -------------------------------------------------------------------------

def unfiltered_stats_ids(runtime) -> list[set[str]]:
    """Container IDs of ListContainerStats with no filter, and with an empty one."""
    requests = (pb.ListContainerStatsRequest(), pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter()))
    return [{s.attributes.id for s in runtime.ListContainerStats(request).stats} for request in requests]


@pytest.mark.contract("ListContainerStats.running")
def test_list_stats_includes_every_running_container(runtime, world):
    for ids in unfiltered_stats_ids(runtime):
        assert world.busy in ids, f"the running container {world.busy[:13]} is missing from ListContainerStats"


@pytest.mark.contract("ListContainerStats.running")
def test_list_stats_leaves_out_containers_that_do_not_run(runtime, world):
    for ids in unfiltered_stats_ids(runtime):
        listed = {"created": world.created in ids, "exited": world.exited in ids}
        assert listed == {"created": False, "exited": False}, (
            f"ListContainerStats returns stats of running containers; listed: {listed}"
        )


@pytest.mark.contract("ListContainerStats.filter")
def test_list_stats_filters_combine_with_and(runtime, world):
    in_pod = {c.id for c in list_containers(runtime, pod_sandbox_id=world.pod.id)}
    by_pod = listed_stats(runtime, pod_sandbox_id=world.pod.id)
    assert world.busy in by_pod and set(by_pod) <= in_pod, (
        f"filter by sandbox returned {by_pod}; the sandbox holds {sorted(in_pod)}"
    )
    cases = [
        (dict(id=world.busy), [world.busy]),
        (dict(id=unknown_id()), []),
        (dict(label_selector={CASE: world.case}), [world.busy]),
        (dict(label_selector={CASE: world.case, "role": "busy"}), [world.busy]),
        (dict(label_selector={CASE: world.case, "role": "other"}), []),
        (dict(id=world.busy, label_selector={CASE: world.case, "role": "other"}), []),
        (dict(id=world.busy, pod_sandbox_id=unknown_id()), []),
        (dict(pod_sandbox_id=world.pod.id, label_selector={CASE: world.case}), [world.busy]),
    ]
    failures = [f"{fields}: got {got}, expected {expected}" for fields, expected in cases
                if (got := listed_stats(runtime, **fields)) != expected]
    assert not failures, "; ".join(failures)


# --- PodSandboxStats ---------------------------------------------------------------------------

def pod_stats(runtime, world: Stats) -> pb.PodSandboxStats:
    if not world.cgroup_parent:
        pytest.skip("pod stats need a pod cgroup parent; the suite makes cgroupfs parents only (systemd driver)")
    request = pb.PodSandboxStatsRequest(pod_sandbox_id=world.pod.id)
    return call_optional("PodSandboxStats", runtime.PodSandboxStats, request).stats


@pytest.mark.contract("PodSandboxStats.platform", "PodSandboxStats.attributes", "PodSandboxStats.optional")
def test_pod_stats_identify_the_sandbox(runtime, world):
    stats = pod_stats(runtime, world)
    assert stats.HasField("linux") and not stats.HasField("windows"), (
        f"on Linux exactly `linux` is set: linux={stats.HasField('linux')}, windows={stats.HasField('windows')}"
    )
    attributes = stats.attributes
    assert attributes.id == world.pod.id, f"attributes.id {attributes.id!r}"
    assert attributes.metadata == world.pod.metadata, f"attributes.metadata {attributes.metadata}"
    assert dict(attributes.labels).items() >= dict(world.pod.config.labels).items(), f"labels {dict(attributes.labels)}"
    assert dict(attributes.annotations) == ANNOTATIONS, (
        f"annotations must be identical: sent {ANNOTATIONS}, got {dict(attributes.annotations)}"
    )


@pytest.mark.contract("PodSandboxStats.linux")
def test_pod_stats_cover_cpu_memory_network_processes_and_containers(runtime, world):
    linux = pod_stats(runtime, world).linux
    for name in ("cpu", "memory", "network", "process"):
        assert linux.HasField(name), f"PodSandboxStats.linux.{name} is unset"
    for name in ("cpu", "memory", "process"):  # network: see the next test
        assert_ns_near(getattr(linux, name).timestamp, f"linux.{name}.timestamp", world.started_ns)
    assert value(linux.cpu, "usage_core_nano_seconds") > 0, "pod CPU usage is 0"
    assert value(linux.memory, "working_set_bytes") > 0, "pod working set is 0"
    default = linux.network.default_interface
    assert default.name, "network.default_interface has no name"
    value(default, "rx_bytes"), value(default, "tx_bytes")
    others = [i.name for i in linux.network.interfaces]
    assert default.name not in others, f"interfaces {others} repeat the default interface {default.name!r}"
    assert value(linux.process, "process_count") >= 2, "the busy container runs sh and sleep"
    containers = {c.attributes.id for c in linux.containers}
    assert world.busy in containers, f"per-container stats {sorted(containers)} lack the running container"


@pytest.mark.contract("PodSandboxStats.linux", "ContainerStats.timestamps")
def test_pod_network_stats_are_timestamped(runtime, world):
    network = pod_stats(runtime, world).linux.network
    assert_ns_near(network.timestamp, "linux.network.timestamp", world.started_ns)


@pytest.mark.contract("PodSandboxStats.not_found_error", "X.notfound_code")
def test_pod_stats_of_unknown_sandbox_is_not_found(runtime):
    request = pb.PodSandboxStatsRequest(pod_sandbox_id=unknown_id())
    with pytest.raises(grpc.RpcError) as caught:
        call_optional("PodSandboxStats", runtime.PodSandboxStats, request)
    code = caught.value.code()
    assert code == grpc.StatusCode.NOT_FOUND, f"expected NOT_FOUND, got {code.name}: {caught.value.details()}"


@pytest.mark.contract("ListPodSandboxStats.filter")
def test_list_pod_stats_filters_combine_with_and(runtime, world):
    def listed(**fields) -> list[str]:
        request = pb.ListPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(**fields))
        return [s.attributes.id for s in call_optional("ListPodSandboxStats", runtime.ListPodSandboxStats,
                                                       request).stats]

    cases = [
        (dict(id=world.pod.id), [world.pod.id]),
        (dict(id=unknown_id()), []),
        (dict(label_selector={CASE: world.case}), [world.pod.id]),
        (dict(label_selector={CASE: world.case, "role": "none"}), []),
        (dict(id=world.pod.id, label_selector={CASE: "other"}), []),
    ]
    failures = [f"{fields}: got {got}, expected {expected}" for fields, expected in cases
                if (got := listed(**fields)) != expected]
    assert not failures, "; ".join(failures)


# Last in the module: it may wait for the runtime's periodic filesystem scan.
@pytest.mark.contract("ContainerStats.writable_layer")
def test_writable_layer_usage_is_reported(runtime, world):
    # Runtimes may measure layers on a period (containerd 1.6 reports timestamp 0
    # and zero values until its first scan): wait for a measurement taken after
    # the container wrote its file.
    stats = wait_for(lambda: container_stats(runtime, world.busy),
                     lambda s: s.writable_layer.timestamp > world.blob_written_ns,
                     timeout=WRITABLE_LAYER_WAIT, what="a ContainerStats.writable_layer measured after the write")
    layer = stats.writable_layer
    assert_ns_near(layer.timestamp, "writable_layer.timestamp", world.started_ns)
    assert layer.fs_id.mountpoint, "writable_layer.fs_id.mountpoint is empty"
    assert value(layer, "used_bytes") >= BLOB_BYTES, (
        f"used_bytes {layer.used_bytes.value}: the container wrote a {BLOB_BYTES}-byte file into its layer"
    )
    assert value(layer, "inodes_used") >= 1, "inodes_used is 0 for a layer holding a file"
