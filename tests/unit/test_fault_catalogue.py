"""The fault catalogue: every fault is named, explained, tied to real contracts and RPCs."""

from __future__ import annotations

import re

from cri_conformance import catalogue as contracts
from cri_conformance.fixtures.proxy import CRI_RPCS, catalogue

# The areas the issue asks faults for, by the contract groups that hold them.
REQUIRED_AREAS = {
    "idempotence": ("StopPodSandbox.idempotent", "RemovePodSandbox.idempotent", "StopContainer.idempotent",
                    "RemoveContainer.idempotent", "RemoveImage.idempotent"),
    "NOT_FOUND rules": ("PodSandboxStatus.not_found_error", "ContainerStatus.not_found_error",
                        "ContainerStats.not_found_error", "StopPodSandbox.not_found_ok"),
    "state reporting": ("RunPodSandbox.ready_on_success", "StopPodSandbox.state_notready",
                        "CreateContainer.state_created", "StartContainer.running"),
    "echoed fields": ("PodSandboxStatus.metadata_echo", "PodSandboxStatus.annotations_identical",
                      "ContainerStatus.labels", "ContainerStatus.annotations_identical"),
    "list filters": ("ListPodSandbox.filter_id", "ListPodSandbox.filter_labels", "ListContainers.filter_state",
                     "ListContainerStats.filter"),
    "exit codes": ("ContainerStatus.exit_code",),
    "ExecSync": ("ExecSync.runs", "ExecSync.nonzero_not_grpc_error"),
    "images": ("ImageStatus.absent_nil", "PullImage.image_ref_identity", "Image.size"),
    "stats": ("ContainerStats.timestamps", "ContainerStats.cpu"),
    "logs": ("CreateContainer.log_path", "ReopenContainerLog.reopen", "ContainerStatus.log_path"),
    "Version/Status": ("Version.fields_nonempty", "Status.conditions_present", "Status.required_true"),
}


def test_at_least_thirty_faults():
    assert len(catalogue()) >= 30


def test_every_fault_names_catalogue_contracts():
    for fault in catalogue().values():
        unknown = [cid for cid in fault.contracts if cid not in contracts.catalogue()]
        assert fault.contracts and not unknown, f"{fault.name}: unknown contracts {unknown}"


def test_every_fault_intercepts_real_rpcs():
    methods = {rpc.method for rpc in CRI_RPCS}
    for fault in catalogue().values():
        assert fault.rpcs and set(fault.rpcs) <= methods, f"{fault.name}: {fault.rpcs}"


def test_every_fault_says_what_the_broken_runtime_does():
    for name, fault in catalogue().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", name), name
        assert fault.summary.endswith(".") and len(fault.summary) > 15, f"{name}: {fault.summary!r}"


def test_every_required_area_has_faults():
    covered = {cid for fault in catalogue().values() for cid in fault.contracts}
    missing = {area: [cid for cid in ids if cid not in covered] for area, ids in REQUIRED_AREAS.items()}
    assert not {area: ids for area, ids in missing.items() if ids}, missing


def test_server_streaming_is_among_the_faulted_rpcs():
    streaming = {rpc.method for rpc in CRI_RPCS if rpc.server_streaming}
    assert any(set(fault.rpcs) & streaming for fault in catalogue().values())
