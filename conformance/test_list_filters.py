"""ListPodSandbox and ListContainers: every filter field, alone and combined.

The node may run other workloads: results are checked item by item against
the filter, and for this module's own pods and containers (marked with a
`case` label unique to the module) exactly.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import pytest

from cri_conformance.fixtures.cri_helpers import (
    assert_ns_near,
    list_containers,
    list_sandboxes,
    sandbox_state_name,
    state_name,
    unknown_id,
    wait_container_state,
)
from cri_conformance.fixtures.resources import Pod
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("list_filters")

CASE = "cri-conformance.io/case"
ANNOTATIONS = {"example.com/listed": "yes", "blank": ""}
DIGESTED = re.compile(r"^(?:[^@\s]+@)?sha256:[0-9a-f]{64}$")


@dataclass
class World:
    case: str
    ready: Pod  # READY, holds created, running and exited
    stopped: Pod  # NOTREADY, holds stopped (EXITED since the pod stopped)
    configs: dict[str, pb.ContainerConfig]  # role -> config
    ids: dict[str, str]  # role -> container ID
    pod_of: dict[str, str]  # role -> pod ID
    before: int
    after: int

    def roles(self, container_ids) -> set[str]:
        """The roles of this module's containers among `container_ids`."""
        by_id = {cid: role for role, cid in self.ids.items()}
        return {by_id[cid] for cid in container_ids if cid in by_id}

    def pods(self, pod_ids) -> set[str]:
        names = {self.ready.id: "ready", self.stopped.id: "stopped"}
        return {names[pid] for pid in pod_ids if pid in names}

    def selector(self, **labels) -> dict[str, str]:
        return {CASE: self.case, **labels}


@pytest.fixture(scope="module")
def world(module_resources, busybox, runtime) -> World:
    case = uuid.uuid4().hex
    before = time.time_ns()
    ready = module_resources.run_pod(labels={CASE: case, "group": "a"}, annotations=ANNOTATIONS)
    stopped = module_resources.run_pod(labels={CASE: case, "group": "b"}, annotations=ANNOTATIONS)
    plan = {  # role: (pod, colour, command)
        "created": (ready, "red", None),
        "running": (ready, "red", None),
        "exited": (ready, "blue", ["true"]),
        "stopped": (stopped, "blue", None),
    }
    configs, ids, pod_of = {}, {}, {}
    for role, (pod, colour, command) in plan.items():
        configs[role] = module_resources.container_config(
            busybox, labels={CASE: case, "color": colour, "role": role}, annotations=ANNOTATIONS, command=command)
        create = module_resources.create_container if role == "created" else module_resources.start_container
        ids[role] = create(pod, configs[role])
        pod_of[role] = pod.id
    wait_container_state(runtime, ids["exited"], pb.CONTAINER_EXITED)
    wait_container_state(runtime, ids["running"], pb.CONTAINER_RUNNING)
    wait_container_state(runtime, ids["stopped"], pb.CONTAINER_RUNNING)
    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=stopped.id))
    return World(case, ready, stopped, configs, ids, pod_of, before, time.time_ns())


STATE_OF_ROLE = {"created": pb.CONTAINER_CREATED, "running": pb.CONTAINER_RUNNING,
                 "exited": pb.CONTAINER_EXITED, "stopped": pb.CONTAINER_EXITED}


# --- ListContainers -------------------------------------------------------------------------

@pytest.mark.contract("ListContainers.no_filter_all")
def test_containers_without_filter_lists_every_state_and_sandbox(runtime, world):
    for request in (pb.ListContainersRequest(), pb.ListContainersRequest(filter=pb.ContainerFilter())):
        found = world.roles(c.id for c in runtime.ListContainers(request).containers)
        assert found == set(world.ids), f"unfiltered ListContainers ({request}) shows {sorted(found)} of ours"


@pytest.mark.contract("ListContainers.filter_id")
def test_containers_by_id(runtime, world):
    got = [c.id for c in list_containers(runtime, id=world.ids["running"])]
    assert got == [world.ids["running"]], f"filter by ID returned {got}"
    assert list_containers(runtime, id=unknown_id()) == [], "an unknown ID must give an empty list"


@pytest.mark.contract("ListContainers.filter_state", "State.enum")
@pytest.mark.parametrize("state", [pb.CONTAINER_CREATED, pb.CONTAINER_RUNNING, pb.CONTAINER_EXITED],
                         ids=state_name)
def test_containers_by_state(runtime, world, state):
    items = list_containers(runtime, state=pb.ContainerStateValue(state=state))
    wrong = [(c.id[:13], state_name(c.state)) for c in items if c.state != state]
    assert not wrong, f"filter state={state_name(state)} returned containers in other states: {wrong}"
    expected = {role for role, s in STATE_OF_ROLE.items() if s == state}
    assert world.roles(c.id for c in items) == expected, (
        f"filter state={state_name(state)}: ours found {sorted(world.roles(c.id for c in items))}, "
        f"expected {sorted(expected)}"
    )


@pytest.mark.contract("ListContainers.filter_pod", "CreateContainer.sandbox_membership")
def test_containers_by_sandbox(runtime, world):
    items = list_containers(runtime, pod_sandbox_id=world.ready.id)
    foreign = [c.id[:13] for c in items if c.pod_sandbox_id != world.ready.id]
    assert not foreign, f"filter by sandbox returned containers of other sandboxes: {foreign}"
    assert world.roles(c.id for c in items) == {"created", "running", "exited"}


@pytest.mark.contract("ListContainers.filter_labels")
@pytest.mark.parametrize("labels, expected", [
    ({}, {"created", "running", "exited", "stopped"}),
    ({"color": "red"}, {"created", "running"}),
    ({"color": "red", "role": "running"}, {"running"}),  # every pair must match
    ({"color": "red", "role": "exited"}, set()),
    ({"color": "re"}, set()),  # exact values, not prefixes
    ({"color": ""}, set()),
    ({"no-such-key": "red"}, set()),
], ids=["case", "one-label", "two-labels", "conflicting", "prefix", "empty-value", "unknown-key"])
def test_containers_by_labels(runtime, world, labels, expected):
    selector = world.selector(**labels)
    got = world.roles(c.id for c in list_containers(runtime, label_selector=selector))
    assert got == expected, f"label_selector {selector}: got {sorted(got)}, expected {sorted(expected)}"


@pytest.mark.contract("ListContainers.filter_and")
def test_container_filter_fields_combine_with_and(runtime, world):
    running = pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)
    exited = pb.ContainerStateValue(state=pb.CONTAINER_EXITED)
    cases = [
        (dict(pod_sandbox_id=world.ready.id, state=running), {"running"}),
        (dict(pod_sandbox_id=world.ready.id, state=exited), {"exited"}),
        (dict(id=world.ids["running"], state=exited), set()),
        (dict(id=world.ids["running"], pod_sandbox_id=world.stopped.id), set()),
        (dict(id=world.ids["running"], label_selector=world.selector(color="blue")), set()),
        (dict(pod_sandbox_id=world.stopped.id, label_selector=world.selector(color="blue")), {"stopped"}),
        (dict(state=exited, label_selector=world.selector()), {"exited", "stopped"}),
    ]
    failures = []
    for fields, expected in cases:
        got = world.roles(c.id for c in list_containers(runtime, **fields))
        if got != expected:
            failures.append(f"{fields}: got {sorted(got)}, expected {sorted(expected)}")
    assert not failures, "; ".join(failures)


@pytest.mark.contract("ListContainers.item_fields", "ListContainers.annotations_identical",
                      "CreateContainer.sandbox_membership")
def test_listed_containers_carry_their_configuration(runtime, world, busybox):
    items = {c.id: c for c in list_containers(runtime, label_selector=world.selector())}
    for role, container_id in world.ids.items():
        item, config = items[container_id], world.configs[role]
        assert item.pod_sandbox_id == world.pod_of[role], f"{role}: pod_sandbox_id {item.pod_sandbox_id}"
        assert item.metadata == config.metadata, f"{role}: metadata {item.metadata}, sent {config.metadata}"
        assert item.image.image == busybox, f"{role}: image {item.image.image!r}, created with {busybox!r}"
        assert DIGESTED.match(item.image_ref), f"{role}: image_ref {item.image_ref!r} is not a digested reference"
        assert item.state == STATE_OF_ROLE[role], f"{role}: state {state_name(item.state)}"
        assert_ns_near(item.created_at, f"{role}: created_at", world.before, world.after)
        assert dict(item.labels).items() >= dict(config.labels).items(), f"{role}: labels {dict(item.labels)}"
        assert dict(item.annotations) == ANNOTATIONS, (
            f"{role}: annotations must be identical: sent {ANNOTATIONS}, got {dict(item.annotations)}"
        )


# --- ListPodSandbox ------------------------------------------------------------------------

@pytest.mark.contract("ListPodSandbox.no_filter_all")
def test_sandboxes_without_filter_lists_ready_and_notready(runtime, world):
    for request in (pb.ListPodSandboxRequest(), pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter())):
        found = world.pods(p.id for p in runtime.ListPodSandbox(request).items)
        assert found == {"ready", "stopped"}, f"unfiltered ListPodSandbox shows {sorted(found)} of ours"


@pytest.mark.contract("ListPodSandbox.filter_id")
def test_sandboxes_by_id(runtime, world):
    got = [p.id for p in list_sandboxes(runtime, id=world.ready.id)]
    assert got == [world.ready.id], f"filter by ID returned {got}"
    assert list_sandboxes(runtime, id=unknown_id()) == [], "an unknown ID must give an empty list"


@pytest.mark.contract("ListPodSandbox.filter_state")
@pytest.mark.parametrize("state, expected", [(pb.SANDBOX_READY, {"ready"}), (pb.SANDBOX_NOTREADY, {"stopped"})],
                         ids=["READY", "NOTREADY"])
def test_sandboxes_by_state(runtime, world, state, expected):
    items = list_sandboxes(runtime, state=pb.PodSandboxStateValue(state=state))
    wrong = [(p.id[:13], sandbox_state_name(p.state)) for p in items if p.state != state]
    assert not wrong, f"filter state={sandbox_state_name(state)} returned sandboxes in other states: {wrong}"
    assert world.pods(p.id for p in items) == expected


@pytest.mark.contract("ListPodSandbox.filter_labels")
@pytest.mark.parametrize("labels, expected", [
    ({}, {"ready", "stopped"}),
    ({"group": "a"}, {"ready"}),
    ({"group": "a", "no-such-key": "a"}, set()),  # every pair must match
    ({"group": ""}, set()),
    ({"group": "A"}, set()),  # exact, case-sensitive values
], ids=["case", "one-label", "extra-key", "empty-value", "other-case"])
def test_sandboxes_by_labels(runtime, world, labels, expected):
    selector = world.selector(**labels)
    got = world.pods(p.id for p in list_sandboxes(runtime, label_selector=selector))
    assert got == expected, f"label_selector {selector}: got {sorted(got)}, expected {sorted(expected)}"


@pytest.mark.contract("ListPodSandbox.filter_and")
def test_sandbox_filter_fields_combine_with_and(runtime, world):
    ready = pb.PodSandboxStateValue(state=pb.SANDBOX_READY)
    notready = pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY)
    cases = [
        (dict(id=world.ready.id, state=notready), set()),
        (dict(id=world.ready.id, state=ready), {"ready"}),
        (dict(id=world.ready.id, label_selector=world.selector(group="b")), set()),
        (dict(state=ready, label_selector=world.selector()), {"ready"}),
        (dict(state=notready, label_selector=world.selector(group="b")), {"stopped"}),
    ]
    failures = []
    for fields, expected in cases:
        got = world.pods(p.id for p in list_sandboxes(runtime, **fields))
        if got != expected:
            failures.append(f"{fields}: got {sorted(got)}, expected {sorted(expected)}")
    assert not failures, "; ".join(failures)


@pytest.mark.contract("ListPodSandbox.item_fields", "ListPodSandbox.annotations_identical")
def test_listed_sandboxes_carry_their_configuration(runtime, world):
    items = {p.id: p for p in list_sandboxes(runtime, label_selector=world.selector())}
    for pod, state in ((world.ready, pb.SANDBOX_READY), (world.stopped, pb.SANDBOX_NOTREADY)):
        item = items[pod.id]
        assert item.metadata == pod.metadata, f"metadata {item.metadata}, sent {pod.metadata}"
        assert item.state == state, f"state {sandbox_state_name(item.state)}, expected {sandbox_state_name(state)}"
        assert_ns_near(item.created_at, "PodSandbox.created_at", world.before, world.after)
        assert dict(item.labels).items() >= dict(pod.config.labels).items(), f"labels {dict(item.labels)}"
        assert dict(item.annotations) == ANNOTATIONS, (
            f"annotations must be identical: sent {ANNOTATIONS}, got {dict(item.annotations)}"
        )
        if pod.handler:
            assert item.runtime_handler == pod.handler, f"runtime_handler {item.runtime_handler!r}"
