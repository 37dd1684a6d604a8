"""Known failures: where a runtime version truly breaks a contract.

A profile (TOML) lists entries:

    [[known_failure]]
    test = "test_pod_sandbox.py::test_name"   # node ID suffix
    runtime = "containerd"                     # Version.runtime_name
    versions = ">=1.6, <1.7"                   # runtime_version range
    reason = "what breaks, and why it is the runtime's fault"
    link = "https://..."                       # optional

Matching tests stay strict: they are marked xfail(strict=True), so the run
fails when a known failure starts passing, until the profile is updated.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_COMPARISON = re.compile(r"^(>=|<=|==|!=|>|<)?\s*v?([0-9][0-9.]*)")


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading numeric part of a version: 'v1.6.20~ds1' -> (1, 6, 20)."""
    match = re.match(r"v?([0-9]+(?:\.[0-9]+)*)", text.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def version_in_range(version: str, spec: str) -> bool:
    """Whether version satisfies every comma-separated clause of spec."""
    have = version_tuple(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = _COMPARISON.match(clause)
        if not match:
            raise ValueError(f"bad version clause {clause!r}")
        op, want = match.group(1) or "==", version_tuple(match.group(2))
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if op == "==" and len(want) < len(have):  # "==1.6" means any 1.6.x
            a = have[: len(want)]
            b = want
        ok = {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class KnownFailure:
    test: str
    runtime: str
    versions: str
    reason: str
    link: str = ""

    def applies_to(self, test_id: str, runtime: str, version: str) -> bool:
        """test_id is 'test_file.py::test_name[param]'; an entry without a
        parameter matches every parametrization."""
        base = test_id.split("[", 1)[0]
        return (
            (test_id.endswith(self.test) or base.endswith(self.test))
            and runtime == self.runtime
            and version_in_range(version, self.versions)
        )


def load_profile(path: str | None) -> list[KnownFailure]:
    if path:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    else:
        text = resources.files("cri_conformance").joinpath("data", "known-failures.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
    return [KnownFailure(**entry) for entry in data.get("known_failure", [])]
