"""LinuxContainerSecurityContext: users, groups, capabilities, privileged, paths, seccomp, no_new_privs.

Every setting is checked where it takes effect: in /proc/1/status of the
container's entrypoint (each container gets its own PID namespace, as the
kubelet asks) and in /proc/self/status of a process started by ExecSync,
which must run with the same identity and privileges.
"""

from __future__ import annotations

import json
import os
import stat
import uuid

import grpc
import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import exec_stdout, expect_rpc_failure
from cri_conformance.fixtures.linux import (
    OWN_PID,
    container_linux,
    require_runtime_feature,
    sandbox_linux,
    user_id,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

# Capabilities every runtime's default set leaves out (critest relies on these).
NOT_DEFAULT = ("NET_ADMIN", "SYS_ADMIN")
# The OCI default device set: any other host device appears only when privileged.
DEFAULT_DEVICES = {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx"}


def ALL_IDS(value: int) -> tuple[int, ...]:
    """One id as /proc/<pid>/status lists it: real, effective, saved and filesystem."""
    return (value,) * 4


@pytest.fixture(scope="module")
def pod(module_resources):
    """An ordinary pod whose containers each have their own PID namespace."""
    return module_resources.run_pod(linux=sandbox_linux(namespace_options=OWN_PID))


@pytest.fixture(scope="module")
def privileged_pod(module_resources):
    return module_resources.run_pod(linux=sandbox_linux(namespace_options=OWN_PID, privileged=True))


def start(resources, pod, image, *, command=None, **security) -> str:
    """Start a container in `pod` with the given security context fields."""
    return resources.start_container(pod, image=image, command=command,
                                      linux=container_linux(namespace_options=OWN_PID, **security))


def statuses(runtime, container_id) -> tuple[inside.ProcessStatus, inside.ProcessStatus]:
    """(entrypoint, exec) statuses, after checking that both carry the same security context."""
    entrypoint, execd = inside.entrypoint_and_exec_status(runtime, container_id)
    assert execd.security_view() == entrypoint.security_view(), (
        f"ExecSync process runs with another security context than the entrypoint: "
        f"exec {execd.security_view()}, entrypoint {entrypoint.security_view()}")
    return entrypoint, execd


def expect_create_refused(resources, pod, image, what: str, **security) -> grpc.RpcError:
    """CreateContainer (or at the latest StartContainer) must fail."""
    def create_and_start():
        container_id = start(resources, pod, image, **security)
        status = inside.process_status(resources.client.runtime, container_id, 1)
        return f"the container runs with Uid {status.fields.get('Uid')}, Gid {status.fields.get('Gid')}"

    return expect_rpc_failure(create_and_start, what=what)


def bridge_name() -> str:
    """A bridge to create inside a pod's network namespace (needs NET_ADMIN)."""
    return f"crc{uuid.uuid4().hex[:8]}"


def capability_sets(status: inside.ProcessStatus) -> dict[str, frozenset[str]]:
    return {name: status.capabilities(name) for name in inside.CAPABILITY_SETS}


def host_bounding_set() -> frozenset[str]:
    with open("/proc/self/status") as handle:
        return inside.ProcessStatus.parse(handle.read()).capabilities("CapBnd")


# --- users and groups ---------------------------------------------------------

@pytest.mark.contract("SC.run_as_user", "ExecSync.security_context")
def test_run_as_user_sets_every_uid_of_entrypoint_and_exec(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, run_as_user=user_id(1001))
    entrypoint, _ = statuses(runtime, container)
    assert entrypoint.uids == ALL_IDS(1001), f"expected Uid 1001 x4, got {entrypoint.fields['Uid']}"
    assert exec_stdout(runtime, container, ["id", "-u"]).strip() == "1001"


@pytest.mark.contract("SC.run_as_username", "ExecSync.security_context")
def test_run_as_username_is_resolved_in_the_image(runtime, resources, pod, busybox):
    # The image's /etc/passwd has www-data:x:33:33.
    container = start(resources, pod, busybox, run_as_username="www-data")
    entrypoint, _ = statuses(runtime, container)
    assert entrypoint.uids == ALL_IDS(33), f"expected Uid 33 (www-data), got {entrypoint.fields['Uid']}"
    assert entrypoint.gids == ALL_IDS(33), f"expected the user's primary Gid 33, got {entrypoint.fields['Gid']}"
    assert exec_stdout(runtime, container, ["id", "-nu"]).strip() == "www-data"


@pytest.mark.contract("SC.run_as_username")
def test_unknown_run_as_username_is_refused(resources, pod, busybox):
    expect_create_refused(resources, pod, busybox, "a run_as_username missing from the image's /etc/passwd",
                          run_as_username=f"nobody-{uuid.uuid4().hex[:8]}")


@pytest.mark.contract("SC.run_as_group", "ExecSync.security_context")
def test_run_as_group_sets_the_primary_gid(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, run_as_user=user_id(1001), run_as_group=user_id(1002))
    entrypoint, _ = statuses(runtime, container)
    assert entrypoint.uids == ALL_IDS(1001), f"Uid: {entrypoint.fields['Uid']}"
    assert entrypoint.gids == ALL_IDS(1002), f"expected Gid 1002 x4, got {entrypoint.fields['Gid']}"
    assert exec_stdout(runtime, container, ["id", "-g"]).strip() == "1002"


@pytest.mark.contract("SC.run_as_group", "SC.run_as_username", "SC.run_as_group_requires_user")
def test_run_as_group_goes_with_run_as_username(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, run_as_username="user", run_as_group=user_id(1002))
    entrypoint, _ = statuses(runtime, container)
    assert entrypoint.uids == ALL_IDS(1000), f"expected the uid of 'user' (1000), got {entrypoint.fields['Uid']}"
    assert entrypoint.gids == ALL_IDS(1002), f"expected Gid 1002 (run_as_group wins), got {entrypoint.fields['Gid']}"


def suite_image(images, name: str, needs: str) -> str:
    """A suite image by logical name; skip where the image set lacks it."""
    if name not in images.references:
        pytest.skip(f"needs the suite image {name!r} ({needs})")
    return images.ref(name)


@pytest.mark.contract("SC.run_as_user", "SC.run_as_group")
def test_security_context_user_overrides_the_image_user(runtime, resources, pod, images):
    image = suite_image(images, "user-uid-group", "image config USER 1003:1004")
    from_image, _ = statuses(runtime, start(resources, pod, image))
    assert (from_image.uids, from_image.gids) == (ALL_IDS(1003), ALL_IDS(1004)), (
        f"without a security context the image's USER 1003:1004 applies; got Uid {from_image.fields['Uid']}, "
        f"Gid {from_image.fields['Gid']}")
    overridden, _ = statuses(runtime, start(resources, pod, image, run_as_user=user_id(1001),
                                            run_as_group=user_id(1002)))
    assert (overridden.uids, overridden.gids) == (ALL_IDS(1001), ALL_IDS(1002)), (
        f"run_as_user/run_as_group must win over the image's USER; got Uid {overridden.fields['Uid']}, "
        f"Gid {overridden.fields['Gid']}")


@pytest.mark.contract("SC.run_as_group_requires_user")
def test_run_as_group_without_a_user_is_refused(resources, pod, busybox):
    expect_create_refused(resources, pod, busybox, "run_as_group without run_as_user or run_as_username",
                          run_as_group=user_id(1002))


@pytest.mark.contract("SandboxSC.run_as_group_requires_user")
def test_sandbox_run_as_group_without_a_user_is_refused(resources):
    expect_rpc_failure(lambda: resources.run_pod(linux=sandbox_linux(run_as_group=user_id(1002))).id,
                       what="a sandbox run_as_group without run_as_user")


@pytest.mark.contract("SandboxSC.scope")
def test_sandbox_security_context_does_not_reach_containers(runtime, resources, busybox):
    pod = resources.run_pod(linux=sandbox_linux(run_as_user=user_id(65534), run_as_group=user_id(65534)))
    container = resources.start_container(pod, image=busybox, linux=container_linux())
    sandbox_process = inside.sandbox_process_status(runtime, container)
    own = inside.process_status(runtime, container)
    assert sandbox_process.uids == ALL_IDS(65534), (
        f"the sandbox process should run as 65534; its Uid is {sandbox_process.fields['Uid']}")
    assert own.uids == ALL_IDS(0), (
        f"the container has no user of its own and should run as root, got {own.fields['Uid']}")


@pytest.mark.contract("SandboxSC.readonly_rootfs", "SandboxSC.scope")
def test_sandbox_readonly_rootfs_applies_to_the_sandbox_only(runtime, resources, busybox):
    pod = resources.run_pod(linux=sandbox_linux(readonly_rootfs=True))
    container = resources.start_container(pod, image=busybox, linux=container_linux())
    inside.sandbox_process_status(runtime, container)
    # /proc/1/root is the sandbox process's root filesystem.
    result = inside.exec_sync(runtime, container, ["touch", f"/proc/1/root/{uuid.uuid4().hex}"])
    assert result.exit_code != 0 and "Read-only file system" in result.stderr, (
        f"the sandbox's root filesystem should be read-only: {result.describe()}")
    exec_stdout(runtime, container, ["touch", "/written"])  # the container's own root stays writable


@pytest.mark.contract("SC.supplemental_groups", "SC.sgp_merge", "ExecSync.security_context")
def test_supplemental_groups_merge_with_the_image_groups(runtime, resources, pod, busybox):
    # Image: user:x:1000:1000 and users:x:100:user. Merge (the default) keeps both.
    container = start(resources, pod, busybox, run_as_user=user_id(1000), supplemental_groups=[1234, 5678])
    entrypoint, _ = statuses(runtime, container)
    assert {1234, 5678} <= entrypoint.groups, f"supplemental groups missing: Groups {entrypoint.fields['Groups']}"
    groups = {int(g) for g in exec_stdout(runtime, container, ["id", "-G"]).split()}
    assert groups == {1000, 100, 1234, 5678}, (
        f"expected primary 1000, image group 100, 1234, 5678; got {sorted(groups)}")


@pytest.mark.contract("SC.sgp_strict", "SC.sgp_feature", "ContainerStatus.user")
def test_strict_supplemental_groups_policy_ignores_the_image_groups(runtime, resources, pod, busybox):
    require_runtime_feature(runtime, "supplemental_groups_policy", "SupplementalGroupsPolicy")
    container = start(resources, pod, busybox, run_as_user=user_id(1000), supplemental_groups=[1234],
                      supplemental_groups_policy=pb.Strict)
    statuses(runtime, container)
    groups = {int(g) for g in exec_stdout(runtime, container, ["id", "-G"]).split()}
    assert groups == {1000, 1234}, f"Strict: expected only 1000 and 1234, got {sorted(groups)}"
    user = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container)).status.user.linux
    assert (user.uid, user.gid, sorted(user.supplemental_groups)) == (1000, 1000, [1000, 1234]), (
        f"ContainerStatus.user: {user}")


@pytest.mark.contract("ContainerStatus.user", "SC.sgp_feature", "SC.sgp_merge")
def test_container_status_reports_the_merged_user(runtime, resources, pod, busybox):
    require_runtime_feature(runtime, "supplemental_groups_policy", "SupplementalGroupsPolicy")
    container = start(resources, pod, busybox, run_as_user=user_id(1000), supplemental_groups=[1234])
    user = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container)).status.user.linux
    assert (user.uid, user.gid, sorted(user.supplemental_groups)) == (1000, 1000, [100, 1000, 1234]), (
        f"ContainerStatus.user: {user}")


# --- privileged ---------------------------------------------------------------

def host_devices() -> set[str]:
    found = set()
    for name in os.listdir("/dev"):
        mode = os.lstat(f"/dev/{name}").st_mode
        if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and name not in DEFAULT_DEVICES:
            found.add(name)
    return found


def container_devices(runtime, container_id) -> set[str]:
    return set(exec_stdout(runtime, container_id, ["ls", "/dev"]).split())


def device_cgroup_allows_all(runtime, container_id) -> bool | None:
    """Whether the cgroup v1 device controller lets the container use every device (None: not visible)."""
    cgroup = inside.CgroupFiles.of(runtime, container_id)
    if cgroup.version != 1 or not cgroup.has("devices", "devices.list"):
        return None  # cgroup v2 enforces devices with an eBPF program, not readable from inside
    return "a *:* rwm" in cgroup.read("devices", "devices.list").splitlines()


@pytest.mark.contract("SC.privileged", "SandboxSC.privileged_required")
def test_privileged_container_has_every_capability_device_and_writable_sys(runtime, resources, privileged_pod,
                                                                           busybox):
    container = start(resources, privileged_pod, busybox, privileged=True)
    entrypoint, _ = statuses(runtime, container)
    sets = capability_sets(entrypoint)
    missing = host_bounding_set() - sets["CapEff"]
    assert not missing, f"privileged container lacks capabilities the host has: {sorted(missing)}"
    assert sets["CapEff"] == sets["CapPrm"] == sets["CapBnd"], f"capability sets differ: {sets}"
    assert entrypoint.seccomp == 0, f"privileged: expected no seccomp filter, got Seccomp {entrypoint.seccomp}"
    entries = inside.mounts(runtime, container)
    sys_mount = inside.mount_at(entries, "/sys")
    assert sys_mount is not None and not sys_mount.read_only, f"/sys should be read-write: {sys_mount}"
    proc_sys = inside.mount_at(entries, "/proc/sys")
    assert proc_sys is None or not proc_sys.read_only, f"/proc/sys should be writable: {proc_sys}"
    devices = host_devices()
    absent = devices - container_devices(runtime, container)
    assert not absent, f"host devices missing from a privileged container's /dev: {sorted(absent)}"
    assert device_cgroup_allows_all(runtime, container) in (True, None), "privileged: the device cgroup restricts"
    exec_stdout(runtime, container, ["brctl", "addbr", bridge_name()])  # needs NET_ADMIN


@pytest.mark.contract("SC.not_privileged", "SC.default_caps")
def test_unprivileged_container_is_confined(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox)
    entrypoint, _ = statuses(runtime, container)
    present = set(NOT_DEFAULT) & entrypoint.capabilities("CapBnd")
    assert not present, f"default capabilities should not include {sorted(present)}"
    sys_mount = inside.mount_at(inside.mounts(runtime, container), "/sys")
    assert sys_mount is not None and sys_mount.read_only, f"/sys should be read-only: {sys_mount}"
    leaked = host_devices() & container_devices(runtime, container)
    assert not leaked, f"host devices visible in an unprivileged container: {sorted(leaked)}"
    assert device_cgroup_allows_all(runtime, container) in (False, None), "unprivileged: every device is allowed"
    result = inside.exec_sync(runtime, container, ["brctl", "addbr", bridge_name()])
    assert result.exit_code != 0, f"brctl addbr should fail without NET_ADMIN: {result.describe()}"


# --- capabilities ---------------------------------------------------------------

@pytest.mark.contract("SC.caps_add", "SC.default_caps", "ExecSync.security_context")
def test_added_capability_is_effective_but_not_ambient(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, capabilities=pb.Capability(add_capabilities=["NET_ADMIN"]))
    entrypoint, _ = statuses(runtime, container)
    sets = capability_sets(entrypoint)
    for name in ("CapPrm", "CapEff", "CapBnd"):
        assert "NET_ADMIN" in sets[name], f"NET_ADMIN missing from {name}: {sorted(sets[name])}"
    assert "NET_ADMIN" not in sets["CapAmb"], f"NET_ADMIN must not be ambient: {sorted(sets['CapAmb'])}"
    exec_stdout(runtime, container, ["brctl", "addbr", bridge_name()])


@pytest.mark.contract("SC.caps_add")
def test_added_capability_is_inheritable(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, capabilities=pb.Capability(add_capabilities=["NET_ADMIN"]))
    entrypoint, _ = statuses(runtime, container)
    assert "NET_ADMIN" in entrypoint.capabilities("CapInh"), (
        f"NET_ADMIN missing from CapInh: {sorted(entrypoint.capabilities('CapInh'))}")


@pytest.mark.contract("SC.caps_drop")
def test_dropped_capability_is_gone_from_every_set(runtime, resources, pod, busybox):
    with_default = start(resources, pod, busybox)
    assert "NET_RAW" in inside.process_status(runtime, with_default, 1).capabilities("CapEff"), (
        "this check needs NET_RAW in the runtime's default set")
    exec_stdout(runtime, with_default, ["ping", "-c", "1", "-W", "2", "127.0.0.1"])
    container = start(resources, pod, busybox, capabilities=pb.Capability(drop_capabilities=["NET_RAW"]))
    entrypoint, _ = statuses(runtime, container)
    for name, names in capability_sets(entrypoint).items():
        assert "NET_RAW" not in names, f"dropped NET_RAW still in {name}"
    result = inside.exec_sync(runtime, container, ["ping", "-c", "1", "-W", "2", "127.0.0.1"])
    assert result.exit_code != 0 and "permission denied" in result.stderr.lower(), (
        f"ping without NET_RAW should fail with 'permission denied': {result.describe()}")


@pytest.mark.contract("SC.caps_all_keyword")
def test_adding_all_gives_every_capability(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, capabilities=pb.Capability(add_capabilities=["ALL"]))
    entrypoint, _ = statuses(runtime, container)
    missing = host_bounding_set() - entrypoint.capabilities("CapEff")
    assert not missing, f"add ALL: effective set lacks {sorted(missing)}"


@pytest.mark.contract("SC.caps_all_keyword")
def test_dropping_all_leaves_no_capability(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, capabilities=pb.Capability(drop_capabilities=["ALL"]))
    entrypoint, _ = statuses(runtime, container)
    for name in inside.CAPABILITY_SETS:
        assert entrypoint.mask(name) == 0, f"drop ALL: {name} is {entrypoint.fields[name]}, expected 0"


@pytest.mark.contract("SC.caps_ambient")
def test_ambient_capability_reaches_a_non_root_process(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, run_as_user=user_id(1000),
                      capabilities=pb.Capability(add_ambient_capabilities=["NET_BIND_SERVICE"]))
    entrypoint, _ = statuses(runtime, container)
    sets = capability_sets(entrypoint)
    for name in inside.CAPABILITY_SETS:
        assert "NET_BIND_SERVICE" in sets[name], f"ambient NET_BIND_SERVICE missing from {name}: {sorted(sets[name])}"


# --- filesystem -------------------------------------------------------------------

@pytest.mark.contract("SC.readonly_rootfs")
def test_readonly_rootfs_refuses_writes(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, readonly_rootfs=True)
    result = inside.exec_sync(runtime, container, ["touch", "/written"])
    assert result.exit_code != 0 and "Read-only file system" in result.stderr, (
        f"expected 'Read-only file system': {result.describe()}")


@pytest.mark.contract("SC.readonly_rootfs")
def test_writable_rootfs_accepts_writes(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, readonly_rootfs=False)
    exec_stdout(runtime, container, ["touch", "/written"])


@pytest.mark.contract("SC.masked_paths")
def test_masked_path_hides_its_content(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, masked_paths=["/etc/group"])
    assert inside.read_file(runtime, container, "/etc/group") == "", "masked /etc/group still shows content"
    assert "root:" in inside.read_file(runtime, container, "/etc/passwd"), "an unmasked neighbour lost its content"


@pytest.mark.contract("SC.readonly_paths")
def test_readonly_path_refuses_writes(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, readonly_paths=["/tmp"])
    result = inside.exec_sync(runtime, container, ["touch", "/tmp/written"])
    assert result.exit_code != 0 and "Read-only file system" in result.stderr, (
        f"expected 'Read-only file system' under /tmp: {result.describe()}")
    exec_stdout(runtime, container, ["touch", "/root/written"])  # the rest stays writable


# --- no_new_privs -----------------------------------------------------------------

@pytest.mark.contract("SC.no_new_privs", "ExecSync.security_context")
@pytest.mark.parametrize("no_new_privs", [True, False], ids=["true", "false"])
def test_no_new_privs_bit(runtime, resources, pod, busybox, no_new_privs):
    container = start(resources, pod, busybox, run_as_user=user_id(1000), no_new_privs=no_new_privs)
    entrypoint, _ = statuses(runtime, container)
    assert entrypoint.no_new_privs == int(no_new_privs), (
        f"no_new_privs={no_new_privs}: NoNewPrivs is {entrypoint.no_new_privs}")


@pytest.mark.contract("SC.no_new_privs")
@pytest.mark.parametrize("no_new_privs, euid", [(False, 0), (True, 1000)], ids=["false", "true"])
def test_no_new_privs_decides_whether_setuid_gains_root(runtime, resources, pod, images, no_new_privs, euid):
    image = suite_image(images, "nonewprivs", "a setuid-root helper and /usr/local/bin/effective-uid")
    container = start(resources, pod, image, run_as_user=user_id(1000), no_new_privs=no_new_privs)
    reported = exec_stdout(runtime, container, ["/usr/local/bin/effective-uid"]).strip()
    assert reported == f"Effective uid: {euid}", (
        f"no_new_privs={no_new_privs}: a setuid-root program run by uid 1000 should end with euid {euid}: {reported!r}")


# --- seccomp ------------------------------------------------------------------------

BLOCK_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


@pytest.fixture
def mkdir_blocking_profile(host_dir) -> str:
    """Absolute host path of a seccomp profile that makes mkdir fail with EPERM."""
    path = host_dir / "block-mkdir.json"
    path.write_text(json.dumps(BLOCK_MKDIR))
    return str(path)


def seccomp_mode(runtime, container_id) -> int:
    entrypoint, _ = statuses(runtime, container_id)
    return entrypoint.seccomp


def assert_mkdir_blocked(runtime, container_id):
    result = inside.exec_sync(runtime, container_id, ["mkdir", "/tmp/made"])
    assert result.exit_code != 0 and "Operation not permitted" in result.stderr, (
        f"the profile blocks mkdir: expected 'Operation not permitted': {result.describe()}")


@pytest.mark.contract("SC.seccomp_unset", "X.proto3_presence")
def test_unset_seccomp_means_unconfined(runtime, resources, pod, busybox):
    assert seccomp_mode(runtime, start(resources, pod, busybox)) == 0


@pytest.mark.contract("SC.seccomp_runtime_default", "X.proto3_presence")
def test_empty_seccomp_profile_means_runtime_default(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, seccomp=pb.SecurityProfile())
    assert seccomp_mode(runtime, container) == 2, "SecurityProfile{} (RuntimeDefault) should install a filter"


@pytest.mark.contract("SC.seccomp_unconfined")
def test_unconfined_seccomp_installs_no_filter(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox, seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined))
    assert seccomp_mode(runtime, container) == 0
    exec_stdout(runtime, container, ["mkdir", "/tmp/made"])


@pytest.mark.contract("SC.seccomp_localhost", "SC.caps_add")
def test_localhost_seccomp_profile_blocks_even_with_sys_admin(runtime, resources, pod, busybox,
                                                              mkdir_blocking_profile):
    container = start(resources, pod, busybox,
                      capabilities=pb.Capability(add_capabilities=["SYS_ADMIN"]),
                      seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost,
                                                 localhost_ref=mkdir_blocking_profile))
    assert seccomp_mode(runtime, container) == 2
    assert_mkdir_blocked(runtime, container)


@pytest.mark.contract("SC.seccomp_deprecated_path")
@pytest.mark.parametrize("path, expected", [("runtime/default", 2), ("unconfined", 0)])
def test_deprecated_seccomp_profile_path(runtime, resources, pod, busybox, path, expected):
    container = start(resources, pod, busybox, seccomp_profile_path=path)
    assert seccomp_mode(runtime, container) == expected, f"seccomp_profile_path={path!r}"


@pytest.mark.contract("SC.seccomp_deprecated_path")
def test_deprecated_seccomp_localhost_path(runtime, resources, pod, busybox, mkdir_blocking_profile):
    container = start(resources, pod, busybox, seccomp_profile_path=f"localhost/{mkdir_blocking_profile}")
    assert seccomp_mode(runtime, container) == 2
    assert_mkdir_blocked(runtime, container)


@pytest.mark.contract("SC.privileged", "SC.privileged_overrides")
def test_privileged_container_ignores_a_seccomp_profile(runtime, resources, privileged_pod, busybox,
                                                        mkdir_blocking_profile):
    container = start(resources, privileged_pod, busybox, privileged=True,
                      seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost,
                                                 localhost_ref=mkdir_blocking_profile))
    assert seccomp_mode(runtime, container) == 0, "privileged: the seccomp profile should have no effect"
    exec_stdout(runtime, container, ["mkdir", "/tmp/made"])


@pytest.mark.contract("SandboxSC.seccomp_apparmor", "SandboxSC.seccomp_profile_path_deprecated")
@pytest.mark.parametrize("security, expected", [
    ({"seccomp": pb.SecurityProfile()}, 2),
    ({"seccomp": pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined)}, 0),
    ({"seccomp_profile_path": "runtime/default"}, 2),
    ({}, 0),
], ids=["runtime-default", "unconfined", "deprecated-runtime-default", "unset"])
def test_sandbox_seccomp_applies_to_the_sandbox_process(runtime, resources, busybox, security, expected):
    pod = resources.run_pod(linux=sandbox_linux(**security))
    container = resources.start_container(pod, image=busybox, linux=container_linux())
    sandbox_process = inside.sandbox_process_status(runtime, container)
    assert sandbox_process.seccomp == expected, (
        f"sandbox {security}: expected Seccomp {expected} for the sandbox process, got {sandbox_process.seccomp}")

