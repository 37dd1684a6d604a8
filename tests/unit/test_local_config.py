"""Rendering of the containerd, registry-host and registry configs."""

import tomllib
from pathlib import Path

import pytest

from cri_conformance.fixtures.local import containerd, registry, toml_text
from cri_conformance.fixtures.local.containerd import ContainerdSettings
from cri_conformance.fixtures.local.layout import InstanceLayout

WORKDIR = Path("/var/tmp/cri-conformance/unit-test")
SETTINGS = ContainerdSettings(
    sandbox_image="cri-conformance.test/pause:1.0",
    snapshotter="overlayfs",
    stream_port=0,
    registry_hosts={"cri-conformance.test": "http://127.0.0.1:5000"},
)


@pytest.fixture
def config() -> dict:
    rendered = toml_text.dumps(containerd.render_config(InstanceLayout(WORKDIR), SETTINGS))
    return tomllib.loads(rendered)


def all_strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, str):
        yield value


def test_every_path_is_private_to_the_workdir(config):
    assert config["version"] == 2
    assert config["root"].startswith(str(WORKDIR))
    assert config["state"].startswith(str(WORKDIR))
    assert config["grpc"]["address"] == str(WORKDIR / "containerd.sock")
    assert config["ttrpc"]["address"].startswith(str(WORKDIR))
    assert config["debug"]["address"] == "" and config["metrics"]["address"] == ""
    assert config["plugins"]["io.containerd.internal.v1.opt"]["path"].startswith(str(WORKDIR))
    paths = [text for text in all_strings(config) if text.startswith("/")]
    allowed_outside = {"/usr/lib/cni", "/usr/sbin/runc"}
    assert [path for path in paths if not path.startswith(str(WORKDIR)) and path not in allowed_outside] == []


def test_cri_plugin_settings(config):
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["enable_selinux"] is False
    assert cri["sandbox_image"] == "cri-conformance.test/pause:1.0"
    assert cri["stream_server_address"] == "127.0.0.1"
    assert cri["stream_server_port"] == "0"
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["cni"]["bin_dir"] == "/usr/lib/cni"
    assert cri["cni"]["conf_dir"] == str(WORKDIR / "cni" / "net.d")
    assert cri["registry"] == {"config_path": str(WORKDIR / "containerd" / "certs.d")}
    assert "mirrors" not in cri["registry"]  # containerd refuses mirrors together with config_path


def test_runtime_handlers(config):
    runtimes_config = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert runtimes_config["default_runtime_name"] == "runc"
    assert runtimes_config["snapshotter"] == "overlayfs"
    runtimes = runtimes_config["runtimes"]
    assert list(runtimes) == list(containerd.HANDLERS) == ["runc", "runc-alt"]
    for handler, runtime in runtimes.items():
        assert runtime["runtime_type"] == "io.containerd.runc.v2"
        assert runtime["options"]["SystemdCgroup"] is False
        assert runtime["options"]["Root"] == str(WORKDIR / "runc" / handler)
    assert runtimes["runc"]["options"] != runtimes["runc-alt"]["options"]


def test_registry_hosts_file_sends_pulls_only_to_the_local_registry():
    hosts = tomllib.loads(containerd.render_registry_hosts("http://127.0.0.1:5000"))
    assert hosts["server"] == "http://127.0.0.1:5000"
    assert list(hosts["host"]) == ["http://127.0.0.1:5000"]


def test_write_config_lays_out_files(tmp_path):
    layout = InstanceLayout(tmp_path)
    containerd.write_config(layout, SETTINGS)
    assert tomllib.loads(layout.containerd_config.read_text())["grpc"]["address"] == str(layout.containerd_socket)
    hosts_file = layout.registry_hosts_dir / "cri-conformance.test" / "hosts.toml"
    assert tomllib.loads(hosts_file.read_text())["server"] == "http://127.0.0.1:5000"
    for handler in containerd.HANDLERS:
        assert (layout.runc_roots / handler).is_dir()


def test_registry_config_listens_on_loopback_only(tmp_path):
    text = registry.render_config(tmp_path / "storage", 41234)
    assert "addr: 127.0.0.1:41234" in text
    assert f"rootdirectory: {tmp_path / 'storage'}" in text


def test_free_loopback_port_is_bindable():
    import socket

    port = registry.free_loopback_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_toml_writer_round_trips():
    document = {
        "version": 2,
        "name": 'quote " and \\ backslash',
        "flag": False,
        "ratio": 0.5,
        "list": ["a", "b"],
        "empty": {},
        "table": {"x": 1, "nested.dotted": {"y": "z"}, "sub": {"deep": {"k": True}}},
    }
    assert tomllib.loads(toml_text.dumps(document)) == document
