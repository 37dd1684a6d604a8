"""A pytest plugin the self-test loads into every suite run it starts (`-p`).

It appends JSON lines to the file named by $CRI_SELFTEST_RECORD:

- at the end of collection, one {"collected": KEY, "contracts": [...], "groups": [...],
  "serial": bool, "fuzz": bool} per selected test;
- after each test, {"key": KEY, "outcome": ..., "message": ...}, where outcome is
  passed, failed, error, skipped, xfailed or xpassed.

A test's KEY is its node ID with the file part made relative to the suite
package (`test_pod_sandbox.py::test_x[param]`) and without xdist's "@group"
suffix, so runs rooted in different directories, with or without xdist,
agree on names. Without the variable the plugin
does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cri_conformance

RECORD_ENV = "CRI_SELFTEST_RECORD"
PACKAGE_DIR = Path(cri_conformance.__file__).resolve().parent
MESSAGE_LIMIT = 400


def without_xdist_group(nodeid: str) -> str:
    """The node ID without the "@group" that xdist's loadgroup mode appends."""
    head, sep, last = nodeid.rpartition("::")
    tail = last[last.rfind("]") + 1:] if "[" in last else last  # "@" inside [params] belongs to the ID
    if "@" in tail:
        last = last[: len(last) - len(tail) + tail.index("@")]
    return head + sep + last


def suite_key(rootpath: Path, nodeid: str) -> str:
    file_part, _, rest = without_xdist_group(nodeid).partition("::")
    path = (rootpath / file_part).resolve()
    try:
        file_part = path.relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        pass  # not a suite module: keep pytest's own spelling
    return f"{file_part}::{rest}" if rest else file_part


def _record(entry: dict) -> None:
    target = os.environ.get(RECORD_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")  # xdist: only the controller records


def pytest_collection_finish(session: pytest.Session) -> None:
    if _is_worker(session.config) or not os.environ.get(RECORD_ENV):
        return
    for item in session.items:
        _record({
            "collected": suite_key(session.config.rootpath, item.nodeid),
            "contracts": [cid for mark in item.iter_markers("contract") for cid in mark.args],
            "groups": sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", ""))
                              for mark in item.iter_markers("xdist_group")}),
            "serial": item.get_closest_marker("serial") is not None,
            "fuzz": item.get_closest_marker("fuzz") is not None,
        })


class _Outcomes:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.pending: dict[str, tuple[str, str]] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        key = suite_key(self.config.rootpath, report.nodeid)
        outcome, message = self.pending.get(key, ("", ""))
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                outcome, message = "error", _message(report)
            elif report.skipped:
                outcome, message = ("xfailed" if xfail else "skipped"), _message(report)
        elif report.when == "call":
            if report.passed:
                outcome, message = ("xpassed" if xfail else "passed"), ""
            elif report.failed:
                outcome, message = "failed", _message(report)
            else:
                outcome, message = ("xfailed" if xfail else "skipped"), _message(report)
        elif report.when == "teardown" and report.failed and outcome not in ("failed", "error"):
            outcome, message = "error", _message(report)
        self.pending[key] = (outcome, message)
        if report.when == "teardown":
            del self.pending[key]
            _record({"key": key, "outcome": outcome or "error", "message": message})


def _message(report: pytest.TestReport) -> str:
    if getattr(report, "wasxfail", ""):
        return str(report.wasxfail)[:MESSAGE_LIMIT]
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2])[:MESSAGE_LIMIT]
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    return text.strip()[:MESSAGE_LIMIT]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(RECORD_ENV) and not _is_worker(config):
        config.pluginmanager.register(_Outcomes(config), "cri-selftest-outcomes")
