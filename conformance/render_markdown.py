"""Markdown views: the comparison (a terminal or a PR comment) and the gate verdict.

Plain GitHub-flavoured Markdown: tables, and <details> for the long part that
needs no attention (tests with the same outcome everywhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cri_conformance.report_model import Outcome, CaseResult

if TYPE_CHECKING:
    from cri_conformance.compare import Comparison, Row
    from cri_conformance.gate import Verdict

MESSAGE_LIMIT = 140
NOT_RUN = "not run"


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def outcome_cell(result: CaseResult | None, with_message: bool = True) -> str:
    if result is None:
        return f"_{NOT_RUN}_"
    label = result.outcome.label
    text = f"**{label}**" if result.outcome.is_problem else label
    if with_message and result.message and result.outcome is not Outcome.PASS:
        text += f": {cell(shorten(result.message))}"
    return text


def run_table(comparison: Comparison) -> list[str]:
    runs = comparison.runs
    lines = ["| | " + " | ".join(cell(r.label) for r in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    facts = (("runtime", lambda r: f"{r.prop('runtime_name')} {r.runtime_version}".strip()),
             ("CRI API", lambda r: r.prop("runtime_api_version")),
             ("endpoint", lambda r: r.prop("endpoint")),
             ("handler", lambda r: r.prop("runtime_handler") or "(default)"),
             ("suite", lambda r: r.suite_version),
             ("kernel", lambda r: r.prop("kernel")))
    for name, value in facts:
        lines.append(f"| {name} | " + " | ".join(f"`{cell(value(r))}`" if value(r) else "" for r in runs) + " |")
    counts = [r.counts() for r in runs]
    for outcome in (Outcome.PASS, Outcome.FAIL, Outcome.ERROR, Outcome.XPASS_STRICT, Outcome.KNOWN_FAILURE,
                    Outcome.UNSUPPORTED, Outcome.SKIPPED):
        if any(c[outcome] for c in counts):
            lines.append(f"| {outcome.label} | " + " | ".join(str(c[outcome]) for c in counts) + " |")
    return lines


def rows_tables(comparison: Comparison, rows: list[Row], with_messages: bool) -> list[str]:
    lines = []
    header = "| test | contracts | " + " | ".join(cell(r.label) for r in comparison.runs) + " |"
    rule = "|---|---|" + "---|" * len(comparison.runs)
    for group, group_rows in comparison.grouped(rows):
        lines += ["", f"### {group}", "", header, rule]
        for row in group_rows:
            outcomes = " | ".join(outcome_cell(r, with_messages) for r in row.results)
            lines.append(f"| `{cell(row.key)}` | {cell(', '.join(row.contracts))} | {outcomes} |")
    return lines


def stale_known_failures(comparison: Comparison) -> list[str]:
    lines = []
    for row in comparison.rows:
        for run, result in zip(comparison.runs, row.results):
            if result and result.outcome is Outcome.XPASS_STRICT:
                lines.append(f"- `{cell(row.key)}` on **{cell(run.label)}**: {cell(shorten(result.message))}")
    if not lines:
        return []
    return ["", "> **Known failures that now pass.** The profile entry is out of date and the run fails until it",
            "> is removed (conformance/data/known-failures.toml or your --known-failures file):", "", *lines]


def comparison_markdown(comparison: Comparison, include_same: bool = True) -> str:
    """The whole comparison; without include_same, only the tests that differ
    (what a terminal needs at the end of a run)."""
    labels = " vs ".join(r.label for r in comparison.runs)
    differing, same = comparison.differing, comparison.same
    lines = [f"# CRI conformance: {cell(labels)}", "", *run_table(comparison), *stale_known_failures(comparison)]
    if len(comparison.runs) > 1:
        lines += ["", f"## Differences: {len(differing)} of {len(comparison.rows)} tests"]
        lines += rows_tables(comparison, differing, True) if differing else ["", "Every test has the same outcome."]
        lines += ["", f"## Same outcome on every runtime: {len(same)} tests"]
        if include_same:
            lines += ["", "<details><summary>show</summary>", *rows_tables(comparison, same, True), "", "</details>"]
        else:
            lines += ["", "(listed in comparison.md and comparison.html)"]
    else:
        lines += ["", f"## Tests: {len(comparison.rows)}"] + rows_tables(comparison, comparison.rows, True)
    return "\n".join(lines) + "\n"


# --- gate ------------------------------------------------------------------------

def gate_markdown(verdict: Verdict) -> str:
    status = "PASSED" if verdict.passed else ("REFUSED" if verdict.exit_code == 3 else "FAILED")
    lines = [f"# Upgrade gate: {status}", ""]
    lines += [f"- refused: {cell(problem)}" for problem in verdict.unpaired]
    for pair in verdict.pairs:
        lines += [f"## {cell(pair.new.describe())} against baseline {cell(pair.baseline.describe())}", ""]
        lines += [f"- refused: {cell(line)}" for line in pair.refusals]
        lines += [f"- note: {cell(line)}" for line in pair.warnings]
        sections = (("Regressions (passed on the baseline, not now)", pair.regressions),
                    ("Known failures that now pass (update the profile)", pair.stale_known_failures),
                    ("Improvements", pair.improvements),
                    ("Other changes", pair.other_changes))
        for title, changes in sections:
            if not changes:
                continue
            lines += ["", f"### {title}: {len(changes)}", "", "| test | contracts | baseline | now |",
                      "|---|---|---|---|"]
            for change in changes:
                lines.append(f"| `{cell(change.key)}` | {cell(', '.join(change.contracts))} | "
                             f"{outcome_cell(change.before)} | {outcome_cell(change.after)} |")
        for title, keys in (("Tests added", pair.added), ("Tests removed", pair.removed)):
            if keys:
                lines += ["", f"### {title}: {len(keys)}", ""] + [f"- `{cell(k)}`" for k in keys]
        lines.append("")
    return "\n".join(lines) + "\n"
