"""The fuzz safety rules: what the CRI strategies draw never reaches outside the run.

Every drawn request must pass the same checks `send` applies before a
request goes out; the checks themselves must refuse what touches the host.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cri_conformance.fixtures.fuzz.cri_strategies import (
    container_config_overrides,
    container_configs,
    pod_configs,
    pod_identity_names,
)
from cri_conformance.fixtures.fuzz.safety import (
    capability_allowed,
    container_config_problems,
    log_name_safe,
    pod_config_problems,
    pull_reference_problems,
    reference_host,
    under,
)
from cri_conformance.fixtures.fuzz.target_images import PullImageTarget
from cri_conformance.proto import runtime_v1_pb2 as pb

ROOT = "/var/tmp/cri-conformance/runs/run1/fuzz"
HOSTS = frozenset({"cri-conformance.test", "127.0.0.1:5999"})
IMAGES = ["cri-conformance.test/busybox:1.0", "sha256:" + "a" * 64, "cri-conformance.test/absent:1.0"]
DRAWS = settings(max_examples=150, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@DRAWS
@given(pod_configs(ROOT))
def test_drawn_sandbox_configs_are_safe(config):
    config.log_directory = f"{ROOT}/pods/x"  # what bind() does
    assert pod_config_problems(config, ROOT) == []


@DRAWS
@given(container_configs(ROOT, IMAGES))
def test_drawn_container_configs_are_safe(config):
    assert container_config_problems(config, ROOT, HOSTS) == []


@DRAWS
@given(st.data())
def test_drawn_pull_references_only_name_allowed_hosts(data):
    target = PullImageTarget()
    target.hosts, target.paths, target.tags = HOSTS, ["busybox"], ["1.0"]
    target.digests, target.protected = ["sha256:" + "b" * 64], frozenset({"remove", "pull"})
    reference = data.draw(target.references())
    assert pull_reference_problems(reference, HOSTS) == [], reference
    assert not target.touches_protected(reference), reference


@DRAWS
@given(pod_identity_names())
def test_pod_identity_names_avoid_what_breaks_cni_args(name):
    assert not set(name) & {"\x00", ";", "="}


def test_container_overrides_pin_host_side_fields():
    overrides = container_config_overrides(ROOT, IMAGES)
    for field in ("runtime.v1.ContainerConfig.devices", "runtime.v1.ContainerConfig.CDI_devices",
                  "runtime.v1.LinuxContainerSecurityContext.privileged", "runtime.v1.LinuxContainerResources.unified",
                  "runtime.v1.PodSandboxConfig.log_directory", "runtime.v1.LinuxPodSandboxConfig.cgroup_parent"):
        assert field in overrides, field


# --- the checks refuse what touches the host -------------------------------------------------

def unsafe_pods():
    yield "log dir", pb.PodSandboxConfig(log_directory="/etc")
    yield "host port", pb.PodSandboxConfig(port_mappings=[pb.PortMapping(container_port=80, host_port=8080)])
    yield "cgroup parent", pb.PodSandboxConfig(linux=pb.LinuxPodSandboxConfig(cgroup_parent="/system.slice"))
    context = pb.LinuxSandboxSecurityContext(namespace_options=pb.NamespaceOption(network=pb.NODE))
    yield "host network", pb.PodSandboxConfig(linux=pb.LinuxPodSandboxConfig(security_context=context))
    context = pb.LinuxSandboxSecurityContext(privileged=True)
    yield "privileged", pb.PodSandboxConfig(linux=pb.LinuxPodSandboxConfig(security_context=context))
    context = pb.LinuxSandboxSecurityContext(seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost,
                                                                        localhost_ref="dev/zero"))
    yield "relative seccomp file", pb.PodSandboxConfig(linux=pb.LinuxPodSandboxConfig(security_context=context))
    context = pb.LinuxSandboxSecurityContext(seccomp_profile_path="localhost//etc/shadow")
    yield "legacy seccomp file", pb.PodSandboxConfig(linux=pb.LinuxPodSandboxConfig(security_context=context))


@pytest.mark.parametrize("config", [c for _, c in unsafe_pods()], ids=[n for n, _ in unsafe_pods()])
def test_unsafe_sandbox_configs_are_refused(config):
    assert pod_config_problems(config, ROOT)


def unsafe_containers():
    yield "host mount", pb.ContainerConfig(mounts=[pb.Mount(host_path="/", container_path="/host")])
    yield "escaping mount", pb.ContainerConfig(mounts=[pb.Mount(host_path=f"{ROOT}/../../etc", container_path="/x")])
    yield "device", pb.ContainerConfig(devices=[pb.Device(host_path="/dev/sda", container_path="/dev/sda")])
    yield "log path", pb.ContainerConfig(log_path="../../etc/passwd")
    yield "image from elsewhere", pb.ContainerConfig(image=pb.ImageSpec(image="busybox"))
    capabilities = pb.Capability(add_capabilities=["cap_sys_admin"])
    context = pb.LinuxContainerSecurityContext(capabilities=capabilities)
    yield "SYS_ADMIN", pb.ContainerConfig(linux=pb.LinuxContainerConfig(security_context=context))
    context = pb.LinuxContainerSecurityContext(namespace_options=pb.NamespaceOption(pid=pb.NODE))
    yield "host pid", pb.ContainerConfig(linux=pb.LinuxContainerConfig(security_context=context))
    resources = pb.LinuxContainerResources(unified={"../cgroup.procs": "1"})
    yield "unified", pb.ContainerConfig(linux=pb.LinuxContainerConfig(resources=resources))


@pytest.mark.parametrize("config", [c for _, c in unsafe_containers()], ids=[n for n, _ in unsafe_containers()])
def test_unsafe_container_configs_are_refused(config):
    assert container_config_problems(config, ROOT, HOSTS)


@pytest.mark.parametrize("reference, host", [
    ("busybox", None), ("library/busybox:1", None), ("cri-conformance.test/busybox:1.0", "cri-conformance.test"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000"), ("localhost/x", "localhost"), ("example.com/a/b@sha256:00", "example.com"),
    ("", None), ("cri-conformance.test", None), ("Upper/x", "Upper"),
])
def test_reference_host_is_parsed_like_container_tooling(reference, host):
    assert reference_host(reference) == host


@pytest.mark.parametrize("name, allowed", [("CHOWN", True), ("cap_chown", True), ("SYS_ADMIN", False),
                                           ("CAP_SYS_ADMIN", False), ("all", False), (" ALL ", False),
                                           ("not-a-capability", True)])
def test_capabilities(name, allowed):
    assert capability_allowed(name) is allowed


def test_paths_and_log_names():
    assert under(f"{ROOT}/a/b", ROOT) and under(ROOT, ROOT)
    assert not under(f"{ROOT}/../x", ROOT) and not under("relative", ROOT) and not under(ROOT + "x", ROOT)
    assert log_name_safe("c.log") and log_name_safe("")
    assert not log_name_safe("..") and not log_name_safe("a/b") and not log_name_safe("a\x00")
