"""ListImages (and StreamImages): one entry per content, every tag on it, the filter."""

from __future__ import annotations

import grpc
import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.proto import runtime_v1_pb2 as pb

DISTINCT = ("distinct-1", "distinct-2", "distinct-3")


@pytest.fixture(scope="module")
def distinct_ids(image_service, images) -> dict[str, str]:
    """Three contents under three tags of one repository: reference -> image ID."""
    return {images.image(name).reference: image_calls.pull(image_service, images.image(name).reference)
            for name in DISTINCT}


@pytest.mark.contract("ListImages.one_entry_per_image", "ListImages.all")
def test_each_content_is_its_own_entry_with_its_own_tag(image_service, distinct_ids):
    assert len(set(distinct_ids.values())) == len(distinct_ids), f"different contents share an ID: {distinct_ids}"
    listed = {image.id: image for image in image_calls.list_images(image_service)}
    for reference, image_id in distinct_ids.items():
        assert image_id in listed, f"ListImages lacks {reference} ({image_id})"
        tags = list(listed[image_id].repo_tags)
        # Only this content's tags: the node may know it under more names, never under the others' tags.
        others = [other for other in distinct_ids if other != reference and other in tags]
        assert reference in tags and not others, f"entry {image_id} of {reference}: repo_tags {tags}"


@pytest.mark.contract("ListImages.all", "Image.size", "ImageStatus.required_fields")
def test_every_entry_has_an_id_and_a_size(image_service, busybox):
    entries = image_calls.list_images(image_service)
    assert entries, "ListImages is empty although busybox was pulled"
    bad = [f"{list(image.repo_tags) or image.id}: id={image.id!r} size={image.size}"
           for image in entries if not image.id or image.size == 0]
    assert not bad, f"entries without id or with size 0: {bad}"
    ids = [image.id for image in entries]
    assert len(ids) == len(set(ids)), f"ListImages repeats IDs: {sorted(ids)}"


@pytest.mark.xdist_group("images")
@pytest.mark.contract("ListImages.tags_aggregated")
def test_tags_of_one_content_are_one_entry(image_service, images):
    test_image = images.image("tags")
    image_calls.make_absent(image_service, test_image)
    image_ids = {image_calls.pull(image_service, reference) for reference in test_image.references}
    assert len(image_ids) == 1, f"{test_image.references} gave several image_refs {image_ids}"
    entry = image_calls.listed(image_service, image_ids.pop())
    assert entry is not None, f"ListImages lacks the image pulled as {test_image.references}"
    assert sorted(entry.repo_tags) == sorted(test_image.references), (
        f"expected one entry with repo_tags {sorted(test_image.references)}, got {sorted(entry.repo_tags)}"
    )


@pytest.mark.contract("ListImages.filter")
def test_filter_by_reference_lists_only_that_image(image_service, busybox, distinct_ids):
    busybox_id = image_calls.present(image_service, busybox).id
    entries = image_calls.list_images(image_service, filter_reference=busybox)
    assert [image.id for image in entries] == [busybox_id], (
        f"ListImages(filter={busybox!r}): expected only {busybox_id}, got "
        f"{[(image.id[:19], list(image.repo_tags)) for image in entries]}"
    )


def streamed_images(image_service) -> list[pb.Image]:
    return [image for response in image_service.StreamImages(pb.StreamImagesRequest()) for image in response.images]


@pytest.mark.contract("StreamImages.parity")
def test_stream_images_returns_what_list_images_does(image_service, busybox):
    try:
        streamed_images(image_service)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("unsupported by this runtime: StreamImages: UNIMPLEMENTED")
        raise
    # Parallel tests pull and remove images: compare a stream taken between two equal lists.
    for _ in range(10):
        before = {image.id: image for image in image_calls.list_images(image_service)}
        streamed = {image.id: image for image in streamed_images(image_service)}
        after = {image.id: image for image in image_calls.list_images(image_service)}
        if before == after:
            assert streamed == before, (
                f"StreamImages and ListImages differ: only streamed {sorted(set(streamed) - set(before))}, "
                f"only listed {sorted(set(before) - set(streamed))}, same IDs with other fields "
                f"{sorted(i for i in set(streamed) & set(before) if streamed[i] != before[i])}"
            )
            return
    pytest.fail("ListImages changed during every one of 10 attempts to compare it with StreamImages")
