"""Building the test image set: reproducible, and true to the manifest."""

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cri_conformance.fixtures.image_set import load_image_set
from cri_conformance.fixtures.local import images
from cri_conformance.fixtures.local.image_build import (
    IMAGE_NAME_LABEL,
    build_image_set,
    host_platform,
    read_layout,
    read_summary,
)
from cri_conformance.fixtures.local.oci_image import MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, blob_path

pytestmark = pytest.mark.skipif(
    not (images.BUSYBOX_BINARY.exists() and images.CATATONIT_BINARY.exists()),
    reason="busybox-static and catatonit are not installed",
)


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def blob_json(layout: Path, digest: str) -> dict:
    return json.loads(blob_path(layout, digest).read_bytes())


def manifest_of(layout: Path, built, platform: str | None = None) -> dict:
    document = blob_json(layout, built.descriptor.digest)
    if built.descriptor.media_type == MEDIA_TYPE_INDEX:
        wanted = platform or host_platform()
        child = next(m for m in document["manifests"]
                     if f"{m['platform']['os']}/{m['platform']['architecture']}" == wanted)
        document = blob_json(layout, child["digest"])
    return document


def config_of(layout: Path, built, platform: str | None = None) -> dict:
    return blob_json(layout, manifest_of(layout, built, platform)["config"]["digest"])


def members(layout: Path, digest: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob_path(layout, digest).read_bytes()), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def read_member(layout: Path, manifest: dict, path: str) -> bytes | None:
    """A file's content in the image's final filesystem (the top-most layer that has it)."""
    for layer in reversed(manifest["layers"]):
        with tarfile.open(fileobj=io.BytesIO(blob_path(layout, layer["digest"]).read_bytes()), mode="r:gz") as tar:
            if path in tar.getnames():
                return tar.extractfile(path).read()
    return None


@pytest.fixture(scope="module")
def built_set(tmp_path_factory):
    layout = tmp_path_factory.mktemp("set") / "layout"
    return layout, build_image_set(None, layout)


def test_building_twice_gives_the_same_bytes(tmp_path, built_set):
    layout, built = built_set
    again = build_image_set(None, tmp_path / "again")
    assert {n: b.descriptor for n, b in again.items()} == {n: b.descriptor for n, b in built.items()}
    assert all_files(tmp_path / "again") == all_files(layout)


def test_the_cli_builds_the_same_layout(tmp_path, built_set):
    layout, _ = built_set
    result = subprocess.run([sys.executable, "-m", "cri_conformance.cli", "images", "build", str(tmp_path / "cli")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all_files(tmp_path / "cli") == all_files(layout)


def test_layout_lists_every_reference_once(built_set):
    layout, built = built_set
    listed = {entry.reference: entry.descriptor for entry in read_layout(layout)}
    expected = {ref: image.descriptor for image in built.values() for ref in image.references}
    assert listed == expected
    summary = read_summary(layout)
    assert summary["busybox"]["digest"] == built["busybox"].descriptor.digest
    assert summary["busybox"]["image_id"] == built["busybox"].image_id


def test_every_image_is_its_own_content(built_set):
    _, built = built_set
    ids = [image.image_id for image in built.values()]
    assert len(ids) == len(set(ids)), "two names share a content: removing one would remove the other"


def test_config_follows_the_manifest(built_set):
    layout, built = built_set
    image_set = load_image_set()
    for name, image in built.items():
        spec = image_set.image(name)
        config = config_of(layout, image)["config"]
        assert config["Labels"][IMAGE_NAME_LABEL] == name
        assert config.get("User", "") == spec.user
        assert config.get("Entrypoint") == (list(spec.entrypoint) if spec.entrypoint is not None else None)
        assert config.get("Cmd") == (list(spec.cmd) if spec.cmd is not None else None)
        assert config.get("Env", []) == list(spec.env)
        assert config.get("WorkingDir", "") == spec.working_dir
        assert sorted(config.get("Volumes", {})) == sorted(spec.volumes)
        assert config.get("StopSignal", "") == spec.stop_signal


def test_files_directories_and_the_setuid_helper_are_in_the_images(built_set):
    layout, built = built_set
    config_manifest = manifest_of(layout, built["config"])
    assert read_member(layout, config_manifest, "srv/work/marker") == b"in the working dir\n"
    web = manifest_of(layout, built["web"])
    assert read_member(layout, web, "www/index.html") == b"cri-conformance web\n"
    helper = members(layout, manifest_of(layout, built["nonewprivs"])["layers"][-1]["digest"])
    assert helper["opt/suid/busybox"].mode == 0o4755 and helper["opt/suid/busybox"].uid == 0
    assert helper["opt/suid/whoami"].issym() and helper["etc/busybox.conf"].mode == 0o600
    assert helper["usr/local/bin/effective-uid"].mode == 0o755


def test_the_index_has_each_platform_and_the_host(built_set):
    layout, built = built_set
    multiarch = built["multiarch"]
    assert multiarch.descriptor.media_type == MEDIA_TYPE_INDEX
    index = blob_json(layout, multiarch.descriptor.digest)
    platforms = [f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]]
    assert host_platform() in platforms and len(platforms) == len(set(platforms)) >= 2
    for platform in platforms:
        manifest = manifest_of(layout, multiarch, platform)
        assert manifest["mediaType"] == MEDIA_TYPE_MANIFEST
        assert read_member(layout, manifest, "platform") == f"{platform}\n".encode()
        assert config_of(layout, multiarch, platform)["architecture"] == platform.split("/")[1]
    assert multiarch.image_id == manifest_of(layout, multiarch)["config"]["digest"]


def test_tags_of_one_image_point_at_one_manifest(built_set):
    layout, built = built_set
    tags = built["tags"]
    digests = {entry.descriptor.digest for entry in read_layout(layout) if entry.reference in tags.references}
    assert digests == {tags.descriptor.digest}
