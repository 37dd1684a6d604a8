"""Bad endpoints end in one clear line, tested against real sockets."""

import socket
import subprocess
import sys
import threading
from concurrent import futures

import grpc
import pytest

from cri_conformance.fixtures.client import ConnectionProblem
from cri_conformance.fixtures.session import connect


def try_connect(endpoint: str) -> str:
    with pytest.raises(ConnectionProblem) as caught:
        connect(endpoint, None, connect_timeout=1.5, request_timeout=2)
    message = str(caught.value)
    assert "\n" not in message and endpoint.split("://")[-1] in message
    return message


def test_missing_socket(tmp_path):
    assert "no socket" in try_connect(f"unix://{tmp_path}/absent.sock")


def test_regular_file_is_not_a_socket(tmp_path):
    path = tmp_path / "file.sock"
    path.write_text("")
    assert "not a socket" in try_connect(f"unix://{path}")


def test_socket_with_nothing_behind_it(tmp_path):
    path = tmp_path / "dead.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the file stays, nobody listens
    assert "nothing answered" in try_connect(f"unix://{path}")


def test_socket_that_does_not_speak_grpc(tmp_path):
    path = tmp_path / "http.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    stop = threading.Event()

    def answer_http():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer_http, daemon=True)
    thread.start()
    try:
        message = try_connect(f"unix://{path}")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert "gRPC" in message or "nothing answered" in message


def test_grpc_server_without_cri(tmp_path):
    path = tmp_path / "other.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_insecure_port(f"unix://{path}")
    server.start()
    try:
        message = try_connect(f"unix://{path}")
    finally:
        server.stop(None)
    assert "not the CRI RuntimeService" in message


def test_cli_reports_bad_scheme_in_one_line():
    result = subprocess.run([sys.executable, "-m", "cri_conformance.cli", "run", "--runtime-endpoint", "ftp://x"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "ftp://x" in line]
    assert len(errors) == 1 and "unsupported scheme" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
