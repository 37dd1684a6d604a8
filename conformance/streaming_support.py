"""What the ExecSync, Exec, Attach and PortForward test modules share.

Opening sessions from the CRI calls, and the deadlines: every wait has one, so a hung runtime fails one test.
"""

from __future__ import annotations

from cri_conformance.fixtures.streaming import RemoteCommandSession, StreamingClient, fully_qualified_url_problem
from cri_conformance.proto import runtime_v1_pb2 as pb

SESSION_TIMEOUT = 15.0  # seconds for one streaming wait (output, exit, close)


def assert_fully_qualified(url: str, rpc: str) -> None:
    problem = fully_qualified_url_problem(url)
    assert problem is None, f"{rpc} returned {url!r}: expected a fully qualified http(s) URL, but {problem}"


def exec_url(runtime, container_id: str, cmd: list[str], *, stdin=False, stdout=True, stderr=True,
             tty=False) -> str:
    request = pb.ExecRequest(container_id=container_id, cmd=cmd, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
    return runtime.Exec(request).url


def open_exec(runtime, streaming: StreamingClient, container_id: str, cmd: list[str], **streams) -> RemoteCommandSession:
    """Exec, then open the session behind the URL (use it in a `with`)."""
    return streaming.remote_command(exec_url(runtime, container_id, cmd, **streams))


def open_attach(runtime, streaming: StreamingClient, container_id: str, *, stdin=True, stdout=True, stderr=True,
                tty=False) -> RemoteCommandSession:
    request = pb.AttachRequest(container_id=container_id, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
    return streaming.remote_command(runtime.Attach(request).url)
