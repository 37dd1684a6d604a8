"""The self-test's report: a text summary for people, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from cri_conformance.selftest.engine import SelftestResult
from cri_conformance.selftest.verdict import ORDER, score

LABELS = {
    "caught": "CAUGHT",
    "caught-elsewhere": "ELSEWHERE",
    "survived": "SURVIVED",
    "accepted": "ACCEPTED",
    "broken-fault": "BROKEN",
    "run-error": "RUN ERROR",
    "untestable": "UNTESTABLE",
    "no-test": "NO TEST YET",
}


def text(result: SelftestResult, endpoint: str) -> str:
    lines = [f"mutation self-test of the suite against {result.runtime or 'the runtime'} at {endpoint}"]
    if result.clean is not None:
        same = "" if result.direct is None else (
            "same outcome as the direct run for every test" if not result.differences
            else f"{len(result.differences)} tests differ from the direct run")
        lines.append(f"clean run through the proxy: {result.clean.tally()}; {same}".rstrip("; "))
    lines += [f"  PROXY CHANGED {line}" for line in result.differences]
    lines += [f"  FLAKY (agreed when run again) {line}" for line in result.flaky]
    if result.problem:
        lines.append(f"cannot judge the faults: {result.problem}")
    verdicts = sorted(result.verdicts, key=lambda v: (ORDER.index(v.status), v.fault.name))
    for verdict in verdicts:
        contracts = ", ".join(verdict.fault.contracts)
        line = f"  {LABELS[verdict.status]:12} {verdict.fault.name} [{contracts}]"
        if verdict.caught_by:
            line += f" by {', '.join(verdict.caught_by)}"
        if verdict.detail:
            line += f": {verdict.detail}"
        if verdict.stale_acceptance:
            line += f" ({verdict.stale_acceptance})"
        lines.append(line)
    if result.verdicts:
        counts = {status: sum(v.status == status for v in result.verdicts) for status in ORDER}
        lines.append("faults: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
                     + f" ({len(result.verdicts)} in the catalogue)")
        total = score(result.verdicts)
        lines.append(f"mutation score: {total.killed}/{total.run} faults caught ({total.percent:.0f}%), "
                     f"{total.right_test} by a test of the contract they break; "
                     f"{counts['no-test']} have no test for their contract yet, "
                     f"{counts['untestable']} cannot be checked on this runtime")
    lines.append("time: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items()))
    lines.append("SELF-TEST PASSED" if result.passed else "SELF-TEST FAILED")
    return "\n".join(lines)


def as_json(result: SelftestResult, endpoint: str) -> dict:
    total = score(result.verdicts)
    return {
        "endpoint": endpoint,
        "passed": result.passed,
        "problem": result.problem,
        "tests": len(result.tests),
        "runtime": result.runtime,
        "proxy_differences": result.differences,
        "flaky_differences": result.flaky,
        "score": {"killed": total.killed, "right_test": total.right_test, "run": total.run,
                  "percent": round(total.percent, 1)},
        "timings": {name: round(seconds, 2) for name, seconds in result.timings.items()},
        "faults": [
            {
                "name": v.fault.name,
                "contracts": list(v.fault.contracts),
                "rpcs": list(v.fault.rpcs),
                "summary": v.fault.summary,
                "status": v.status,
                "detail": v.detail,
                "caught_by": v.caught_by,
                "also_failed": v.also_failed,
                "intercepted_calls": v.hits,
                "tests_run": v.tests_run,
                "seconds": round(v.seconds, 2),
                "stale_acceptance": v.stale_acceptance,
            }
            for v in result.verdicts
        ],
    }


def write(result: SelftestResult, endpoint: str, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    summary, data = report_dir / "selftest.txt", report_dir / "selftest.json"
    summary.write_text(text(result, endpoint) + "\n", encoding="utf-8")
    data.write_text(json.dumps(as_json(result, endpoint), indent=2) + "\n", encoding="utf-8")
    return summary, data
