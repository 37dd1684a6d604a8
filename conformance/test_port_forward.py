"""PortForward: TCP connections into a pod's network namespace through a streaming session.

An echo server (busybox `nc -ll -e cat`) listens in the pod; the tests send
bytes through the forwarded connection and expect them back, open several
connections in one session, check that a port with no listener in the pod
gives the error channel (even when the host listens on it), and forward
into a pod that shares the host's network namespace.
"""

from __future__ import annotations

import os
import secrets
import socket
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from cri_conformance.fixtures.polling import wait_for
from cri_conformance.fixtures.streaming import PortForwardSession
from cri_conformance.fixtures.streaming.portforward import data_channel, error_channel
from cri_conformance.proto import runtime_v1_pb2 as pb
from cri_conformance.fixtures.cri_helpers import expect_rpc_error
from cri_conformance.streaming_support import SESSION_TIMEOUT, assert_fully_qualified

pytestmark = pytest.mark.timeout(60)

ECHO_PORT = 8080
LISTEN_TIMEOUT = 15.0
TCP_LISTEN = "0A"  # socket state in /proc/net/tcp*
HOST_PORT_ATTEMPTS = 3


def listening_ports(proc_net_tcp: str) -> set[int]:
    """Local ports in LISTEN state, from the text of /proc/net/tcp and tcp6."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and ":" in fields[1] and fields[3] == TCP_LISTEN:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def container_listens(runtime, container_id: str, port: int) -> bool:
    response = runtime.ExecSync(pb.ExecSyncRequest(container_id=container_id, cmd=["cat", "/proc/net/tcp", "/proc/net/tcp6"]),
                                timeout=10)
    return port in listening_ports(response.stdout.decode())


def host_listens(port: int) -> bool:
    text = "".join(Path(f).read_text() for f in ("/proc/net/tcp", "/proc/net/tcp6") if os.path.exists(f))
    return port in listening_ports(text)


def open_forward(runtime, streaming, pod_id: str, ports: list[int]) -> PortForwardSession:
    url = runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=pod_id, port=ports)).url
    return streaming.port_forward(url, ports)


def free_loopback_port() -> int:
    """A TCP port nothing on 127.0.0.1 uses right now (the kernel's choice)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def echo_pod(module_resources, busybox):
    """A pod (own network namespace) with an echo server on ECHO_PORT."""
    pod = module_resources.run_pod()
    container_id = module_resources.start_container(pod, image=busybox,
                                                    command=["nc", "-ll", "-p", str(ECHO_PORT), "-e", "cat"])
    wait_for(lambda: container_listens(module_resources.client.runtime, container_id, ECHO_PORT), bool,
             timeout=LISTEN_TIMEOUT, what=f"the echo server to listen on port {ECHO_PORT} in the pod")
    return pod


@pytest.mark.contract("PortForward.url")
def test_port_forward_returns_a_fully_qualified_url(runtime, echo_pod):
    url = runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=echo_pod.id, port=[ECHO_PORT])).url
    assert_fully_qualified(url, "PortForward")


@pytest.mark.contract("PortForward.sandbox_netns")
def test_data_goes_both_ways(runtime, streaming, echo_pod, record_property):
    data = os.urandom(64 * 1024)
    with open_forward(runtime, streaming, echo_pod.id, [ECHO_PORT]) as session:
        record_property("streaming_protocol", session.protocol)
        prefixes = session.wait_port_prefixes(timeout=SESSION_TIMEOUT)
        assert prefixes == {0: ECHO_PORT, 1: ECHO_PORT}, f"port prefixes per channel: {prefixes}"
        session.send(0, data)
        echoed = session.wait_data(0, lambda got: len(got) >= len(data), timeout=SESSION_TIMEOUT,
                                   what=f"{len(data)} bytes echoed back")
        assert echoed == data, "the echo differs from what was sent"
        assert session.error(0) == "", f"error channel: {session.error(0)!r}"


@pytest.mark.contract("PortForward.sandbox_netns")
def test_several_connections_in_one_session(runtime, streaming, echo_pod):
    # The same port listed three times: three independent TCP connections.
    ports = [ECHO_PORT] * 3
    payloads = [f"connection {i}: {secrets.token_hex(8)}\n".encode() * (i + 1) for i in range(len(ports))]
    with open_forward(runtime, streaming, echo_pod.id, ports) as session:
        for index in reversed(range(len(ports))):  # out of order, so no channel can lean on another
            session.send(index, payloads[index])
        for index, payload in enumerate(payloads):
            echoed = session.wait_data(index, lambda got, n=len(payload): len(got) >= n, timeout=SESSION_TIMEOUT,
                                       what=f"the echo on connection {index} (channel {data_channel(index)})")
            assert echoed == payload, f"connection {index} got {echoed!r}, sent {payload!r}"
        for index in range(len(ports)):
            assert session.port_prefix(data_channel(index)) == ECHO_PORT
            assert session.port_prefix(error_channel(index)) == ECHO_PORT
            assert session.error(index) == ""


@pytest.mark.contract("PortForward.sandbox_netns")
def test_port_without_listener_in_the_pod_reports_an_error(runtime, streaming, echo_pod):
    # The host listens on this port, the pod does not: forwarding must not reach the host.
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as host_listener:
        host_listener.bind(("127.0.0.1", 0))
        host_listener.listen(1)
        host_listener.setblocking(False)
        port = host_listener.getsockname()[1]
        with open_forward(runtime, streaming, echo_pod.id, [port]) as session:
            session.send(0, b"hello?")
            message = session.wait_error(0, timeout=SESSION_TIMEOUT)
            assert session.port_prefix(error_channel(0)) == port
            assert session.data(0) == b"", f"data arrived from a port nobody listens on: {session.data(0)!r}"
        with pytest.raises(BlockingIOError):
            host_listener.accept()  # nothing connected to the host's port
    assert message.strip(), "the error channel carried an empty message"


def start_loopback_web_server(runtime, resources, pod, image: str, page: str, namespaces) -> int:
    """Run busybox httpd on a free 127.0.0.1 port of the host network; return the port.

    The port is free when picked; if something takes it before httpd binds,
    httpd exits and another port is tried.
    """
    for _ in range(HOST_PORT_ATTEMPTS):
        port = free_loopback_port()
        script = (f"mkdir -p /tmp/www && printf {page} > /tmp/www/index.html && "
                  f"exec httpd -f -p 127.0.0.1:{port} -h /tmp/www")
        container_id = resources.start_container(
            pod, image=image, command=["sh", "-c", script],
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(namespace_options=namespaces)))

        def observe():
            state = runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id)).status.state
            return host_listens(port), state

        listening, _ = wait_for(observe, lambda seen: seen[0] or seen[1] == pb.CONTAINER_EXITED, timeout=LISTEN_TIMEOUT,
                                what=f"httpd in the host-network pod to listen on 127.0.0.1:{port}")
        if listening:
            return port
    pytest.fail(f"httpd could not bind a free loopback port in {HOST_PORT_ATTEMPTS} attempts")


@pytest.mark.contract("PortForward.hostnet")
def test_forward_into_a_pod_on_the_host_network(runtime, streaming, resources, busybox):
    host_network = pb.NamespaceOption(network=pb.NODE)
    # No hostname: a host-network pod shares the host's UTS namespace too.
    pod = resources.run_pod(hostname="", linux=pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=host_network)))
    token = secrets.token_hex(8)
    port = start_loopback_web_server(runtime, resources, pod, busybox, token, host_network)
    request = b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n"
    with open_forward(runtime, streaming, pod.id, [port]) as session:
        session.send(0, request)
        response = session.wait_data(0, lambda got: token.encode() in got, timeout=SESSION_TIMEOUT,
                                     what="the HTTP response with the page")
    assert response.startswith(b"HTTP/1.") and b" 200 " in response.split(b"\r\n", 1)[0], response[:200]
    # The same server answers on the host's own loopback: it is the host's network namespace.
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as direct:
        direct.sendall(request)
        assert token.encode() in read_all(direct), "the host's 127.0.0.1 port is not the forwarded server"


@pytest.mark.contract("X.notfound_code")
def test_port_forward_to_an_unknown_sandbox_is_not_found(runtime):
    request = pb.PortForwardRequest(pod_sandbox_id=secrets.token_hex(32), port=[ECHO_PORT])
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.PortForward, request)
