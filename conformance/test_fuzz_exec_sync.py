"""Fuzzing ExecSync: arbitrary commands and timeouts in a running container."""

from __future__ import annotations

import pytest

from cri_conformance.fixtures.fuzz.target_exec import ExecSyncTarget

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


@pytest.mark.contract(
    "ExecSync.runs", "ExecSync.nonzero_not_grpc_error", "ExecSync.timeout_zero", "ExecSync.timeout_code",
    "Status.required_true",
)
def test_fuzz_exec_sync(fuzz):
    fuzz.run(ExecSyncTarget())
