"""Version and Status: what the runtime says about itself."""

from __future__ import annotations

import json
import re

import pytest

from cri_conformance.proto import runtime_v1_pb2 as pb

# semver 2.0.0, as the proto asks of runtime_version and runtime_api_version.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
REQUIRED_CONDITIONS = ("RuntimeReady", "NetworkReady")


@pytest.fixture(scope="module")
def version(runtime) -> pb.VersionResponse:
    return runtime.Version(pb.VersionRequest(version="v1"))


@pytest.fixture(scope="module")
def status(runtime) -> pb.StatusResponse:
    return runtime.Status(pb.StatusRequest())


@pytest.mark.contract("Version.fields_nonempty")
@pytest.mark.parametrize("field", ["version", "runtime_name", "runtime_version", "runtime_api_version"])
def test_version_field_is_set(version, field):
    assert getattr(version, field) != "", f"VersionResponse.{field} is empty: {version}"


@pytest.mark.contract("X.grpc_services")
def test_version_reports_api_v1(version):
    assert version.runtime_api_version.lstrip("v").split(".")[0] == "1", (
        f"runtime_api_version is {version.runtime_api_version!r}, expected the v1 API"
    )


@pytest.mark.contract("Version.runtime_version_semver")
def test_runtime_version_is_semver(version):
    assert SEMVER.match(version.runtime_version), f"runtime_version {version.runtime_version!r} is not semver"


@pytest.mark.contract("Version.runtime_api_version_semver")
def test_runtime_api_version_is_semver(version):
    assert SEMVER.match(version.runtime_api_version), (
        f"runtime_api_version {version.runtime_api_version!r} is not semver"
    )


@pytest.mark.contract("Version.request_version_any")
@pytest.mark.parametrize("requested", ["", "v1", "0.1.0", "v1alpha2", "not-a-version"])
def test_version_accepts_any_request_version(runtime, version, requested):
    answer = runtime.Version(pb.VersionRequest(version=requested))
    assert (answer.runtime_name, answer.runtime_version) == (version.runtime_name, version.runtime_version)


@pytest.mark.contract("X.connection_probe", "X.image_endpoint_fallback")
def test_connection_probe_calls_succeed(runtime, image_service):
    # Without --image-endpoint, image_service talks to the runtime socket.
    runtime.Version(pb.VersionRequest())
    response = image_service.ImageFsInfo(pb.ImageFsInfoRequest())
    assert response.ByteSize() > 0, "ImageFsInfo answered with an empty response"


@pytest.mark.contract("Status.conditions_present")
def test_status_has_required_conditions(status):
    assert status.HasField("status"), "StatusResponse.status is unset"
    types = [c.type for c in status.status.conditions]
    missing = [t for t in REQUIRED_CONDITIONS if t not in types]
    assert not missing, f"missing conditions {missing}; got {types}"


@pytest.mark.contract("Status.required_true")
@pytest.mark.parametrize("condition", REQUIRED_CONDITIONS)
def test_required_condition_is_true(status, condition):
    found = [c for c in status.status.conditions if c.type == condition]
    assert found and found[0].status, f"{condition} is not true: {found or 'absent'}"


@pytest.mark.contract("Status.condition_fields")
def test_condition_types_are_unique_and_named(status):
    types = [c.type for c in status.status.conditions]
    assert all(types) and len(types) == len(set(types)), f"condition types {types}"


@pytest.mark.contract("Status.verbose_info")
def test_status_info_only_when_verbose(runtime, status):
    assert dict(status.info) == {}, f"info present without verbose: {sorted(status.info)}"
    assert runtime.Status(pb.StatusRequest(verbose=True)).info, "verbose Status returned no info"


@pytest.mark.contract("Status.verbose_info")
def test_status_info_values_are_json(runtime):
    not_json = {}
    for key, value in runtime.Status(pb.StatusRequest(verbose=True)).info.items():
        try:
            json.loads(value)
        except ValueError:
            not_json[key] = value[:100]
    assert not_json == {}, f"info values that are not JSON: {not_json}"


@pytest.mark.contract("Status.runtime_handlers")
def test_runtime_handler_names_are_unique(status):
    names = [h.name for h in status.runtime_handlers]
    assert len(names) == len(set(names)), f"duplicate handler names: {names}"
