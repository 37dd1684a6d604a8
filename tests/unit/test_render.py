"""Markdown and HTML renderings of the comparison and the coverage."""

from __future__ import annotations

import re
from types import SimpleNamespace

from junit_samples import cases_with, junit

from cri_conformance.compare import compare
from cri_conformance.coverage import Row as CoverageRow
from cri_conformance.render_html import comparison_page, coverage_page
from cri_conformance.render_markdown import cell, comparison_markdown
from cri_conformance.report_model import parse_runs


def two_runtimes(**broken_changes):
    good = parse_runs(junit(cases_with(), name="good"))
    broken = parse_runs(junit(cases_with(**broken_changes), name="broken"))
    return compare(good + broken)


def test_cells_cannot_break_a_markdown_table():
    assert cell("a | b\nc <tag>") == "a \\| b c &lt;tag>"


def test_markdown_puts_differences_before_the_rest():
    text = comparison_markdown(two_runtimes(test_sandbox_is_ready_after_run=("fail", "AssertionError: NOTREADY")))
    differences = text.index("## Differences: 1 of 6 tests")
    same = text.index("## Same outcome on every runtime: 5 tests")
    row = text.index("| `test_pod_sandbox.py::test_sandbox_is_ready_after_run` | RunPodSandbox.ready_on_success "
                     "| pass | **FAIL**: AssertionError: NOTREADY |")
    assert differences < row < same
    assert "<details>" in text[same:]
    assert "<details>" not in comparison_markdown(two_runtimes(), include_same=False)


def test_markdown_flags_a_known_failure_that_passes():
    text = comparison_markdown(two_runtimes(test_runtime_version_is_semver=("xpass-strict", "known failure of x: y")))
    assert "**Known failures that now pass.**" in text
    assert "- `test_runtime_info.py::test_runtime_version_is_semver` on **broken**: known failure of x: y" in text


def test_html_is_one_self_contained_page():
    page = comparison_page(two_runtimes(test_sandbox_is_ready_after_run=("fail", "AssertionError: <script>")))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<script|<link|\bsrc=|@import|url\(", page), "the page must not load anything"
    assert "&lt;script&gt;" in page
    assert '<h2 id="differences">Differences: 1 of 6 tests</h2>' in page
    # The differing row: module above the name, pass on one side, fail with its message on the other.
    assert ('<td class="test"><span class="module">test_pod_sandbox.py</span>test_sandbox_is_ready_after_run</td>'
            in page)
    assert '<td class="o fail" title=' in page and '<span class="badge">FAIL</span>' in page
    assert page.index('id="differences"') < page.index('id="same"') < page.index('id="contracts"')


def test_html_marks_stale_known_failures():
    page = comparison_page(two_runtimes(test_runtime_version_is_semver=("xpass-strict", "known failure of x: y")))
    assert '<div class="note"><b>Known failures that now pass.</b>' in page
    assert '<td class="o xpass-strict"' in page


def test_html_of_one_run_lists_every_test():
    page = comparison_page(compare(parse_runs(junit(cases_with(), name="only"))))
    assert '<h2 id="tests">Tests: 6</h2>' in page and "Differences" not in page


def test_coverage_page_shows_checked_explained_and_open_contracts():
    rows = [CoverageRow("Version.fields_nonempty", "CLIENT", "All", "3.1 Version",
                        tests=["conformance/test_runtime_info.py::test_version_field_is_set[version]"]),
            CoverageRow("Win.lcow", "DEFINED", "Windows", "6. Windows-only rows", reason="Windows-only"),
            CoverageRow("Version.request_version_any", "CRITEST", "All", "3.1 Version")]
    page = coverage_page(rows, "1 of 3 contracts checked")
    assert "test_runtime_info.py::test_version_field_is_set[version]" in page
    assert "not testable here: Windows-only" in page
    assert "<b>not yet covered</b>" in page
    assert page.count('<tr class="group">') == 3  # 3.1, 6., and 3.1 again after 6. (rows keep their order)


def test_contracts_command_has_an_html_format(capsys, monkeypatch):
    from cri_conformance import coverage

    rows = [CoverageRow("Version.fields_nonempty", "CLIENT", "All", "3.1 Version", tests=["t.py::test_a"])]
    monkeypatch.setattr(coverage, "coverage_rows", lambda: rows)
    assert coverage.main(SimpleNamespace(format="html", uncovered=False)) == 0
    out = capsys.readouterr().out
    assert "<h1>CRI contract coverage</h1>" in out and "1 of 1 contracts checked by 1 tests" in out
