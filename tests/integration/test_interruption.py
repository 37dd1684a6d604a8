"""A run cut short leaves nothing behind and says why, in one line.

Both tests run the suite as a user would (`python -m cri_conformance.cli
run`) with a module whose tests hold a pod with a running container
(suite_run.HOLDING_MODULE), and interrupt it while those pods exist:
with SIGINT (Ctrl-C), or by making the runtime vanish under it (a byte relay
between the suite and containerd, stopped mid-run).
"""

from __future__ import annotations

import selectors
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from cri_conformance.fixtures.client import CriClient
from cri_conformance.fixtures.endpoint import parse_endpoint
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.fixtures.resources import find_leftovers, remove_leftovers
from cri_conformance.proto import runtime_v1_pb2 as pb

from .suite_run import BackgroundSuite, suite_command, write_holding_module

EXIT_DEADLINE = 30.0  # seconds from the interruption to the run's exit


def start_holding_run(endpoint: str, tmp_path: Path, run_id: str, workers: int) -> BackgroundSuite:
    module = write_holding_module(tmp_path)
    command = suite_command(endpoint, tmp_path / "reports", str(module), "-k", "holds_a_pod",
                            "--run-id", run_id, "--work-dir", str(tmp_path / "work"), workers=workers)
    return BackgroundSuite(command, tmp_path / "output.txt")


def wait_for_held_pods(client: CriClient, run_id: str, count: int, suite: BackgroundSuite):
    """Until `count` pods of the run have a running container (while the run is still going)."""

    def held():
        if suite.process.poll() is not None:
            pytest.fail(f"the run ended before holding its pods:\n{suite.output()[-3000:]}")
        leftovers = find_leftovers(client, run_id)
        running = [c for c in leftovers.containers if c.state == pb.CONTAINER_RUNNING]
        return leftovers if len(leftovers.pods) >= count and len(running) >= count else None

    return wait_for(held, timeout=60, what=f"{count} pod(s) of run {run_id} with a running container")


def remove_what_is_left(client: CriClient, run_id: str) -> None:
    """The shared local runtime must stay clean for the other tests, whatever happened here."""
    leftovers = find_leftovers(client, run_id)
    if leftovers:
        remove_leftovers(client, leftovers)


@pytest.fixture
def client(local_runtime):
    with CriClient(parse_endpoint(local_runtime.endpoint), request_timeout=30) as cri:
        yield cri


# --- 1. SIGINT in the middle of a test --------------------------------------------------------

@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_sigint_mid_test_leaves_no_labelled_pod_or_container(local_runtime, client, tmp_path, workers):
    run_id = f"sigint-{uuid.uuid4().hex[:12]}"
    with start_holding_run(local_runtime.endpoint, tmp_path, run_id, workers) as suite:
        try:
            held = wait_for_held_pods(client, run_id, max(1, workers), suite)
            # Ctrl-C in a terminal reaches the whole foreground process group:
            # with xdist that includes the workers.
            suite.signal(signal.SIGINT, group=workers > 1)
            interrupted = time.monotonic()
            returncode = suite.wait(timeout=EXIT_DEADLINE)
            exit_seconds = time.monotonic() - interrupted
            left = find_leftovers(client, run_id)
            output = suite.output()
        finally:
            remove_what_is_left(client, run_id)
    print(output[-3000:])
    print(f"held {held.describe()}; exited {exit_seconds:.2f} s after SIGINT with status {returncode}")
    assert returncode != 0, output[-3000:]
    assert not left, f"left behind after SIGINT: {left.describe()}\n{output[-3000:]}"
    # Removed by the tests' own teardown, not only by the end-of-session sweep.
    assert "LEAK" not in output, output[-3000:]


# --- 2. The runtime stops answering mid-run ------------------------------------------------------

class ByteRelay:
    """Relays bytes between a listening unix socket and the runtime's socket, until stopped.

    Stopping closes the listener and every relayed connection, as a runtime
    that dies does; connecting afterwards is refused.
    """

    def __init__(self, listen: Path, target: str):
        self.path, self.target = listen, target
        self.connections = 0
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(listen))
        self._listener.listen(64)
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._relay, name="byte-relay", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"unix://{self.path}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._wake_write.send(b"x")
            self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the relay thread did not stop"

    def _relay(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}

        def close_pair(sock: socket.socket) -> None:
            for end in (sock, peers.pop(sock, None)):
                if end is not None:
                    peers.pop(end, None)
                    selector.unregister(end)
                    end.close()

        try:
            while True:
                for key, _ in selector.select():
                    sock = key.fileobj
                    if sock is self._wake_read:
                        return
                    if sock is self._listener:
                        accepted, _ = self._listener.accept()
                        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        try:
                            upstream.connect(self.target)
                        except OSError:
                            accepted.close()
                            upstream.close()
                            continue
                        self.connections += 1
                        peers[accepted], peers[upstream] = upstream, accepted
                        selector.register(accepted, selectors.EVENT_READ)
                        selector.register(upstream, selectors.EVENT_READ)
                        continue
                    if sock not in peers:
                        continue  # closed earlier in this round
                    try:
                        data = sock.recv(65536)
                        if data:
                            peers[sock].sendall(data)
                    except OSError:
                        data = b""
                    if not data:
                        close_pair(sock)
        finally:
            for sock in list(peers):
                if sock in peers:
                    close_pair(sock)
            selector.close()
            self._listener.close()
            self._wake_read.close()
            self._wake_write.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-2"])
def test_runtime_that_stops_answering_ends_the_run_with_one_line(local_runtime, client, tmp_path, workers):
    run_id = f"vanish-{uuid.uuid4().hex[:12]}"
    relay = ByteRelay(tmp_path / "relay.sock", parse_endpoint(local_runtime.endpoint).address)
    try:
        with start_holding_run(relay.endpoint, tmp_path, run_id, workers) as suite:
            held = wait_for_held_pods(client, run_id, max(1, workers), suite)
            relay.stop()
            stopped = time.monotonic()
            returncode = suite.wait(timeout=EXIT_DEADLINE)
            exit_seconds = time.monotonic() - stopped
            output = suite.output()
    finally:
        relay.stop()
        remove_what_is_left(client, run_id)
    print(output[-4000:])
    print(f"held {held.describe()} through {relay.connections} relayed connection(s); "
          f"exited {exit_seconds:.2f} s after the relay stopped, status {returncode}")
    assert returncode != 0, output[-3000:]
    message = [line for line in output.splitlines() if "stopped answering" in line]
    assert len(message) == 1, output[-3000:]
    assert f"the runtime at {relay.endpoint} stopped answering; the run cannot go on" in message[0]
    assert "Traceback (most recent call last)" not in output, output[-3000:]
    assert "INTERNALERROR" not in output, output[-3000:]
    # The session stopped at the first test each process ran into the dead runtime
    # with: the other held-pod tests never started.
    assert f"{max(1, workers)} failed" in output and "passed" not in output, output[-3000:]
