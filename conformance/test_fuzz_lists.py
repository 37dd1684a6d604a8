"""Fuzzing the list filters of ListPodSandbox and ListContainers against a model.

A small population in known states is listed with drawn filters (IDs, ID
prefixes, states including unknown numbers, label pairs); the answer must
hold exactly the population members that match, and nothing that does not.
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.fuzz.target_lists import ListContainersTarget, ListPodSandboxTarget

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


@pytest.mark.contract(
    "ListPodSandbox.no_filter_all", "ListPodSandbox.filter_id", "ListPodSandbox.filter_state",
    "ListPodSandbox.filter_labels", "ListPodSandbox.filter_and", "X.proto3_presence", "Status.required_true",
)
def test_fuzz_list_pod_sandbox_filters(fuzz):
    fuzz.run(ListPodSandboxTarget())


@pytest.mark.contract(
    "ListContainers.no_filter_all", "ListContainers.filter_id", "ListContainers.filter_state",
    "ListContainers.filter_pod", "ListContainers.filter_labels", "ListContainers.filter_and", "X.proto3_presence",
    "Status.required_true",
)
def test_fuzz_list_containers_filters(fuzz):
    fuzz.run(ListContainersTarget())
