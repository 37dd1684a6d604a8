"""LinuxContainerResources as the container sees them in its cgroup, also after UpdateContainerResources.

Values are read from the container's own cgroup files (mounted at
/sys/fs/cgroup inside it), in cgroup v1 or v2 form as the node has.
The UpdateContainerResources RPC rules are tested with the RuntimeService;
here only the effect inside the container counts.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import remove_cgroupfs_parent, uses_systemd_cgroups
from cri_conformance.fixtures.inside import CgroupFiles
from cri_conformance.fixtures.linux import OWN_PID, container_linux, sandbox_linux
from cri_conformance.proto import runtime_v1_pb2 as pb

MiB = 1024 * 1024
# cgroup v1 reports "no memory limit" as the largest page-aligned int64.
V1_UNLIMITED = 2 ** 62


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod(linux=sandbox_linux(namespace_options=OWN_PID))


def start_limited(resources, pod, image, resources_config: pb.LinuxContainerResources) -> str:
    return resources.start_container(pod, image=image,
                                     linux=container_linux(namespace_options=OWN_PID, resources=resources_config))


def cpu_weight_from_shares(shares: int) -> int:
    """The cgroup v2 weight for CPU shares, as the OCI runtimes convert it."""
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_view(cgroup: CgroupFiles) -> dict[str, str]:
    """quota, period and relative weight in the node's cgroup version."""
    if cgroup.version == 2:
        quota, period = cgroup.read("cpu", "cpu.max").split()
        return {"quota": quota, "period": period, "weight": cgroup.read("cpu", "cpu.weight")}
    return {"quota": cgroup.read("cpu", "cpu.cfs_quota_us"), "period": cgroup.read("cpu", "cpu.cfs_period_us"),
            "weight": cgroup.read("cpu", "cpu.shares")}


def expected_cpu(cgroup: CgroupFiles, quota: int, period: int, shares: int) -> dict[str, str]:
    weight = cpu_weight_from_shares(shares) if cgroup.version == 2 else shares
    return {"quota": str(quota), "period": str(period), "weight": str(weight)}


def memory_limit(cgroup: CgroupFiles) -> int | None:
    """The memory limit in bytes, None when unlimited."""
    if cgroup.version == 2:
        value = cgroup.read("memory", "memory.max")
        return None if value == "max" else int(value)
    value = int(cgroup.read("memory", "memory.limit_in_bytes"))
    return None if value >= V1_UNLIMITED else value


@pytest.mark.contract("Res.cpu_cfs")
def test_cpu_quota_period_and_shares_reach_the_cgroup(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox,
                              pb.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512))
    cgroup = CgroupFiles.of(runtime, container)
    assert cpu_view(cgroup) == expected_cpu(cgroup, 50000, 100000, 512)


@pytest.mark.contract("Res.memory_limit")
def test_memory_limit_reaches_the_cgroup(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(memory_limit_in_bytes=64 * MiB))
    assert memory_limit(CgroupFiles.of(runtime, container)) == 64 * MiB


@pytest.mark.contract("Res.memory_swap")
def test_memory_swap_limit_reaches_the_cgroup(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(
        memory_limit_in_bytes=64 * MiB, memory_swap_limit_in_bytes=128 * MiB))
    cgroup = CgroupFiles.of(runtime, container)
    if cgroup.version == 2:
        if not cgroup.has("memory", "memory.swap.max"):
            pytest.skip("needs swap accounting (no memory.swap.max on this node)")
        assert cgroup.read("memory", "memory.swap.max") == str(64 * MiB), "v2 swap.max is memory+swap minus memory"
    else:
        if not cgroup.has("memory", "memory.memsw.limit_in_bytes"):
            pytest.skip("needs swap accounting (no memory.memsw.limit_in_bytes on this node)")
        assert int(cgroup.read("memory", "memory.memsw.limit_in_bytes")) == 128 * MiB


@pytest.mark.contract("Res.oom_score_adj")
def test_oom_score_adj_is_applied_to_the_entrypoint(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(oom_score_adj=500))
    assert inside.read_file(runtime, container, "/proc/1/oom_score_adj").strip() == "500"


@pytest.mark.contract("Res.cpuset")
def test_cpuset_restricts_cpus_and_memory_nodes(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(cpuset_cpus="0", cpuset_mems="0"))
    cgroup = CgroupFiles.of(runtime, container)
    assert cgroup.read("cpuset", "cpuset.cpus") == "0"
    assert cgroup.read("cpuset", "cpuset.mems") == "0"
    status = inside.process_status(runtime, container, 1)
    assert status.fields.get("Cpus_allowed_list") == "0", f"Cpus_allowed_list: {status.fields.get('Cpus_allowed_list')}"


@pytest.mark.contract("Res.zero_unspecified")
def test_zero_resources_leave_memory_and_cpu_unlimited(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources())
    cgroup = CgroupFiles.of(runtime, container)
    assert memory_limit(cgroup) is None, f"memory_limit_in_bytes=0 should mean no limit, got {memory_limit(cgroup)}"
    quota = cpu_view(cgroup)["quota"]
    assert quota in ("-1", "max"), f"cpu_quota=0 should mean no quota, got {quota}"


HUGEPAGE_SIZE = "2MB"


def hugetlb_file(cgroup: CgroupFiles) -> str:
    return f"hugetlb.{HUGEPAGE_SIZE}.max" if cgroup.version == 2 else f"hugetlb.{HUGEPAGE_SIZE}.limit_in_bytes"


@pytest.mark.contract("Res.hugepages")
def test_hugepage_limit_reaches_the_cgroup(runtime, resources, pod, busybox):
    probe = start_limited(resources, pod, busybox, pb.LinuxContainerResources())
    cgroup = CgroupFiles.of(runtime, probe)
    has_pages = Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    if not has_pages or not cgroup.has("hugetlb", hugetlb_file(cgroup)):
        pytest.skip(f"needs {HUGEPAGE_SIZE} huge pages and the hugetlb cgroup controller in containers' cgroups")
    limit = 4 * MiB
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(
        hugepage_limits=[pb.HugepageLimit(page_size=HUGEPAGE_SIZE, limit=limit)]))
    limited = CgroupFiles.of(runtime, container)
    assert int(limited.read("hugetlb", hugetlb_file(limited))) == limit


@pytest.mark.contract("Res.unified")
def test_unified_values_reach_the_cgroup(runtime, resources, pod, busybox):
    probe = start_limited(resources, pod, busybox, pb.LinuxContainerResources())
    if CgroupFiles.of(runtime, probe).version != 2:
        pytest.skip("needs cgroup v2: this node's containers see cgroup v1")
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(
        unified={"memory.high": str(100 * MiB)}))
    assert CgroupFiles.of(runtime, container).read("memory", "memory.high") == str(100 * MiB)


@pytest.mark.contract("UpdateContainerResources.synchronous", "UpdateContainerResources.platform",
                      "Res.memory_limit", "Res.cpu_cfs")
def test_update_changes_what_the_container_sees_at_once(runtime, resources, pod, busybox):
    container = start_limited(resources, pod, busybox, pb.LinuxContainerResources(
        cpu_period=100000, cpu_quota=50000, cpu_shares=512, memory_limit_in_bytes=64 * MiB))
    updated = pb.LinuxContainerResources(cpu_period=100000, cpu_quota=20000, cpu_shares=256,
                                         memory_limit_in_bytes=128 * MiB)
    runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=container, linux=updated))
    # No waiting: the new limits must be in effect when the call returns.
    cgroup = CgroupFiles.of(runtime, container)
    assert cpu_view(cgroup) == expected_cpu(cgroup, 20000, 100000, 256)
    assert memory_limit(cgroup) == 128 * MiB


# --- the pod's cgroup ---------------------------------------------------------------------

def cgroup_paths(proc_self_cgroup: str) -> list[str]:
    return [line.split(":", 2)[2] for line in proc_self_cgroup.splitlines() if line.count(":") >= 2]


@pytest.mark.contract("RunPodSandbox.cgroup_parent")
def test_containers_live_under_the_cgroup_parent(runtime, resources, busybox):
    # cgroupfs syntax; a runtime on the systemd driver converts a ".slice" parent.
    systemd = uses_systemd_cgroups(runtime)
    name = f"crc{uuid.uuid4().hex[:10]}" + (".slice" if systemd else "")
    try:
        sandbox = resources.run_pod(linux=sandbox_linux(cgroup_parent=f"/{name}"))
        container = resources.start_container(sandbox, image=busybox, linux=container_linux())
        paths = cgroup_paths(inside.read_file(runtime, container, "/proc/self/cgroup"))
        if all(path == "/" for path in paths):
            pytest.skip("the container has its own cgroup namespace: its cgroup path is not visible inside")
        outside = [path for path in paths if f"/{name}/" not in f"{path}/"]
        assert not outside, f"cgroups outside the parent /{name}: {outside}"
    finally:
        resources.cleanup()
        if not systemd:
            remove_cgroupfs_parent(f"/{name}")
