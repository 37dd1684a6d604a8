"""LocalRuntime's public surface, without starting anything."""

from pathlib import Path

import pytest

from cri_conformance.fixtures.image_set import load_image_set
from cri_conformance.fixtures.local import DEFAULT_WORKDIR, LocalRuntime, LocalRuntimeError


def test_public_properties(tmp_path):
    runtime = LocalRuntime(workdir=tmp_path / "instance", name="unit")
    assert runtime.endpoint == f"unix://{tmp_path / 'instance' / 'containerd.sock'}"
    assert runtime.images["busybox"] == "cri-conformance.test/busybox:1.0"
    assert runtime.images["pause"] == "cri-conformance.test/pause:1.0"
    assert runtime.images == dict(load_image_set())  # it serves the whole test image set
    assert runtime.handlers == ["runc", "runc-alt"]
    assert len(runtime.bridge) <= 15
    assert DEFAULT_WORKDIR == Path("/var/tmp/cri-conformance/local")


def test_status_of_an_instance_that_never_ran(tmp_path):
    status = LocalRuntime(workdir=tmp_path / "never", name="unit").status()
    assert status["up"] is False
    assert status["exists"] is False
    assert status["containerd_pid"] is None and status["registry"] is None
    assert status["endpoint"].endswith("/never/containerd.sock")


def test_workdir_too_long_for_a_socket_is_refused(tmp_path):
    with pytest.raises(LocalRuntimeError, match="too long"):
        LocalRuntime(workdir=tmp_path / ("x" * 120))


@pytest.mark.parametrize("action", ["up", "down"])
def test_a_foreign_directory_is_never_used_or_deleted(tmp_path, action):
    (tmp_path / "precious").write_text("keep me")
    with pytest.raises(LocalRuntimeError, match="not a local runtime workdir"):
        getattr(LocalRuntime(workdir=tmp_path, name="unit"), action)()
    assert (tmp_path / "precious").read_text() == "keep me"
