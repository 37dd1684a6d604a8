"""The suite's settings: command line, then environment, then ini, then default.

Every option can be given as `--name`, as the environment variable shown in
`--help`, or as `name = value` in the `[tool.pytest.ini_options]` section of
pyproject.toml (or pytest.ini).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

GROUP = "cri-conformance"
RUN_ID_ENV = "CRI_CONFORMANCE_RUN_ID"


@dataclass(frozen=True)
class Option:
    flag: str
    env: str
    help: str
    default: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS = (
    Option("--runtime-endpoint", "CRI_RUNTIME_ENDPOINT",
           "CRI runtime socket: unix:///path or tcp://host:port (default: probe containerd, CRI-O, cri-dockerd)"),
    Option("--image-endpoint", "CRI_IMAGE_ENDPOINT", "image service socket (default: the runtime endpoint)"),
    Option("--connect-timeout", "CRI_CONNECT_TIMEOUT", "seconds to wait for the endpoint to answer", "10"),
    Option("--runtime-request-timeout", "CRI_RUNTIME_REQUEST_TIMEOUT",
           "deadline in seconds of every CRI call that sets no shorter one", "60"),
    Option("--runtime-handler", "CRI_RUNTIME_HANDLER", "runtime handler (RuntimeClass) for every pod", ""),
    Option("--alt-runtime-handler", "CRI_ALT_RUNTIME_HANDLER",
           "a second configured handler, for the tests that need two (default: none)", ""),
    Option("--runtime-name", "CRI_RUNTIME_NAME", "name used for reports (default: Version.runtime_name)"),
    Option("--report-dir", "CRI_REPORT_DIR",
           "write the JUnit report to DIR/<runtime-name>-<runtime-version>.xml"),
    Option("--run-id", RUN_ID_ENV,
           "label value that marks this run's pods and containers (default: random)"),
    Option("--known-failures", "CRI_KNOWN_FAILURES",
           "known-failures profile (TOML); default: the one shipped with the suite"),
    Option("--work-dir", "CRI_CONFORMANCE_WORK_DIR",
           "host directory for pod logs and mount sources; the runtime must see the same path",
           "/var/tmp/cri-conformance/runs"),
    Option("--test-images", "CRI_TEST_IMAGES",
           "TOML file overriding the suite's test images (format: cri_conformance/data/test-images.toml)"),
    Option("--registry", "CRI_TEST_REGISTRY",
           "pull every test image from this registry (host[:port][/path]); repository, tag and digest are kept"),
    Option("--registry-auth", "CRI_REGISTRY_AUTH",
           "JSON file: an image that needs credentials and the credentials, for the authenticated-pull tests "
           "(default: the local runtime's, when testing it)"),
    Option("--streaming-base-url", "CRI_STREAMING_BASE_URL",
           "base URL (http[s]://host:port) for relative Exec/Attach/PortForward URLs (default: none)"),
    Option("--streaming-tls-insecure", "CRI_STREAMING_TLS_INSECURE",
           "set to 1 to skip verifying the streaming server's TLS certificate"),
    Option("--streaming-ca-file", "CRI_STREAMING_CA_FILE", "CA bundle that signed the streaming server's certificate"),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "CRI conformance suite")
    for option in OPTIONS:
        default = f" [env {option.env}]"
        group.addoption(option.flag, dest=option.dest, default=None, help=option.help + default)
        parser.addini(option.dest, option.help, default=None)


def option_value(config: pytest.Config, name: str) -> str | None:
    option = next(o for o in OPTIONS if o.dest == name)
    for value in (config.getoption(option.dest), os.environ.get(option.env), config.getini(option.dest)):
        if value not in (None, ""):
            return str(value)
    return option.default


@dataclass(frozen=True)
class Settings:
    runtime_endpoint: str | None
    image_endpoint: str | None
    connect_timeout: float
    request_timeout: float
    runtime_handler: str
    alt_runtime_handler: str
    runtime_name: str | None
    report_dir: str | None
    run_id: str
    known_failures: str | None
    work_dir: str
    test_images: str | None = None
    registry: str | None = None
    registry_auth: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> "Settings":
        get = lambda name: option_value(config, name)  # noqa: E731
        return cls(
            runtime_endpoint=get("runtime_endpoint"),
            image_endpoint=get("image_endpoint"),
            connect_timeout=float(get("connect_timeout")),
            request_timeout=float(get("runtime_request_timeout")),
            runtime_handler=get("runtime_handler") or "",
            alt_runtime_handler=get("alt_runtime_handler") or "",
            runtime_name=get("runtime_name"),
            report_dir=get("report_dir"),
            run_id=get("run_id") or new_run_id(),
            known_failures=get("known_failures"),
            work_dir=get("work_dir"),
            test_images=get("test_images"),
            registry=get("registry"),
            registry_auth=get("registry_auth"),
        )


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]
