"""Self-contained HTML pages: the runtime comparison and the contract coverage.

One file each, inline CSS, no script and nothing fetched: the page can be
attached to a CI job, mailed, or opened from disk.
"""

from __future__ import annotations

import datetime
from html import escape
from typing import TYPE_CHECKING, Iterable

import cri_conformance
from cri_conformance.report_model import OUTCOME_ORDER, Outcome, CaseResult

if TYPE_CHECKING:
    from cri_conformance.compare import Comparison, ContractRow, Row
    from cri_conformance.coverage import Row as CoverageRow

DETAIL_LIMIT = 2000  # characters of a traceback in a cell's tooltip
MESSAGE_LIMIT = 400

STYLE = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --head:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0; padding: 20px 28px 40px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; z-index: 1; }
table.runs { width: auto; }
table.runs th[scope=row] { background: var(--head); font-weight: 600; }
tr.group th { background: #eef1f4; font-size: 13px; letter-spacing: .02em; }
td.test { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; overflow-wrap: anywhere;
          min-width: 260px; }
td.test .module { display: block; color: var(--muted); font-size: 11.5px; }
td.contracts { font-size: 12px; color: var(--muted); }
td.o { min-width: 150px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px;
         white-space: nowrap; }
.msg { font-size: 12px; color: var(--muted); margin-top: 2px; word-break: break-word; }
.pass .badge { background: #dafbe1; color: #116329; }
.fail .badge { background: #ffebe9; color: #a40e26; }
.error .badge { background: #fff1e5; color: #953800; }
.known-failure .badge { background: #fbefff; color: #6e40c9; }
.xpass-strict .badge { background: #a40e26; color: #fff; }
.unsupported .badge { background: #ddf4ff; color: #0550ae; }
.skipped .badge { background: #eaeef2; color: #424a53; }
.not-run .badge { background: #fff; color: #59636e; border: 1px dashed #8c959f; }
td.fail, td.xpass-strict { background: #fff8f7; }
td.error { background: #fffbf5; }
.note { border-left: 4px solid #a40e26; background: #fff8f7; padding: 8px 12px; margin: 12px 0; }
details > summary { cursor: pointer; color: #0969da; margin: 6px 0; }
.legend span { margin-right: 10px; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
"""


def page(title: str, body: Iterable[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        *body,
        f"<footer>cri-conformance {escape(cri_conformance.__version__)} · generated "
        f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</footer>",
        "</body></html>",
    ]) + "\n"


def badge(outcome: Outcome | None) -> str:
    """The outcome's pill; its colour comes from the enclosing element's class."""
    label = outcome.label if outcome else "not run"
    return f'<span class="badge">{escape(label)}</span>'


def outcome_td(result: CaseResult | None) -> str:
    if result is None:
        return f'<td class="o not-run">{badge(None)}</td>'
    title = f' title="{escape(result.detail[:DETAIL_LIMIT])}"' if result.detail else ""
    text = result.message if len(result.message) <= MESSAGE_LIMIT else result.message[: MESSAGE_LIMIT - 1] + "…"
    message = (f'<div class="msg">{escape(text)}</div>'
               if result.message and result.outcome is not Outcome.PASS else "")
    return f'<td class="o {result.outcome.value}"{title}>{badge(result.outcome)}{message}</td>'


def outcome_only_td(outcome: Outcome | None) -> str:
    return f'<td class="o {outcome.value if outcome else "not-run"}">{badge(outcome)}</td>'


def legend() -> str:
    items = "".join(f'<span class="{o.value}">{badge(o)}</span>' for o in OUTCOME_ORDER)
    return (f'<p class="legend">{items}<span class="not-run">{badge(None)}</span></p>'
            '<p class="sub">error: the check could not run (a fixture failed: environment, suite, or a runtime call '
            'it needed); known failure: declared in a '
            'known-failures profile; known failure passes: that profile entry is stale and the run fails; '
            'unsupported: an optional RPC answered UNIMPLEMENTED.</p>')


def runs_table(comparison: Comparison) -> list[str]:
    runs = comparison.runs
    out = ['<table class="runs"><thead><tr><th></th>']
    out += [f"<th>{escape(r.label)}</th>" for r in runs]
    out.append("</tr></thead><tbody>")
    facts = (("runtime", lambda r: f"{r.prop('runtime_name')} {r.runtime_version}".strip()),
             ("CRI API", lambda r: r.prop("runtime_api_version")),
             ("endpoint", lambda r: r.prop("endpoint")),
             ("handler", lambda r: r.prop("runtime_handler") or "(default)"),
             ("suite version", lambda r: r.suite_version),
             ("kernel", lambda r: r.prop("kernel")),
             ("report", lambda r: r.source))
    for name, value in facts:
        out.append(f'<tr><th scope="row">{escape(name)}</th>'
                   + "".join(f"<td>{escape(value(r))}</td>" for r in runs) + "</tr>")
    counts = [r.counts() for r in runs]
    for outcome in OUTCOME_ORDER:
        if any(c[outcome] for c in counts):
            out.append(f'<tr><th scope="row" class="{outcome.value}">{badge(outcome)}</th>'
                       + "".join(f"<td>{c[outcome]}</td>" for c in counts) + "</tr>")
    out.append("</tbody></table>")
    return out


def results_table(comparison: Comparison, rows: list[Row]) -> list[str]:
    columns = 2 + len(comparison.runs)
    out = ['<table class="results"><thead><tr><th>test</th><th>contracts</th>']
    out += [f"<th>{escape(r.label)}</th>" for r in comparison.runs]
    out.append("</tr></thead><tbody>")
    for group, group_rows in comparison.grouped(rows):
        out.append(f'<tr class="group"><th colspan="{columns}">{escape(group)} ({len(group_rows)})</th></tr>')
        for row in group_rows:
            out.append(f'<tr><td class="test">{test_name_html(row.key)}</td>'
                       f'<td class="contracts">{"<br>".join(escape(c) for c in row.contracts)}</td>'
                       + "".join(outcome_td(r) for r in row.results) + "</tr>")
    out.append("</tbody></table>")
    return out


def test_name_html(key: str) -> str:
    """'test_x.py::test_y[p]' as the module (small) above the test's name."""
    module, sep, name = key.partition("::")
    if not sep:
        return escape(key)
    return f'<span class="module">{escape(module)}</span>{escape(name)}'


def contracts_table(comparison: Comparison, rows: list[ContractRow]) -> list[str]:
    out = ['<table class="results"><thead><tr><th>contract</th><th>level</th>']
    out += [f"<th>{escape(r.label)}</th>" for r in comparison.runs]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append(f'<tr><td class="test">{escape(row.id)}</td><td>{escape(row.level)}</td>'
                   + "".join(outcome_only_td(o) for o in row.outcomes) + "</tr>")
    out.append("</tbody></table>")
    return out


def stale_note(comparison: Comparison) -> list[str]:
    stale = [(row, run) for row in comparison.rows for run, r in zip(comparison.runs, row.results)
             if r and r.outcome is Outcome.XPASS_STRICT]
    if not stale:
        return []
    items = "".join(f"<li><code>{escape(row.key)}</code> on <b>{escape(run.label)}</b></li>" for row, run in stale)
    return [f'<div class="note"><b>Known failures that now pass.</b> Their profile entries are out of date; '
            f"the run fails until they are removed.<ul>{items}</ul></div>"]


def comparison_page(comparison: Comparison) -> str:
    labels = " vs ".join(r.label for r in comparison.runs)
    differing, same = comparison.differing, comparison.same
    contract_rows = comparison.contract_rows()
    body = [f"<h1>CRI conformance: {escape(labels)}</h1>",
            f'<p class="sub">{len(comparison.rows)} tests, {len(differing)} with different outcomes; '
            f"{len(contract_rows)} contracts checked.</p>",
            *runs_table(comparison), legend(), *stale_note(comparison)]
    if len(comparison.runs) > 1:
        body.append(f'<h2 id="differences">Differences: {len(differing)} of {len(comparison.rows)} tests</h2>')
        body += results_table(comparison, differing) if differing else ["<p>Every test has the same outcome.</p>"]
        body.append(f'<h2 id="same">Same outcome on every runtime: {len(same)} tests</h2>')
        body += ["<details><summary>show them</summary>", *results_table(comparison, same), "</details>"]
        differing_contracts = [c for c in contract_rows if c.differs]
        body.append(f'<h2 id="contracts">Contracts: {len(differing_contracts)} of {len(contract_rows)} differ</h2>')
        body += ["<details><summary>show the contract view (worst outcome of each contract's tests)</summary>",
                 *contracts_table(comparison, contract_rows), "</details>"]
    else:
        body.append(f'<h2 id="tests">Tests: {len(comparison.rows)}</h2>')
        body += results_table(comparison, comparison.rows)
    return page(f"CRI conformance: {labels}", body)


# --- contract coverage -----------------------------------------------------------

def short_node_id(nodeid: str) -> str:
    """'conformance/test_x.py::test_y[a/b]' -> 'test_x.py::test_y[a/b]'."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def coverage_page(rows: list[CoverageRow], summary: str) -> str:
    body = ["<h1>CRI contract coverage</h1>", f'<p class="sub">{escape(summary)}</p>',
            '<table class="results"><thead><tr><th>contract</th><th>level</th><th>platform</th>'
            "<th>checked by</th></tr></thead><tbody>"]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            body.append(f'<tr class="group"><th colspan="4">{escape(section)}</th></tr>')
        if row.tests:
            where = "<br>".join(escape(short_node_id(t)) for t in row.tests)
            css = "pass"
        elif row.reason:
            where, css = f"not testable here: {escape(row.reason)}", "skipped"
        else:
            where, css = "<b>not yet covered</b>", "fail"
        body.append(f'<tr><td class="test">{escape(row.id)}</td><td>{escape(row.level)}</td>'
                    f'<td>{escape(row.platform)}</td><td class="o {css}">{where}</td></tr>')
    body.append("</tbody></table>")
    return page("CRI contract coverage", body)
