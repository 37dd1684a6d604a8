"""Pod networking seen from the host: pod IP, port mappings, the shared pod netns, host-network pods.

Traffic goes only to 127.0.0.1 and to the IPs of pods this run created.
Each server answers with a fresh token, so a reply proves it came from the
container under test. Host ports are held by the test while it maps them.
"""

from __future__ import annotations

import http.client
import uuid

import pytest

from cri_conformance.fixtures import inside
from cri_conformance.fixtures.cri_helpers import exec_stdout, sandbox_status
from cri_conformance.fixtures.host_side import free_port, held_port, host_namespace
from cri_conformance.fixtures.linux import container_linux, namespaces, sandbox_linux
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.proto import runtime_v1_pb2 as pb

CONTAINER_PORT = 8080
SERVER_READY = 15.0  # seconds for a fresh pod's server to answer


def web_server(token: str, port: int, address: str = "") -> list[str]:
    """busybox httpd serving `token` at / on [address:]port, in the foreground."""
    bind = f"{address}:{port}" if address else str(port)
    return ["sh", "-c", f"mkdir -p /www && echo -n {token} > /www/index.html && exec httpd -f -p {bind} -h /www"]


def http_get(host: str, port: int, timeout: float = 2.0) -> tuple[int, str] | None:
    """(status, body) of GET / (no proxy involved), or None if nothing answered."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError:
        return None
    finally:
        connection.close()


def wait_served(host: str, port: int, token: str) -> None:
    wait_for(lambda: http_get(host, port), lambda reply: reply == (200, token), timeout=SERVER_READY,
             what=f"HTTP 200 with the container's token from {host}:{port}")


def pod_ip(runtime, pod) -> str:
    return sandbox_status(runtime, pod.id).network.ip


@pytest.fixture(scope="module")
def web_pod(module_resources, busybox):
    """A pod mapping only a container port, with a web server answering a token there."""
    token = uuid.uuid4().hex
    pod = module_resources.run_pod(port_mappings=[pb.PortMapping(container_port=CONTAINER_PORT)])
    server = module_resources.start_container(pod, image=busybox, command=web_server(token, CONTAINER_PORT))
    return pod, server, token


@pytest.mark.contract("PortMapping.container_port_only", "PortMapping.host_port_zero_no_alloc",
                      "PodSandboxStatus.network_ip")
def test_container_port_is_reachable_at_the_pod_ip(runtime, web_pod):
    # An explicit host_port 0 is the same message on the wire as an unset one.
    pod, _, token = web_pod
    wait_served(pod_ip(runtime, pod), CONTAINER_PORT, token)


@pytest.mark.contract("NS.network_pod")
def test_containers_of_a_pod_share_its_network_namespace(runtime, resources, web_pod, busybox):
    pod, server, token = web_pod
    wait_served(pod_ip(runtime, pod), CONTAINER_PORT, token)
    neighbour = resources.start_container(pod, image=busybox, linux=container_linux())
    assert inside.namespace(runtime, neighbour, "net") == inside.namespace(runtime, server, "net")
    fetched = exec_stdout(runtime, neighbour, ["wget", "-q", "-O", "-", f"http://127.0.0.1:{CONTAINER_PORT}/"])
    assert fetched == token, f"the neighbour reached another server on 127.0.0.1:{CONTAINER_PORT}: {fetched!r}"


@pytest.mark.contract("PortMapping.host_port")
def test_host_port_is_reachable_on_loopback(resources, busybox):
    token = uuid.uuid4().hex
    with held_port() as holder:
        host_port = holder.getsockname()[1]
        pod = resources.run_pod(port_mappings=[pb.PortMapping(container_port=CONTAINER_PORT, host_port=host_port)])
        resources.start_container(pod, image=busybox, command=web_server(token, CONTAINER_PORT))
        wait_served("127.0.0.1", host_port, token)


@pytest.mark.contract("NS.network_node")
def test_host_network_pod_serves_on_the_host(runtime, resources, busybox):
    token = uuid.uuid4().hex
    port = free_port()
    options = namespaces(network=pb.NODE)
    pod = resources.run_pod(hostname="", linux=sandbox_linux(namespace_options=options))
    container = resources.start_container(pod, image=busybox, command=web_server(token, port, "127.0.0.1"),
                                          linux=container_linux(namespace_options=options))
    assert inside.namespace(runtime, container, "net") == host_namespace("net")
    wait_served("127.0.0.1", port, token)
