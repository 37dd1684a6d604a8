"""RemoveImage: by tag, ID or digest; every tag goes; invisible at once; idempotent; concurrent.

Every test here removes only images the image set marks `removable`, and
runs in the `images` xdist group with the other tests that use them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.fixtures.image_reference import parse_reference

pytestmark = pytest.mark.xdist_group("images")

CONCURRENT_REMOVES = 5


def pulled(image_service, test_image) -> str:
    """Pull every reference of the image; its one image ID."""
    ids = {image_calls.pull(image_service, reference) for reference in test_image.references}
    assert len(ids) == 1, f"{test_image.references} gave several image_refs {ids}"
    return ids.pop()


def assert_gone(image_service, image_id: str, references) -> None:
    """ImageStatus of the ID and of every former reference is unset, and ListImages lacks the ID."""
    reported = [ref for ref in [image_id, *references] if image_calls.present(image_service, ref) is not None]
    assert not reported, f"right after RemoveImage, ImageStatus still reports {reported}"
    entry = image_calls.listed(image_service, image_id)
    assert entry is None, f"right after RemoveImage, ListImages still lists {image_id}: {list(entry.repo_tags)}"


@pytest.mark.contract("RemoveImage.all_tags", "ImageStatus.after_remove", "RemoveImage.immediately_invisible")
def test_removing_one_tag_removes_every_tag_of_the_content(image_service, images):
    test_image = images.image("tags")
    image_id = pulled(image_service, test_image)
    image = image_calls.present(image_service, test_image.reference)
    image_calls.remove(image_service, test_image.references[1])
    assert_gone(image_service, image_id, [*test_image.references, *image.repo_digests])


@pytest.mark.contract("RemoveImage.by_id", "ImageStatus.after_remove", "RemoveImage.immediately_invisible")
def test_remove_by_id(image_service, images):
    test_image = images.image("remove")
    image_id = pulled(image_service, test_image)
    image_calls.remove(image_service, image_id)
    assert_gone(image_service, image_id, test_image.references)


@pytest.mark.contract("ImageSpec.image", "ImageStatus.after_remove", "RemoveImage.immediately_invisible")
def test_remove_by_digest_reference(image_service, images):
    test_image = images.image("remove")
    image_id = pulled(image_service, test_image)
    image = image_calls.present(image_service, test_image.reference)
    name = parse_reference(test_image.reference).name
    digests = [ref for ref in image.repo_digests if parse_reference(ref).name == name]
    assert digests, f"no repo digest of {name} to remove by: repo_digests {list(image.repo_digests)}"
    image_calls.remove(image_service, digests[0])
    assert_gone(image_service, image_id, [*test_image.references, digests[0]])


@pytest.mark.contract("RemoveImage.idempotent")
def test_removing_twice_succeeds(image_service, images):
    test_image = images.image("remove")
    image_id = pulled(image_service, test_image)
    image_calls.remove(image_service, image_id)
    image_calls.remove(image_service, image_id)
    image_calls.remove(image_service, test_image.reference)
    assert_gone(image_service, image_id, test_image.references)


@pytest.mark.contract("RemoveImage.idempotent")
@pytest.mark.parametrize("reference", ["sha256:" + "0" * 64, "0" * 64])
def test_removing_an_unknown_image_succeeds(image_service, reference):
    image_calls.remove(image_service, reference)
    image_calls.remove(image_service, reference)


@pytest.mark.contract("RemoveImage.concurrent", "X.thread_safe")
def test_concurrent_removes_all_succeed_and_see_it_gone(image_service, images):
    test_image = images.image("remove")
    image_id = pulled(image_service, test_image)

    def remove_then_look() -> bool:
        image_calls.remove(image_service, image_id)
        return image_calls.present(image_service, image_id) is None

    with ThreadPoolExecutor(CONCURRENT_REMOVES) as pool:
        seen_gone = list(pool.map(lambda _: remove_then_look(), range(CONCURRENT_REMOVES)))
    assert all(seen_gone), f"after its own RemoveImage returned, ImageStatus still reported the image: {seen_gone}"
    assert_gone(image_service, image_id, test_image.references)
