"""The streaming client's channel layer against a scripted WebSocket server on 127.0.0.1.

The server here is a few lines of RFC 6455 (handshake, unmasked server
frames, masked client frames) so that framing, deadlines and the ways a
session can end are checked without a runtime. The conformance tests use
the same client against the real streaming server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
from contextlib import closing

import pytest

from cri_conformance.fixtures.streaming import (
    HandshakeRejected,
    StreamClosed,
    StreamingClient,
    StreamingError,
    StreamTimeout,
    fully_qualified_url_problem,
)
from cri_conformance.fixtures.streaming.channels import tls_options, websocket_url
from cri_conformance.fixtures.streaming.remotecommand import HalfCloseUnsupported, exit_code_of

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
V4 = "v4.channel.k8s.io"


class ScriptedServer:
    """Accepts one WebSocket connection and runs `script(conn)` on it, in a thread."""

    def __init__(self, script, *, status_line: str = "101 Switching Protocols", protocol: str = V4):
        self.script, self.status_line, self.protocol = script, status_line, protocol
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.request_headers: dict[str, str] = {}
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/exec/token"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with closing(conn):
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            for line in request.decode().split("\r\n")[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    self.request_headers[name.strip().lower()] = value.strip()
            if not self.status_line.startswith("101"):
                body = b"404 page not found\n"
                conn.sendall(f"HTTP/1.1 {self.status_line}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                return
            accept = base64.b64encode(hashlib.sha1(self.request_headers["sec-websocket-key"].encode()
                                                   + WEBSOCKET_GUID).digest()).decode()
            conn.sendall((f"HTTP/1.1 {self.status_line}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {self.protocol}\r\n\r\n").encode())
            self.script(self, conn)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)

    # --- frames ----------------------------------------------------------------
    @staticmethod
    def send(conn: socket.socket, channel: int, payload: bytes = b"") -> None:
        data = bytes([channel]) + payload
        header = bytes([0x82, len(data)]) if len(data) < 126 else bytes([0x82, 126]) + struct.pack(">H", len(data))
        conn.sendall(header + data)

    @staticmethod
    def send_close(conn: socket.socket, code: int = 1000) -> None:
        conn.sendall(bytes([0x88, 2]) + struct.pack(">H", code))

    def read_frame(self, conn: socket.socket) -> bytes:
        def exactly(n: int) -> bytes:
            data = b""
            while len(data) < n:
                data += conn.recv(n - len(data))
            return data

        first, second = exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", exactly(2))[0]
        mask = exactly(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(length)))
        self.received.append(payload)
        return payload


@pytest.fixture
def serve():
    servers = []

    def start(script, **kwargs) -> ScriptedServer:
        servers.append(ScriptedServer(script, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


CLIENT = StreamingClient(open_timeout=5)


def test_exec_session_collects_channels_and_the_exit_code(serve):
    status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
              "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}

    def script(server, conn):
        server.send(conn, 1)  # the server's "connection is up" empty message
        server.send(conn, 1, b"out")
        server.send(conn, 2, b"err")
        server.send(conn, 1, b"put" * 100)  # a 16-bit length frame
        server.send(conn, 3, json.dumps(status).encode())
        server.send_close(conn)

    server = serve(script)
    with CLIENT.remote_command(server.url) as session:
        result = session.finish(timeout=5)
    assert (result.stdout, result.stderr, result.exit_code) == (b"out" + b"put" * 100, b"err", 7)
    assert result.protocol == V4
    offered = [p.strip() for p in server.request_headers["sec-websocket-protocol"].split(",")]
    assert offered == ["v5.channel.k8s.io", V4]


def test_stdin_and_resize_are_framed_with_their_channel(serve):
    def script(server, conn):
        server.read_frame(conn)
        server.read_frame(conn)
        server.send(conn, 3, b'{"metadata":{},"status":"Success"}')
        server.send_close(conn)

    server = serve(script)
    with CLIENT.remote_command(server.url) as session:
        session.write(b"typed")
        session.resize(80, 24)
        assert session.finish(timeout=5).exit_code == 0
    assert server.received[0] == b"\x00typed"
    assert server.received[1][0] == 4 and json.loads(server.received[1][1:]) == {"Width": 80, "Height": 24}


def test_a_silent_server_fails_the_wait_at_its_deadline(serve):
    stop = threading.Event()
    server = serve(lambda server, conn: stop.wait(10))
    with CLIENT.remote_command(server.url) as session:
        started = time.monotonic()
        with pytest.raises(StreamTimeout, match="not within 0.3s"):
            session.wait_output(lambda out: out == b"never", timeout=0.3, what="output")
        assert time.monotonic() - started < 2
        stop.set()  # let the server go, so closing does not wait for its close frame


def test_a_dropped_connection_ends_the_wait_with_what_arrived(serve):
    server = serve(lambda server, conn: server.send(conn, 1, b"partial"))  # then the socket closes
    with CLIENT.remote_command(server.url) as session:
        with pytest.raises(StreamClosed, match="partial"):
            session.wait_output(lambda out: out == b"complete", timeout=5, what="the complete output")


def test_a_rejected_upgrade_reports_the_http_status(serve):
    server = serve(lambda server, conn: None, status_line="404 Not Found")
    with pytest.raises(HandshakeRejected) as rejected:
        CLIENT.remote_command(server.url)
    assert rejected.value.status_code == 404


def test_half_closing_stdin_needs_v5(serve):
    server = serve(lambda server, conn: server.send_close(conn))
    with CLIENT.remote_command(server.url) as session:
        with pytest.raises(HalfCloseUnsupported, match="v4"):
            session.close_stdin()


def test_port_forward_channels_start_with_the_port(serve):
    def script(server, conn):
        for channel in (0, 1):
            server.send(conn, channel, struct.pack("<H", 8080))
        payload = server.read_frame(conn)
        server.send(conn, 0, payload[1:])  # echo
        server.send_close(conn)

    server = serve(script)
    with CLIENT.port_forward(server.url, [8080]) as session:
        assert session.wait_port_prefixes(timeout=5) == {0: 8080, 1: 8080}
        session.send(0, b"ping")
        assert session.wait_data(0, lambda got: len(got) >= 4, timeout=5, what="echo") == b"ping"
        assert session.error(0) == ""
    assert server.request_headers["sec-websocket-protocol"] == V4


# --- URLs, TLS options, status parsing --------------------------------------------

@pytest.mark.parametrize("url, base, expected", [
    ("http://127.0.0.1:1234/exec/abc", None, "ws://127.0.0.1:1234/exec/abc"),
    ("https://node:10250/attach/abc?x=1", None, "wss://node:10250/attach/abc?x=1"),
    ("/portforward/abc", "https://10.0.0.5:10010", "wss://10.0.0.5:10010/portforward/abc"),
    ("/exec/abc", "http://127.0.0.1:9/ignored", "ws://127.0.0.1:9/exec/abc"),
])
def test_streaming_urls_become_websocket_urls(url, base, expected):
    assert websocket_url(url, base) == expected


def test_a_relative_url_without_a_base_names_the_option():
    with pytest.raises(StreamingError, match="--streaming-base-url"):
        websocket_url("/exec/abc")


def test_tls_options():
    assert tls_options() == {}
    assert tls_options(insecure=True)["check_hostname"] is False
    assert tls_options(ca_file="/etc/ca.pem")["ca_certs"] == "/etc/ca.pem"


def test_client_options_from_text():
    client = StreamingClient.from_options("https://n:1", "true", None)
    assert (client.base_url, client.tls_insecure, client.ca_file) == ("https://n:1", True, None)
    assert StreamingClient.from_options(None, "0", "").tls_insecure is False


@pytest.mark.parametrize("status, code", [
    ({"status": "Success"}, 0),
    ({"status": "Failure", "details": {"causes": [{"reason": "ExitCode", "message": "137"}]}}, 137),
    ({"status": "Failure", "message": "internal error"}, None),
])
def test_exit_code_of_a_status(status, code):
    assert exit_code_of(status) == code


@pytest.mark.parametrize("url, ok", [
    ("http://127.0.0.1:1/exec/t", True), ("https://node/attach/t", True),
    ("/exec/t", False), ("http://127.0.0.1:1/", False), ("ws://h/exec/t", False),
])
def test_fully_qualified_url_problem(url, ok):
    assert (fully_qualified_url_problem(url) is None) == ok
