import pytest

from cri_conformance.known_failures import KnownFailure, load_profile, version_in_range


@pytest.mark.parametrize(
    "version, spec, expected",
    [
        ("1.6.20~ds1", ">=1.6, <1.7", True),
        ("v1.7.0", ">=1.6, <1.7", False),
        ("1.6.20", "==1.6", True),
        ("1.7.1", "==1.6", False),
        ("2.0.0", ">1.7.99", True),
        ("1.6.20", "", True),
    ],
)
def test_version_ranges(version, spec, expected):
    assert version_in_range(version, spec) is expected


def test_entry_matches_node_id_suffix_runtime_and_version():
    entry = KnownFailure("test_x.py::test_y", "containerd", ">=1.6,<1.7", "because")
    assert entry.applies_to("cri_conformance/test_x.py::test_y[param]", "containerd", "1.6.20")
    assert not entry.applies_to("cri_conformance/test_x.py::test_y", "cri-o", "1.6.20")
    assert not entry.applies_to("cri_conformance/test_x.py::test_y", "containerd", "1.7.0")


def test_shipped_profile_loads():
    assert all(entry.reason for entry in load_profile(None))
