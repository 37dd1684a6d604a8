"""NamespaceOption: network, PID and IPC namespaces of the pod, the container, the node; user namespaces.

Namespace identity is compared through the /proc/<pid>/ns links (the same
link means the same namespace) and confirmed by what a namespace shows: a
port the host listens on, the host's processes, a host SysV segment.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import expect_rpc_failure
from cri_conformance.fixtures.host_side import host_namespace, listening_ports, listening_socket, \
    shared_memory_segment, shm_ids
from cri_conformance.fixtures.linux import container_linux, namespaces, require_handler_feature, \
    require_runtime_feature, sandbox_linux
from cri_conformance.proto import runtime_v1_pb2 as pb


def marked_command(marker: str) -> list[str]:
    """A long-running entrypoint whose command line carries `marker`."""
    return ["sh", "-c", f"trap 'exit 0' TERM; while true; do sleep 1; done & wait # {marker}"]


def new_marker() -> str:
    return f"marker-{uuid.uuid4().hex[:12]}"


def run_in_pod(resources, image, options: pb.NamespaceOption, *, command=None) -> tuple[object, str]:
    """A pod and one started container, both with namespace options `options`."""
    pod_fields = {}
    if options.network == pb.NODE:
        pod_fields["hostname"] = ""  # as the kubelet sends it: a host-network pod keeps the node's name
    pod = resources.run_pod(linux=sandbox_linux(namespace_options=options), **pod_fields)
    container = resources.start_container(pod, image=image, command=command,
                                          linux=container_linux(namespace_options=options))
    return pod, container


@dataclass(frozen=True)
class PodUnderTest:
    """A shared pod, its namespace options, and a first container whose command line carries `marker`."""

    pod: object
    options: pb.NamespaceOption
    container: str
    marker: str

    def add_container(self, resources, image, options: pb.NamespaceOption | None = None) -> str:
        return resources.start_container(self.pod, image=image,
                                         linux=container_linux(namespace_options=options or self.options))


def shared_pod(module_resources, image, options: pb.NamespaceOption) -> PodUnderTest:
    marker = new_marker()
    pod, container = run_in_pod(module_resources, image, options, command=marked_command(marker))
    return PodUnderTest(pod, options, container, marker)


@pytest.fixture(scope="module")
def pod_namespaces(module_resources, busybox) -> PodUnderTest:
    """Network, PID and IPC namespaces of the pod's own."""
    return shared_pod(module_resources, busybox, namespaces(network=pb.POD, pid=pb.POD, ipc=pb.POD))


@pytest.fixture(scope="module")
def node_namespaces(module_resources, busybox) -> PodUnderTest:
    """Network, PID and IPC namespaces of the node."""
    return shared_pod(module_resources, busybox, namespaces(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE))


@pytest.fixture(scope="module")
def container_pid(module_resources, busybox) -> PodUnderTest:
    """A PID namespace per container (and, to tell the fields apart in status, the node's IPC)."""
    return shared_pod(module_resources, busybox, namespaces(network=pb.POD, pid=pb.CONTAINER, ipc=pb.NODE))


def sandbox_namespace(runtime, container_id, kind: str) -> str:
    """The namespace of the sandbox's own process (the pod's PID namespace is shared)."""
    inside.sandbox_process_status(runtime, container_id)
    return inside.namespace(runtime, container_id, kind, pid=1)


def processes_with(runtime, container_id, marker: str) -> int:
    """How many processes the container sees whose command line contains `marker`."""
    # "[m]arker" matches the marker but not the command line of this very search.
    pattern = f"[{marker[0]}]{marker[1:]}"
    result = inside.shell(runtime, container_id, f"grep -ls -- '{pattern}' /proc/[0-9]*/cmdline | wc -l")
    return int(result.stdout.strip() or 0)


def host_listening_port_seen(runtime, container_id) -> tuple[int, bool]:
    """Listen on a fresh host port; (that port, whether the container sees it listening)."""
    with listening_socket() as host_server:
        port = host_server.getsockname()[1]
        seen = listening_ports(inside.shell(runtime, container_id, "cat /proc/net/tcp /proc/net/tcp6").stdout)
    return port, port in seen


def host_segment_seen(runtime, container_id) -> tuple[int, bool]:
    """Create a host SysV segment; (its id, whether the container lists it)."""
    with shared_memory_segment() as segment:
        seen = shm_ids(inside.read_file(runtime, container_id, "/proc/sysvipc/shm"))
    return segment, segment in seen


# --- network --------------------------------------------------------------------

@pytest.mark.contract("NS.network_pod")
def test_pod_network_namespace_is_the_sandboxs_not_the_hosts(runtime, pod_namespaces):
    container = pod_namespaces.container
    own = inside.namespace(runtime, container, "net")
    assert own != host_namespace("net"), "network=POD: the pod shares the host's netns"
    assert sandbox_namespace(runtime, container, "net") == own, (
        "network=POD: the container is not in its sandbox's netns")
    port, seen = host_listening_port_seen(runtime, container)
    assert not seen, f"network=POD: a port only the host listens on ({port}) is visible in the pod"


@pytest.mark.contract("NS.network_node")
def test_node_network_namespace_is_the_hosts(runtime, node_namespaces):
    container = node_namespaces.container
    assert inside.namespace(runtime, container, "net") == host_namespace("net"), "network=NODE: not the host netns"
    port, seen = host_listening_port_seen(runtime, container)
    assert seen, f"network=NODE: the host listens on {port}, but the container does not see it"


@pytest.mark.contract("NS.network_node")
def test_node_network_sandbox_has_no_netns_of_its_own(runtime, resources, busybox):
    # The sandbox's own process is PID 1 only in a pod-wide PID namespace, hence pid=POD here.
    options = namespaces(network=pb.NODE, pid=pb.POD, ipc=pb.NODE)
    _, container = run_in_pod(resources, busybox, options)
    assert sandbox_namespace(runtime, container, "net") == host_namespace("net"), (
        "network=NODE: the sandbox has a netns of its own")
    assert sandbox_namespace(runtime, container, "ipc") == host_namespace("ipc"), (
        "ipc=NODE: the sandbox has an IPC namespace of its own")


# --- PID --------------------------------------------------------------------------

@pytest.mark.contract("NS.pid_pod", "SC.container_namespace_options")
def test_pod_pid_namespace_is_shared_and_pid1_is_the_sandbox(runtime, resources, pod_namespaces, busybox):
    first = pod_namespaces.container
    second = pod_namespaces.add_container(resources, busybox)
    assert inside.namespace(runtime, first, "pid") == inside.namespace(runtime, second, "pid"), (
        "pid=POD: two containers of the pod are in different PID namespaces")
    assert pod_namespaces.marker not in inside.read_file(runtime, first, "/proc/1/cmdline"), (
        "pid=POD: PID 1 is the container's entrypoint, not the sandbox's process")
    assert processes_with(runtime, second, pod_namespaces.marker) >= 1, (
        "pid=POD: one container cannot see the other's processes")


@pytest.mark.contract("NS.pid_container", "SC.container_namespace_options")
def test_container_pid_namespace_makes_the_entrypoint_pid1(runtime, resources, container_pid, busybox):
    first = container_pid.container
    second = container_pid.add_container(resources, busybox)
    assert container_pid.marker in inside.read_file(runtime, first, "/proc/1/cmdline"), (
        "pid=CONTAINER: PID 1 should be the container's own entrypoint")
    assert inside.namespace(runtime, first, "pid") != inside.namespace(runtime, second, "pid")
    assert processes_with(runtime, second, container_pid.marker) == 0, (
        "pid=CONTAINER: a sibling container sees the processes")


@pytest.mark.contract("NS.pid_node")
def test_node_pid_namespace_shows_host_processes(runtime, node_namespaces):
    container = node_namespaces.container
    assert inside.namespace(runtime, container, "pid") == host_namespace("pid"), "pid=NODE: not the host PID namespace"
    with open("/proc/self/cmdline", "rb") as handle:
        own = handle.read().decode(errors="replace")
    seen = inside.exec_sync(runtime, container, ["cat", f"/proc/{os.getpid()}/cmdline"])
    assert seen.exit_code == 0 and seen.stdout == own, (
        f"pid=NODE: the suite's own process {os.getpid()} should be visible: {seen.describe()}")


@pytest.mark.contract("NS.pid_target", "SC.container_namespace_options")
def test_target_pid_namespace_joins_the_target_container(runtime, resources, container_pid, busybox):
    target = container_pid.container
    options = pb.NamespaceOption()
    options.CopyFrom(container_pid.options)
    options.pid, options.target_id = pb.TARGET, target
    debugger = container_pid.add_container(resources, busybox, options)
    assert inside.namespace(runtime, debugger, "pid") == inside.namespace(runtime, target, "pid"), (
        "pid=TARGET: not in the target's PID namespace")
    assert container_pid.marker in inside.read_file(runtime, debugger, "/proc/1/cmdline"), (
        "pid=TARGET: PID 1 should be the target's entrypoint")


# --- IPC ----------------------------------------------------------------------------

@pytest.mark.contract("NS.ipc_node")
def test_node_ipc_namespace_shows_host_segments(runtime, node_namespaces):
    container = node_namespaces.container
    assert inside.namespace(runtime, container, "ipc") == host_namespace("ipc"), "ipc=NODE: not the host IPC namespace"
    segment, seen = host_segment_seen(runtime, container)
    assert seen, f"ipc=NODE: the host's shared memory segment {segment} is not visible"


@pytest.mark.contract("NS.ipc_pod")
def test_pod_ipc_namespace_is_private_and_shared_by_the_pod(runtime, resources, pod_namespaces, busybox):
    first = pod_namespaces.container
    second = pod_namespaces.add_container(resources, busybox)
    own = inside.namespace(runtime, first, "ipc")
    assert own != host_namespace("ipc"), "ipc=POD: the pod shares the host IPC namespace"
    assert inside.namespace(runtime, second, "ipc") == own, "ipc=POD: containers of one pod differ in IPC namespace"
    assert sandbox_namespace(runtime, first, "ipc") == own, "ipc=POD: the containers are not in the sandbox's namespace"
    segment, seen = host_segment_seen(runtime, first)
    assert not seen, f"ipc=POD: the host's segment {segment} is visible in the pod"


# --- what PodSandboxStatus reports ------------------------------------------------------

@pytest.mark.contract("PodSandboxStatus.linux_namespaces")
@pytest.mark.parametrize("shared", ["pod_namespaces", "node_namespaces", "container_pid"])
def test_sandbox_status_reports_the_namespace_options(runtime, request, shared):
    under_test: PodUnderTest = request.getfixturevalue(shared)
    status = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=under_test.pod.id)).status
    reported = status.linux.namespaces.options
    fields = ("network", "pid", "ipc")
    got = {name: pb.NamespaceMode.Name(getattr(reported, name)) for name in fields}
    sent = {name: pb.NamespaceMode.Name(getattr(under_test.options, name)) for name in fields}
    assert got == sent, f"PodSandboxStatus.linux.namespaces.options: sent {sent}, reported {got}"


# --- user namespaces --------------------------------------------------------------------

def host_uid_map() -> list[list[str]]:
    with open("/proc/self/uid_map") as handle:
        return [line.split() for line in handle.read().splitlines()]


def userns(mode, uids=(), gids=()) -> pb.UserNamespace:
    return pb.UserNamespace(mode=mode, uids=list(uids), gids=list(gids))


def mapping(container_id=0, host_id=100000, length=65536) -> pb.IDMapping:
    return pb.IDMapping(container_id=container_id, host_id=host_id, length=length)


@pytest.mark.contract("Userns.node_mode")
def test_node_user_namespace_keeps_the_host_mapping(runtime, resources, busybox):
    _, container = run_in_pod(resources, busybox, namespaces(userns=userns(pb.NODE)))
    seen = [line.split() for line in inside.read_file(runtime, container, "/proc/self/uid_map").splitlines()]
    assert seen == host_uid_map(), f"userns NODE: uid_map {seen}, host {host_uid_map()}"


@pytest.mark.contract("Userns.pod_mapping", "Userns.feature_gate")
def test_pod_user_namespace_applies_the_mapping(runtime, resources, busybox, cri_settings):
    require_handler_feature(runtime, cri_settings.runtime_handler, "user_namespaces", "user namespaces")
    options = namespaces(userns=userns(pb.POD, [mapping()], [mapping()]))
    _, container = run_in_pod(resources, busybox, options)
    seen = [line.split() for line in inside.read_file(runtime, container, "/proc/self/uid_map").splitlines()]
    assert seen == [["0", "100000", "65536"]], f"userns POD 0:100000:65536: uid_map is {seen}"


@pytest.mark.contract("Userns.hostnetwork_feature", "Userns.pod_mapping")
def test_user_namespace_with_host_network_where_advertised(runtime, resources, busybox, cri_settings):
    require_handler_feature(runtime, cri_settings.runtime_handler, "user_namespaces", "user namespaces")
    require_runtime_feature(runtime, "user_namespaces_host_network", "user namespaces with host network")
    options = namespaces(network=pb.NODE, userns=userns(pb.POD, [mapping()], [mapping()]))
    _, container = run_in_pod(resources, busybox, options)
    assert inside.namespace(runtime, container, "net") == host_namespace("net")
    seen = [line.split() for line in inside.read_file(runtime, container, "/proc/self/uid_map").splitlines()]
    assert seen == [["0", "100000", "65536"]], f"userns POD 0:100000:65536 with host network: uid_map is {seen}"


@pytest.mark.contract("Userns.modes", "Userns.single_mapping", "Userns.root_mapped", "Userns.feature_gate")
@pytest.mark.parametrize("options", [
    userns(pb.CONTAINER, [mapping()], [mapping()]),
    userns(pb.TARGET, [mapping()], [mapping()]),
    userns(pb.POD, [mapping(), mapping(65536, 200000, 1000)], [mapping()]),
    userns(pb.POD, [mapping(1, 100000, 65535)], [mapping(1, 100000, 65535)]),
], ids=["mode-container", "mode-target", "two-uid-mappings", "root-not-mapped"])
def test_invalid_user_namespace_request_is_refused(runtime, resources, cri_settings, options):
    require_handler_feature(runtime, cri_settings.runtime_handler, "user_namespaces", "user namespaces")
    linux = sandbox_linux(namespace_options=namespaces(userns=options))
    expect_rpc_failure(lambda: resources.run_pod(linux=linux).id, what=f"an invalid user namespace request ({options})")
