"""The parsers the Linux contract tests read container state with, and the host-side helpers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from cri_conformance.fixtures import host_side, inside

STATUS = """\
Name:\tsh
Uid:\t1001\t1001\t1001\t1001
Gid:\t1002\t1002\t1002\t1002
Groups:\t100 1234 
NoNewPrivs:\t1
Seccomp:\t2
CapInh:\t0000000000000000
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000001000
"""


def test_process_status_fields():
    status = inside.ProcessStatus.parse(STATUS)
    assert status.uids == (1001,) * 4 and status.gids == (1002,) * 4
    assert status.groups == {100, 1234}
    assert (status.no_new_privs, status.seccomp) == (1, 2)
    assert status.capabilities("CapInh") == frozenset()
    assert status.capabilities("CapAmb") == {"NET_ADMIN"}
    assert {"CHOWN", "NET_RAW", "SETFCAP"} <= status.capabilities("CapBnd")
    assert "SYS_ADMIN" not in status.capabilities("CapEff")
    assert set(status.security_view()) == {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                          "NoNewPrivs", "Seccomp"}


def test_capability_names_cover_every_known_bit_and_name_unknown_ones():
    assert inside.capability_names((1 << 41) - 1) == set(inside.CAPABILITIES)
    assert inside.capability_names(1 << 45) == {"CAP_45"}


MOUNTINFO = r"""22 1 0:20 / / rw,relatime - overlay overlay rw,lowerdir=/a
30 22 0:5 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
31 22 0:44 /dir /mnt/data rw,relatime master:7 - ext4 /dev/vda1 rw
32 22 0:45 / /mnt/with\040space rw,relatime shared:9 - tmpfs tmpfs rw
33 31 0:46 / /mnt/data ro,relatime - tmpfs tmpfs rw
"""


def test_mountinfo_parsing():
    entries = inside.parse_mountinfo(MOUNTINFO)
    assert [e.mount_point for e in entries] == ["/", "/sys", "/mnt/data", "/mnt/with space", "/mnt/data"]
    assert inside.mount_at(entries, "/sys").read_only
    assert inside.mount_at(entries, "/mnt/with space").shared
    top = inside.mount_at(entries, "/mnt/data")
    assert top.read_only and top.fs_type == "tmpfs", "the last mount at a point is the visible one"
    assert entries[2].slave and not entries[2].shared
    assert inside.mount_at(entries, "/nowhere") is None


def test_proc_net_tcp_listening_ports():
    text = ("  sl  local_address rem_address   st tx_queue rx_queue\n"
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n"
            "   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000\n")
    assert host_side.listening_ports(text) == {8080}


def test_sysvipc_shm_ids():
    text = ("       key      shmid perms  size  cpid  lpid\n"
            "         0      32769   600  4096  100   0\n")
    assert host_side.shm_ids(text) == {32769}


def test_shared_memory_segment_is_listed_and_removed():
    with host_side.shared_memory_segment() as segment:
        assert segment in host_side.shm_ids(Path("/proc/sysvipc/shm").read_text())
    assert segment not in host_side.shm_ids(Path("/proc/sysvipc/shm").read_text())


def test_held_port_blocks_other_binders():
    with host_side.held_port() as holder:
        port = holder.getsockname()[1]
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount")
def test_scratch_directory_unmounts_what_was_mounted(tmp_path):
    with host_side.scratch_directory(tmp_path, "t") as path:
        (path / "sub").mkdir()
        host_side.mount_tmpfs(path / "sub")
        host_side.make_mount_point(path, host_side.MS_SHARED)
        assert path / "sub" in host_side.mount_points_under(path)
    assert not path.exists()
    assert host_side.mount_points_under(tmp_path) == []
