"""Mount.image: an OCI image mounted as a read-only volume (CRI 1.31+).

Support is probed once: a runtime that refuses the first image mount with
anything but the well-known ImageVolumeMountFailed error does not implement
image volumes, and every test here is reported unsupported. A runtime that
accepts the mount must then keep every rule, and one that silently ignores
it fails.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import grpc
import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import exec_stdout, expect_rpc_failure
from cri_conformance.fixtures.linux import container_linux
from cri_conformance.proto import runtime_v1_pb2 as pb

TARGET = "/mnt/image"
FAILURE_NAME = "ImageVolumeMountFailed"


@dataclass(frozen=True)
class ImageVolumes:
    image_ref: str  # PullImageResponse.image_ref, as the kubelet puts it in Mount.image
    container: str | None  # a started container with the image mounted at TARGET
    unsupported: str  # why the runtime has no image volumes, or ''


def image_mount(image_ref: str, **fields) -> pb.Mount:
    return pb.Mount(container_path=TARGET, image=pb.ImageSpec(image=image_ref), **{"readonly": True, **fields})


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


@pytest.fixture(scope="module")
def image_volumes(module_resources, pod, busybox, image_service) -> ImageVolumes:
    image_ref = image_service.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=busybox))).image_ref
    try:
        container = module_resources.start_container(pod, image=busybox, mounts=[image_mount(image_ref)],
                                                     linux=container_linux())
    except grpc.RpcError as err:
        if (err.details() or "").startswith(FAILURE_NAME):
            raise  # the runtime implements image volumes and failed
        return ImageVolumes(image_ref, None, f"CreateContainer with Mount.image failed: {err.code().name}: "
                                             f"{(err.details() or '')[:160]}")
    return ImageVolumes(image_ref, container, "")


@pytest.fixture
def volumes(image_volumes) -> ImageVolumes:
    if image_volumes.unsupported:
        pytest.skip(f"unsupported by this runtime: image volumes ({image_volumes.unsupported})")
    return image_volumes


def start(resources, pod, image, mounts) -> str:
    return resources.start_container(pod, image=image, mounts=mounts, linux=container_linux())


@pytest.mark.contract("Mount.image_ref_from_pull", "Mount.image_readonly", "Mount.image_not_noexec")
def test_image_mount_shows_the_image_read_only_and_executable(runtime, volumes):
    container = volumes.container
    shown = inside.exec_sync(runtime, container, ["ls", f"{TARGET}/bin/busybox"])
    assert shown.exit_code == 0, f"the image's /bin/busybox is not at {TARGET}: {shown.describe()}"
    exec_stdout(runtime, container, [f"{TARGET}/bin/busybox", "true"])
    written = inside.exec_sync(runtime, container, ["touch", f"{TARGET}/written"])
    assert written.exit_code != 0 and "Read-only file system" in written.stderr, (
        f"an image mount must be read-only: {written.describe()}")


@pytest.mark.contract("Mount.image_ref_in_status")
def test_status_reports_the_mounted_image_digest(runtime, volumes):
    mounts = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=volumes.container)).status.mounts
    assert len(mounts) == 1, f"expected the 1 requested mount, got {list(mounts)}"
    assert mounts[0].container_path == TARGET and mounts[0].image.image == volumes.image_ref, f"mount: {mounts[0]}"
    assert mounts[0].image.image_ref == volumes.image_ref, (
        f"Mount.image.image_ref: expected the pulled image {volumes.image_ref}, got {mounts[0].image.image_ref!r}")


@pytest.mark.contract("Mount.image_exclusive")
def test_image_mount_with_a_host_path_is_refused(resources, pod, busybox, volumes, host_dir):
    both = image_mount(volumes.image_ref, host_path=str(host_dir))
    expect_rpc_failure(lambda: start(resources, pod, busybox, [both]), what="a mount with both image and host_path")


@pytest.mark.contract("Mount.image_readonly")
def test_writable_image_mount_is_refused_or_stays_read_only(runtime, resources, pod, busybox, volumes):
    try:
        container = start(resources, pod, busybox, [image_mount(volumes.image_ref, readonly=False)])
    except grpc.RpcError:
        return  # the recommended answer
    written = inside.exec_sync(runtime, container, ["touch", f"{TARGET}/written"])
    assert written.exit_code != 0, f"readonly=false made an image mount writable: {written.describe()}"


@pytest.mark.contract("Mount.image_sub_path")
def test_image_sub_path_mounts_only_that_directory(runtime, resources, pod, busybox, volumes):
    container = start(resources, pod, busybox, [image_mount(volumes.image_ref, image_sub_path="bin")])
    exec_stdout(runtime, container, ["test", "-e", f"{TARGET}/busybox"])
    other = inside.exec_sync(runtime, container, ["test", "-e", f"{TARGET}/etc"])
    assert other.exit_code != 0, "image_sub_path=bin: the image's root, not bin/, is mounted"


@pytest.mark.contract("Mount.image_sub_path")
def test_missing_image_sub_path_is_refused(resources, pod, busybox, volumes):
    expect_rpc_failure(lambda: start(resources, pod, busybox,
                                     [image_mount(volumes.image_ref, image_sub_path="no-such-directory")]),
                       what="an image_sub_path the image does not have")


@pytest.mark.contract("Mount.image_volume_error_name")
def test_image_mount_failure_carries_the_well_known_name(resources, pod, busybox, volumes):
    absent = f"sha256:{secrets.token_hex(32)}"  # an image ID no store has
    error = expect_rpc_failure(lambda: start(resources, pod, busybox, [image_mount(absent)]),
                               what=f"an image mount of the absent image {absent}")
    assert (error.details() or "").startswith(FAILURE_NAME), (
        f"expected the message to start with {FAILURE_NAME}: {error.code().name}: {error.details()}")
