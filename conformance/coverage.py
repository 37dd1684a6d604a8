"""Contract coverage: which tests check each catalogue contract, and why
none does where none can (data/not-covered.tsv gives the reasons).

The tests are found by collecting the suite (no runtime is contacted).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from dataclasses import asdict, dataclass, field
from importlib import resources

import pytest

from cri_conformance.catalogue import catalogue


class _MarkerCollector:
    def __init__(self):
        self.tests: dict[str, list[str]] = {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            ids = [cid for mark in item.iter_markers("contract") for cid in mark.args]
            self.tests[item.nodeid] = ids


def collect_contract_markers() -> dict[str, list[str]]:
    """{test node ID: [contract IDs]} for every test of the suite."""
    collector = _MarkerCollector()
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main(["--pyargs", "cri_conformance", "--collect-only", "-q", "-p", "no:cacheprovider"],
                           plugins=[collector])
    if code not in (0, 5):
        raise RuntimeError(f"collecting the suite failed (pytest exit {code})")
    return collector.tests


def not_covered_reasons() -> dict[str, str]:
    text = resources.files("cri_conformance").joinpath("data", "not-covered.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {cid: reason.strip() for cid, reason in rows}


@dataclass
class Row:
    id: str
    level: str
    platform: str
    section: str
    tests: list[str] = field(default_factory=list)
    reason: str = ""


def coverage_rows() -> list[Row]:
    reasons = not_covered_reasons()
    rows = {cid: Row(cid, c.level, c.platform, c.section, reason=reasons.get(cid, ""))
            for cid, c in catalogue().items()}
    for nodeid, ids in collect_contract_markers().items():
        for cid in ids:
            rows[cid].tests.append(nodeid)
    return list(rows.values())


def summary(rows: list[Row]) -> str:
    covered = sum(1 for r in rows if r.tests)
    explained = sum(1 for r in rows if not r.tests and r.reason)
    open_ = len(rows) - covered - explained
    tests = len({t for r in rows for t in r.tests})
    return (f"{covered} of {len(rows)} contracts checked by {tests} tests; "
            f"{explained} not testable here (reason given); {open_} not yet covered")


def main(args: argparse.Namespace) -> int:
    rows = coverage_rows()
    if args.uncovered:
        rows = [r for r in rows if not r.tests]
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    if args.format == "html":
        from cri_conformance.render_html import coverage_page

        print(coverage_page(rows, summary(coverage_rows() if args.uncovered else rows)), end="")
        return 0
    if args.format == "markdown":
        print("| contract | level | platform | tests / reason |\n|---|---|---|---|")
        for r in rows:
            where = "<br>".join(r.tests) if r.tests else (f"not covered: {r.reason}" if r.reason else "**not yet covered**")
            print(f"| {r.id} | {r.level} | {r.platform} | {where} |")
    else:
        for r in rows:
            where = ", ".join(t.split("::", 1)[-1] for t in r.tests) if r.tests else (
                f"- {r.reason}" if r.reason else "- NOT YET COVERED")
            print(f"{r.id:48} {r.level:8} {where}")
    print(summary(coverage_rows() if args.uncovered else rows))
    return 0
