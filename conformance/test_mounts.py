"""Mount: bind mounts, read-only and recursive read-only, propagation, status echo.

The suite runs in the runtime's mount namespace (as critest does): it makes
host directories, mounts below them, and checks what crosses into or out of
the container after it started.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import exec_stdout, expect_rpc_failure
from cri_conformance.fixtures.host_side import MS_PRIVATE, MS_SHARED, make_mount_point, mount_points_under, \
    mount_tmpfs
from cri_conformance.fixtures.linux import container_linux, handler_features, sandbox_linux
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.proto import runtime_v1_pb2 as pb

TARGET = "/mnt/data"
PROPAGATION_SEEN = 5.0  # seconds for a mount event to reach the other side


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


@pytest.fixture(scope="module")
def privileged_pod(module_resources):
    return module_resources.run_pod(linux=sandbox_linux(privileged=True))


def start_with(resources, pod, image, mounts: list[pb.Mount], *, privileged: bool = False) -> str:
    return resources.start_container(pod, image=image, mounts=mounts,
                                     linux=container_linux(privileged=privileged))


def reported_mounts(runtime, container_id) -> list[pb.Mount]:
    return list(runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id)).status.mounts)


def assert_echoed(runtime, container_id, requested: pb.Mount) -> None:
    reported = reported_mounts(runtime, container_id)
    assert len(reported) == 1, f"expected exactly the 1 requested mount in ContainerStatus, got {reported}"
    got = reported[0]
    fields = ("container_path", "host_path", "readonly", "selinux_relabel", "propagation")
    expected = {name: getattr(requested, name) for name in fields}
    actual = {name: getattr(got, name) for name in fields}
    assert actual == expected, f"ContainerStatus.mounts: expected {expected}, got {actual}"


def write_fails_read_only(runtime, container_id, path: str) -> None:
    result = inside.exec_sync(runtime, container_id, ["touch", path])
    assert result.exit_code != 0 and "Read-only file system" in result.stderr, (
        f"writing {path} should fail with 'Read-only file system': {result.describe()}")


def token() -> str:
    return uuid.uuid4().hex


# --- bind mounts ------------------------------------------------------------------

@pytest.mark.contract("Mount.bind", "Mount.status_echo", "ContainerStatus.mounts")
def test_bind_mount_shares_files_both_ways(runtime, resources, pod, busybox, host_dir):
    content = token()
    (host_dir / "from-host").write_text(content)
    requested = pb.Mount(container_path=TARGET, host_path=str(host_dir))
    container = start_with(resources, pod, busybox, [requested])
    assert inside.read_file(runtime, container, f"{TARGET}/from-host") == content
    exec_stdout(runtime, container, ["sh", "-c", f"echo -n {content} > {TARGET}/from-container"])
    assert (host_dir / "from-container").read_text() == content, "a write in the container did not reach the host"
    assert_echoed(runtime, container, requested)


@pytest.mark.contract("Mount.readonly", "Mount.status_echo")
def test_readonly_mount_refuses_writes(runtime, resources, pod, busybox, host_dir):
    (host_dir / "file").write_text("kept")
    requested = pb.Mount(container_path=TARGET, host_path=str(host_dir), readonly=True)
    container = start_with(resources, pod, busybox, [requested])
    assert inside.read_file(runtime, container, f"{TARGET}/file") == "kept"
    write_fails_read_only(runtime, container, f"{TARGET}/new")
    assert_echoed(runtime, container, requested)


@pytest.mark.contract("Mount.symlink_followed")
def test_symlinked_host_path_mounts_its_target(runtime, resources, pod, busybox, host_dir):
    content = token()
    (host_dir / "real").mkdir()
    (host_dir / "real" / "file").write_text(content)
    (host_dir / "link").symlink_to(host_dir / "real")
    container = start_with(resources, pod, busybox, [pb.Mount(container_path=TARGET, host_path=str(host_dir / "link"))])
    assert inside.read_file(runtime, container, f"{TARGET}/file") == content


@pytest.mark.contract("Mount.host_path_missing")
def test_missing_host_path_is_refused(runtime, resources, pod, busybox, host_dir):
    missing = host_dir / "does-not-exist"

    def start_it():
        start_with(resources, pod, busybox, [pb.Mount(container_path=TARGET, host_path=str(missing))])
        return f"the container started, and the host path exists now: {missing.exists()}"

    expect_rpc_failure(start_it, what=f"a mount of the missing host path {missing}")


@pytest.mark.contract("Mount.selinux_relabel", "Mount.status_echo")
def test_selinux_relabel_is_accepted_without_selinux(runtime, resources, pod, busybox, host_dir):
    if selinux_enabled():
        pytest.skip("SELinux is enabled here: relabelling is checked in test_selinux_apparmor")
    (host_dir / "file").write_text("labelled")
    requested = pb.Mount(container_path=TARGET, host_path=str(host_dir), selinux_relabel=True)
    container = start_with(resources, pod, busybox, [requested])
    assert inside.read_file(runtime, container, f"{TARGET}/file") == "labelled"
    assert_echoed(runtime, container, requested)


def selinux_enabled() -> bool:
    try:
        with open("/sys/fs/selinux/enforce") as handle:
            return handle.read().strip() in ("0", "1")
    except OSError:
        return False


# --- read-only, recursively or not ----------------------------------------------------

@pytest.fixture
def dir_with_submount(host_dir):
    """host_dir with a writable tmpfs mounted at host_dir/sub."""
    (host_dir / "sub").mkdir()
    mount_tmpfs(host_dir / "sub")
    return host_dir


@pytest.mark.contract("Mount.readonly_not_recursive", "Mount.status_echo")
def test_readonly_mount_leaves_submounts_writable(runtime, resources, pod, busybox, dir_with_submount):
    requested = pb.Mount(container_path=TARGET, host_path=str(dir_with_submount), readonly=True)
    container = start_with(resources, pod, busybox, [requested])
    write_fails_read_only(runtime, container, f"{TARGET}/new")
    exec_stdout(runtime, container, ["touch", f"{TARGET}/sub/new"])
    assert_echoed(runtime, container, requested)


@pytest.mark.contract("Mount.rro", "Mount.rro_unsupported", "Status.rro_feature_semantics")
def test_recursive_readonly_is_enforced_or_refused(runtime, resources, pod, busybox, dir_with_submount, cri_settings):
    advertised = bool(getattr(handler_features(runtime, cri_settings.runtime_handler), "recursive_read_only_mounts",
                              False))
    requested = pb.Mount(container_path=TARGET, host_path=str(dir_with_submount), readonly=True,
                         recursive_read_only=True)
    try:
        container = start_with(resources, pod, busybox, [requested])
    except grpc.RpcError as err:
        assert not advertised, (f"the handler advertises recursive_read_only_mounts but refused the mount: "
                                f"{err.code().name}: {err.details()}")
        return  # refusing what it cannot enforce is right
    write_fails_read_only(runtime, container, f"{TARGET}/new")
    write_fails_read_only(runtime, container, f"{TARGET}/sub/new")


@pytest.mark.contract("Mount.rro_requires_readonly", "Mount.rro_requires_private")
@pytest.mark.parametrize("readonly, propagation", [
    (False, pb.PROPAGATION_PRIVATE),
    (True, pb.PROPAGATION_HOST_TO_CONTAINER),
    (True, pb.PROPAGATION_BIDIRECTIONAL),
], ids=["not-readonly", "host-to-container", "bidirectional"])
def test_invalid_recursive_readonly_mount_is_refused(runtime, resources, privileged_pod, busybox, host_dir,
                                                     readonly, propagation):
    make_mount_point(host_dir, MS_SHARED)  # so that propagation alone is valid
    requested = pb.Mount(container_path=TARGET, host_path=str(host_dir), readonly=readonly,
                         recursive_read_only=True, propagation=propagation)
    expect_rpc_failure(lambda: start_with(resources, privileged_pod, busybox, [requested], privileged=True),
                       what=f"a recursive read-only mount with readonly={readonly}, "
                       f"propagation={pb.MountPropagation.Name(propagation)}")


# --- propagation ---------------------------------------------------------------------------

@pytest.fixture
def propagation_dir(host_dir):
    """host_dir as its own mount, with empty `late` (for host mounts) and `inner` (for container mounts)."""
    (host_dir / "late").mkdir()
    (host_dir / "inner").mkdir()
    return host_dir


def mount_on_host_after_start(host: Path) -> str:
    """Mount a tmpfs at host/late holding a fresh marker file; return the marker."""
    marker = token()
    mount_tmpfs(host / "late")
    (host / "late" / marker).write_text(marker)
    return marker


def container_sees(runtime, container_id, marker: str) -> bool:
    return inside.exec_sync(runtime, container_id, ["test", "-e", f"{TARGET}/late/{marker}"]).exit_code == 0


def mount_in_container(runtime, container_id) -> str:
    marker = token()
    script = f"mount -t tmpfs tmpfs {TARGET}/inner && touch {TARGET}/inner/{marker}"
    exec_stdout(runtime, container_id, ["sh", "-c", script])
    return marker


# How each propagation shows in the container's mountinfo: (shared, slave).
MOUNTINFO_PROPAGATION = {
    pb.PROPAGATION_PRIVATE: (False, False),
    pb.PROPAGATION_HOST_TO_CONTAINER: (False, True),
    pb.PROPAGATION_BIDIRECTIONAL: (True, False),
}


def start_propagating(runtime, resources, pod, busybox, host, propagation, *, privileged: bool) -> str:
    requested = pb.Mount(container_path=TARGET, host_path=str(host), propagation=propagation)
    container = start_with(resources, pod, busybox, [requested], privileged=privileged)
    assert_echoed(runtime, container, requested)
    entry = inside.mount_at(inside.mounts(runtime, container), TARGET)
    assert entry is not None, f"nothing is mounted at {TARGET}"
    assert (entry.shared, entry.slave) == MOUNTINFO_PROPAGATION[propagation], (
        f"{pb.MountPropagation.Name(propagation)}: the mount's propagation fields are {entry.optional_fields}")
    return container


@pytest.mark.contract("Mount.propagation_private", "Mount.status_echo")
def test_private_propagation_isolates_both_sides(runtime, resources, privileged_pod, busybox, propagation_dir):
    make_mount_point(propagation_dir, MS_PRIVATE)
    container = start_propagating(runtime, resources, privileged_pod, busybox, propagation_dir,
                                  pb.PROPAGATION_PRIVATE, privileged=True)
    marker = mount_on_host_after_start(propagation_dir)
    mount_in_container(runtime, container)
    assert not container_sees(runtime, container, marker), (
        "PRIVATE: a host mount made after start reached the container")
    assert propagation_dir / "inner" not in mount_points_under(propagation_dir), (
        "PRIVATE: a mount made in the container reached the host")


@pytest.mark.contract("Mount.propagation_host_to_container", "Mount.status_echo")
def test_host_to_container_propagation_is_one_way(runtime, resources, privileged_pod, busybox, propagation_dir):
    make_mount_point(propagation_dir, MS_SHARED)
    container = start_propagating(runtime, resources, privileged_pod, busybox, propagation_dir,
                                  pb.PROPAGATION_HOST_TO_CONTAINER, privileged=True)
    marker = mount_on_host_after_start(propagation_dir)
    wait_for(lambda: container_sees(runtime, container, marker), bool, timeout=PROPAGATION_SEEN,
             what="HOST_TO_CONTAINER: a host mount made after start to appear in the container")
    mount_in_container(runtime, container)
    assert propagation_dir / "inner" not in mount_points_under(propagation_dir), (
        "HOST_TO_CONTAINER: a mount made in the container reached the host")


@pytest.mark.contract("Mount.propagation_bidirectional", "Mount.status_echo", "SC.privileged")
def test_bidirectional_propagation_goes_both_ways(runtime, resources, privileged_pod, busybox, propagation_dir):
    make_mount_point(propagation_dir, MS_SHARED)
    container = start_propagating(runtime, resources, privileged_pod, busybox, propagation_dir,
                                  pb.PROPAGATION_BIDIRECTIONAL, privileged=True)
    marker = mount_on_host_after_start(propagation_dir)
    wait_for(lambda: container_sees(runtime, container, marker), bool, timeout=PROPAGATION_SEEN,
             what="BIDIRECTIONAL: a host mount made after start to appear in the container")
    inner = mount_in_container(runtime, container)
    wait_for(lambda: (propagation_dir / "inner" / inner).exists(), bool, timeout=PROPAGATION_SEEN,
             what="BIDIRECTIONAL: a mount made in the container to appear on the host")
