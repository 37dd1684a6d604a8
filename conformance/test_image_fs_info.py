"""ImageFsInfo: one usage record per image filesystem, with every field set and plausible."""

from __future__ import annotations

import time

import pytest

from cri_conformance.fixtures.polling import wait_for
from cri_conformance.proto import runtime_v1_pb2 as pb

# Runtimes sample usage periodically (containerd: every 10 s by default).
SAMPLE_WAIT = 15.0
TIMESTAMP_TOLERANCE_NS = 10 * 60 * 10**9  # a sample may be minutes old, but not from another epoch


def image_filesystems(image_service) -> list[pb.FilesystemUsage]:
    return list(image_service.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems)


def usage_problems(usage: pb.FilesystemUsage, now_ns: int) -> list[str]:
    problems = []
    if not (now_ns - TIMESTAMP_TOLERANCE_NS < usage.timestamp <= now_ns + TIMESTAMP_TOLERANCE_NS):
        problems.append(f"timestamp {usage.timestamp} is not nanoseconds near now ({now_ns})")
    if not usage.fs_id.mountpoint.startswith("/"):
        problems.append(f"fs_id.mountpoint {usage.fs_id.mountpoint!r} is not an absolute path")
    for name in ("used_bytes", "inodes_used"):
        if not usage.HasField(name):
            problems.append(f"{name} is unset")
    return problems


@pytest.mark.contract("ImageFsInfo.image_filesystems", "ImageFsInfo.probe", "X.timestamps_ns")
def test_image_filesystem_usage_has_every_field(image_service, busybox):
    filesystems = image_filesystems(image_service)
    assert filesystems, "ImageFsInfo returned no image filesystem"
    now = time.time_ns()
    problems = {usage.fs_id.mountpoint: usage_problems(usage, now) for usage in filesystems}
    assert not any(problems.values()), f"ImageFsInfo image_filesystems: {problems}"


@pytest.mark.contract("ImageFsInfo.image_filesystems")
def test_image_filesystem_usage_counts_the_images(image_service, busybox):
    # busybox is present, so some filesystem holds bytes and inodes; wait out the sampling period.
    def in_use(filesystems):
        return any(usage.used_bytes.value > 0 and usage.inodes_used.value > 0 for usage in filesystems)

    wait_for(lambda: image_filesystems(image_service), in_use, timeout=SAMPLE_WAIT, interval=0.2,
             what="an image filesystem with used_bytes > 0 and inodes_used > 0 while images are present")


@pytest.mark.contract("ImageFsInfo.container_filesystems")
def test_container_filesystem_usage_has_every_field(image_service):
    filesystems = list(image_service.ImageFsInfo(pb.ImageFsInfoRequest()).container_filesystems)
    if not filesystems:
        pytest.skip("unsupported by this runtime: ImageFsInfo.container_filesystems is empty "
                    "(container and image storage are not separate)")
    now = time.time_ns()
    problems = {usage.fs_id.mountpoint: usage_problems(usage, now) for usage in filesystems}
    assert not any(problems.values()), f"ImageFsInfo container_filesystems: {problems}"
