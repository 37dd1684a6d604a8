"""The fault proxy's forwarding, tested against a small in-process CRI server.

The upstream here is a stand-in that records what reaches it, so forwarding
details (raw bytes, streams, deadlines, metadata, error trailers) can be
observed exactly; containerd 1.6 implements none of the streaming RPCs. The
proxy against a real runtime is covered by the self-test integration test.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

from cri_conformance.fixtures.proxy import CRI_RPCS, Fault, FaultProxy, Injected, ProxyError, catalogue
from cri_conformance.proto import runtime_v1_pb2 as pb
from cri_conformance.proto import runtime_v1_pb2_grpc as pb_grpc
from cri_conformance.proto import runtime_v1alpha2_pb2 as pb_alpha
from cri_conformance.proto import runtime_v1alpha2_pb2_grpc as pb_alpha_grpc

KNOWN_POD = "a" * 64


class Upstream(pb_grpc.RuntimeServiceServicer):
    """Answers a few RPCs and remembers what it received."""

    def __init__(self):
        self.requests: list = []
        self.metadata: list[dict] = []
        self.deadlines: list[float | None] = []
        self.stream_cancelled = threading.Event()

    def _seen(self, request, context):
        self.requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        self.deadlines.append(context.time_remaining())

    def Version(self, request, context):
        self._seen(request, context)
        return pb.VersionResponse(version="0.1.0", runtime_name="upstream", runtime_version="1.0.0",
                                  runtime_api_version="v1")

    def StopPodSandbox(self, request, context):
        self._seen(request, context)
        return pb.StopPodSandboxResponse()

    def PodSandboxStatus(self, request, context):
        self._seen(request, context)
        if request.pod_sandbox_id != KNOWN_POD:
            context.set_trailing_metadata([("x-upstream-detail", "looked everywhere")])
            context.abort(grpc.StatusCode.NOT_FOUND, f"sandbox {request.pod_sandbox_id} not found")
        return pb.PodSandboxStatusResponse(status=pb.PodSandboxStatus(id=KNOWN_POD, state=pb.SANDBOX_READY))

    def ListPodSandbox(self, request, context):
        self._seen(request, context)
        return pb.ListPodSandboxResponse(items=[pb.PodSandbox(id=KNOWN_POD, annotations={"a": "1", "b": ""})])

    def StreamPodSandboxes(self, request, context):
        self._seen(request, context)
        for n in range(3):
            yield pb.StreamPodSandboxesResponse(pod_sandboxes=[pb.PodSandbox(id=f"pod-{n}")])

    def GetContainerEvents(self, request, context):
        self._seen(request, context)
        context.add_callback(self.stream_cancelled.set)
        n = 0
        while context.is_active():
            yield pb.ContainerEventResponse(container_id=f"c{n}", container_event_type=n % 4)
            n += 1
            time.sleep(0.01)


class ImageUpstream(pb_grpc.ImageServiceServicer):
    def ImageFsInfo(self, request, context):
        return pb.ImageFsInfoResponse(image_filesystems=[pb.FilesystemUsage(timestamp=7)])


class LegacyUpstream(pb_alpha_grpc.RuntimeServiceServicer):
    def Version(self, request, context):
        return pb_alpha.VersionResponse(version="0.1.0", runtime_name="legacy")


def echo_version_handler():
    """A raw Version handler returning the request bytes as the response bytes."""
    return grpc.method_handlers_generic_handler(
        "runtime.v1.RuntimeService", {"Version": grpc.unary_unary_rpc_method_handler(lambda raw, context: raw)})


@pytest.fixture
def upstream(tmp_path):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = Upstream()
    pb_grpc.add_RuntimeServiceServicer_to_server(servicer, server)
    pb_grpc.add_ImageServiceServicer_to_server(ImageUpstream(), server)
    pb_alpha_grpc.add_RuntimeServiceServicer_to_server(LegacyUpstream(), server)
    socket = tmp_path / "upstream.sock"
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    servicer.endpoint = f"unix://{socket}"
    yield servicer
    server.stop(0).wait()


@pytest.fixture
def proxy(upstream, tmp_path):
    with FaultProxy(upstream.endpoint, tmp_path / "proxy.sock") as running:
        yield running


@pytest.fixture
def channel(proxy):
    with grpc.insecure_channel(proxy.endpoint) as opened:
        yield opened


def runtime(channel):
    return pb_grpc.RuntimeServiceStub(channel)


def make_fault(rpc: str, intercept, name: str = "test_fault") -> Fault:
    return Fault(name, (rpc,), ("X.notfound_code",), "a fault made by a test", intercept)


def test_every_cri_v1_rpc_is_served():
    names = {(rpc.service, rpc.method) for rpc in CRI_RPCS}
    for service in ("RuntimeService", "ImageService"):
        declared = pb.DESCRIPTOR.services_by_name[service].methods_by_name
        assert {(service, m) for m in declared} <= names
    streaming = sorted(rpc.method for rpc in CRI_RPCS if rpc.server_streaming)
    assert "GetContainerEvents" in streaming and "StreamPodSandboxes" in streaming, streaming


def test_unary_call_is_forwarded_with_its_answer(channel, upstream):
    answer = runtime(channel).Version(pb.VersionRequest(version="v1"), timeout=5)
    assert answer.runtime_name == "upstream"
    assert upstream.requests == [pb.VersionRequest(version="v1")]


def test_bytes_pass_through_untouched_including_unknown_fields(tmp_path):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[echo_version_handler()])
    socket = tmp_path / "echo.sock"
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    raw = pb.VersionRequest(version="v1").SerializeToString() + b"\xf8\x07\x2a"  # unknown field 127 = 42
    try:
        with FaultProxy(f"unix://{socket}", tmp_path / "proxy.sock") as proxy, \
                grpc.insecure_channel(proxy.endpoint) as opened:
            echoed = opened.unary_unary("/runtime.v1.RuntimeService/Version")(raw, timeout=5)
    finally:
        server.stop(0).wait()
    assert echoed == raw


def test_server_stream_is_forwarded_item_by_item(channel):
    items = list(runtime(channel).StreamPodSandboxes(pb.StreamPodSandboxesRequest(), timeout=5))
    assert [item.pod_sandboxes[0].id for item in items] == ["pod-0", "pod-1", "pod-2"]


def test_cancelling_a_stream_cancels_it_upstream(channel, upstream):
    stream = runtime(channel).GetContainerEvents(pb.GetEventsRequest(), timeout=10)
    assert next(stream).container_id == "c0"
    stream.cancel()
    assert upstream.stream_cancelled.wait(5), "the runtime's stream kept running after the caller went away"


def test_errors_keep_code_details_and_trailers(channel):
    with pytest.raises(grpc.RpcError) as caught:
        runtime(channel).PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id="nope"), timeout=5)
    error = caught.value
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "sandbox nope not found")
    assert ("x-upstream-detail", "looked everywhere") in [(m.key, m.value) for m in error.trailing_metadata()]


def test_unimplemented_rpc_answers_unimplemented(channel):
    with pytest.raises(grpc.RpcError) as caught:
        runtime(channel).RuntimeConfig(pb.RuntimeConfigRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_deadline_and_metadata_reach_the_runtime(channel, upstream):
    runtime(channel).Version(pb.VersionRequest(), timeout=3, metadata=[("x-caller", "suite")])
    assert upstream.metadata[-1].get("x-caller") == "suite"
    # deadlines travel with millisecond rounding
    assert upstream.deadlines[-1] is not None and 1.0 < upstream.deadlines[-1] <= 3.1, upstream.deadlines


def test_image_service_goes_to_the_image_endpoint(upstream, tmp_path):
    with FaultProxy(upstream.endpoint, tmp_path / "p.sock", image_endpoint=upstream.endpoint) as proxy, \
            grpc.insecure_channel(proxy.endpoint) as opened:
        answer = pb_grpc.ImageServiceStub(opened).ImageFsInfo(pb.ImageFsInfoRequest(), timeout=5)
    assert answer.image_filesystems[0].timestamp == 7


def test_legacy_v1alpha2_is_forwarded_and_never_faulted(proxy, channel):
    def never(call, forward):
        raise AssertionError("a v1alpha2 call reached a fault")

    proxy.set_faults([make_fault("Version", never)])
    answer = pb_alpha_grpc.RuntimeServiceStub(channel).Version(pb_alpha.VersionRequest(), timeout=5)
    assert answer.runtime_name == "legacy"
    assert proxy.hits["test_fault"] == 0


def test_request_fault_changes_what_the_runtime_receives(proxy, channel, upstream):
    def clear_version(call, forward):
        call.request.version = "changed"
        return forward(call.request)

    proxy.set_faults([make_fault("Version", clear_version)])
    runtime(channel).Version(pb.VersionRequest(version="v1"), timeout=5)
    assert upstream.requests[-1].version == "changed"
    assert proxy.hits["test_fault"] == 1


def test_response_fault_changes_each_streamed_item(proxy, channel):
    fault = catalogue()["container_events_skip_started"]
    proxy.set_faults([fault])
    stream = runtime(channel).GetContainerEvents(pb.GetEventsRequest(), timeout=10)
    types = [next(stream).container_event_type for _ in range(6)]
    stream.cancel()
    assert pb.CONTAINER_STARTED_EVENT not in types and pb.CONTAINER_STOPPED_EVENT in types, types


def test_injected_error_reaches_the_caller(proxy, channel):
    def refuse(call, forward):
        raise Injected(grpc.StatusCode.FAILED_PRECONDITION, "refused by the fault")

    proxy.set_faults([make_fault("StopPodSandbox", refuse)])
    with pytest.raises(grpc.RpcError) as caught:
        runtime(channel).StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=KNOWN_POD), timeout=5)
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                            "refused by the fault")


def test_catalogue_fault_uses_the_runtime_and_its_memory(proxy, channel, upstream):
    proxy.set_faults([catalogue()["second_stop_of_a_pod_fails"]])
    stop = runtime(channel).StopPodSandbox
    stop(pb.StopPodSandboxRequest(pod_sandbox_id=KNOWN_POD), timeout=5)
    with pytest.raises(grpc.RpcError) as caught:
        stop(pb.StopPodSandboxRequest(pod_sandbox_id=KNOWN_POD), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    for _ in range(2):  # a sandbox the runtime does not know is not "already stopped"
        stop(pb.StopPodSandboxRequest(pod_sandbox_id="b" * 64), timeout=5)


def test_error_fault_translates_the_runtime_error(proxy, channel):
    proxy.set_faults([catalogue()["pod_status_of_unknown_pod_is_unknown"]])
    with pytest.raises(grpc.RpcError) as caught:
        runtime(channel).PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id="nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert runtime(channel).PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=KNOWN_POD), timeout=5)


def test_setting_faults_resets_memory_and_counters(proxy, channel):
    fault = catalogue()["second_stop_of_a_pod_fails"]
    stop = runtime(channel).StopPodSandbox
    for _ in range(2):
        proxy.set_faults([fault])
        stop(pb.StopPodSandboxRequest(pod_sandbox_id=KNOWN_POD), timeout=5)  # the first stop again
        assert proxy.hits[fault.name] == 1


def test_a_crashing_fault_is_recorded_not_mistaken_for_a_runtime_bug(proxy, channel):
    def broken(call, forward):
        return forward(call.request).no_such_field

    proxy.set_faults([make_fault("ListPodSandbox", broken)])
    with pytest.raises(grpc.RpcError) as caught:
        runtime(channel).ListPodSandbox(pb.ListPodSandboxRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert len(proxy.crashes) == 1 and "test_fault on ListPodSandbox: AttributeError" in proxy.crashes[0]


def test_a_fault_on_an_rpc_that_does_not_exist_is_refused(proxy):
    with pytest.raises(ProxyError, match="NoSuchRpc"):
        proxy.set_faults([make_fault("NoSuchRpc", lambda call, forward: None)])


def test_socket_path_too_long_is_refused(tmp_path):
    with pytest.raises(ProxyError, match="too long"):
        FaultProxy("unix:///run/x.sock", tmp_path / ("s" * 120))


def test_a_regular_file_at_the_socket_path_is_not_replaced(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    with pytest.raises(ProxyError, match="not a socket"):
        FaultProxy("unix:///run/x.sock", target).start()
    assert target.read_text() == "keep me"
