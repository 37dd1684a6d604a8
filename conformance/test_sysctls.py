"""LinuxPodSandboxConfig.sysctls: applied in the pod's own namespaces, never on the host.

Safe sysctls (kernel.shm_rmid_forced), namespaced unsafe ones
(fs.mqueue.msg_max) and per-netns ones (net.*) must show in every container
of the pod and leave the host's value alone. A sysctl no namespace isolates
must be refused: applying it would change the node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import expect_rpc_failure
from cri_conformance.fixtures.linux import container_linux, sandbox_linux

# Values that differ from the kernel defaults, so a pod that ignored them is caught.
POD_SYSCTLS = {
    "kernel.shm_rmid_forced": "1",  # IPC namespace, "safe"
    "fs.mqueue.msg_max": "100",  # IPC namespace, "unsafe"
    "net.ipv4.ip_unprivileged_port_start": "2000",  # network namespace
}


def proc_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


@pytest.fixture(scope="module")
def pod_container(module_resources, busybox):
    pod = module_resources.run_pod(linux=sandbox_linux(sysctls=POD_SYSCTLS))
    return module_resources.start_container(pod, image=busybox, linux=container_linux())


@pytest.mark.contract("RunPodSandbox.sysctls")
@pytest.mark.parametrize("key", sorted(POD_SYSCTLS))
def test_namespaced_sysctl_shows_in_the_container_only(runtime, pod_container, key):
    seen = inside.read_file(runtime, pod_container, proc_path(key)).split()
    assert seen == POD_SYSCTLS[key].split(), f"{key}: the container sees {seen}, the pod asked for {POD_SYSCTLS[key]}"
    host = Path(proc_path(key)).read_text().split()
    assert host != POD_SYSCTLS[key].split(), f"{key}: the host's own value changed to the pod's ({host})"


@pytest.mark.contract("RunPodSandbox.sysctls")
def test_sysctl_outside_every_namespace_is_refused(resources):
    # kernel.panic is node-wide. Ask for the host's current value: even a
    # runtime that wrongly applies it changes nothing.
    current = Path(proc_path("kernel.panic")).read_text().strip()
    expect_rpc_failure(lambda: resources.run_pod(linux=sandbox_linux(sysctls={"kernel.panic": current})).id,
                       what="kernel.panic, which no pod namespace isolates")
