"""The contract catalogue: one ID per testable rule of the CRI API.

The IDs, levels and platforms come from the project's specification
(cri-contracts.md); data/contracts.tsv carries them inside the package so an
installed suite can validate its markers and report coverage without the
specification at hand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

LEVELS = ("MUST", "SHOULD", "DEFINED", "CLIENT", "CRITEST", "OPTIONAL", "INFO")


@dataclass(frozen=True)
class Contract:
    id: str
    level: str
    platform: str
    section: str


def _read_tsv(name: str) -> list[list[str]]:
    text = resources.files("cri_conformance").joinpath("data", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def catalogue() -> dict[str, Contract]:
    return {row[0]: Contract(*row[:4]) for row in _read_tsv("contracts.tsv")}


class UnknownContract(KeyError):
    pass


def lookup(contract_id: str) -> Contract:
    try:
        return catalogue()[contract_id]
    except KeyError:
        raise UnknownContract(f"{contract_id!r} is not in the contract catalogue") from None
