"""Side-by-side comparison of runs: every test, each runtime's outcome.

    cri-conformance compare containerd.xml crio.xml [--format markdown|html|json] [--output-dir DIR]

Rows are grouped by the RPC (catalogue section) of the test's contracts;
tests whose outcome differs between the runtimes come first. The same model
feeds the Markdown (terminal, PR comment), the self-contained HTML page and
the JSON (machines); `cri-conformance run --runtime A=EP --runtime B=EP`
writes all three next to the JUnit files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from cri_conformance.catalogue import catalogue
from cri_conformance.report_model import (
    Outcome,
    ReportError,
    Run,
    CaseResult,
    contract_outcome,
    group_sort_key,
    label_runs,
    load_runs,
    group_of,
)

JSON_SCHEMA = "cri-conformance/comparison/v1"
OUTPUT_NAMES = {"markdown": "comparison.md", "html": "comparison.html", "json": "comparison.json"}


@dataclass(frozen=True)
class Row:
    """One test across the runs; a result is None where a run did not have the test."""

    key: str
    contracts: tuple[str, ...]
    results: tuple[CaseResult | None, ...]

    @property
    def group(self) -> str:
        return group_of(self.key, self.contracts)

    @property
    def outcomes(self) -> tuple[Outcome | None, ...]:
        return tuple(r.outcome if r else None for r in self.results)

    @property
    def differs(self) -> bool:
        return len(set(self.outcomes)) > 1


@dataclass(frozen=True)
class ContractRow:
    """One contract across the runs: the worst outcome of the tests checking it."""

    id: str
    section: str
    level: str
    outcomes: tuple[Outcome | None, ...]
    tests: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.outcomes)) > 1


@dataclass
class Comparison:
    runs: list[Run]
    rows: list[Row]  # differences first, then catalogue order

    @property
    def differing(self) -> list[Row]:
        return [row for row in self.rows if row.differs]

    @property
    def same(self) -> list[Row]:
        return [row for row in self.rows if not row.differs]

    @staticmethod
    def grouped(rows: list[Row]) -> list[tuple[str, list[Row]]]:
        """Consecutive rows of one group, in the rows' order."""
        groups: list[tuple[str, list[Row]]] = []
        for row in rows:
            if groups and groups[-1][0] == row.group:
                groups[-1][1].append(row)
            else:
                groups.append((row.group, [row]))
        return groups

    def contract_rows(self) -> list[ContractRow]:
        tests: dict[str, list[Row]] = {}
        for row in self.rows:
            for cid in row.contracts:
                tests.setdefault(cid, []).append(row)
        known = catalogue()
        rows = []
        for cid, checked_by in tests.items():
            outcomes = []
            for index in range(len(self.runs)):
                found = [r.outcomes[index] for r in checked_by if r.outcomes[index] is not None]
                outcomes.append(contract_outcome(found) if found else None)
            contract = known.get(cid)
            rows.append(ContractRow(cid, contract.section if contract else "", contract.level if contract else "",
                                    tuple(outcomes), tuple(r.key for r in checked_by)))
        order = {cid: i for i, cid in enumerate(known)}
        rows.sort(key=lambda r: (not r.differs, order.get(r.id, len(order)), r.id))
        return rows

    def to_json(self) -> dict:
        labels = [run.label for run in self.runs]
        return {
            "schema": JSON_SCHEMA,
            "runs": [run_json(run) for run in self.runs],
            "summary": {"tests": len(self.rows), "differing": len(self.differing)},
            "tests": [
                {
                    "test": row.key,
                    "group": row.group,
                    "contracts": list(row.contracts),
                    "differs": row.differs,
                    "outcomes": {label: (r.outcome.value if r else None) for label, r in zip(labels, row.results)},
                    "messages": {label: r.message for label, r in zip(labels, row.results) if r and r.message},
                }
                for row in self.rows
            ],
            "contracts": [
                {
                    "id": c.id,
                    "section": c.section,
                    "level": c.level,
                    "differs": c.differs,
                    "outcomes": {label: (o.value if o else None) for label, o in zip(labels, c.outcomes)},
                    "tests": list(c.tests),
                }
                for c in self.contract_rows()
            ],
        }


def run_json(run: Run) -> dict:
    return {
        "label": run.label,
        "name": run.name,
        "source": run.source,
        "properties": dict(run.properties),
        "counts": {outcome.value: n for outcome, n in run.counts().items()},
    }


def compare(runs: list[Run]) -> Comparison:
    runs = label_runs(list(runs))
    keys: dict[str, tuple[str, ...]] = {}
    for run in runs:
        for key, result in run.results.items():
            keys[key] = tuple(dict.fromkeys(keys.get(key, ()) + result.contracts))
    rows = [Row(key, contracts, tuple(run.results.get(key) for run in runs)) for key, contracts in keys.items()]
    rows.sort(key=lambda row: (not row.differs, group_sort_key(row.key, row.contracts), row.key))
    return Comparison(runs, rows)


# --- command line --------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", metavar="REPORT",
                        help="JUnit reports of the suite (files, or directories of *.xml)")
    add_output_arguments(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["markdown", "html", "json"], default="markdown",
                        help="what to print on stdout (default: markdown)")
    parser.add_argument("--output-dir", help="also write comparison.md, comparison.html and comparison.json here")


def write_outputs(comparison: Comparison, output_dir: Path) -> dict[str, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt, name in OUTPUT_NAMES.items():
        path = output_dir / name
        path.write_text(render(comparison, fmt), encoding="utf-8")
        written[fmt] = path
    return written


def render(comparison: Comparison, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps(comparison.to_json(), indent=1) + "\n"
    if fmt == "html":
        from cri_conformance.render_html import comparison_page

        return comparison_page(comparison)
    from cri_conformance.render_markdown import comparison_markdown

    return comparison_markdown(comparison)


def main(args: argparse.Namespace) -> int:
    try:
        runs = [run for path in args.reports for run in load_runs(path)]
    except ReportError as err:
        print(f"cri-conformance: error: {err}", file=sys.stderr)
        return 2
    comparison = compare(runs)
    sys.stdout.write(render(comparison, args.format))
    if args.output_dir:
        for path in write_outputs(comparison, Path(args.output_dir)).values():
            print(f"wrote {path}", file=sys.stderr)
    return 0
