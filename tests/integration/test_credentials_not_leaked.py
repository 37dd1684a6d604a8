"""Authenticated pulls leave the password in no report and no log.

Runs the suite's authenticated-pull tests against the local runtime with
every verbosity pytest has (locals in tracebacks, all report sections, the
known failure forced to fail so its traceback is written too), then looks for
the registry password, in clear and base64-encoded, in the JUnit file, the
console output, and the logs of containerd and both registries.
"""

from __future__ import annotations

import base64
import json

import pytest

from cri_conformance.fixtures.local.auth_registry import USERNAME, AuthRegistryPaths

from .suite_run import run_suite


@pytest.mark.timeout(600)
def test_no_report_or_log_contains_the_registry_password(local_runtime, tmp_path):
    paths = AuthRegistryPaths(local_runtime.workdir)
    password = json.loads(paths.credentials.read_text())["password"]
    run = run_suite(local_runtime.endpoint, tmp_path / "reports", "-k", "test_image_auth",
                    "--runxfail", "--showlocals", "--tb=long", "-rA", "-vv", "-o", "junit_logging=all")
    assert run.report is not None, run.output[-3000:]
    ran = [case.get("name") for case in run.cases() if "test_image_auth" in (case.get("classname") or "")]
    assert len(ran) >= 5, f"the authenticated-pull tests did not run: {ran}\n{run.output[-3000:]}"
    assert not run.by_outcome("skipped"), run.output[-3000:]
    secrets = {"password": password, "base64 user:password": base64.b64encode(f"{USERNAME}:{password}".encode()).decode()}
    places = {
        "JUnit report": run.report.read_text(),
        "console output": run.output,
        "containerd log": local_runtime.layout.containerd_log.read_text(errors="replace"),
        "registry log": local_runtime.layout.registry_log.read_text(errors="replace"),
        "authenticated registry log": paths.log.read_text(errors="replace"),
    }
    leaks = [f"{what} in the {place}" for place, text in places.items() for what, secret in secrets.items()
             if secret in text]
    assert not leaks, f"credentials leaked: {leaks}"
