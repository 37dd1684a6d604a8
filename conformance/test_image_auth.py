"""PullImage.auth: a registry that requires credentials gets them, in either AuthConfig form,
and a pull without them or with wrong ones fails, without the secret in the error.

Needs an image that can only be pulled with credentials: `--registry-auth FILE`
(see fixtures/registry_auth.py), found automatically for the local runtime.
Credentials are held in a masked Secret and never written into assertion
messages, so no report or log of the run contains them.
"""

from __future__ import annotations

import secrets

import grpc
import pytest

from cri_conformance.fixtures import image_calls
from cri_conformance.fixtures.registry_auth import RegistryAuthError, Secret, find_credentials

pytestmark = pytest.mark.xdist_group("registry-auth")

FAILURE_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@pytest.fixture(scope="module")
def credentials(cri_settings, runtime_under_test):
    try:
        found = find_credentials(cri_settings.registry_auth, str(runtime_under_test.endpoint))
    except RegistryAuthError as err:
        pytest.fail(f"--registry-auth: {err}", pytrace=False)
    if found is None:
        pytest.skip("needs an image that requires credentials (--registry-auth FILE)")
    return found


@pytest.fixture
def absent_private_image(image_service, credentials):
    """The private image removed first, so that every pull must reach the registry."""
    image_calls.remove(image_service, credentials.image)
    assert image_calls.present(image_service, credentials.image) is None, f"{credentials.image} is still present"
    yield credentials.image
    image_calls.remove(image_service, credentials.image)


def failed_pull(image_service, reference: str, auth=None) -> grpc.RpcError:
    __tracebackhide__ = True  # the request holds credentials: keep its frame out of reports
    return image_calls.rpc_error(image_calls.pull, image_service, reference, timeout=60,
                                 **({"auth": auth} if auth is not None else {}))


@pytest.mark.contract("PullImage.auth")
@pytest.mark.parametrize("form", ["username_password", "auth"])
def test_pull_with_the_right_credentials_succeeds(image_service, credentials, absent_private_image, form):
    error = None
    try:
        image_ref = image_calls.pull(image_service, absent_private_image, auth=credentials.auth_config(form))
    except grpc.RpcError as err:
        error = f"{err.code().name}: {err.details()}"
    # Failing outside the except block keeps the call's frames (and the request) out of the report.
    if error:
        pytest.fail(f"PullImage({absent_private_image!r}) with the right credentials ({form} form) failed: {error}")
    image = image_calls.present(image_service, absent_private_image)
    assert image is not None and image.id == image_ref, f"ImageStatus after the authenticated pull: {image}"


@pytest.mark.contract("PullImage.auth")
def test_pull_without_credentials_fails(image_service, absent_private_image):
    failed_pull(image_service, absent_private_image)
    assert image_calls.present(image_service, absent_private_image) is None, "the image is present after a failed pull"


@pytest.mark.contract("PullImage.auth")
@pytest.mark.parametrize("form", ["username_password", "auth"])
def test_pull_with_a_wrong_password_fails_without_showing_it(image_service, credentials, absent_private_image, form):
    wrong = Secret("wrong-" + secrets.token_urlsafe(16))
    error = failed_pull(image_service, absent_private_image, credentials.auth_config(form, password=wrong))
    assert image_calls.present(image_service, absent_private_image) is None, "the image is present after a failed pull"
    details = error.details() or ""
    leaked = [what for what, text in (("the password", wrong.reveal()),
                                      ("the base64 auth", credentials.auth_config("auth", password=wrong).auth))
              if text in details]
    assert not leaked, f"the PullImage error message contains {' and '.join(leaked)} ({error.code().name})"


@pytest.mark.contract("PullImage.error_reasons")
def test_refused_credentials_are_reported_as_unauthenticated(image_service, credentials, absent_private_image):
    errors = {
        "no credentials": failed_pull(image_service, absent_private_image),
        "a wrong password": failed_pull(image_service, absent_private_image,
                                        credentials.auth_config(password=Secret(secrets.token_urlsafe(16)))),
    }
    wrong = {case: f"{error.code().name}: {error.details()}" for case, error in errors.items()
             if error.code() not in FAILURE_CODES}
    assert not wrong, f"expected UNAUTHENTICATED or PERMISSION_DENIED, got: {wrong}"
