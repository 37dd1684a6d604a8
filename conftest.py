"""Fixtures for the project's own tests (tests/): not part of the installed suite.

The integration tests need a real runtime: `local_runtime` brings up the
embedded local containerd once per session in its own work directory and
takes it down afterwards (set CRI_CONFORMANCE_KEEP_LOCAL=1 to keep it up
between runs while developing).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

TEST_WORKDIR = Path(os.environ.get("CRI_CONFORMANCE_TEST_WORKDIR", "/var/tmp/cri-conformance/project-tests"))


def keep_local() -> bool:
    return bool(os.environ.get("CRI_CONFORMANCE_KEEP_LOCAL"))


@contextlib.contextmanager
def sibling_runtime(local_runtime, suffix: str, **options):
    """A second local containerd beside `local_runtime` (own work directory,
    socket, registry and bridge), for tests that must not disturb the shared one."""
    from cri_conformance.fixtures.local import LocalRuntime

    runtime = LocalRuntime(local_runtime.workdir.with_name(f"{local_runtime.workdir.name}-{suffix}"),
                           name=f"{local_runtime.name}-{suffix}", **options)
    runtime.up(progress=lambda line: print(f"[{suffix}] {line}"))
    try:
        yield runtime
    finally:
        if not keep_local():
            runtime.down(progress=lambda line: print(f"[{suffix}] {line}"))


@pytest.fixture(scope="session")
def local_runtime():
    from cri_conformance.fixtures.local import LocalRuntime

    runtime = LocalRuntime(workdir=TEST_WORKDIR, name="project-tests")
    runtime.up(progress=lambda line: print(f"[local] {line}"))
    yield runtime
    if not keep_local():
        runtime.down(progress=lambda line: print(f"[local] {line}"))
