"""`--registry`: the image tests pass when every test image comes from another registry name.

The local runtime's registry also answers under its plain address
(127.0.0.1:PORT), so pointing the suite there moves every reference (tags
and digests kept) without changing what is served: the air-gapped-node setup.
It runs on a runtime of its own: the extra image names it pulls would change
what other tests see (containerd reports an image by one of its tags).
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.client import CriClient
from cri_conformance.fixtures.endpoint import parse_endpoint
from cri_conformance.proto import runtime_v1_pb2 as pb

from conftest import sibling_runtime

from .suite_run import run_suite


@pytest.fixture
def separate_runtime(local_runtime):
    with sibling_runtime(local_runtime, "registry-switch") as runtime:
        yield runtime


@pytest.mark.timeout(600)
def test_image_tests_pass_with_every_image_from_another_registry(separate_runtime, tmp_path):
    registry = separate_runtime.status()["registry"]
    assert registry and registry.startswith("127.0.0.1:"), f"local registry address: {registry!r}"
    run = run_suite(separate_runtime.endpoint, tmp_path / "reports", "-k", "test_image_ and not test_image_auth",
                    "--registry", registry)
    assert run.report is not None, run.output[-3000:]
    assert len(run.cases()) > 30, f"too few image tests ran: {len(run.cases())}\n{run.output[-2000:]}"
    assert run.by_outcome("failure") == [] and run.by_outcome("error") == [], run.output[-4000:]
    with CriClient(parse_endpoint(separate_runtime.endpoint)) as client:
        tags = {tag for image in client.image.ListImages(pb.ListImagesRequest()).images for tag in image.repo_tags}
    assert f"{registry}/busybox:1.0" in tags, f"busybox was not pulled from {registry}: {sorted(tags)}"
