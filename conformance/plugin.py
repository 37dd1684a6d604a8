"""The pytest plugin: options, contract markers, the runtime, reports, leaks.

Loaded through the `pytest11` entry point. It stays inert (options and
markers only) unless the session selects the suite's own test modules, e.g.
`pytest --pyargs cri_conformance` or `cri-conformance run`.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

import cri_conformance
from cri_conformance import catalogue, junit_report, known_failures
from cri_conformance.fixtures.client import ConnectionProblem
from cri_conformance.fixtures.resources import find_leftovers, remove_leftovers, remove_run_directory
from cri_conformance.fixtures.session import RuntimeUnderTest, connect
from cri_conformance.fixtures.image_set import ImageSet, ImageSetError, load_image_set
from cri_conformance.options import RUN_ID_ENV, Settings, add_options
from cri_conformance.proto import runtime_v1_pb2 as pb

pytest_plugins = ["cri_conformance.fixtures.pytest_fixtures", "cri_conformance.fixtures.linux_fixtures",
                  "cri_conformance.fixtures.fuzz.pytest_plugin"]

SETTINGS_KEY = pytest.StashKey[Settings]()
RUNTIME_KEY = pytest.StashKey[RuntimeUnderTest]()
SUITE_KEY = pytest.StashKey[bool]()
IMAGE_SET_KEY = pytest.StashKey[ImageSet]()
LOADGROUP_KEY = "cri_conformance_loadgroup"  # in xdist workerinput

DEFAULT_TEST_TIMEOUT = 120  # seconds; a hung runtime fails one test, not the run
PACKAGE_DIR = Path(cri_conformance.__file__).resolve().parent

MARKERS = (
    "contract(*ids): the catalogue contract IDs this test checks (cri-contracts.md)",
    "fuzz: property-based fuzzing (slow; deselect with -m 'not fuzz')",
    "serial: must not run beside other tests (it changes node-wide state)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def suite_selected(config: pytest.Config) -> bool:
    """Whether this session runs the suite's own modules (not just any tests)."""
    for arg in config.args:
        base = arg.split("::", 1)[0]
        if config.option.pyargs and (base == "cri_conformance" or base.startswith("cri_conformance.")):
            return True
        path = Path(config.invocation_params.dir, base).resolve()
        if path == PACKAGE_DIR or PACKAGE_DIR in path.parents:
            return True
    return False


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    settings = Settings.from_config(config)
    config.stash[SETTINGS_KEY] = settings
    config.stash[SUITE_KEY] = suite_selected(config)
    if not config.stash[SUITE_KEY] or config.option.collectonly:
        return
    try:
        config.stash[IMAGE_SET_KEY] = load_image_set(settings.test_images, settings.registry)
    except ImageSetError as problem:
        raise pytest.UsageError(f"test images: {problem}") from None
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"  # honour xdist_group marks (tests that must not overlap)
    if is_xdist_worker(config) and config.workerinput.get(LOADGROUP_KEY):
        config.option.loadgroup = True  # name grouped tests "<id>@<group>", as the scheduler expects
    # xdist workers inherit the environment: all share one run ID.
    os.environ[RUN_ID_ENV] = settings.run_id
    try:
        connected = connect(
            settings.runtime_endpoint,
            settings.image_endpoint,
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
        )
    except ConnectionProblem as problem:
        raise pytest.UsageError(f"cannot use the CRI runtime: {problem}") from None
    config.stash[RUNTIME_KEY] = connected
    if settings.report_dir and not config.option.xmlpath and not is_xdist_worker(config):
        name = settings.runtime_name or connected.name
        config.option.xmlpath = str(Path(settings.report_dir) / f"{name}-{connected.runtime_version}.xml")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: tell each worker whether tests are grouped. Workers
    parse the command line again and decide before our pytest_configure runs,
    so a plain `-n N` would leave them ungrouped."""
    node.workerinput[LOADGROUP_KEY] = node.config.getvalue("dist") == "loadgroup"


def runtime_under_test(config: pytest.Config) -> RuntimeUnderTest:
    try:
        return config.stash[RUNTIME_KEY]
    except KeyError:
        pytest.fail("the CRI suite was not selected for this session (run it with --pyargs cri_conformance)")


def image_references(config: pytest.Config) -> ImageSet:
    """The test images (name -> reference, and their properties), after --test-images and --registry."""
    if IMAGE_SET_KEY not in config.stash:
        settings = config.stash[SETTINGS_KEY]
        config.stash[IMAGE_SET_KEY] = load_image_set(settings.test_images, settings.registry)
    return config.stash[IMAGE_SET_KEY]


# --- collection: contracts and known failures ---------------------------------

def contract_ids(item: pytest.Item) -> list[str]:
    return [cid for mark in item.iter_markers("contract") for cid in mark.args]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.stash.get(SUITE_KEY, False):
        return
    unknown = []
    for item in items:
        ids = contract_ids(item)
        for cid in ids:
            if cid not in catalogue.catalogue():
                unknown.append(f"{item.nodeid}: {cid}")
            item.user_properties.append(("contract", cid))
        if item.get_closest_marker("timeout") is None and config.getoption("timeout", None) is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))
    if unknown:
        raise pytest.UsageError("unknown contract IDs in markers: " + "; ".join(unknown))
    if RUNTIME_KEY in config.stash:
        apply_known_failures(config, items)


def module_relative_id(item: pytest.Item) -> str:
    """'test_file.py::Class::test[param]': stable wherever the suite is installed
    (node IDs are relative to the rootdir, which may not contain the package)."""
    names = [node.name for node in item.listchain() if isinstance(node, (pytest.Class, pytest.Function))]
    return "::".join([item.path.name, *names])


def apply_known_failures(config: pytest.Config, items: list[pytest.Item]) -> None:
    rut = config.stash[RUNTIME_KEY]
    profile = known_failures.load_profile(config.stash[SETTINGS_KEY].known_failures)
    for item in items:
        for entry in profile:
            if entry.applies_to(module_relative_id(item), rut.name, rut.runtime_version):
                reason = f"known failure of {entry.runtime} {entry.versions}: {entry.reason}"
                if entry.link:
                    reason += f" ({entry.link})"
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=(AssertionError, grpc.RpcError)))
                item.user_properties.append(("known_failure", reason))
                break


# --- running: a runtime that dies mid-run stops the session ------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    yield
    excinfo = call.excinfo
    if excinfo is None or not isinstance(excinfo.value, grpc.RpcError):
        return
    if excinfo.value.code() != grpc.StatusCode.UNAVAILABLE or RUNTIME_KEY not in item.config.stash:
        return
    rut = item.config.stash[RUNTIME_KEY]
    try:
        rut.client.runtime.Version(pb.VersionRequest(), timeout=2)
    except grpc.RpcError:
        item.session.shouldstop = f"the runtime at {rut.endpoint} stopped answering; the run cannot go on"


# --- end of session: leak check and report -----------------------------------

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.stash.get(SUITE_KEY, False) or is_xdist_worker(config) or RUNTIME_KEY not in config.stash:
        return
    rut = config.stash[RUNTIME_KEY]
    settings = config.stash[SETTINGS_KEY]
    leak = "; ".join(filter(None, (check_leaks(rut, settings.run_id), remove_run_directory(Path(settings.work_dir), settings.run_id))))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if leak:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"LEAK: {leak}", red=True, bold=True)
    if config.option.xmlpath and Path(config.option.xmlpath).is_file():
        junit_report.annotate(Path(config.option.xmlpath), rut, settings, leak)
        if reporter:
            reporter.write_line(f"JUnit report: {config.option.xmlpath}")


def check_leaks(rut: RuntimeUnderTest, run_id: str) -> str:
    """Remove what this run left behind; describe it, or '' when nothing was."""
    try:
        leftovers = find_leftovers(rut.client, run_id)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            return f"not checked: the runtime at {rut.endpoint} is not answering"
        return f"could not list this run's resources: {err.code().name}: {(err.details() or '').splitlines()[0]}"
    if not leftovers:
        return ""
    errors = remove_leftovers(rut.client, leftovers)
    described = f"this run left {leftovers.describe()} behind (now removed)"
    return described + (f"; removal failed: {'; '.join(errors)}" if errors else "")
