"""`cri-conformance images push`: a built set published to real registries, open and authenticated.

Each test starts its own docker-registry on a free loopback port (stopped by
PID afterwards) and checks what the registry then serves, digest by digest.
"""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cri_conformance.fixtures.image_reference import parse_reference
from cri_conformance.fixtures.local import auth_registry, registry
from cri_conformance.fixtures.local.image_build import build_image_set
from cri_conformance.fixtures.local.image_push import PushError, RegistryClient, push_layout
from cri_conformance.fixtures.local.oci_image import MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST
from cri_conformance.fixtures.local.processes import stop_process

pytestmark = pytest.mark.skipif(not Path(registry.REGISTRY_BINARY).exists(), reason="docker-registry is not installed")

ACCEPT = ", ".join([MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    layout = tmp_path_factory.mktemp("images") / "layout"
    return layout, build_image_set(None, layout)


@pytest.fixture
def open_registry(tmp_path):
    port = registry.free_loopback_port()
    config = tmp_path / "config.yml"
    config.write_text(registry.render_config(tmp_path / "storage", port))
    record = registry.start(config, tmp_path / "registry.log", port, tmp_path)
    yield port
    stop_process(record, grace=5.0)


@pytest.fixture
def locked_registry(tmp_path):
    paths = auth_registry.AuthRegistryPaths(tmp_path)
    port = registry.free_loopback_port()
    auth_registry.write_files(paths, port, "auth.example/private:1")
    record = auth_registry.start(paths, port)
    yield port, auth_registry.read_password(paths), paths
    stop_process(record, grace=5.0)


def served_digest(port: int, repository: str, tag: str, password: str = "") -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Accept": ACCEPT}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth_registry.USERNAME}:{password}".encode()).decode()
    try:
        connection.request("HEAD", f"/v2/{repository}/manifests/{tag}", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.getheader("Docker-Content-Digest") if response.status == 200 else None
    finally:
        connection.close()


def images_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cri_conformance.cli", "images", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})}, input=stdin)


def test_push_publishes_every_reference_with_its_digest(built, open_registry):
    layout, images = built
    result = images_cli("push", f"127.0.0.1:{open_registry}", "--from", str(layout))
    assert result.returncode == 0, result.stderr
    for image in images.values():
        for reference in image.references:
            parsed = parse_reference(reference)
            assert served_digest(open_registry, parsed.repository, parsed.tag) == image.descriptor.digest, reference


def test_push_under_a_path_prefix_and_again_changes_nothing(built, open_registry):
    layout, images = built
    client = RegistryClient(f"127.0.0.1:{open_registry}/mirror/cri")
    first = push_layout(layout, client)
    second = push_layout(layout, client)
    assert first == second and first
    busybox = images["busybox"]
    assert served_digest(open_registry, "mirror/cri/busybox", "1.0") == busybox.descriptor.digest
    assert served_digest(open_registry, "busybox", "1.0") is None


def test_push_to_a_registry_that_needs_credentials(built, locked_registry):
    layout, images = built
    port, password, _ = locked_registry
    with pytest.raises(PushError, match="requires credentials"):
        push_layout(layout, RegistryClient(f"127.0.0.1:{port}"))
    refused = images_cli("push", f"127.0.0.1:{port}", "--from", str(layout), "--username", auth_registry.USERNAME,
                         env={"CRI_REGISTRY_PASSWORD": "wrong"})
    assert refused.returncode == 2 and "HTTP 401" in refused.stderr
    result = images_cli("push", f"127.0.0.1:{port}", "--from", str(layout), "--username", auth_registry.USERNAME,
                        "--password-stdin", stdin=password + "\n")
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    private = images["private"]
    assert served_digest(port, "private", "1.0") is None, "the registry served a manifest without credentials"
    assert served_digest(port, "private", "1.0", password) == private.descriptor.digest


def test_the_password_is_stored_only_hashed_and_in_the_private_credentials_file(locked_registry):
    port, password, paths = locked_registry
    assert password not in paths.htpasswd.read_text() and paths.htpasswd.read_text().startswith(
        f"{auth_registry.USERNAME}:$2y$")
    assert password not in paths.config.read_text()
    assert paths.credentials.stat().st_mode & 0o777 == 0o600
