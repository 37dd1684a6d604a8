"""The test image set: the shipped manifest, user overrides, the registry switch."""

import pytest

from cri_conformance.fixtures.image_reference import parse_reference
from cri_conformance.fixtures.image_set import ImageSetError, load_image_set
from cri_conformance.fixtures.test_images import DEFAULT_IMAGES


def write(tmp_path, text):
    path = tmp_path / "images.toml"
    path.write_text(text)
    return path


def test_shipped_set_has_what_the_tests_rely_on():
    image_set = load_image_set()
    assert image_set["busybox"] == "cri-conformance.test/busybox:1.0"
    assert image_set["pause"] == "cri-conformance.test/pause:1.0"
    users = {name: image_set.image(name).user for name in
             ("user-uid", "user-username", "user-uid-group", "user-username-group")}
    assert users == {"user-uid": "1002", "user-username": "www-data",
                     "user-uid-group": "1003:1004", "user-username-group": "www-data:1004"}
    assert [image.name for image in image_set.images() if image.sandbox] == ["pause"]
    assert len(image_set.image("tags").references) >= 3
    assert len({parse_reference(r).registry for r in image_set.image("tags").references}) == 2
    assert len(image_set.image("multiarch").platforms) >= 2
    assert parse_reference(image_set.image("latest").reference).tag == "latest"
    config = image_set.image("config")
    assert config.entrypoint and config.cmd and config.env and config.working_dir and config.volumes


def test_shared_images_are_never_removable():
    image_set = load_image_set()
    for name in ("busybox", "pause", "config", "web", "nonewprivs", "refs", "multiarch"):
        assert not image_set.image(name).removable, name


def test_distinct_images_have_distinct_references():
    references = [ref for image in load_image_set().images() for ref in image.references]
    assert len(references) == len(set(references))


def test_default_images_keep_the_plain_mapping():
    assert DEFAULT_IMAGES["busybox"] == "cri-conformance.test/busybox:1.0"
    assert dict(load_image_set()) == DEFAULT_IMAGES


def test_user_file_replaces_named_fields_and_adds_images(tmp_path):
    path = write(tmp_path, """
[images.busybox]
references = ["mirror.example/tools/busybox:1.36"]

[images.extra]
references = ["mirror.example/extra:1"]
user = "42"
""")
    image_set = load_image_set(path)
    busybox = image_set.image("busybox")
    assert busybox.reference == "mirror.example/tools/busybox:1.36"
    assert busybox.cmd == ("sh",), "fields the user did not name are kept"
    assert image_set.image("extra").user == "42"
    assert image_set["pause"] == "cri-conformance.test/pause:1.0"


def test_registry_moves_every_reference_keeping_tags_and_digests(tmp_path):
    digest = "sha256:" + "cd" * 32
    path = write(tmp_path, f'[images.digest]\nreferences = ["cri-conformance.test/digest@{digest}"]\n')
    image_set = load_image_set(path, registry="10.1.2.3:5000/cri")
    assert image_set["busybox"] == "10.1.2.3:5000/cri/busybox:1.0"
    assert image_set["digest"] == f"10.1.2.3:5000/cri/digest@{digest}"
    # Two registries collapse into one: the duplicate reference goes, the others stay.
    tags = image_set.image("tags").references
    assert len(tags) == len(set(tags)) == len(load_image_set().image("tags").references) - 1


@pytest.mark.parametrize("text, message", [
    ("[images.x]\nuser = '1'\n", "needs references"),
    ("[images.x]\nreferences = ['ok.example/x:1']\ncolour = 'red'\n", "unknown field"),
    ("[images.x]\nreferences = ['ok.example/x:1']\nbase = 'alpine'\n", "base"),
    ("[images.x]\nreferences = ['Bad.example/X:1']\n", "invalid path component"),
    ("[images.x]\nreferences = 'ok.example/x:1'\n", "list of strings"),
    ("[images.x\n", "images.toml"),
    ("[other]\n", "unknown top-level"),
])
def test_bad_files_are_explained(tmp_path, text, message):
    with pytest.raises(ImageSetError, match=message):
        load_image_set(write(tmp_path, text))


def test_missing_file_and_bad_registry_are_explained(tmp_path):
    with pytest.raises(ImageSetError, match="--test-images"):
        load_image_set(tmp_path / "absent.toml")
    with pytest.raises(ImageSetError, match="--registry"):
        load_image_set(registry="https://r.example")
