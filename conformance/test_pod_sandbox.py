"""Pod sandbox lifecycle: run, status, stop, remove (list filters: test_list_filters.py)."""

from __future__ import annotations

import ipaddress
import json
import os
import time
import uuid
from dataclasses import dataclass

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    HostProcess,
    assert_ns_near,
    container_status,
    expect_rpc_error,
    expect_rpc_failure,
    info_network_namespace,
    info_pid,
    list_containers,
    list_sandboxes,
    sandbox_state_name,
    sandbox_status,
    state_name,
    unknown_id,
)
from cri_conformance.fixtures.resources import Pod
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("pod_sandbox")

LABELS = {"app": "conformance", "tier": "pod", "empty-value": ""}
ANNOTATIONS = {"example.com/note": "kept exactly", "example.com/json": '{"a": [1, 2]}', "blank": ""}
# What the kubelet sends for an ordinary pod; the status must echo it.
NAMESPACES = pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
# Pod overhead and container totals: informational, the runtime must accept them.
OVERHEAD = pb.LinuxContainerResources(cpu_shares=10, memory_limit_in_bytes=16 << 20)
TOTALS = pb.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                    memory_limit_in_bytes=128 << 20)


@pytest.fixture(scope="module")
def ready_pod_run(module_resources):
    """One READY sandbox with known labels and annotations, shared read-only;
    with the nanosecond clock readings taken around RunPodSandbox."""
    before = time.time_ns()
    pod = module_resources.run_pod(
        labels=LABELS, annotations=ANNOTATIONS, attempt=3,
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(namespace_options=NAMESPACES),
            overhead=OVERHEAD, resources=TOTALS,
        ),
    )
    return pod, before, time.time_ns()


@pytest.fixture(scope="module")
def ready_pod(ready_pod_run):
    return ready_pod_run[0]


@dataclass
class StoppedPod:
    """A sandbox whose running container was up when StopPodSandbox (once) was called,
    with what verbose status said before the stop (None where a runtime does not say)."""

    pod: Pod
    container_id: str
    processes: list[HostProcess | None]  # the sandbox's and the container's
    network_namespace: str | None


@pytest.fixture(scope="module")
def stopped_pod(module_resources, busybox, runtime) -> StoppedPod:
    pod = module_resources.run_pod(labels={"tier": "stopped"})
    container_id = module_resources.start_container(pod, image=busybox)
    pod_info = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod.id, verbose=True)).info
    container_info = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id, verbose=True)).info
    processes = [HostProcess.of(pid) if (pid := info_pid(info)) else None for info in (pod_info, container_info)]
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
    return StoppedPod(pod, container_id, processes, info_network_namespace(pod_info))


# --- RunPodSandbox ------------------------------------------------------------------

@pytest.mark.contract("RunPodSandbox.id_nonempty")
def test_run_returns_an_id(ready_pod):
    assert ready_pod.id, "RunPodSandbox returned an empty pod_sandbox_id"


@pytest.mark.contract("RunPodSandbox.ready_on_success")
def test_sandbox_is_ready_after_run(runtime, ready_pod):
    state = sandbox_status(runtime, ready_pod.id).state
    assert state == pb.SANDBOX_READY, f"expected SANDBOX_READY, got {sandbox_state_name(state)}"


@pytest.mark.contract("RunPodSandbox.overhead_resources", "PodSandboxStatus.state_enum")
def test_sandbox_with_overhead_and_resource_totals_runs(runtime, ready_pod):
    # ready_pod was run with linux.overhead and linux.resources set.
    assert ready_pod.config.linux.HasField("overhead") and ready_pod.config.linux.HasField("resources")
    state = sandbox_status(runtime, ready_pod.id).state
    assert state == pb.SANDBOX_READY == 0, f"expected SANDBOX_READY (0), got {sandbox_state_name(state)}"


@pytest.mark.contract("PodSandboxStatus.metadata_echo", "RunPodSandbox.attempt_default", "Metadata.attempt_echo")
def test_status_echoes_metadata(runtime, ready_pod):
    got = sandbox_status(runtime, ready_pod.id).metadata
    assert got == ready_pod.metadata, f"sent metadata {ready_pod.metadata}, status has {got}"


@pytest.mark.contract("PodSandboxStatus.required_fields", "PodSandboxStatus.created_at_positive", "X.timestamps_ns")
def test_status_has_the_fields_clients_require(runtime, ready_pod_run):
    pod, before, after = ready_pod_run
    status = sandbox_status(runtime, pod.id)
    assert status.id == pod.id, f"status.id is {status.id!r}, expected {pod.id!r}"
    for field in ("name", "namespace", "uid"):
        assert getattr(status.metadata, field), f"status.metadata.{field} is empty"
    assert_ns_near(status.created_at, "PodSandboxStatus.created_at", before, after)


@pytest.mark.contract("RunPodSandbox.labels_preserved", "PodSandboxStatus.labels")
def test_status_returns_labels(runtime, ready_pod):
    # Runtimes may add labels of their own; every label sent must come back unchanged.
    labels = dict(sandbox_status(runtime, ready_pod.id).labels)
    sent = dict(ready_pod.config.labels)
    assert labels.items() >= sent.items(), f"labels changed: sent {sent}, got {labels}"


@pytest.mark.contract("RunPodSandbox.annotations_preserved", "PodSandboxStatus.annotations_identical")
def test_status_returns_annotations_exactly(runtime, ready_pod):
    got = dict(sandbox_status(runtime, ready_pod.id).annotations)
    assert got == ANNOTATIONS, f"annotations must be identical: sent {ANNOTATIONS}, got {got}"


@pytest.mark.contract("PodSandboxStatus.linux_namespaces")
def test_status_reports_the_namespace_options(runtime, ready_pod):
    options = sandbox_status(runtime, ready_pod.id).linux.namespaces.options
    got = {f: pb.NamespaceMode.Name(getattr(options, f)) for f in ("network", "pid", "ipc")}
    sent = {f: pb.NamespaceMode.Name(getattr(NAMESPACES, f)) for f in ("network", "pid", "ipc")}
    assert got == sent, f"namespace options: sent {sent}, status reports {got}"


@pytest.mark.contract("PodSandboxStatus.network_ip")
def test_status_reports_the_pod_ip(runtime, ready_pod):
    network = sandbox_status(runtime, ready_pod.id).network
    try:
        primary = ipaddress.ip_address(network.ip)
    except ValueError:
        raise AssertionError(f"network.ip of a pod-network sandbox is {network.ip!r}, expected an IP address") from None
    others = [ipaddress.ip_address(extra.ip) for extra in network.additional_ips]
    assert primary not in others, f"additional_ips {others} repeat the primary IP {primary}"


@pytest.mark.contract("PodSandboxStatus.verbose_info")
def test_status_info_only_when_verbose(runtime, ready_pod):
    plain = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=ready_pod.id))
    assert dict(plain.info) == {}, f"info without verbose: {sorted(plain.info)}"
    verbose = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=ready_pod.id, verbose=True))
    assert verbose.info, "verbose PodSandboxStatus returned no info"
    for key, value in verbose.info.items():
        try:
            json.loads(value)
        except ValueError as err:
            raise AssertionError(f"info[{key!r}] is not JSON: {err}: {value[:200]!r}") from None


@pytest.mark.contract("RunPodSandbox.handler_empty_default")
def test_empty_handler_selects_the_default(runtime, ready_pod, resources):
    pod = ready_pod if ready_pod.handler == "" else resources.run_pod(handler="")
    status = sandbox_status(runtime, pod.id)
    assert status.state == pb.SANDBOX_READY, f"pod with handler '' is {sandbox_state_name(status.state)}"
    named = {h.name for h in runtime.Status(pb.StatusRequest()).runtime_handlers} - {""}
    if named and status.runtime_handler:
        assert status.runtime_handler in named, (
            f"handler '' reported as {status.runtime_handler!r}, not a handler Status lists: {sorted(named)}"
        )


@pytest.mark.contract("PodSandboxStatus.runtime_handler")
def test_status_and_list_report_the_handler_used(runtime, resources, cri_settings):
    handler = cri_settings.alt_runtime_handler or cri_settings.runtime_handler
    if not handler:
        pytest.skip("needs a named runtime handler (--alt-runtime-handler or --runtime-handler)")
    pod = resources.run_pod(handler=handler)
    got = sandbox_status(runtime, pod.id).runtime_handler
    assert got == handler, f"PodSandboxStatus.runtime_handler is {got!r}, pod was run with {handler!r}"
    listed = [item.runtime_handler for item in list_sandboxes(runtime, id=pod.id)]
    assert listed == [handler], f"ListPodSandbox reports handler {listed}, expected [{handler!r}]"


@pytest.mark.contract("RunPodSandbox.handler_unknown_rejected")
def test_unknown_handler_is_rejected_and_leaves_nothing(runtime, resources):
    marker = {"cri-conformance.io/case": uuid.uuid4().hex}
    config = resources.pod_config(labels=marker)
    err = expect_rpc_failure(resources.run_pod, config, handler="cri-conformance-no-such-handler",
                             what="RunPodSandbox with an unknown runtime handler")
    assert err.code() != grpc.StatusCode.UNAVAILABLE, f"the runtime went away: {err.details()}"
    left = list_sandboxes(runtime, label_selector=marker)
    assert left == [], f"the rejected RunPodSandbox left sandboxes behind: {[p.id for p in left]}"


@pytest.mark.contract("RunPodSandbox.metadata_identity")
def test_second_sandbox_with_the_same_metadata_is_rejected(runtime, ready_pod, resources):
    expect_rpc_failure(resources.run_pod, ready_pod.config,
                       what="RunPodSandbox with the metadata of a sandbox that still exists")
    state = sandbox_status(runtime, ready_pod.id).state
    assert state == pb.SANDBOX_READY, f"the first sandbox is {sandbox_state_name(state)} after the duplicate"
    same = [p.id for p in list_sandboxes(runtime, label_selector=dict(ready_pod.config.labels))
            if p.metadata == ready_pod.metadata]
    assert same == [ready_pod.id], f"sandboxes with the duplicated metadata: {same}"


@pytest.mark.contract("PodSandboxStatus.not_found_error", "X.notfound_code")
def test_status_of_unknown_sandbox_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.PodSandboxStatus,
                     pb.PodSandboxStatusRequest(pod_sandbox_id=unknown_id()))


# --- StopPodSandbox -------------------------------------------------------------------

@pytest.mark.contract("StopPodSandbox.kills_containers", "State.lifecycle")
def test_stop_leaves_every_container_exited(runtime, stopped_pod):
    status = container_status(runtime, stopped_pod.container_id)  # no polling: the stop has returned
    assert status.state == pb.CONTAINER_EXITED, (
        f"container of a stopped sandbox is {state_name(status.state)}, expected CONTAINER_EXITED"
    )
    assert status.finished_at > 0, "an exited container has finished_at 0"


@pytest.mark.contract("StopPodSandbox.stops_processes")
def test_stop_ends_the_sandbox_processes(stopped_pod):
    processes = stopped_pod.processes
    if None in processes:
        pytest.skip("needs the process IDs in verbose PodSandboxStatus/ContainerStatus info")
    running = [p.pid for p in processes if p.alive()]
    assert running == [], f"processes of the stopped sandbox still run: PIDs {running}"


@pytest.mark.contract("StopPodSandbox.reclaims_network")
def test_stop_releases_the_network_namespace(stopped_pod):
    path = stopped_pod.network_namespace
    if path is None:
        pytest.skip("needs the network namespace path in verbose PodSandboxStatus info")
    assert not os.path.exists(path), f"the stopped sandbox's network namespace {path} still exists"


@pytest.mark.contract("StopPodSandbox.state_notready", "StopPodSandbox.queryable_until_removed",
                      "PodSandboxStatus.state_enum")
def test_stopped_sandbox_is_notready_and_still_queryable(runtime, stopped_pod):
    pod = stopped_pod.pod
    state = sandbox_status(runtime, pod.id).state
    assert state == pb.SANDBOX_NOTREADY, f"after stop: {sandbox_state_name(state)}, expected SANDBOX_NOTREADY"
    listed = [(p.id, sandbox_state_name(p.state)) for p in list_sandboxes(runtime, id=pod.id)]
    assert listed == [(pod.id, "SANDBOX_NOTREADY")], f"ListPodSandbox of the stopped sandbox: {listed}"


@pytest.mark.contract("StopPodSandbox.idempotent", "StopPodSandbox.state_notready")
def test_stop_again_succeeds_and_changes_nothing(runtime, stopped_pod):
    pod, container_id = stopped_pod.pod, stopped_pod.container_id
    before = container_status(runtime, container_id)
    for attempt in (2, 3):
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
        state = sandbox_status(runtime, pod.id).state
        assert state == pb.SANDBOX_NOTREADY, f"after stop #{attempt}: {sandbox_state_name(state)}"
    after = container_status(runtime, container_id)
    assert (after.state, after.finished_at, after.exit_code) == (before.state, before.finished_at, before.exit_code), (
        f"a repeated stop changed the container: {state_name(before.state)}/{before.finished_at}/"
        f"{before.exit_code} -> {state_name(after.state)}/{after.finished_at}/{after.exit_code}"
    )


@pytest.mark.contract("StopPodSandbox.idempotent", "StopPodSandbox.state_notready")
def test_stop_twice_succeeds_and_leaves_it_notready(runtime, resources):
    pod = resources.run_pod()
    for attempt in (1, 2):
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
        state = sandbox_status(runtime, pod.id).state
        assert state == pb.SANDBOX_NOTREADY, f"after stop #{attempt}: {sandbox_state_name(state)}"


@pytest.mark.contract("StopPodSandbox.not_found_ok")
def test_stop_of_unknown_sandbox_succeeds(runtime):
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=unknown_id()))


@pytest.mark.contract("StopPodSandbox.no_new_containers")
def test_no_container_can_be_created_in_a_stopped_sandbox(stopped_pod, resources, busybox):
    pod = stopped_pod.pod
    # The factory records a container it did create, so it is removed either way.
    expect_rpc_failure(resources.create_container, pod, image=busybox,
                       what="CreateContainer in a stopped sandbox")


@pytest.mark.contract("PodSandboxStatus.container_statuses")
def test_status_lists_the_container_statuses(runtime, stopped_pod):
    pod, container_id = stopped_pod.pod, stopped_pod.container_id
    response = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod.id))
    if not response.containers_statuses and response.timestamp == 0:
        pytest.skip("unsupported by this runtime: PodSandboxStatus.containers_statuses (Evented PLEG) not filled")
    listed = {s.id: state_name(s.state) for s in response.containers_statuses}
    assert listed == {container_id: "CONTAINER_EXITED"}, (
        f"containers_statuses {listed}, expected the pod's one exited container {container_id[:13]}"
    )
    assert_ns_near(response.timestamp, "PodSandboxStatusResponse.timestamp", 0)


# --- RemovePodSandbox -------------------------------------------------------------------

@pytest.mark.contract("RemovePodSandbox.force_containers", "RemovePodSandbox.ready_sandbox", "RemovePodSandbox.gone")
def test_remove_of_a_ready_sandbox_forces_its_containers_down(runtime, resources, busybox):
    pod = resources.run_pod()
    container_id = resources.start_container(pod, image=busybox)
    pid = info_pid(runtime.ContainerStatus(
        pb.ContainerStatusRequest(container_id=container_id, verbose=True)).info)
    process = HostProcess.of(pid) if pid else None
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.ContainerStatus,
                     pb.ContainerStatusRequest(container_id=container_id))
    assert list_containers(runtime, pod_sandbox_id=pod.id) == [], "containers of the removed sandbox are listed"
    assert list_sandboxes(runtime, id=pod.id) == [], "the removed sandbox is still listed"
    if process is not None:
        assert not process.alive(), f"the container process {process.pid} outlived RemovePodSandbox"


@pytest.mark.contract("RemovePodSandbox.idempotent", "RemovePodSandbox.gone")
def test_remove_twice_succeeds_and_it_is_gone(runtime, resources):
    pod = resources.run_pod()
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.PodSandboxStatus,
                     pb.PodSandboxStatusRequest(pod_sandbox_id=pod.id))
    listed = list_sandboxes(runtime, id=pod.id)
    assert listed == [], f"the removed sandbox is still listed: {listed}"


@pytest.mark.contract("RemovePodSandbox.idempotent")
def test_remove_of_unknown_sandbox_succeeds(runtime):
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=unknown_id()))
