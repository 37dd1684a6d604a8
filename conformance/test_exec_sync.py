"""ExecSync: run a command in a running container and return its output and exit code.

The most used RPC of all (exec probes). A non-zero exit is a successful RPC
with `exit_code` set; a timeout ends the call in time and kills only the
exec'd process; output comes back byte for byte, each stream capped at 16 MiB.
"""

from __future__ import annotations

import secrets
import time

import grpc
import pytest

from cri_conformance.fixtures.client import CHANNEL_OPTIONS, DeadlineStub
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.proto import runtime_v1_pb2 as pb
from cri_conformance.proto import runtime_v1_pb2_grpc as pb_grpc
from cri_conformance.fixtures.cri_helpers import container_status, expect_rpc_error, wait_container_state

pytestmark = pytest.mark.timeout(60)

RPC_DEADLINE = 20.0  # gRPC deadline of an ExecSync that should be quick
EXEC_TIMEOUT = 1  # seconds: ExecSync.timeout in the timeout tests
TIMEOUT_SLACK = 8.0  # seconds a runtime may take beyond the timeout on a busy 2-core node
OUTPUT_CAP = 16 * 1024 * 1024
OUTPUT_CAP_DECIMAL = 16_000_000  # "16 MB": the smallest cap the contract allows


def exec_sync(runtime, container_id: str, cmd: list[str], *, timeout: int = 0,
              deadline: float = RPC_DEADLINE) -> pb.ExecSyncResponse:
    return runtime.ExecSync(pb.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout),
                            timeout=deadline)


def seq_output(first: int, last: int) -> bytes:
    """What `seq first last` prints."""
    return "".join(f"{n}\n" for n in range(first, last + 1)).encode()


def command_lines(runtime, container_id: str) -> list[str]:
    """The command lines of the processes in the container (busybox ps)."""
    response = exec_sync(runtime, container_id, ["ps", "-o", "args"])
    assert response.exit_code == 0, f"ps failed ({response.exit_code}): {response.stderr!r}"
    return [line.strip() for line in response.stdout.decode().splitlines()[1:]]


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


@pytest.fixture(scope="module")
def container(module_resources, pod, busybox) -> str:
    """A running container the read-only tests exec into."""
    return module_resources.start_container(pod, image=busybox)


@pytest.fixture(scope="module")
def large_message_runtime(runtime_under_test):
    """A RuntimeService stub that accepts responses far above 16 MiB.

    The suite's client stops at 16 MiB like the kubelet; the cap test must
    see what the runtime sends, not where our client gives up.
    """
    options = [o for o in CHANNEL_OPTIONS if o[0] != "grpc.max_receive_message_length"]
    options.append(("grpc.max_receive_message_length", 4 * OUTPUT_CAP))
    channel = grpc.insecure_channel(runtime_under_test.endpoint.grpc_target, options=options)
    yield DeadlineStub(pb_grpc.RuntimeServiceStub(channel), 60.0)
    channel.close()


# --- output and exit code ------------------------------------------------------

@pytest.mark.contract("ExecSync.runs")
def test_echo_output_is_exact(runtime, container):
    response = exec_sync(runtime, container, ["echo", "-n", "hello"])
    assert (response.stdout, response.stderr, response.exit_code) == (b"hello", b"", 0), response


@pytest.mark.contract("ExecSync.runs")
def test_stdout_and_stderr_are_captured_separately(runtime, container):
    response = exec_sync(runtime, container, ["sh", "-c", "printf 'to stdout\\n'; printf 'to stderr' >&2; printf more"])
    assert response.stdout == b"to stdout\nmore", f"stdout: {response.stdout!r}"
    assert response.stderr == b"to stderr", f"stderr: {response.stderr!r}"
    assert response.exit_code == 0


@pytest.mark.contract("ExecSync.runs")
def test_output_bytes_are_not_altered(runtime, container):
    # NUL, 0xff (not UTF-8) and CR LF must arrive as they were written.
    response = exec_sync(runtime, container, ["sh", "-c", "printf '\\000\\001\\377\\r\\n'; printf '\\376\\000' >&2"])
    assert response.stdout == b"\x00\x01\xff\r\n", f"stdout: {response.stdout!r}"
    assert response.stderr == b"\xfe\x00", f"stderr: {response.stderr!r}"


@pytest.mark.contract("ExecSync.nonzero_not_grpc_error")
@pytest.mark.parametrize("code", [1, 42, 255])
def test_nonzero_exit_is_a_successful_rpc(runtime, container, code):
    # A failing probe command is a result, not an RPC error; its output is kept.
    response = exec_sync(runtime, container, ["sh", "-c", f"printf partial; printf oops >&2; exit {code}"])
    assert response.exit_code == code, f"expected exit_code {code}, got {response.exit_code}"
    assert (response.stdout, response.stderr) == (b"partial", b"oops")


@pytest.mark.contract("ExecSync.runs")
def test_large_output_arrives_complete(runtime, container):
    # About 6.9 MB on stdout and 0.6 MB on stderr at once, well under the cap.
    response = exec_sync(runtime, container, ["sh", "-c", "seq 1 1000000; seq 1 100000 >&2"])
    expected_out, expected_err = seq_output(1, 1000000), seq_output(1, 100000)
    assert len(response.stdout) == len(expected_out), f"stdout: {len(response.stdout)} bytes, expected {len(expected_out)}"
    assert response.stdout == expected_out, "stdout has the right length but different content"
    assert response.stderr == expected_err, f"stderr: {len(response.stderr)} bytes, expected {len(expected_err)}"
    assert response.exit_code == 0


@pytest.mark.contract("ExecSync.output_cap")
def test_output_beyond_16_mib_is_capped(large_message_runtime, container):
    # 17 MiB of zeros: the runtime keeps (at most) the first 16 MiB and the call succeeds.
    size = OUTPUT_CAP + 1024 * 1024
    try:
        response = exec_sync(large_message_runtime, container, ["head", "-c", str(size), "/dev/zero"], deadline=60)
    except grpc.RpcError as err:  # an AssertionError, so a known failure can match it
        raise AssertionError(f"expected a successful ExecSync with stdout capped at 16 MiB, got {err.code().name}: "
                             f"{err.details()}") from None
    assert response.exit_code == 0, f"exit_code {response.exit_code}: the command must carry on, not fail"
    assert OUTPUT_CAP_DECIMAL <= len(response.stdout) <= OUTPUT_CAP, (
        f"stdout has {len(response.stdout)} bytes: expected the first 16 MB..16 MiB of {size}"
    )
    assert response.stdout.count(0) == len(response.stdout), "the kept output is not the command's output"


# --- timeouts ---------------------------------------------------------------------

@pytest.mark.contract("ExecSync.timeout_zero")
def test_zero_timeout_means_no_timeout(runtime, container):
    started = time.monotonic()
    response = exec_sync(runtime, container, ["sh", "-c", "sleep 1; printf done"], timeout=0)
    elapsed = time.monotonic() - started
    assert (response.exit_code, response.stdout) == (0, b"done"), response
    assert elapsed >= 0.9, f"returned after {elapsed:.2f}s, before the 1 s command could end"


@pytest.mark.contract("ExecSync.timeout_kills")
def test_timeout_kills_only_the_exec_process(runtime, container):
    marker = str(30 + secrets.randbelow(60))  # `sleep N` with an N no other process here uses
    before = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container)).status
    deadline = EXEC_TIMEOUT + TIMEOUT_SLACK + 10
    started = time.monotonic()
    command = ["sh", "-c", f"touch /tmp/started-{marker} && exec sleep {marker}"]  # leaves a trace that it ran
    try:
        exec_sync(runtime, container, command, timeout=EXEC_TIMEOUT, deadline=deadline)
    except grpc.RpcError:
        pass  # which error is test_timeout_fails_with_deadline_exceeded's business
    elapsed = time.monotonic() - started
    assert elapsed <= EXEC_TIMEOUT + TIMEOUT_SLACK, (
        f"ExecSync with timeout={EXEC_TIMEOUT}s returned after {elapsed:.1f}s (allowed {EXEC_TIMEOUT + TIMEOUT_SLACK:g}s)"
    )
    assert elapsed >= EXEC_TIMEOUT * 0.9, f"returned after {elapsed:.2f}s, before the timeout"
    assert exec_sync(runtime, container, ["test", "-e", f"/tmp/started-{marker}"]).exit_code == 0, (
        "the timed-out command never ran"
    )
    lines = wait_for(lambda: command_lines(runtime, container), lambda lines: f"sleep {marker}" not in lines,
                     timeout=5, what=f"the timed-out 'sleep {marker}' to be gone")
    assert any("trap" in line for line in lines), f"the container's own process is gone too: {lines}"
    after = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container)).status
    assert after.state == pb.CONTAINER_RUNNING, f"the container is {pb.ContainerState.Name(after.state)} after the timeout"
    assert after.started_at == before.started_at, "the container was restarted"


@pytest.mark.contract("ExecSync.timeout_code")
def test_timeout_fails_with_deadline_exceeded(runtime, container):
    client_deadline = EXEC_TIMEOUT + TIMEOUT_SLACK + 10
    started = time.monotonic()
    err = expect_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, exec_sync, runtime, container, ["sleep", "29"],
                           timeout=EXEC_TIMEOUT, deadline=client_deadline)
    elapsed = time.monotonic() - started
    # Our own deadline also gives DEADLINE_EXCEEDED: the runtime must have answered well before it.
    assert elapsed < client_deadline - 2, f"no answer from the runtime: our {client_deadline:g}s deadline expired ({err.details()})"


# --- containers that cannot exec ---------------------------------------------------

@pytest.mark.contract("ExecSync.not_running")
@pytest.mark.parametrize("state", ["created", "stopped"])
def test_exec_in_a_container_that_is_not_running_fails(runtime, resources, pod, busybox, state):
    if state == "created":
        container_id = resources.create_container(pod, image=busybox)
    else:
        container_id = resources.start_container(pod, image=busybox)
        runtime.StopContainer(pb.StopContainerRequest(container_id=container_id, timeout=10))
        wait_container_state(runtime, container_id, pb.CONTAINER_EXITED)
    with pytest.raises(grpc.RpcError) as caught:
        response = exec_sync(runtime, container_id, ["echo", "should not run"])
        pytest.fail(f"ExecSync in a {state} container succeeded: {response!r}")
    assert caught.value.code() != grpc.StatusCode.DEADLINE_EXCEEDED, "the runtime did not answer in time"
    assert container_status(runtime, container_id).state != pb.CONTAINER_RUNNING, "the exec started the container"


@pytest.mark.contract("X.notfound_code")
def test_exec_in_an_unknown_container_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, exec_sync, runtime, secrets.token_hex(32), ["true"])


# --- identity --------------------------------------------------------------------------

IDENTITY_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")


@pytest.mark.contract("ExecSync.security_context")
def test_exec_runs_with_the_containers_identity(runtime, resources, pod, busybox):
    # PID 1 is the container's own process (own PID namespace); the exec'd
    # process must have the same user, groups, capabilities and seccomp mode.
    security = pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=1000), run_as_group=pb.Int64Value(value=1000),
        supplemental_groups=[4321], namespace_options=pb.NamespaceOption(pid=pb.CONTAINER),
    )
    container_id = resources.start_container(pod, image=busybox,
                                             linux=pb.LinuxContainerConfig(security_context=security))
    pattern = "^(" + "|".join(IDENTITY_FIELDS) + "):"
    response = exec_sync(runtime, container_id, [
        "sh", "-c", f"grep -E '{pattern}' /proc/1/status && echo --- && grep -E '{pattern}' /proc/self/status"])
    assert response.exit_code == 0, f"reading /proc failed: {response.stderr!r}"
    entrypoint, _, exec_process = response.stdout.decode().partition("---\n")
    assert exec_process.split("\n") == entrypoint.split("\n"), (
        f"exec'd process:\n{exec_process}\ndiffers from the container's process:\n{entrypoint}"
    )
    fields = dict(line.split(":", 1) for line in entrypoint.splitlines())
    assert fields["Uid"].split()[0] == "1000" and "4321" in fields["Groups"].split(), (
        f"the security context was not applied at all: {entrypoint}"
    )
