"""One image identity everywhere: PullImage.image_ref is Image.id, names the image a
container is created from, and is what ContainerStatus and ListContainers report.

Checked for a plain image and for an image index (where the runtime must pick
the host's platform and identify the image by that platform's config).
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.fixtures.local.oci_image import host_architecture
from cri_conformance.proto import runtime_v1_pb2 as pb

IMAGES = ("busybox", "multiarch")


@pytest.fixture(scope="module")
def pulled(image_service, images) -> dict[str, str]:
    """Logical name -> image_ref of its pull."""
    return {name: image_calls.pull(image_service, images.image(name).reference) for name in IMAGES}


@pytest.fixture(scope="module")
def containers(runtime, module_resources, pulled) -> dict[str, str]:
    """Logical name -> a running container created with image = that image's image_ref."""
    pod = module_resources.run_pod()
    return {name: module_resources.start_container(pod, image=image_ref) for name, image_ref in pulled.items()}


def container_status(runtime, container_id: str) -> pb.ContainerStatus:
    return runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id)).status


@pytest.mark.contract("PullImage.image_ref_identity", "Image.id_matches_pull")
@pytest.mark.parametrize("name", IMAGES)
def test_pull_ref_is_the_image_id(image_service, images, pulled, name):
    image_ref = pulled[name]
    reference = images.image(name).reference
    by_tag = image_calls.present(image_service, reference)
    assert by_tag is not None and by_tag.id == image_ref, (
        f"ImageStatus({reference!r}).id is {by_tag and by_tag.id!r}, PullImage returned {image_ref!r}"
    )
    by_ref = image_calls.present(image_service, image_ref)
    assert by_ref is not None and by_ref.id == image_ref, (
        f"ImageStatus({image_ref!r}) (the pulled image_ref) gives id {by_ref and by_ref.id!r}"
    )
    assert image_calls.listed(image_service, image_ref) is not None, (
        f"ListImages has no entry with id {image_ref} (the image_ref of pulling {reference})"
    )


@pytest.mark.contract("CreateContainer.image_by_id", "PullImage.image_ref_identity")
@pytest.mark.parametrize("name", IMAGES)
def test_container_created_by_image_ref_runs(runtime, containers, name):
    status = container_status(runtime, containers[name])
    assert status.state == pb.CONTAINER_RUNNING, (
        f"container of {name} created by its image_ref: expected RUNNING, got {pb.ContainerState.Name(status.state)}"
    )


@pytest.mark.contract("CreateContainer.image_by_id")
def test_index_pull_runs_the_host_platform_image(runtime, images, containers):
    expected = f"linux/{host_architecture()}"
    result = runtime.ExecSync(pb.ExecSyncRequest(container_id=containers["multiarch"], cmd=["cat", "/platform"],
                                                 timeout=10))
    assert result.exit_code == 0, f"cat /platform failed: {result.exit_code}: {result.stderr!r}"
    assert result.stdout.decode().strip() == expected, (
        f"{images.image('multiarch').reference} is an index of {list(images.image('multiarch').platforms)}: "
        f"expected the {expected} image, the container runs {result.stdout.decode().strip()!r}"
    )


@pytest.mark.contract("ContainerStatus.image")
@pytest.mark.parametrize("name", IMAGES)
def test_container_status_image_ref_is_the_image(runtime, image_service, pulled, containers, name):
    status = container_status(runtime, containers[name])
    image = image_calls.present(image_service, pulled[name])
    assert status.image.image, f"ContainerStatus.image.image is empty for the container of {name}"
    allowed = [image.id, *image.repo_digests]
    assert status.image_ref in allowed, (
        f"ContainerStatus.image_ref {status.image_ref!r} is neither the image ID nor one of its repo digests {allowed}"
    )


@pytest.mark.contract("ContainerStatus.image_id_matches_pull")
@pytest.mark.parametrize("name", IMAGES)
def test_container_status_image_id_is_the_pull_ref(runtime, pulled, containers, name):
    status = container_status(runtime, containers[name])
    assert status.image_id == pulled[name], (
        f"ContainerStatus.image_id {status.image_id!r} != PullImageResponse.image_ref {pulled[name]!r}"
    )


@pytest.mark.contract("ListContainers.image_id_matches_pull")
@pytest.mark.parametrize("name", IMAGES)
def test_list_containers_image_id_is_the_pull_ref(runtime, pulled, containers, name):
    listed = runtime.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(id=containers[name]))).containers
    assert [c.id for c in listed] == [containers[name]], f"ListContainers(id filter) returned {[c.id for c in listed]}"
    assert listed[0].image_id == pulled[name], (
        f"Container.image_id {listed[0].image_id!r} != PullImageResponse.image_ref {pulled[name]!r}"
    )
