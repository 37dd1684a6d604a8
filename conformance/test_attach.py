"""Attach: connect to the stdio of a container's main process through a streaming session.

The containers run `sh` reading commands from stdin, so what the test writes
must reach the process and its answers must come back. With `stdin_once`
the container's stdin closes when the first attach session ends (the shell
then exits); without it, the next session finds the same process waiting.
"""

from __future__ import annotations

import secrets

import grpc
import pytest

from cri_conformance.proto import runtime_v1_pb2 as pb
from cri_conformance.fixtures.cri_helpers import container_status, expect_rpc_error, wait_container_state
from cri_conformance.streaming_support import SESSION_TIMEOUT, assert_fully_qualified, open_attach

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


@pytest.fixture(scope="module")
def plain_container(module_resources, pod, busybox) -> str:
    """A running container without stdin, for the request-rule tests."""
    return module_resources.start_container(pod, image=busybox)


def start_shell(resources, pod, image: str, *, stdin_once: bool, tty: bool = False) -> str:
    """A running container whose main process is `sh` reading from stdin."""
    return resources.start_container(pod, image=image, command=["sh"], stdin=True, stdin_once=stdin_once, tty=tty)


@pytest.mark.contract("Attach.url")
def test_attach_returns_a_fully_qualified_url(runtime, resources, pod, busybox):
    container_id = start_shell(resources, pod, busybox, stdin_once=False)
    url = runtime.Attach(pb.AttachRequest(container_id=container_id, stdin=True, stdout=True)).url
    assert_fully_qualified(url, "Attach")


@pytest.mark.contract("Attach.roundtrip", "CreateContainer.stdio_flags")
def test_what_is_written_reaches_the_process_and_its_output_comes_back(runtime, streaming, resources, pod, busybox,
                                                                      record_property):
    container_id = start_shell(resources, pod, busybox, stdin_once=True)
    with open_attach(runtime, streaming, container_id) as session:
        record_property("streaming_protocol", session.protocol)
        session.write(b"echo hello\n")
        answer = session.wait_output(lambda out: b"\n" in out, timeout=SESSION_TIMEOUT, what="a line on stdout")
        assert answer == b"hello\n", f"stdout: {answer!r}"
        session.write(b"exit 0\n")  # the shell ends, and with it the container and the session
        result = session.finish(timeout=SESSION_TIMEOUT)
    # Nothing but the answer: no prompt, no echo of the input, nothing on stderr.
    assert result.stdout == b"hello\n", f"stdout: {result.stdout!r}"
    assert result.stderr == b"", f"stderr: {result.stderr!r}"
    wait_container_state(runtime, container_id, pb.CONTAINER_EXITED)


@pytest.mark.contract("CreateContainer.stdio_flags")
def test_stdin_once_closes_stdin_when_the_first_session_ends(runtime, streaming, resources, pod, busybox):
    container_id = start_shell(resources, pod, busybox, stdin_once=True)
    with open_attach(runtime, streaming, container_id) as session:
        session.write(b"echo first\n")
        answer = session.wait_output(lambda out: b"\n" in out, timeout=SESSION_TIMEOUT, what="a line on stdout")
        assert answer == b"first\n", f"stdout: {answer!r}"
    # Leaving the session closes the container's stdin: `sh` reads end-of-file and exits 0.
    wait_container_state(runtime, container_id, pb.CONTAINER_EXITED)
    status = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id)).status
    assert status.exit_code == 0, f"the shell exited with {status.exit_code}, expected 0 after end of input"


@pytest.mark.contract("CreateContainer.stdio_flags")
def test_without_stdin_once_the_next_session_reaches_the_same_process(runtime, streaming, resources, pod, busybox):
    container_id = start_shell(resources, pod, busybox, stdin_once=False)
    with open_attach(runtime, streaming, container_id) as session:
        session.write(b"greeting=again\necho first\n")
        answer = session.wait_output(lambda out: b"\n" in out, timeout=SESSION_TIMEOUT, what="a line on stdout")
        assert answer == b"first\n", f"stdout: {answer!r}"
    assert container_status(runtime, container_id).state == pb.CONTAINER_RUNNING, "the container ended with the session"
    # The variable set in the first session proves it is the same shell.
    with open_attach(runtime, streaming, container_id) as session:
        session.write(b"echo $greeting\n")
        answer = session.wait_output(lambda out: b"\n" in out, timeout=SESSION_TIMEOUT, what="a line on stdout")
        assert answer == b"again\n", f"the second session reached another shell: stdout {answer!r}"
    assert container_status(runtime, container_id).state == pb.CONTAINER_RUNNING


@pytest.mark.contract("Attach.tty_match", "CreateContainer.stdio_flags")
def test_attach_to_a_terminal(runtime, streaming, resources, pod, busybox):
    container_id = start_shell(resources, pod, busybox, stdin_once=False, tty=True)
    with open_attach(runtime, streaming, container_id, tty=True, stderr=False) as session:
        session.write(b"echo $((6 * 7))\n")
        # The terminal echoes the typed line; the answer follows on a line of its own.
        session.wait_output(lambda out: b"\r\n42\r\n" in out, timeout=SESSION_TIMEOUT, what="the answer 42")
    assert container_status(runtime, container_id).state == pb.CONTAINER_RUNNING


@pytest.mark.contract("Attach.tty_match")
def test_resize_reaches_an_attached_terminal(runtime, streaming, resources, pod, busybox):
    container_id = start_shell(resources, pod, busybox, stdin_once=False, tty=True)
    with open_attach(runtime, streaming, container_id, tty=True, stderr=False) as session:
        session.resize(101, 33)
        # Ask until the new size shows: the resize and stdin travel separately.
        for _ in range(100):
            seen = len(session.stdout)
            session.write(b"stty size; echo end-$((1 + 1))\n")
            session.wait_output(lambda out: b"end-2\r\n" in out[seen:], timeout=SESSION_TIMEOUT, what="stty size")
            if b"\r\n33 101\r\n" in session.stdout[seen:]:
                break
        else:
            raise AssertionError(f"the terminal never reported 33 101; output: {session.stdout[-300:]!r}")


# --- request rules ------------------------------------------------------------------

@pytest.mark.contract("Attach.one_stream")
def test_request_without_any_stream_is_invalid(runtime, plain_container):
    request = pb.AttachRequest(container_id=plain_container, stdin=False, stdout=False, stderr=False)
    expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, runtime.Attach, request)


@pytest.mark.contract("Attach.tty_no_stderr")
def test_tty_with_stderr_is_invalid(runtime, plain_container):
    request = pb.AttachRequest(container_id=plain_container, tty=True, stdout=True, stderr=True)
    expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, runtime.Attach, request)


@pytest.mark.contract("X.notfound_code")
def test_attach_to_an_unknown_container_is_not_found(runtime):
    request = pb.AttachRequest(container_id=secrets.token_hex(32), stdout=True)
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.Attach, request)
