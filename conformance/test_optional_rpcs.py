"""RPCs a runtime may lack: the Stream* lists, GetContainerEvents, the
metrics RPCs, CheckpointContainer, RuntimeConfig, UpdatePodSandboxResources;
and UpdateRuntimeConfig.

An RPC answering UNIMPLEMENTED ends its tests as "unsupported by this
runtime"; whatever else a runtime answers is checked.
"""

from __future__ import annotations

import platform
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    UNSUPPORTED,
    assert_ns_near,
    call_optional,
    collect_stream,
    stop_container,
    unknown_id,
    wait_container_state,
)
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.fixtures.resources import Pod
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("optional_rpcs")

CASE = "cri-conformance.io/case"
STREAM_DEADLINE = 20.0  # seconds for a whole Stream* list, as the kubelet sets one for the stream
EVENTS_DEADLINE = 60.0
# The cAdvisor names the catalogue lists for critest's parity check.
CORE_METRICS = ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                "container_network_receive_bytes_total", "container_fs_usage_bytes", "container_oom_events_total",
                "container_processes", "container_start_time_seconds")


@dataclass
class World:
    case: str
    pod: Pod
    containers: list[str]  # two running containers

    def selector(self) -> dict[str, str]:
        return {CASE: self.case}


@pytest.fixture(scope="module")
def world(module_resources, busybox, runtime) -> World:
    case = uuid.uuid4().hex
    pod = module_resources.run_pod(labels={CASE: case})
    containers = [module_resources.start_container(pod, image=busybox, labels={CASE: case}) for _ in range(2)]
    for container_id in containers:
        wait_container_state(runtime, container_id, pb.CONTAINER_RUNNING)
    return World(case, pod, containers)


# --- every optional RPC: an answer, or UNIMPLEMENTED (never UNKNOWN) ------------------------------

def first_answer(call, request, timeout: float):
    """A unary response, or the first message of a stream (None if it ends at once)."""
    answer = call(request, timeout=timeout)
    if isinstance(answer, grpc.Call) and hasattr(answer, "__next__"):
        try:
            return next(answer)
        except StopIteration:
            return None
        finally:
            answer.cancel()
    return answer


OPTIONAL_CALLS = [  # (RPC, request, codes that are a proper answer besides OK and UNIMPLEMENTED)
    ("RuntimeConfig", pb.RuntimeConfigRequest(), ()),
    ("ListMetricDescriptors", pb.ListMetricDescriptorsRequest(), ()),
    ("ListPodSandboxMetrics", pb.ListPodSandboxMetricsRequest(), ()),
    ("CheckpointContainer", pb.CheckpointContainerRequest(container_id=unknown_id(), location="/nonexistent/x.tar"),
     (grpc.StatusCode.NOT_FOUND,)),
    ("UpdatePodSandboxResources", pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id=unknown_id()),
     (grpc.StatusCode.NOT_FOUND,)),
    ("PodSandboxStats", pb.PodSandboxStatsRequest(pod_sandbox_id=unknown_id()), (grpc.StatusCode.NOT_FOUND,)),
    ("ListPodSandboxStats", pb.ListPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(id=unknown_id())), ()),
    ("StreamPodSandboxes", pb.StreamPodSandboxesRequest(filter=pb.PodSandboxFilter(id=unknown_id())), ()),
    ("StreamContainers", pb.StreamContainersRequest(filter=pb.ContainerFilter(id=unknown_id())), ()),
    ("StreamContainerStats", pb.StreamContainerStatsRequest(filter=pb.ContainerStatsFilter(id=unknown_id())), ()),
    ("StreamPodSandboxStats", pb.StreamPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(id=unknown_id())), ()),
    ("StreamPodSandboxMetrics", pb.StreamPodSandboxMetricsRequest(), ()),
    # A long-lived stream: with no container events its deadline passes.
    ("GetContainerEvents", pb.GetEventsRequest(), (grpc.StatusCode.DEADLINE_EXCEEDED,)),
]


@pytest.mark.contract("X.unimplemented_code", "StreamList.unimplemented_fallback")
@pytest.mark.parametrize("rpc, request_message, also_ok", OPTIONAL_CALLS, ids=[c[0] for c in OPTIONAL_CALLS])
def test_optional_rpc_answers_or_is_unimplemented(runtime, rpc, request_message, also_ok):
    try:
        first_answer(getattr(runtime, rpc), request_message, timeout=2.0)
    except grpc.RpcError as err:
        allowed = (grpc.StatusCode.UNIMPLEMENTED, *also_ok)
        assert err.code() in allowed, (
            f"{rpc} failed with {err.code().name} ({err.details()}); a runtime without it must answer "
            f"UNIMPLEMENTED, one with it one of {[c.name for c in also_ok] or 'OK'}"
        )


# --- the Stream* lists ---------------------------------------------------------------------

@dataclass(frozen=True)
class StreamPair:
    stream: str
    unary: str
    stream_request: Callable[[World], object]
    unary_request: Callable[[World], object]
    stream_items: str
    unary_items: str
    key: Callable[[object], str]
    filtered: bool = True  # False: compare only this module's pod (others come and go)


def _attributes_id(item) -> str:
    return item.attributes.id


STREAM_PAIRS = [
    StreamPair("StreamPodSandboxes", "ListPodSandbox",
               lambda w: pb.StreamPodSandboxesRequest(filter=pb.PodSandboxFilter(label_selector=w.selector())),
               lambda w: pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector=w.selector())),
               "pod_sandboxes", "items", lambda item: item.id),
    StreamPair("StreamContainers", "ListContainers",
               lambda w: pb.StreamContainersRequest(filter=pb.ContainerFilter(label_selector=w.selector())),
               lambda w: pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=w.selector())),
               "containers", "containers", lambda item: item.id),
    StreamPair("StreamContainerStats", "ListContainerStats",
               lambda w: pb.StreamContainerStatsRequest(filter=pb.ContainerStatsFilter(label_selector=w.selector())),
               lambda w: pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(label_selector=w.selector())),
               "container_stats", "stats", _attributes_id),
    StreamPair("StreamPodSandboxStats", "ListPodSandboxStats",
               lambda w: pb.StreamPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(label_selector=w.selector())),
               lambda w: pb.ListPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(label_selector=w.selector())),
               "pod_sandbox_stats", "stats", _attributes_id),
    StreamPair("StreamPodSandboxMetrics", "ListPodSandboxMetrics",
               lambda w: pb.StreamPodSandboxMetricsRequest(), lambda w: pb.ListPodSandboxMetricsRequest(),
               "pod_sandbox_metrics", "pod_metrics", lambda item: item.pod_sandbox_id, filtered=False),
]
PARITY_CONTRACT = {"StreamPodSandboxes": "StreamPodSandboxes.parity", "StreamContainers": "StreamContainers.parity",
                   "StreamContainerStats": "StreamContainerStats.parity",
                   "StreamPodSandboxStats": "StreamPodSandboxStats.parity",
                   "StreamPodSandboxMetrics": "StreamPodSandboxMetrics.parity"}


@pytest.mark.contract("StreamList.min_one_item", "StreamList.exactly_once", "StreamList.eof",
                      "StreamList.filter_parity", "StreamList.client_timeout")
@pytest.mark.parametrize("pair", [pytest.param(p, marks=pytest.mark.contract(PARITY_CONTRACT[p.stream]), id=p.stream)
                                  for p in STREAM_PAIRS])
def test_stream_list_matches_its_unary_list(runtime, world, pair):
    started = time.monotonic()
    try:
        responses = collect_stream(pair.stream, getattr(runtime, pair.stream), pair.stream_request(world),
                                   timeout=STREAM_DEADLINE)
    except grpc.RpcError as err:
        raise AssertionError(f"{pair.stream} did not end with OK within {STREAM_DEADLINE:g} s: "
                             f"{err.code().name}: {err.details()}") from None
    seconds = time.monotonic() - started
    sizes = [len(getattr(r, pair.stream_items)) for r in responses]
    assert all(sizes), f"{pair.stream} sent empty messages: items per message {sizes}"
    keys = [pair.key(item) for r in responses for item in getattr(r, pair.stream_items)]
    assert len(keys) == len(set(keys)), f"{pair.stream} sent items more than once: {sorted(keys)}"
    listed = {pair.key(item) for item in getattr(getattr(runtime, pair.unary)(pair.unary_request(world)),
                                                 pair.unary_items)}
    if pair.filtered:
        assert set(keys) == listed, f"{pair.stream} sent {sorted(keys)}; {pair.unary} lists {sorted(listed)}"
    else:
        assert world.pod.id in set(keys) and world.pod.id in listed, (
            f"this module's pod {world.pod.id[:13]}: in {pair.stream}: {world.pod.id in keys}, "
            f"in {pair.unary}: {world.pod.id in listed}"
        )
    assert seconds < STREAM_DEADLINE, f"{pair.stream} took {seconds:.1f} s"


# --- GetContainerEvents ----------------------------------------------------------------------

class EventReader:
    """Reads a GetContainerEvents stream on a thread until cancelled."""

    def __init__(self, runtime):
        self.call = runtime.GetContainerEvents(pb.GetEventsRequest(), timeout=EVENTS_DEADLINE)
        self.events: list[pb.ContainerEventResponse] = []
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.append(event)
        except grpc.RpcError as err:
            self.error = err

    def of(self, container_id: str) -> list[pb.ContainerEventResponse]:
        return [e for e in list(self.events) if e.container_id == container_id]

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(5)


@pytest.mark.contract("GetContainerEvents.stream", "GetContainerEvents.types", "GetContainerEvents.payload",
                      "GetContainerEvents.order")
def test_container_events_follow_the_lifecycle(runtime, resources, world, busybox):
    reader = EventReader(runtime)
    try:
        reader.thread.join(0.5)  # an RPC the runtime lacks fails at once
        if reader.error is not None:
            if reader.error.code() == grpc.StatusCode.UNIMPLEMENTED:
                pytest.skip(f"{UNSUPPORTED}: GetContainerEvents: UNIMPLEMENTED")
            raise AssertionError(f"GetContainerEvents failed: {reader.error.code().name}: {reader.error.details()}")
        before = time.time_ns()
        container_id = resources.create_container(world.pod, image=busybox)
        runtime.StartContainer(pb.StartContainerRequest(container_id=container_id))
        stop_container(runtime, container_id, timeout=0)
        runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=container_id))
        expected = [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT, pb.CONTAINER_STOPPED_EVENT,
                    pb.CONTAINER_DELETED_EVENT]
        events = wait_for(lambda: reader.of(container_id),
                          lambda got: len(got) >= len(expected) or reader.error is not None,
                          timeout=10, what=f"four events for container {container_id[:13]}")
    finally:
        reader.close()
    names = [pb.ContainerEventType.Name(e.container_event_type) for e in events]
    assert [e.container_event_type for e in events] == expected, (
        f"events for the container: {names}, expected CREATED, STARTED, STOPPED, DELETED once each, in order"
    )
    times = [e.created_at for e in events]
    for stamp in times:
        assert_ns_near(stamp, "ContainerEventResponse.created_at", before)
    assert times == sorted(times), f"event created_at values go backwards: {times}"
    pods = {e.pod_sandbox_status.id for e in events}
    assert pods == {world.pod.id}, f"events carry pod_sandbox_status of {pods}, expected {world.pod.id}"


# --- metrics -------------------------------------------------------------------------------

def descriptors(runtime) -> list[pb.MetricDescriptor]:
    return list(call_optional("ListMetricDescriptors", runtime.ListMetricDescriptors,
                              pb.ListMetricDescriptorsRequest()).descriptors)


@pytest.mark.contract("Metrics.optional", "ListMetricDescriptors.static", "ListMetricDescriptors.name_unique",
                      "ListMetricDescriptors.help_labels", "ListMetricDescriptors.cadvisor_parity")
def test_metric_descriptors_are_unique_described_and_stable(runtime):
    first = descriptors(runtime)
    names = [d.name for d in first]
    assert len(names) == len(set(names)), f"duplicate descriptor names: {sorted(names)}"
    undescribed = [d.name for d in first if not d.help or not d.label_keys]
    assert not undescribed, f"descriptors without help or label_keys: {undescribed}"
    missing = [name for name in CORE_METRICS if name not in names]
    assert not missing, f"cAdvisor metrics missing: {missing}"
    again = descriptors(runtime)
    assert again == first, "ListMetricDescriptors changed between two calls"


@pytest.mark.contract("Metrics.optional", "ListPodSandboxMetrics.content", "MetricDescriptor.label_keys",
                      "ListPodSandboxMetrics.undeclared_ignored", "Metric.timestamp", "Metric.type")
def test_pod_sandbox_metrics_use_the_declared_descriptors(runtime, world):
    declared = {d.name: len(d.label_keys) for d in descriptors(runtime)}
    response = call_optional("ListPodSandboxMetrics", runtime.ListPodSandboxMetrics, pb.ListPodSandboxMetricsRequest())
    ours = [m for m in response.pod_metrics if m.pod_sandbox_id == world.pod.id]
    assert len(ours) == 1, f"{len(ours)} entries for the running pod {world.pod.id[:13]}"
    entry = ours[0]
    containers = {c.container_id for c in entry.container_metrics}
    assert set(world.containers) <= containers, f"container_metrics for {sorted(containers)}, expected ours too"
    metrics = list(entry.metrics) + [m for c in entry.container_metrics for m in c.metrics]
    assert metrics, "no metrics for a running pod"
    problems = []
    for metric in metrics:
        if metric.name not in declared:
            problems.append(f"{metric.name}: not declared")
        elif len(metric.label_values) != declared[metric.name]:
            problems.append(f"{metric.name}: {len(metric.label_values)} label values, {declared[metric.name]} keys")
        if metric.metric_type not in (pb.COUNTER, pb.GAUGE):
            problems.append(f"{metric.name}: metric_type {metric.metric_type}")
        if not metric.HasField("value"):
            problems.append(f"{metric.name}: no value")
        if metric.timestamp and not (0 < time.time_ns() - metric.timestamp < 3600 * 10**9):
            problems.append(f"{metric.name}: timestamp {metric.timestamp} is neither 0 nor a recent ns time")
    assert not problems, "; ".join(problems[:20])


# --- CheckpointContainer, UpdatePodSandboxResources, RuntimeConfig ------------------------------------

@pytest.mark.contract("CheckpointContainer.location", "CheckpointContainer.timeout")
def test_checkpoint_writes_an_archive(runtime, world):
    location = world.pod.log_directory / "checkpoint.tar"
    call_optional("CheckpointContainer", runtime.CheckpointContainer,
                  pb.CheckpointContainerRequest(container_id=world.containers[0], location=str(location), timeout=0))
    assert location.is_file() and location.stat().st_size > 0, f"no checkpoint archive at {location}"


@pytest.mark.contract("UpdatePodSandboxResources.semantics", "UpdatePodSandboxResources.best_effort")
def test_update_pod_sandbox_resources_is_accepted(runtime, world):
    resources = pb.LinuxContainerResources(cpu_shares=1024, memory_limit_in_bytes=256 << 20)
    call_optional("UpdatePodSandboxResources", runtime.UpdatePodSandboxResources,
                  pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id=world.pod.id, resources=resources,
                                                      overhead=pb.LinuxContainerResources(cpu_shares=10)))


@pytest.mark.contract("RuntimeConfig.cgroup_driver", "RuntimeConfig.static", "RuntimeConfig.unimplemented")
def test_runtime_config_names_a_stable_cgroup_driver(runtime):
    first = call_optional("RuntimeConfig", runtime.RuntimeConfig, pb.RuntimeConfigRequest())
    driver = first.linux.cgroup_driver
    assert driver in (pb.SYSTEMD, pb.CGROUPFS), f"cgroup_driver {driver} is neither SYSTEMD (0) nor CGROUPFS (1)"
    again = runtime.RuntimeConfig(pb.RuntimeConfigRequest())
    assert again == first, f"RuntimeConfig changed between two calls: {first} -> {again}"


# --- UpdateRuntimeConfig and Status features -----------------------------------------------------------

@pytest.mark.contract("UpdateRuntimeConfig.empty_cidr")
def test_update_runtime_config_with_an_empty_cidr_changes_nothing(runtime):
    runtime.UpdateRuntimeConfig(pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=""))))
    conditions = {c.type: c.status for c in runtime.Status(pb.StatusRequest()).status.conditions}
    assert conditions.get("NetworkReady") is True, f"after an empty pod CIDR the conditions are {conditions}"


def kernel_version() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


@pytest.mark.contract("Status.rro_feature_semantics")
def test_handlers_claim_recursive_read_only_mounts_only_where_possible(runtime):
    claiming = [h.name or "(default)" for h in runtime.Status(pb.StatusRequest()).runtime_handlers
                if h.features.recursive_read_only_mounts]
    if not claiming:
        pytest.skip("no runtime handler advertises recursive_read_only_mounts")
    assert kernel_version() >= (5, 12), (
        f"handlers {claiming} advertise recursive read-only mounts on kernel {platform.release()} (needs 5.12)"
    )
