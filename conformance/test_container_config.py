"""What a container gets from its config: command and args against the image's
ENTRYPOINT/CMD, environment, working directory, devices, stdio flags, and
from its sandbox: hostname and DNS configuration.

The suite's busybox image has no ENTRYPOINT, `Cmd ["sh"]` and a PATH in Env.
ExecSync is used only as a tool to look inside a running container.
"""

from __future__ import annotations

import socket

import pytest

from cri_conformance.fixtures.cri_helpers import (
    exec_stdout,
    run_to_completion,
    state_name,
    wait_container_state,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("container_config")

DNS = pb.DNSConfig(servers=["10.10.10.10", "192.0.2.53"], searches=["example.test", "conformance.test"],
                   options=["ndots:8", "timeout:2"])
ENVS = {
    "CONFORMANCE_PLAIN": "value",
    "CONFORMANCE_SPACES": "a b  c",
    "CONFORMANCE_EQUALS": "k=v=w",
    "CONFORMANCE_EMPTY": "",
    "CONFORMANCE_UNICODE": "grüße ✓",
}
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORKING_DIR = "/home/user"
DEVICE = pb.Device(host_path="/dev/null", container_path="/dev/conformance-null", permissions="rwm")


# Each container in its own PID namespace, as the kubelet asks: its process is PID 1.
OWN_PID = pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
OWN_PID_CONTAINER = pb.LinuxContainerConfig(
    security_context=pb.LinuxContainerSecurityContext(namespace_options=OWN_PID))


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod(dns_config=DNS, linux=pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=OWN_PID)))


@pytest.fixture(scope="module")
def inspected(module_resources, pod, busybox, runtime) -> str:
    """A running container with envs, working_dir and a device, to look into."""
    container_id = module_resources.start_container(
        pod, image=busybox, working_dir=WORKING_DIR, devices=[DEVICE], linux=OWN_PID_CONTAINER,
        envs=[pb.KeyValue(key=k, value=v.encode()) for k, v in ENVS.items()],
    )
    wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    return container_id


COMMAND_CASES = {  # name: (command, args, the one stdout line expected)
    "args-only": ([], ["echo", "args", "replace", "cmd"], "args replace cmd"),
    "command-only": (["echo", "command-only"], [], "command-only"),  # the image's Cmd must not be appended
    "command-and-args": (["echo", "command"], ["and", "args"], "command and args"),
}
STDIO_SCRIPT = ("if [ -p /dev/stdin ]; then echo stdin-is-a-pipe; else echo stdin-is-not-a-pipe; fi; "
                "[ -t 1 ] && echo stdout-is-a-tty; echo to-stderr >&2")


@pytest.fixture(scope="module")
def finished(module_resources, pod, busybox):
    """Every short-lived container of this module, run together to the end."""
    configs = {name: module_resources.container_config(busybox, command=command, args=args)
               for name, (command, args, _) in COMMAND_CASES.items()}
    for name, flags in (("stdin", dict(stdin=True)), ("no-stdin", dict(stdin=False)), ("tty", dict(tty=True))):
        configs[name] = module_resources.container_config(busybox, command=["sh", "-c", STDIO_SCRIPT], **flags)
    return run_to_completion(module_resources, pod, configs)


# --- command and args ------------------------------------------------------------------

@pytest.mark.contract("CreateContainer.command_args")
@pytest.mark.parametrize("case", COMMAND_CASES)
def test_command_and_args_replace_the_image_defaults(finished, case):
    command, args, expected = COMMAND_CASES[case]
    run = finished[case]
    assert run.status.exit_code == 0, f"exit_code {run.status.exit_code}; output {run.lines}"
    assert run.lines == [("stdout", expected)], (
        f"command {command} args {args}: output {run.lines}, expected {expected!r}"
    )


@pytest.mark.contract("CreateContainer.command_args")
def test_without_command_and_args_the_image_cmd_runs(runtime, resources, pod, busybox):
    # Cmd is `sh`: with stdin open it waits for input, so it can be looked at.
    container_id = resources.start_container(pod, image=busybox, command=[], args=[], stdin=True,
                                             linux=OWN_PID_CONTAINER)
    status = wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    cmdline = exec_stdout(runtime, container_id, ["cat", "/proc/1/cmdline"])
    assert cmdline.split("\0")[:1] == ["sh"], (
        f"PID 1 runs {cmdline!r}; the image Cmd is ['sh'] ({state_name(status.state)})"
    )


@pytest.mark.contract("CreateContainer.user_specified_image")
def test_user_specified_image_is_only_informational(runtime, resources, pod, busybox):
    # The name the user typed is for display: the runtime must run `image`, not resolve this.
    config = resources.container_config(busybox)
    config.image.user_specified_image = "typed-by-user.invalid/not-pulled:never"
    container_id = resources.start_container(pod, config)
    status = wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    assert status.image.image == busybox, f"image.image {status.image.image!r}, created with {busybox!r}"


# --- environment, working directory, devices -----------------------------------------------------------

@pytest.mark.contract("CreateContainer.envs")
def test_envs_reach_the_process_exactly(runtime, inspected):
    environ = exec_stdout(runtime, inspected, ["cat", "/proc/1/environ"])
    found = dict(entry.split("=", 1) for entry in environ.split("\0") if "=" in entry)
    got = {key: found.get(key) for key in ENVS}
    assert got == ENVS, f"environment of PID 1: {got}, expected {ENVS}"
    assert found.get("PATH") == IMAGE_PATH, f"the image's PATH is {IMAGE_PATH!r}; the process has {found.get('PATH')!r}"


@pytest.mark.contract("CreateContainer.working_dir")
def test_working_dir_is_the_process_cwd(runtime, inspected):
    cwd = exec_stdout(runtime, inspected, ["readlink", "/proc/1/cwd"]).strip()
    assert cwd == WORKING_DIR, f"PID 1 runs in {cwd!r}, working_dir is {WORKING_DIR!r}"


@pytest.mark.contract("CreateContainer.devices")
def test_device_is_mapped_into_the_container(runtime, inspected):
    path = DEVICE.container_path
    kind = exec_stdout(runtime, inspected, ["sh", "-c", f"[ -c {path} ] && echo char; echo x > {path} && echo written"])
    assert kind.split() == ["char", "written"], f"{path} (host /dev/null, rwm): {kind!r}"


# --- stdio flags ----------------------------------------------------------------------------------

@pytest.mark.contract("CreateContainer.stdio_flags", "Log.tty")
def test_tty_container_writes_to_a_terminal_logged_as_stdout(finished):
    lines = finished["tty"].lines
    cleaned = [(stream, line.rstrip("\r")) for stream, line in lines]
    assert ("stdout", "stdout-is-a-tty") in cleaned, f"with tty=true stdout is not a terminal: {lines}"
    assert ("stdout", "to-stderr") in cleaned and all(s == "stdout" for s, _ in lines), (
        f"with a tty every record is stdout: {lines}"
    )


@pytest.mark.contract("CreateContainer.stdio_flags")
@pytest.mark.parametrize("case, expected", [("stdin", "stdin-is-a-pipe"), ("no-stdin", "stdin-is-not-a-pipe")])
def test_stdin_flag_opens_stdin(finished, case, expected):
    lines = finished[case].lines
    assert sorted(lines) == [("stderr", "to-stderr"), ("stdout", expected)], f"{case}, no tty: output {lines}"


# --- from the sandbox: hostname and DNS --------------------------------------------------------------

@pytest.mark.contract("RunPodSandbox.hostname_applied")
def test_container_sees_the_sandbox_hostname(runtime, pod, inspected):
    hostname = exec_stdout(runtime, inspected, ["hostname"]).strip()
    assert hostname == pod.config.hostname, f"hostname {hostname!r}, the sandbox config has {pod.config.hostname!r}"


@pytest.mark.contract("RunPodSandbox.dns_config_applied")
def test_dns_config_is_written_to_resolv_conf(runtime, inspected):
    lines = [line.split() for line in exec_stdout(runtime, inspected, ["cat", "/etc/resolv.conf"]).splitlines()]
    servers = [words[1] for words in lines if words[:1] == ["nameserver"] and len(words) > 1]
    searches = [word for words in lines if words[:1] == ["search"] for word in words[1:]]
    options = [word for words in lines if words[:1] == ["options"] for word in words[1:]]
    assert (servers, searches, options) == (list(DNS.servers), list(DNS.searches), list(DNS.options)), (
        f"/etc/resolv.conf has nameservers {servers}, search {searches}, options {options}; "
        f"expected {list(DNS.servers)}, {list(DNS.searches)}, {list(DNS.options)}"
    )


@pytest.mark.contract("RunPodSandbox.hostname_empty_only_hostnet")
def test_host_network_sandbox_without_hostname_uses_the_node_name(runtime, resources, busybox):
    host_network = pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
        namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)))
    pod = resources.run_pod(hostname="", linux=host_network)
    container_id = resources.start_container(pod, image=busybox)
    wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    seen = exec_stdout(runtime, container_id, ["hostname"]).strip()
    node = socket.gethostname()
    assert seen == node, f"hostname {seen!r} in a host-network pod given none; the node's is {node!r}"
