"""Credentials for authenticated pulls: loaded, found next to a local runtime, never shown."""

import base64
import json

import pytest

from cri_conformance.fixtures.registry_auth import (
    LOCAL_CREDENTIALS_FILE,
    RegistryAuthError,
    Secret,
    find_credentials,
    load_credentials,
)

PASSWORD = "pa55-word-that-must-not-leak"


def credentials_file(path, **fields):
    document = {"image": "auth.example/private:1", "username": "tester", "password": PASSWORD, **fields}
    path.write_text(json.dumps(document))
    return path


def test_secret_hides_itself():
    secret = Secret(PASSWORD)
    assert PASSWORD not in repr(secret) and PASSWORD not in str(secret) and PASSWORD not in f"{secret}"
    assert secret.reveal() == PASSWORD


def test_loaded_credentials_do_not_show_the_password(tmp_path):
    credentials = load_credentials(credentials_file(tmp_path / "auth.json"))
    assert credentials.image == "auth.example/private:1" and credentials.username == "tester"
    assert PASSWORD not in repr(credentials)


def test_auth_config_forms(tmp_path):
    credentials = load_credentials(credentials_file(tmp_path / "auth.json"))
    plain = credentials.auth_config()
    assert (plain.username, plain.password, plain.auth) == ("tester", PASSWORD, "")
    encoded = credentials.auth_config("auth", password=Secret("other"))
    assert base64.b64decode(encoded.auth) == b"tester:other" and not encoded.password


@pytest.mark.parametrize("content, message", [
    ("{", "not JSON"),
    (json.dumps({"image": "x", "username": "u"}), "missing password"),
])
def test_bad_files_are_explained_without_secrets(tmp_path, content, message):
    path = tmp_path / "auth.json"
    path.write_text(content)
    with pytest.raises(RegistryAuthError, match=message):
        load_credentials(path)


def test_found_next_to_a_local_runtime_socket(tmp_path):
    credentials_file(tmp_path / LOCAL_CREDENTIALS_FILE)
    found = find_credentials(None, f"unix://{tmp_path}/containerd.sock")
    assert found is not None and found.username == "tester"
    assert find_credentials(None, f"unix://{tmp_path}/elsewhere/containerd.sock") is None
    assert find_credentials(None, "tcp://127.0.0.1:1234") is None
    assert find_credentials(None, None) is None


def test_the_option_wins(tmp_path):
    credentials_file(tmp_path / LOCAL_CREDENTIALS_FILE)
    chosen = credentials_file(tmp_path / "chosen.json", username="chosen")
    assert find_credentials(str(chosen), f"unix://{tmp_path}/containerd.sock").username == "chosen"
