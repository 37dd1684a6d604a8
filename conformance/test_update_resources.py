"""UpdateContainerResources as an RPC: synchronous, all-or-nothing, reflected
in ContainerStatus, NOT_FOUND for an unknown container.

Only the memory limit is read back from the container's cgroup, to see
when it takes effect; what limits do to a workload is tested elsewhere.
"""

from __future__ import annotations

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    container_status,
    exec_stdout,
    expect_rpc_error,
    expect_rpc_failure,
    unknown_id,
    wait_container_state,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("update_resources")

INITIAL = pb.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=64 << 20)
# cgroup v2, then v1: the container sees its own cgroup at /sys/fs/cgroup.
READ_MEMORY_LIMIT = ["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                                 "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"]


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


@pytest.fixture
def limited(resources, pod, busybox, runtime) -> str:
    """A running container created with INITIAL resources (each test changes its own)."""
    container_id = resources.start_container(pod, image=busybox, linux=pb.LinuxContainerConfig(resources=INITIAL))
    wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    return container_id


def memory_limit_in_cgroup(runtime, container_id: str) -> int:
    return int(exec_stdout(runtime, container_id, READ_MEMORY_LIMIT).strip())


def update(runtime, container_id: str, resources: pb.LinuxContainerResources, **fields) -> None:
    runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=container_id, linux=resources, **fields))


@pytest.mark.contract("UpdateContainerResources.synchronous", "UpdateContainerResources.platform",
                      "UpdateContainerResources.annotations")
def test_new_limit_is_in_effect_when_the_call_returns(runtime, limited):
    assert memory_limit_in_cgroup(runtime, limited) == INITIAL.memory_limit_in_bytes
    wanted = 96 << 20
    update(runtime, limited, pb.LinuxContainerResources(cpu_shares=256, memory_limit_in_bytes=wanted),
           annotations={"example.com/update": "conformance"})
    got = memory_limit_in_cgroup(runtime, limited)  # no polling: the update must be done
    assert got == wanted, f"the cgroup memory limit is {got} right after the update to {wanted}"


@pytest.mark.contract("UpdateContainerResources.status_reflects")
def test_status_reports_the_updated_resources(runtime, limited):
    wanted = pb.LinuxContainerResources(cpu_shares=256, memory_limit_in_bytes=96 << 20)
    update(runtime, limited, wanted)
    linux = container_status(runtime, limited).resources.linux
    got = (linux.cpu_shares, linux.memory_limit_in_bytes)
    assert got == (wanted.cpu_shares, wanted.memory_limit_in_bytes), (
        f"ContainerStatus.resources.linux (cpu_shares, memory_limit_in_bytes) = {got} after updating to "
        f"{(wanted.cpu_shares, wanted.memory_limit_in_bytes)}"
    )


@pytest.mark.contract("UpdateContainerResources.transactional")
def test_update_that_cannot_be_applied_changes_nothing(runtime, limited):
    before_status = container_status(runtime, limited).resources.linux
    # A valid memory limit together with CPUs no host has: the whole update must fail.
    impossible = pb.LinuxContainerResources(memory_limit_in_bytes=128 << 20, cpuset_cpus="1023")
    expect_rpc_failure(update, runtime, limited, impossible,
                       what="UpdateContainerResources with cpuset_cpus=1023, which no CPU matches")
    assert wait_container_state(runtime, limited, pb.CONTAINER_RUNNING, timeout=2)
    got = memory_limit_in_cgroup(runtime, limited)
    assert got == INITIAL.memory_limit_in_bytes, (
        f"after the failed update the cgroup memory limit is {got}, expected {INITIAL.memory_limit_in_bytes}"
    )
    after_status = container_status(runtime, limited).resources.linux
    assert after_status == before_status, f"the failed update changed ContainerStatus.resources: {after_status}"


@pytest.mark.contract("X.notfound_code")
def test_update_of_unknown_container_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.UpdateContainerResources,
                     pb.UpdateContainerResourcesRequest(container_id=unknown_id(), linux=INITIAL))
