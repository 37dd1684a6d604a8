"""Small pure helpers: mountinfo parsing, the state file, the instance lock, ELF checks."""

import sys
from pathlib import Path

import pytest

from cri_conformance.fixtures import mounts
from cri_conformance.fixtures.local import packages, state
from cri_conformance.fixtures.local.errors import LocalRuntimeError
from cri_conformance.fixtures.local.packages import Requirement


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


def test_network_namespace_mounts_are_recognised():
    parsed = mounts.parse_mountinfo(MOUNTINFO + "95 27 0:4 net:[77] /run/netns/x rw shared:5 - nsfs nsfs rw\n")
    assert [mounts.netns_inode(mount) for mount in parsed] == [None, None, 4026532, None, None, None, 77]
    assert parsed[3].point == "/var/tmp/x/with space" and parsed[6].fstype == "nsfs"


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
        with pytest.raises(LocalRuntimeError, match="instance lock .* not reached within 0.2s"):
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
