"""Exec: a command in a running container, through a streaming session.

Exec only returns a URL; these tests open the session behind it (WebSocket,
remote-command protocol v4, or v5 when the runtime offers it) and check
what `kubectl exec` relies on: output per stream, the exit code, stdin,
the terminal (merged streams, resize), the request rules and single use.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import grpc
import pytest

from cri_conformance.fixtures.streaming import HandshakeRejected, remotecommand
from cri_conformance.proto import runtime_v1_pb2 as pb
from cri_conformance.fixtures.cri_helpers import expect_rpc_error
from cri_conformance.streaming_support import (
    SESSION_TIMEOUT,
    assert_fully_qualified,
    exec_url,
    open_exec,
)

pytestmark = pytest.mark.timeout(60)

TTY_REPEATS = 20  # short tty commands run this often: output loss is a race


@pytest.fixture(scope="module")
def container(module_resources, busybox) -> str:
    """A running container the tests exec into (each exec'd command ends by itself)."""
    pod = module_resources.run_pod()
    return module_resources.start_container(pod, image=busybox)


def exit_code_check(result, expected: int) -> None:
    assert result.exit_code == expected, (
        f"expected exit code {expected} in the status, got {result.exit_code}; status channel: {result.status_text!r}"
    )


# --- the URL ------------------------------------------------------------------

@pytest.mark.contract("Exec.url")
def test_exec_returns_a_fully_qualified_url(runtime, container):
    url = exec_url(runtime, container, ["true"])
    assert_fully_qualified(url, "Exec")
    assert exec_url(runtime, container, ["true"]) != url, "two Exec calls returned the same URL"


@pytest.mark.contract("Exec.url")
def test_exec_url_is_single_use(runtime, streaming, container):
    url = exec_url(runtime, container, ["echo", "-n", "once"])
    with streaming.remote_command(url) as session:
        assert session.finish(timeout=SESSION_TIMEOUT).stdout == b"once"
    with pytest.raises(HandshakeRejected) as rejected:
        streaming.remote_command(url).close()
    assert 400 <= rejected.value.status_code < 500, f"reusing the URL: HTTP {rejected.value.status_code}, expected 4xx"


# --- output and exit code ---------------------------------------------------------

@pytest.mark.contract("Exec.output", "Exec.transports")
def test_output_and_exit_code_arrive_through_the_session(runtime, streaming, container, record_property):
    with open_exec(runtime, streaming, container, ["echo", "-n", "hello"]) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    record_property("streaming_protocol", result.protocol)
    assert (result.stdout, result.stderr) == (b"hello", b""), f"stdout {result.stdout!r}, stderr {result.stderr!r}"
    exit_code_check(result, 0)


@pytest.mark.contract("Exec.output")
def test_stdout_and_stderr_are_separate_streams(runtime, streaming, container):
    command = ["sh", "-c", "printf 'out 1\\n'; printf 'err 1\\n' >&2; printf 'out 2'; printf 'err 2' >&2"]
    with open_exec(runtime, streaming, container, command) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert result.stdout == b"out 1\nout 2", f"stdout: {result.stdout!r}"
    assert result.stderr == b"err 1\nerr 2", f"stderr: {result.stderr!r}"
    exit_code_check(result, 0)


@pytest.mark.contract("Exec.output")
@pytest.mark.parametrize("code", [1, 42])
def test_nonzero_exit_code_is_reported_in_the_status(runtime, streaming, container, code):
    with open_exec(runtime, streaming, container, ["sh", "-c", f"printf partial; exit {code}"]) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert result.stdout == b"partial"
    assert result.status is not None and result.status.get("status") == "Failure", (
        f"expected a Failure status, got {result.status_text!r}"
    )
    exit_code_check(result, code)


@pytest.mark.contract("Exec.output")
def test_only_requested_streams_are_sent(runtime, streaming, container):
    command = ["sh", "-c", "printf visible; printf hidden >&2"]
    with open_exec(runtime, streaming, container, command, stdout=True, stderr=False) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert result.stdout == b"visible"
    assert result.stderr == b"", f"stderr was not requested, yet arrived: {result.stderr!r}"
    exit_code_check(result, 0)


@pytest.mark.contract("Exec.output")
def test_large_output_arrives_complete(runtime, streaming, container):
    expected = "".join(f"{n}\n" for n in range(1, 300001)).encode()  # about 2 MB
    with open_exec(runtime, streaming, container, ["seq", "1", "300000"]) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert len(result.stdout) == len(expected), f"{len(result.stdout)} bytes, expected {len(expected)}"
    assert result.stdout == expected, "the output has the right length but different content"
    exit_code_check(result, 0)


# --- stdin --------------------------------------------------------------------

@pytest.mark.contract("Exec.output", "Exec.transports")
def test_stdin_is_delivered_exactly(runtime, streaming, container):
    # Over v4 stdin cannot be closed alone: `head -c N` ends the input itself.
    data = os.urandom(256 * 1024)
    command = ["sh", "-c", f"head -c {len(data)} | sha256sum"]
    with open_exec(runtime, streaming, container, command, stdin=True) as session:
        session.write(data)
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert result.stdout == f"{hashlib.sha256(data).hexdigest()}  -\n".encode(), (
        f"the command saw different bytes than were sent: {result.stdout!r}, stderr {result.stderr!r}"
    )
    exit_code_check(result, 0)


@pytest.mark.contract("Exec.transports")
def test_closing_stdin_ends_the_input(runtime, streaming, container):
    # Half-closing stdin (v5 only) is how `kubectl exec -i` ends a `cat`.
    with open_exec(runtime, streaming, container, ["cat"], stdin=True, stderr=False) as session:
        if session.protocol != remotecommand.V5:
            pytest.skip(f"unsupported by this runtime: remote-command {remotecommand.V5} (closing stdin alone): "
                        f"the streaming server negotiated {session.protocol or 'no subprotocol'}")
        session.write(b"last words")
        session.close_stdin()
        result = session.finish(timeout=SESSION_TIMEOUT)
    assert result.stdout == b"last words"
    exit_code_check(result, 0)


# --- terminal -------------------------------------------------------------------

@pytest.mark.contract("Exec.tty_no_stderr", "Exec.tty_stdin")
def test_tty_merges_stdout_and_stderr(runtime, streaming, container):
    command = ["sh", "-c", "echo to-stdout; echo to-stderr >&2"]
    with open_exec(runtime, streaming, container, command, stdin=True, tty=True, stderr=False) as session:
        result = session.finish(timeout=SESSION_TIMEOUT)
    # The terminal turns "\n" into "\r\n" and carries both streams on stdout.
    assert result.stdout == b"to-stdout\r\nto-stderr\r\n", f"stdout: {result.stdout!r}"
    assert result.stderr == b""
    exit_code_check(result, 0)


@pytest.mark.contract("Exec.output", "Exec.tty_no_stderr")
def test_tty_output_of_a_short_command_is_complete(runtime, streaming, container):
    # tty without stdin, as `crictl exec -t` runs a command: all of its output must arrive.
    for attempt in range(1, TTY_REPEATS + 1):
        with open_exec(runtime, streaming, container, ["echo", "hello"], tty=True, stderr=False) as session:
            result = session.finish(timeout=SESSION_TIMEOUT)
        assert result.stdout == b"hello\r\n", f"run {attempt} of {TTY_REPEATS}: stdout {result.stdout!r}"
        exit_code_check(result, 0)


@pytest.mark.contract("Exec.tty_stdin")
def test_tty_with_stdin_is_interactive(runtime, streaming, container):
    with open_exec(runtime, streaming, container, ["sh"], stdin=True, tty=True, stderr=False) as session:
        session.write(b"echo $((6 * 7))\n")
        # The terminal echoes the typed line; the answer follows on a line of its own.
        session.wait_output(lambda out: b"\r\n42\r\n" in out, timeout=SESSION_TIMEOUT, what="the answer 42")
        session.write(b"exit 3\n")
        result = session.finish(timeout=SESSION_TIMEOUT)
    exit_code_check(result, 3)


@pytest.mark.contract("Exec.tty_stdin")
def test_tty_resize_reaches_the_process(runtime, streaming, container):
    # Each line read prints the terminal size; we ask until the new size shows.
    command = ["sh", "-c", 'echo ready; while read line; do stty size; [ "$line" = q ] && exit 0; done']
    with open_exec(runtime, streaming, container, command, stdin=True, tty=True, stderr=False) as session:
        session.wait_output(lambda out: b"ready" in out, timeout=SESSION_TIMEOUT, what="the shell to start")
        for width, height in ((123, 45), (77, 22)):
            session.resize(width, height)
            expected = f"\r\n{height} {width}\r\n".encode()
            for _ in range(100):
                seen = len(session.stdout)
                session.write(b"\n")
                session.wait_output(lambda out: len(out) > seen + 2 and out.endswith(b"\r\n"),
                                    timeout=SESSION_TIMEOUT, what="stty size output")
                if expected in session.stdout[seen:]:
                    break
            else:
                raise AssertionError(f"the terminal never reported {height} {width}; output: {session.stdout[-300:]!r}")
        session.write(b"q\n")
        exit_code_check(session.finish(timeout=SESSION_TIMEOUT), 0)


# --- request rules ------------------------------------------------------------------

@pytest.mark.contract("Exec.one_stream")
def test_request_without_any_stream_is_invalid(runtime, container):
    request = pb.ExecRequest(container_id=container, cmd=["true"], stdin=False, stdout=False, stderr=False)
    expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, runtime.Exec, request)


@pytest.mark.contract("Exec.tty_no_stderr")
def test_tty_with_stderr_is_invalid(runtime, container):
    request = pb.ExecRequest(container_id=container, cmd=["true"], tty=True, stdout=True, stderr=True)
    expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, runtime.Exec, request)


@pytest.mark.contract("X.notfound_code")
def test_exec_in_an_unknown_container_is_not_found(runtime):
    request = pb.ExecRequest(container_id=secrets.token_hex(32), cmd=["true"], stdout=True)
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.Exec, request)
