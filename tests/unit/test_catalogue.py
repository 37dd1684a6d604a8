"""The packaged contract list is the specification's, and markers use it."""

import re
from pathlib import Path

import pytest

from cri_conformance.catalogue import LEVELS, UnknownContract, catalogue, lookup

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "cri-contracts.md"


def test_every_contract_has_a_known_level():
    assert len(catalogue()) >= 400
    assert {c.level for c in catalogue().values()} <= set(LEVELS)


def test_lookup_rejects_unknown_ids():
    assert lookup("StopPodSandbox.idempotent").level == "MUST"
    with pytest.raises(UnknownContract):
        lookup("StopPodSandbox.no_such_rule")


def test_packaged_ids_match_the_specification():
    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is absent: the shared specification is not beside this checkout")
    ids = set(re.findall(r"^\| ([A-Za-z0-9_]+\.[A-Za-z0-9_.]+) \|", SPEC.read_text(encoding="utf-8"), re.M))
    assert ids == set(catalogue())
