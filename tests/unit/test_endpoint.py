import warnings

import pytest

from cri_conformance.fixtures.endpoint import EndpointError, parse_endpoint


@pytest.mark.parametrize(
    "text, scheme, address, target",
    [
        ("unix:///run/containerd/containerd.sock", "unix", "/run/containerd/containerd.sock",
         "unix:///run/containerd/containerd.sock"),
        ("tcp://127.0.0.1:1234", "tcp", "127.0.0.1:1234", "127.0.0.1:1234"),
        ("tcp://localhost:9", "tcp", "localhost:9", "localhost:9"),
    ],
)
def test_accepted_forms(text, scheme, address, target):
    endpoint = parse_endpoint(text)
    assert (endpoint.scheme, endpoint.address, endpoint.grpc_target) == (scheme, address, target)


def test_bare_path_is_unix_with_a_deprecation_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        endpoint = parse_endpoint("/run/crio/crio.sock")
    assert endpoint.scheme == "unix" and endpoint.address == "/run/crio/crio.sock"
    assert [w.category for w in caught] == [DeprecationWarning]


@pytest.mark.parametrize("text", ["http://x:1", "npipe:////./pipe/containerd", "unix://relative", "tcp://nohost",
                                  "", "relative/path.sock"])
def test_rejected_forms_name_the_endpoint(text):
    with pytest.raises(EndpointError) as caught:
        parse_endpoint(text)
    assert "\n" not in str(caught.value)
    if text:
        assert text in str(caught.value)
