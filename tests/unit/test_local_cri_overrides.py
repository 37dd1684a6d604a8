"""LocalRuntime(cri_overrides=...): a second instance configured differently."""

import dataclasses
import tomllib
from pathlib import Path

from cri_conformance.fixtures.local import LocalRuntime, containerd, toml_text
from cri_conformance.fixtures.local.containerd import CRI_PLUGIN, ContainerdSettings
from cri_conformance.fixtures.local.layout import InstanceLayout

WORKDIR = Path("/var/tmp/cri-conformance/unit-test")
SETTINGS = ContainerdSettings(
    sandbox_image="cri-conformance.test/pause:1.0",
    snapshotter="overlayfs",
    stream_port=0,
    registry_hosts={"cri-conformance.test": "http://127.0.0.1:5000"},
)


def cri_section(settings: ContainerdSettings) -> dict:
    rendered = toml_text.dumps(containerd.render_config(InstanceLayout(WORKDIR), settings))
    return tomllib.loads(rendered)["plugins"][CRI_PLUGIN]


def test_overrides_replace_values_and_merge_nested_tables():
    plain = cri_section(SETTINGS)
    changed = cri_section(dataclasses.replace(SETTINGS, cri_overrides={
        "sandbox_image": "cri-conformance.test/pause:absent",
        "cni": {"max_conf_num": 2},
    }))
    assert changed["sandbox_image"] == "cri-conformance.test/pause:absent"
    assert changed["cni"] == {**plain["cni"], "max_conf_num": 2}
    assert {k: v for k, v in changed.items() if k not in ("sandbox_image", "cni")} == \
        {k: v for k, v in plain.items() if k not in ("sandbox_image", "cni")}


def test_no_overrides_by_default():
    assert LocalRuntime(WORKDIR, name="unit").cri_overrides == {}
    assert LocalRuntime(WORKDIR, name="unit", cri_overrides={"a": 1}).cri_overrides == {"a": 1}
