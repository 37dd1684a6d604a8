"""The upgrade gate: may this runtime version replace the baseline one?

    cri-conformance gate --baseline OLD.xml NEW.xml
    cri-conformance gate --baseline baseline-dir/ reports/

Exit status:
    0  no regression
    1  a regression (a test that passed on the baseline does not pass now),
       or a known failure that now passes (the profile must be updated first)
    2  a report cannot be read
    3  refused: the reports are not comparable (different suite versions or
       test sets, a runtime without its baseline) unless allowed explicitly

Runs are paired by name (the JUnit test suite name: --runtime-name, else the
runtime's name); a single baseline run and a single new run are paired
whatever their names.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

from cri_conformance.report_model import CaseResult, Outcome, ReportError, Run, load_runs, with_levels

EXIT_PASSED, EXIT_REGRESSED, EXIT_UNREADABLE, EXIT_REFUSED = 0, 1, 2, 3

# Facts about the environment that make a comparison less meaningful when
# they change (but are not a reason to refuse it).
FINGERPRINT = ("runtime_name", "runtime_api_version", "runtime_handler", "kernel", "endpoint")


@dataclass(frozen=True)
class Change:
    key: str
    contracts: tuple[str, ...]
    before: CaseResult
    after: CaseResult


@dataclass
class PairVerdict:
    baseline: Run
    new: Run
    regressions: list[Change] = field(default_factory=list)
    stale_known_failures: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    other_changes: list[Change] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: int = 0
    unchanged_problems: int = 0

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def passed(self) -> bool:
        return not self.refused and not self.regressions and not self.stale_known_failures


@dataclass
class Verdict:
    pairs: list[PairVerdict]
    unpaired: list[str] = field(default_factory=list)  # runs without a counterpart: a refusal

    @property
    def exit_code(self) -> int:
        if self.unpaired or any(p.refused for p in self.pairs):
            return EXIT_REFUSED
        return EXIT_PASSED if all(p.passed for p in self.pairs) else EXIT_REGRESSED

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASSED


def gate_pair(baseline: Run, new: Run, *, allow_suite_version_change: bool = False,
              allow_test_set_change: bool = False) -> PairVerdict:
    verdict = PairVerdict(baseline, new)
    if baseline.suite_version != new.suite_version:
        text = f"suite version differs: baseline {baseline.suite_version or '?'}, now {new.suite_version or '?'}"
        if allow_suite_version_change:
            verdict.warnings.append(text + " (allowed)")
        else:
            verdict.refusals.append(text + "; rerun the baseline with this suite, or pass --allow-suite-version-change")
    verdict.added = sorted(new.results.keys() - baseline.results.keys())
    verdict.removed = sorted(baseline.results.keys() - new.results.keys())
    if verdict.added or verdict.removed:
        text = f"test set differs: {len(verdict.added)} added, {len(verdict.removed)} removed"
        if allow_test_set_change:
            verdict.warnings.append(text + " (allowed)")
        else:
            verdict.refusals.append(text + "; run the same selection, or pass --allow-test-set-change")
    if baseline.runtime_version != new.runtime_version:
        verdict.warnings.append(f"runtime version: {baseline.runtime_version} -> {new.runtime_version}")
    for key in FINGERPRINT:
        if baseline.prop(key) != new.prop(key):
            verdict.warnings.append(f"{key} differs: baseline {baseline.prop(key)!r}, now {new.prop(key)!r}")
    if verdict.refused:
        return verdict
    for key in sorted(baseline.results.keys() & new.results.keys()):
        before, after = baseline.results[key], new.results[key]
        change = Change(key, after.contracts or before.contracts, before, after)
        if after.outcome is Outcome.XPASS_STRICT:
            verdict.stale_known_failures.append(change)
        elif before.outcome is Outcome.PASS and after.outcome is not Outcome.PASS:
            verdict.regressions.append(change)
        elif before.outcome is not Outcome.PASS and after.outcome is Outcome.PASS:
            verdict.improvements.append(change)
        elif before.outcome is not after.outcome:
            verdict.other_changes.append(change)
        else:
            verdict.unchanged += 1
            verdict.unchanged_problems += after.outcome.is_problem
    return verdict


def pair_runs(baselines: list[Run], news: list[Run]) -> tuple[list[tuple[Run, Run]], list[str]]:
    """(baseline, new) pairs, and what could not be paired."""
    if len(baselines) == 1 and len(news) == 1:
        return [(baselines[0], news[0])], []
    problems = []
    by_name: dict[str, list[Run]] = {}
    for run in baselines:
        by_name.setdefault(run.name, []).append(run)
    for name, runs in by_name.items():
        if len(runs) > 1:
            problems.append(f"baseline has {len(runs)} runs named {name!r} "
                            f"({', '.join(r.source for r in runs)}): keep one per runtime")
    pairs = []
    for run in news:
        candidates = by_name.get(run.name, [])
        if len(candidates) == 1:
            pairs.append((candidates[0], run))
        elif not candidates:
            problems.append(f"no baseline for {run.name!r} ({run.source}); baseline has: "
                            f"{', '.join(sorted(by_name)) or 'nothing'}")
    new_names = {run.name for run in news}
    for name in sorted(by_name.keys() - new_names):
        problems.append(f"baseline run {name!r} has no new report to compare with")
    return pairs, problems


def gate(baselines: list[Run], news: list[Run], **allow) -> Verdict:
    pairs, unpaired = pair_runs(baselines, news)
    return Verdict([gate_pair(b, n, **allow) for b, n in pairs], unpaired)


# --- rendering -------------------------------------------------------------------

def _outcome_text(result: CaseResult, limit: int = 400) -> str:
    text = result.outcome.label
    if result.message and result.outcome is not Outcome.PASS:
        message = " ".join(result.message.split())
        text += ": " + (message if len(message) <= limit else message[: limit - 1] + "…")
    return text


def render_text(verdict: Verdict) -> str:
    lines = []
    for problem in verdict.unpaired:
        lines.append(f"REFUSED: {problem}")
    for pair in verdict.pairs:
        lines.append(f"gate: {pair.new.describe()} [{pair.new.source}] against baseline "
                     f"{pair.baseline.describe()} [{pair.baseline.source}]")
        lines += [f"  note: {w}" for w in pair.warnings]
        lines += [f"  REFUSED: {r}" for r in pair.refusals]
        for title, keys in (("tests added", pair.added), ("tests removed", pair.removed)):
            if keys:
                lines.append(f"  {title} ({len(keys)}):")
                lines += [f"    {key}" for key in keys]
        sections = (
            ("REGRESSIONS", "passed on the baseline, do not pass now", pair.regressions),
            ("KNOWN FAILURES THAT NOW PASS", "remove them from the known-failures profile", pair.stale_known_failures),
            ("improvements", "did not pass on the baseline, pass now", pair.improvements),
            ("other changes", "neither passed before nor now", pair.other_changes),
        )
        for title, why, changes in sections:
            if not changes:
                continue
            lines.append(f"  {title} ({len(changes)}; {why}):")
            for change in changes:
                lines.append(f"    {change.key}  [{with_levels(change.contracts) or 'no contract'}]")
                lines.append(f"      baseline: {_outcome_text(change.before)}")
                lines.append(f"      now:      {_outcome_text(change.after)}")
        if not pair.refused:
            lines.append(f"  unchanged: {pair.unchanged} tests ({pair.unchanged_problems} failing on both)")
        lines.append("")
    code = verdict.exit_code
    summary = {
        EXIT_PASSED: "PASSED: no regressions",
        EXIT_REGRESSED: "FAILED: " + "; ".join(
            f"{n} {what}" for n, what in (
                (sum(len(p.regressions) for p in verdict.pairs), "regressions"),
                (sum(len(p.stale_known_failures) for p in verdict.pairs), "known failures now pass")) if n),
        EXIT_REFUSED: "REFUSED: the reports are not comparable (see above)",
    }[code]
    lines.append(f"gate {summary}")
    return "\n".join(lines) + "\n"


def change_json(change: Change) -> dict:
    return {
        "test": change.key,
        "contracts": list(change.contracts),
        "baseline": {"outcome": change.before.outcome.value, "message": change.before.message},
        "now": {"outcome": change.after.outcome.value, "message": change.after.message},
    }


def verdict_json(verdict: Verdict) -> dict:
    return {
        "schema": "cri-conformance/gate/v1",
        "passed": verdict.passed,
        "exit_code": verdict.exit_code,
        "unpaired": verdict.unpaired,
        "pairs": [
            {
                "baseline": {"name": p.baseline.name, "source": p.baseline.source, "properties": p.baseline.properties},
                "new": {"name": p.new.name, "source": p.new.source, "properties": p.new.properties},
                "passed": p.passed,
                "refusals": p.refusals,
                "warnings": p.warnings,
                "regressions": [change_json(c) for c in p.regressions],
                "stale_known_failures": [change_json(c) for c in p.stale_known_failures],
                "improvements": [change_json(c) for c in p.improvements],
                "other_changes": [change_json(c) for c in p.other_changes],
                "added": p.added,
                "removed": p.removed,
                "unchanged": p.unchanged,
            }
            for p in verdict.pairs
        ],
    }


# --- command line --------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, metavar="PATH",
                        help="the baseline: a JUnit report, or a directory of them (one per runtime)")
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="the new reports (files or directories)")
    parser.add_argument("--allow-test-set-change", action="store_true",
                        help="compare even when tests were added or removed (they are listed)")
    parser.add_argument("--allow-suite-version-change", action="store_true",
                        help="compare reports of different suite versions")
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")


def main(args: argparse.Namespace) -> int:
    try:
        baselines = load_runs(args.baseline)
        news = [run for path in args.reports for run in load_runs(path)]
    except ReportError as err:
        print(f"cri-conformance: error: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    verdict = gate(baselines, news, allow_suite_version_change=args.allow_suite_version_change,
                   allow_test_set_change=args.allow_test_set_change)
    if args.format == "json":
        print(json.dumps(verdict_json(verdict), indent=1))
    elif args.format == "markdown":
        from cri_conformance.render_markdown import gate_markdown

        sys.stdout.write(gate_markdown(verdict))
    else:
        sys.stdout.write(render_text(verdict))
    return verdict.exit_code
