"""Fuzzing image references: ImageStatus lookups and PullImage.

Pulls only ever name the suite's own registry host (mapped to a registry on
127.0.0.1) or 127.0.0.1 on a port the test holds closed.
"""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.fuzz.target_images import ImageStatusTarget, PullImageTarget

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


@pytest.mark.contract(
    "ImageStatus.absent_nil", "ImageStatus.required_fields", "ImageStatus.ref_kinds", "ImageSpec.image",
    "Status.required_true",
)
def test_fuzz_image_status_references(fuzz):
    fuzz.run(ImageStatusTarget())


@pytest.mark.contract(
    "PullImage.image_ref_nonempty", "ImageStatus.after_pull", "Image.id_matches_pull", "PullImage.repull",
    "PullImage.sandbox_config", "PullImage.auth", "Status.required_true",
)
def test_fuzz_pull_image_references(fuzz):
    fuzz.run(PullImageTarget())
