"""The OCI image writer: same input, same bytes and digests."""

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from cri_conformance.fixtures.local import images, oci_image
from cri_conformance.fixtures.local.oci_image import (
    Dir,
    File,
    HostFile,
    ImageConfig,
    Symlink,
    Whiteout,
    blob_path,
    read_oci_layout,
    write_oci_layout,
)

CONFIG = ImageConfig(
    entrypoint=["/bin/app", "--serve"],
    cmd=["--port", "8080"],
    env=["PATH=/bin", "MODE=test"],
    working_dir="/srv",
    user="1000:1000",
    volumes=["/data"],
    exposed_ports=["8080/tcp"],
    stop_signal="SIGINT",
    labels={"org.example": "yes"},
)


def sample_layers(tmp_path: Path):
    host_file = tmp_path / "host-binary"
    host_file.write_bytes(b"\x7fELF pretend")
    host_file.chmod(0o755)
    return [
        [
            File("bin/app", b"#!/bin/sh\necho app\n", mode=0o755),
            HostFile("bin/copied", host_file),
            Symlink("bin/alias", "/bin/app"),
            Dir("tmp", mode=0o1777),
            File("srv/z-last", b"z"),
            File("srv/a-first", b"a", uid=1000, gid=1000),
        ],
        [Whiteout("srv/z-last"), File("etc/config", b"key=value\n")],
    ]


def build(tmp_path: Path, where: str):
    return write_oci_layout(tmp_path / where, "1.0", sample_layers(tmp_path), CONFIG, architecture="amd64")


def layer_members(layout: Path, digest: str) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob_path(layout, digest).read_bytes()), mode="r:gz") as tar:
        return tar.getmembers()


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_building_twice_gives_identical_digests_and_bytes(tmp_path):
    first = build(tmp_path, "one")
    second = build(tmp_path, "two")
    assert first.manifest == second.manifest
    assert first.config == second.config
    assert first.layers == second.layers
    assert first.diff_ids == second.diff_ids
    assert all_files(first.layout) == all_files(second.layout)


def test_rebuilding_in_place_changes_nothing(tmp_path):
    first = build(tmp_path, "same")
    before = all_files(first.layout)
    second = build(tmp_path, "same")
    assert second.manifest == first.manifest
    assert all_files(second.layout) == before


def test_digests_are_sha256_of_the_blobs(tmp_path):
    built = build(tmp_path, "img")
    for descriptor in [built.manifest, built.config, *built.layers]:
        data = blob_path(built.layout, descriptor.digest).read_bytes()
        assert descriptor.digest == "sha256:" + hashlib.sha256(data).hexdigest()
        assert descriptor.size == len(data)
    for layer, diff_id in zip(built.layers, built.diff_ids):
        uncompressed = gzip.decompress(blob_path(built.layout, layer.digest).read_bytes())
        assert diff_id == "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def test_layer_entries_are_sorted_timeless_and_numeric(tmp_path):
    built = build(tmp_path, "img")
    members = layer_members(built.layout, built.layers[0].digest)
    names = [member.name for member in members]
    assert names == sorted(names)
    # Parent directories are added for every entry.
    assert {"bin", "srv"} <= set(names)
    for member in members:
        assert member.mtime == 0
        assert member.uname == "" and member.gname == ""
    by_name = {member.name: member for member in members}
    assert by_name["bin/app"].mode == 0o755
    assert by_name["bin/copied"].mode == 0o755  # kept from the host file
    assert by_name["bin/alias"].issym() and by_name["bin/alias"].linkname == "/bin/app"
    assert by_name["tmp"].isdir() and by_name["tmp"].mode == 0o1777
    assert (by_name["srv/a-first"].uid, by_name["srv/a-first"].gid) == (1000, 1000)


def test_whiteout_entries_use_the_wh_prefix(tmp_path):
    built = build(tmp_path, "img")
    names = [member.name for member in layer_members(built.layout, built.layers[1].digest)]
    assert "srv/.wh.z-last" in names


def test_gzip_header_has_no_time_or_name(tmp_path):
    built = build(tmp_path, "img")
    header = blob_path(built.layout, built.layers[0].digest).read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[3] & 0x08 == 0  # FNAME flag unset
    assert header[4:8] == b"\x00\x00\x00\x00"  # MTIME


def test_config_manifest_and_index_content(tmp_path):
    built = build(tmp_path, "img")
    config = json.loads(blob_path(built.layout, built.config.digest).read_bytes())
    assert config["architecture"] == "amd64"
    assert config["os"] == "linux"
    assert config["rootfs"] == {"type": "layers", "diff_ids": list(built.diff_ids)}
    assert config["config"] == {
        "Entrypoint": ["/bin/app", "--serve"],
        "Cmd": ["--port", "8080"],
        "Env": ["PATH=/bin", "MODE=test"],
        "WorkingDir": "/srv",
        "User": "1000:1000",
        "Volumes": {"/data": {}},
        "ExposedPorts": {"8080/tcp": {}},
        "StopSignal": "SIGINT",
        "Labels": {"org.example": "yes"},
    }
    descriptor, manifest = read_oci_layout(built.layout, "1.0")
    assert descriptor == built.manifest
    assert manifest["mediaType"] == oci_image.MEDIA_TYPE_MANIFEST
    assert manifest["config"]["digest"] == built.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in built.layers]
    assert json.loads((built.layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    with pytest.raises(KeyError):
        read_oci_layout(built.layout, "missing-tag")


def test_empty_config_fields_are_left_out():
    assert ImageConfig().to_json() == {}
    assert ImageConfig(cmd=["sh"]).to_json() == {"Cmd": ["sh"]}


def test_architecture_defaults_to_the_host(tmp_path):
    built = write_oci_layout(tmp_path / "img", "t", [[File("f", b"x")]], ImageConfig())
    config = json.loads(blob_path(built.layout, built.config.digest).read_bytes())
    assert config["architecture"] == oci_image.host_architecture()


@pytest.mark.parametrize("bad", ["../escape", "a/../../b", "/"])
def test_paths_may_not_escape_the_rootfs(tmp_path, bad):
    with pytest.raises(ValueError):
        write_oci_layout(tmp_path / "img", "t", [[File(bad, b"x")]], ImageConfig())


def test_duplicate_paths_in_one_layer_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        write_oci_layout(tmp_path / "img", "t", [[File("a", b"1"), File("/a", b"2")]], ImageConfig())


def test_image_references_use_the_fake_registry_host():
    references = images.image_references()
    assert references["busybox"] == "cri-conformance.test/busybox:1.0"
    assert references["pause"] == "cri-conformance.test/pause:1.0"


@pytest.mark.skipif(
    not (images.BUSYBOX_BINARY.exists() and images.CATATONIT_BINARY.exists()),
    reason="busybox-static and catatonit are not installed",
)
def test_suite_images_build_deterministically(tmp_path):
    first = images.build_images_detailed(tmp_path / "one")
    second = images.build_images_detailed(tmp_path / "two")
    assert {name: built.manifest.digest for name, built in first.items()} == {
        name: built.manifest.digest for name, built in second.items()
    }
    paths = images.build_images(tmp_path / "three")
    assert set(paths) == {"busybox", "pause"}
    busybox = first["busybox"]
    names = {member.name for layer in busybox.layers for member in layer_members(busybox.layout, layer.digest)}
    assert {"bin/busybox", "bin/sh", "etc/passwd", "etc/group", "tmp"} <= names
    assert "etc/hosts" not in names
    pause_config = json.loads(blob_path(first["pause"].layout, first["pause"].config.digest).read_bytes())
    assert pause_config["config"]["Entrypoint"] == ["/catatonit", "-P"]
