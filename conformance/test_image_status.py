"""ImageStatus and the Image message: absence, lookups by every reference, users, pinning."""

from __future__ import annotations

import json
import secrets

import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.fixtures.image_reference import ImageReference, parse_reference

USER_IMAGES = ("user-uid", "user-username", "user-uid-group", "user-username-group")


def absent_references(images) -> dict[str, str]:
    """References no registry serves and no runtime has: a tag, an ID, a digest reference."""
    registry = parse_reference(images.image("busybox").reference).registry
    absent = ImageReference(registry, f"cri-conformance-absent-{secrets.token_hex(4)}")
    unknown_digest = "sha256:" + secrets.token_hex(32)
    return {"tag": str(absent.with_tag("1.0")), "id": unknown_digest, "digest": str(absent.with_digest(unknown_digest))}


@pytest.mark.contract("ImageStatus.absent_nil")
@pytest.mark.parametrize("kind", ["tag", "id", "digest"])
def test_status_of_absent_image_succeeds_with_image_unset(image_service, images, kind):
    reference = absent_references(images)[kind]
    response = image_calls.status(image_service, reference)
    assert not response.HasField("image"), (
        f"ImageStatus({reference!r}) of an image that does not exist: expected `image` unset, got {response.image}"
    )


@pytest.mark.contract("ImageStatus.required_fields", "Image.size")
def test_status_of_present_image_has_id_and_size(image_service, busybox):
    image = image_calls.present(image_service, busybox)
    assert image is not None, f"ImageStatus({busybox!r}) has `image` unset right after the pull"
    assert image.id, f"Image.id is empty: {image}"
    assert image.size > 0, f"Image.size is {image.size}, expected the image's size in bytes (> 0)"


@pytest.fixture(scope="module")
def refs_image(image_service, images):
    """The `refs` image pulled under its tags: (image ID, every reference it can be looked up by)."""
    test_image = images.image("refs")
    ids = {image_calls.pull(image_service, reference) for reference in test_image.references}
    assert len(ids) == 1, f"one content pulled under {test_image.references} gave several image_refs: {ids}"
    image = image_calls.present(image_service, test_image.reference)
    assert image is not None, f"ImageStatus({test_image.reference!r}) is unset after pulling it"
    return image.id, test_image


@pytest.mark.contract("ImageStatus.ref_kinds", "Image.repo_digests")
def test_status_is_identical_for_every_kind_of_reference(image_service, refs_image):
    image_id, test_image = refs_image
    first = image_calls.present(image_service, test_image.reference)
    assert first.repo_digests, f"Image.repo_digests is empty for {test_image.reference}: {first}"
    lookups = [image_id, *test_image.references, *first.repo_digests]
    latest = [parse_reference(ref) for ref in test_image.references if parse_reference(ref).tag == "latest"]
    lookups += [str(ref.untagged()) for ref in latest]  # a name without tag means :latest
    for reference in lookups:
        image = image_calls.present(image_service, reference)
        assert image is not None, f"ImageStatus({reference!r}) has `image` unset; the image is {image_id}"
        assert image == first, (
            f"ImageStatus({reference!r}) differs from ImageStatus({test_image.reference!r}):\n{image}\nvs\n{first}"
        )


@pytest.mark.contract("ImageStatus.verbose_info")
def test_status_info_only_when_verbose(image_service, busybox):
    plain = image_calls.status(image_service, busybox)
    assert dict(plain.info) == {}, f"ImageStatus without verbose returned info keys {sorted(plain.info)}"
    verbose = image_calls.status(image_service, busybox, verbose=True)
    assert verbose.info, "ImageStatus with verbose=true returned no info"
    for key, value in verbose.info.items():
        try:
            json.loads(value)
        except ValueError as err:
            pytest.fail(f"ImageStatus info[{key!r}] is not JSON: {err}: {value[:200]!r}")


def expected_user(user: str) -> tuple[int | None, str]:
    """(uid, username) the contract derives from an image's USER: the part before ':' decides."""
    name = user.split(":", 1)[0]
    return (int(name), "") if name.isdigit() else (None, name)


@pytest.mark.contract("Image.uid_username")
@pytest.mark.parametrize("name", USER_IMAGES)
def test_uid_or_username_follows_the_image_user(image_service, images, name):
    user = images.image(name).user
    assert user, f"test image {name} declares no USER: the image set is wrong"
    image = image_calls.present(image_service, images.ref(name))
    uid, username = expected_user(user)
    got = (image.uid.value if image.HasField("uid") else None, image.username)
    assert got == (uid, username), (
        f"USER {user!r}: expected uid={uid} username={username!r}, got uid={got[0]} username={got[1]!r}"
    )


@pytest.mark.contract("Image.pinned")
def test_sandbox_image_is_pinned(image_service, images):
    sandbox = [image for image in images.image_set.images() if image.sandbox] if images.image_set else []
    assert sandbox, "the image set marks no image as the sandbox image (sandbox = true)"
    reference = images.ref(sandbox[0].name)
    image = image_calls.present(image_service, reference)
    assert image.pinned, f"the sandbox image {reference} is not pinned (Image.pinned is false)"


@pytest.mark.contract("Image.spec")
def test_image_spec_names_the_image(image_service, busybox):
    image = image_calls.present(image_service, busybox)
    assert image.HasField("spec"), f"Image.spec is unset for {busybox}"
    assert image.spec.image, f"Image.spec.image is empty for {busybox}"
    again = image_calls.present(image_service, image.spec.image)
    assert again is not None and again.id == image.id, (
        f"Image.spec.image {image.spec.image!r} does not name the image {image.id}"
    )
