"""Pod sandbox lifecycle: run, status, list, stop, remove."""

from __future__ import annotations

import secrets

import grpc
import pytest

from cri_conformance.fixtures.resources import RUN_LABEL, SUITE_LABEL
from cri_conformance.proto import runtime_v1_pb2 as pb

LABELS = {"app": "conformance", "tier": "pod", "empty-value": ""}
ANNOTATIONS = {"example.com/note": "kept exactly", "example.com/json": '{"a": [1, 2]}', "blank": ""}


def unknown_id() -> str:
    return secrets.token_hex(32)  # the shape of a real ID, but no runtime has it


def sandbox_status(runtime, pod_id: str) -> pb.PodSandboxStatus:
    return runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status


def expect_rpc_error(code: grpc.StatusCode, call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    assert caught.value.code() == code, f"expected {code.name}, got {caught.value.code().name}: {caught.value.details()}"
    return caught.value


@pytest.fixture(scope="module")
def ready_pod(module_resources):
    """One READY sandbox with known labels and annotations, shared read-only."""
    return module_resources.run_pod(labels=LABELS, annotations=ANNOTATIONS, attempt=3)


@pytest.mark.contract("RunPodSandbox.id_nonempty")
def test_run_returns_an_id(ready_pod):
    assert ready_pod.id


@pytest.mark.contract("RunPodSandbox.ready_on_success")
def test_sandbox_is_ready_after_run(runtime, ready_pod):
    assert sandbox_status(runtime, ready_pod.id).state == pb.SANDBOX_READY


@pytest.mark.contract("PodSandboxStatus.metadata_echo", "RunPodSandbox.attempt_default")
def test_status_echoes_metadata(runtime, ready_pod):
    assert sandbox_status(runtime, ready_pod.id).metadata == ready_pod.metadata


@pytest.mark.contract("RunPodSandbox.labels_preserved", "PodSandboxStatus.labels")
def test_status_returns_labels(runtime, ready_pod):
    # Runtimes may add labels of their own; every label sent must come back unchanged.
    labels = dict(sandbox_status(runtime, ready_pod.id).labels)
    sent = dict(ready_pod.config.labels)
    assert labels.items() >= sent.items(), f"labels changed: sent {sent}, got {labels}"


@pytest.mark.contract("RunPodSandbox.annotations_preserved", "PodSandboxStatus.annotations_identical")
def test_status_returns_annotations_exactly(runtime, ready_pod):
    assert dict(sandbox_status(runtime, ready_pod.id).annotations) == ANNOTATIONS


@pytest.mark.contract("ListPodSandbox.filter_id", "ListPodSandbox.annotations_identical", "ListPodSandbox.item_fields")
def test_list_returns_the_sandbox_as_configured(runtime, ready_pod):
    items = runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(id=ready_pod.id))).items
    assert [item.id for item in items] == [ready_pod.id]
    item = items[0]
    assert item.metadata == ready_pod.metadata
    assert item.state == pb.SANDBOX_READY
    assert dict(item.annotations) == ANNOTATIONS
    assert dict(item.labels).items() >= dict(ready_pod.config.labels).items()
    assert item.created_at > 0


@pytest.mark.contract("PodSandboxStatus.not_found_error", "X.notfound_code")
def test_status_of_unknown_sandbox_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.PodSandboxStatus,
                     pb.PodSandboxStatusRequest(pod_sandbox_id=unknown_id()))


@pytest.mark.contract("StopPodSandbox.idempotent", "StopPodSandbox.state_notready")
def test_stop_twice_succeeds_and_leaves_it_notready(runtime, resources):
    pod = resources.run_pod()
    for attempt in (1, 2):
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
        state = sandbox_status(runtime, pod.id).state
        assert state == pb.SANDBOX_NOTREADY, f"after stop #{attempt}: {pb.PodSandboxState.Name(state)}"


@pytest.mark.contract("StopPodSandbox.not_found_ok")
def test_stop_of_unknown_sandbox_succeeds(runtime):
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=unknown_id()))


@pytest.mark.contract("RemovePodSandbox.idempotent", "RemovePodSandbox.gone")
def test_remove_twice_succeeds_and_it_is_gone(runtime, resources):
    pod = resources.run_pod()
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod.id))
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.PodSandboxStatus,
                     pb.PodSandboxStatusRequest(pod_sandbox_id=pod.id))
    listed = runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(id=pod.id))).items
    assert list(listed) == []


@pytest.mark.contract("RemovePodSandbox.idempotent")
def test_remove_of_unknown_sandbox_succeeds(runtime):
    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=unknown_id()))


@pytest.mark.contract("ListPodSandbox.filter_labels")
def test_run_labels_select_the_sandbox(runtime, ready_pod, cri_settings):
    selector = {SUITE_LABEL: ready_pod.config.labels[SUITE_LABEL], RUN_LABEL: cri_settings.run_id, "tier": "pod"}
    items = runtime.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=selector))).items
    assert ready_pod.id in [item.id for item in items]
