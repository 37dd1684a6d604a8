"""Small pure helpers: the protobuf wire codec, mountinfo parsing, the state file, ELF checks."""

import sys
from pathlib import Path

import pytest

from cri_conformance.fixtures.local import mounts, packages, protowire, state
from cri_conformance.fixtures.local.packages import Requirement


def test_protowire_round_trip():
    message = {
        1: {1: "name", 2: "uid", 4: 3},
        2: "runc",
        3: ["a", "b"],
        5: True,
        6: -1,
        7: protowire.StringMap({"k2": "v2", "k1": "v1"}),
        8: b"\x00\x01",
    }
    decoded = protowire.decode(protowire.encode(message))
    nested = protowire.decode(protowire.first(decoded, 1))
    assert protowire.text(nested, 1) == "name" and protowire.first(nested, 4) == 3
    assert protowire.text(decoded, 2) == "runc"
    assert decoded[3] == [b"a", b"b"]
    assert protowire.first(decoded, 5) == 1
    assert protowire.first(decoded, 6) == (1 << 64) - 1
    assert protowire.string_map(decoded, 7) == {"k1": "v1", "k2": "v2"}
    assert protowire.first(decoded, 8) == b"\x00\x01"


def test_protowire_known_bytes():
    # Field 1, varint 150: the protobuf documentation's classic example.
    assert protowire.encode({1: 150}) == b"\x08\x96\x01"
    assert protowire.encode({2: "testing"}) == b"\x12\x07testing"
    assert protowire.encode({}) == b""


def test_protowire_rejects_truncated_input():
    with pytest.raises(ValueError):
        protowire.decode(b"\x12\x07test")


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
90 27 0:50 / /var/tmp/x/containerd/state/task/abc/rootfs rw - overlay overlay rw
91 27 0:4 net:[4026532] /var/tmp/x/containerd/state/cri/netns/cni-1 rw - nsfs nsfs rw
92 27 0:51 / /var/tmp/x/with\\040space rw - tmpfs tmpfs rw
93 27 0:52 / /var/tmp/x2/other rw - tmpfs tmpfs rw
94 90 0:53 / /var/tmp/x/containerd/state/task/abc/rootfs/dev rw - tmpfs tmpfs rw
"""


def test_mounts_under_finds_only_the_tree_deepest_first():
    found = mounts.mounts_under(Path("/var/tmp/x"), MOUNTINFO)
    assert "/var/tmp/x2/other" not in found
    assert "/var/tmp/x/with space" in found
    assert found[0] == "/var/tmp/x/containerd/state/task/abc/rootfs/dev"
    assert found.index("/var/tmp/x/containerd/state/task/abc/rootfs/dev") < found.index(
        "/var/tmp/x/containerd/state/task/abc/rootfs"
    )
    assert len(found) == 4


def test_state_file_round_trip(tmp_path):
    path = tmp_path / "state.json"
    assert state.load_state(path) == {}
    state.save_state(path, {"up": True, "registry": {"port": 1}})
    assert state.load_state(path) == {"up": True, "registry": {"port": 1}, "version": state.STATE_VERSION}
    path.write_text("{not json")
    assert state.load_state(path) == {"corrupt": True}


def test_instance_lock_is_exclusive(tmp_path):
    lock = tmp_path / "w" / ".lock"
    with state.instance_lock(lock):
        with pytest.raises(Exception, match="timed out"):
            with state.instance_lock(lock, timeout=0.2):
                pass
    with state.instance_lock(lock, timeout=1):
        pass


def test_static_elf_detection(tmp_path):
    not_elf = tmp_path / "script"
    not_elf.write_text("#!/bin/sh\n")
    assert packages.is_static_elf(not_elf) is False
    assert packages.is_static_elf(Path(sys.executable).resolve()) is False  # CPython is dynamic
    if Path("/bin/busybox").exists() and Path("/usr/bin/catatonit").exists():
        assert packages.is_static_elf(Path("/usr/bin/catatonit")) is True


def test_missing_packages_lists_each_package_once(tmp_path):
    present = tmp_path / "present"
    present.write_text("")
    present.chmod(0o755)
    requirements = [
        Requirement("pkg-a", present),
        Requirement("pkg-b", tmp_path / "absent-1"),
        Requirement("pkg-b", tmp_path / "absent-2"),
        Requirement("pkg-c", present, static=True),  # a text file is not a static ELF
    ]
    assert packages.missing_packages(requirements) == ["pkg-b", "pkg-c"]
