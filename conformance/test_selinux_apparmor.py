"""AppArmor and SELinux options: run only where the host has the module, skip with the reason elsewhere.

The label or profile a process runs under is read from
/proc/self/attr/current inside the container. AppArmor test profiles are
loaded with apparmor_parser for the module and unloaded afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import exec_stdout, expect_rpc_failure
from cri_conformance.fixtures.linux import container_linux, sandbox_linux
from cri_conformance.proto import runtime_v1_pb2 as pb

APPARMOR_ENABLED = Path("/sys/module/apparmor/parameters/enabled")
SELINUX_ENFORCE = Path("/sys/fs/selinux/enforce")


def apparmor_missing() -> str:
    """Why AppArmor tests cannot run here, or '' when they can."""
    try:
        if not APPARMOR_ENABLED.read_text().startswith("Y"):
            return "needs AppArmor (the host's AppArmor module is disabled)"
    except OSError:
        return "needs AppArmor (the host kernel has no AppArmor module)"
    if not shutil.which("apparmor_parser"):
        return "needs apparmor_parser on the host to load the test profiles"
    return ""


def selinux_missing() -> str:
    try:
        if SELINUX_ENFORCE.read_text().strip() != "1":
            return "needs SELinux in enforcing mode (it is permissive here)"
    except OSError:
        return "needs SELinux (not enabled on this host)"
    return ""


def current_label(runtime, container_id) -> str:
    return inside.read_file(runtime, container_id, "/proc/self/attr/current").strip("\x00\n ")


def write_denied(runtime, container_id) -> bool:
    return inside.exec_sync(runtime, container_id, ["touch", f"/tmp/{uuid.uuid4().hex}"]).exit_code != 0


# --- AppArmor ---------------------------------------------------------------------

PROFILE = """\
profile {name} flags=(attach_disconnected,mediate_deleted) {{
  file,
  network,
  capability,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  {rule} /** w,
}}
"""


@pytest.fixture(scope="module")
def apparmor_profiles(cri_settings):
    """Two loaded profiles: one denying every file write, one only auditing writes."""
    reason = apparmor_missing()
    if reason:
        pytest.skip(reason)
    base = Path(cri_settings.work_dir) / cri_settings.run_id / f"apparmor-{uuid.uuid4().hex[:8]}"
    base.mkdir(parents=True)
    # Unique per fixture instance: each xdist worker loads and unloads its own.
    suffix = uuid.uuid4().hex[:12]
    names = {kind: f"cri-conformance-{kind}-{suffix}" for kind in ("deny-write", "audit-write")}
    files = []
    try:
        for kind, name in names.items():
            path = base / f"{name}.profile"
            path.write_text(PROFILE.format(name=name, rule="deny" if kind == "deny-write" else "audit"))
            loaded = subprocess.run(["apparmor_parser", "-r", str(path)], capture_output=True, text=True)
            assert loaded.returncode == 0 and not loaded.stderr.strip(), f"loading {path} failed: {loaded.stderr}"
            files.append(path)
        yield names
    finally:
        for path in files:
            subprocess.run(["apparmor_parser", "-R", str(path)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


def localhost(profile: str) -> pb.SecurityProfile:
    return pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref=profile)


def start(resources, pod, image, **security) -> str:
    return resources.start_container(pod, image=image, linux=container_linux(**security))


@pytest.mark.contract("SC.apparmor_localhost")
def test_apparmor_localhost_profile_denies_writes(apparmor_profiles, runtime, resources, pod, busybox):
    profile = apparmor_profiles["deny-write"]
    container = start(resources, pod, busybox, apparmor=localhost(profile))
    assert current_label(runtime, container).startswith(profile), current_label(runtime, container)
    assert write_denied(runtime, container), f"profile {profile} should deny the write"


@pytest.mark.contract("SC.apparmor_localhost")
def test_apparmor_localhost_audit_profile_allows_writes(apparmor_profiles, runtime, resources, pod, busybox):
    profile = apparmor_profiles["audit-write"]
    container = start(resources, pod, busybox, apparmor=localhost(profile))
    assert current_label(runtime, container).startswith(profile), current_label(runtime, container)
    assert not write_denied(runtime, container), f"profile {profile} only audits writes"


@pytest.mark.contract("SC.apparmor_localhost", "SC.apparmor_deprecated_field")
@pytest.mark.parametrize("field", ["apparmor", "apparmor_profile"])
def test_apparmor_profile_not_loaded_is_refused(apparmor_profiles, resources, pod, busybox, field):
    missing = f"cri-conformance-not-loaded-{uuid.uuid4().hex[:8]}"
    security = {"apparmor": localhost(missing)} if field == "apparmor" else {"apparmor_profile": f"localhost/{missing}"}
    expect_rpc_failure(lambda: start(resources, pod, busybox, **security),
                       what=f"a container under the AppArmor profile {missing}, which is not loaded")


@pytest.mark.contract("SC.apparmor_deprecated_field")
def test_deprecated_apparmor_field_applies_the_profile(apparmor_profiles, runtime, resources, pod, busybox):
    profile = apparmor_profiles["deny-write"]
    container = start(resources, pod, busybox, apparmor_profile=f"localhost/{profile}")
    assert current_label(runtime, container).startswith(profile), current_label(runtime, container)
    assert write_denied(runtime, container)


@pytest.mark.contract("SC.apparmor_new_field_wins")
def test_structured_apparmor_field_wins_over_the_deprecated_one(apparmor_profiles, runtime, resources, pod, busybox):
    profile = apparmor_profiles["deny-write"]
    container = start(resources, pod, busybox, apparmor=localhost(profile),
                      apparmor_profile=f"localhost/cri-conformance-not-loaded-{uuid.uuid4().hex[:8]}")
    assert current_label(runtime, container).startswith(profile), current_label(runtime, container)
    assert write_denied(runtime, container)


@pytest.mark.contract("SC.apparmor_runtime_default")
@pytest.mark.parametrize("security, confined", [
    ({}, True),
    ({"apparmor": pb.SecurityProfile()}, True),
    ({"apparmor": pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined)}, False),
    ({"apparmor_profile": "unconfined"}, False),
], ids=["unset", "runtime-default", "unconfined", "deprecated-unconfined"])
def test_apparmor_default_and_unconfined(apparmor_profiles, runtime, resources, pod, busybox, security, confined):
    label = current_label(runtime, start(resources, pod, busybox, **security))
    assert (label != "unconfined") == confined, f"{security or 'unset'}: AppArmor label {label!r}"


@pytest.mark.contract("SC.privileged")
def test_privileged_container_runs_without_apparmor(apparmor_profiles, runtime, resources, busybox):
    pod = resources.run_pod(linux=sandbox_linux(privileged=True))
    container = start(resources, pod, busybox, privileged=True)
    assert current_label(runtime, container) == "unconfined"


# --- SELinux ---------------------------------------------------------------------------

# type container_t (spc_t when privileged), level s0 and two MCS categories
CONTAINER_LABEL = re.compile(r"^system_u:system_r:container_t:s0:c\d+,c\d+$")
MOUNT_CONTEXT = re.compile(r'context="?system_u:object_r:container_file_t:s0:c\d+,c\d+"?')


@pytest.fixture(scope="module")
def selinux():
    reason = selinux_missing()
    if reason:
        pytest.skip(reason)


@pytest.mark.contract("SC.selinux_defaults")
@pytest.mark.usefixtures("selinux")
def test_default_process_and_mount_labels(runtime, resources, pod, busybox):
    container = start(resources, pod, busybox)
    label = current_label(runtime, container)
    assert CONTAINER_LABEL.match(label), f"process label {label!r}: expected container_t with two categories"
    mountinfo = inside.read_file(runtime, container, "/proc/self/mountinfo")
    assert MOUNT_CONTEXT.search(mountinfo), f"no container_file_t mount context with categories in {mountinfo!r}"


@pytest.mark.contract("SC.selinux_defaults", "SC.privileged")
@pytest.mark.usefixtures("selinux")
def test_privileged_container_runs_as_spc_t(runtime, resources, busybox):
    pod = resources.run_pod(linux=sandbox_linux(privileged=True))
    label = current_label(runtime, start(resources, pod, busybox, privileged=True))
    assert ":spc_t:" in label, f"privileged: expected type spc_t, got {label!r}"


@pytest.mark.contract("SC.selinux_defaults")
@pytest.mark.usefixtures("selinux")
def test_containers_share_the_pod_label_and_pods_differ(runtime, resources, busybox):
    first_pod, second_pod = resources.run_pod(), resources.run_pod()
    a, b = (current_label(runtime, start(resources, first_pod, busybox)) for _ in range(2))
    other = current_label(runtime, start(resources, second_pod, busybox))
    assert a == b, f"containers of one pod: {a!r} vs {b!r}"
    assert a.split(":", 3)[3] != other.split(":", 3)[3], f"two pods got the same categories: {a!r}, {other!r}"


@pytest.mark.contract("SC.selinux_options")
@pytest.mark.parametrize("option, expected", [
    (pb.SELinuxOption(level="s0:c4,c5"), ":s0:c4,c5"),
    (pb.SELinuxOption(user="system_u", role="system_r", type="container_t", level="s0:c4,c5"),
     "system_u:system_r:container_t:s0:c4,c5"),
], ids=["level", "full"])
@pytest.mark.usefixtures("selinux")
def test_selinux_options_set_the_process_label(runtime, resources, pod, busybox, option, expected):
    container = start(resources, pod, busybox, selinux_options=option)
    label = current_label(runtime, container)
    assert label.endswith(expected), f"selinux_options {option}: process label {label!r}"
    exec_stdout(runtime, container, ["touch", "/written"])


@pytest.mark.contract("SC.selinux_options")
@pytest.mark.usefixtures("selinux")
def test_invalid_selinux_level_is_refused(resources, pod, busybox):
    invalid = pb.SELinuxOption(level="s0,c4,c5")
    expect_rpc_failure(lambda: start(resources, pod, busybox, selinux_options=invalid),
                       what="a container with the invalid SELinux level 's0,c4,c5'")


@pytest.mark.contract("Mount.selinux_relabel")
@pytest.mark.usefixtures("selinux")
def test_relabelled_mount_is_usable_and_labelled(runtime, resources, pod, busybox, host_dir):
    (host_dir / "file").write_text("relabel me")
    container = resources.start_container(
        pod, image=busybox, linux=container_linux(),
        mounts=[pb.Mount(container_path="/mnt/data", host_path=str(host_dir), selinux_relabel=True)])
    assert inside.read_file(runtime, container, "/mnt/data/file") == "relabel me"
    exec_stdout(runtime, container, ["touch", "/mnt/data/written"])
    label = os.getxattr(host_dir / "file", "security.selinux").decode().strip("\x00")
    assert ":container_file_t:" in label, f"host file label after relabel: {label!r}"
