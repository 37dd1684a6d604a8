"""Reading the suite's JUnit reports back: one Run per runtime, one outcome per test.

The JUnit file (written by pytest and annotated by junit_report.py) is the
only interface between a run and the comparison, the gate and the renderers:
they all work on the model built here, never on XML.

Outcomes, from the JUnit elements of a test case:

    pass           no child element
    fail           <failure>            the runtime broke the contract
    error          <error> only         the check could not run: a fixture's
                                        setup or teardown failed (the
                                        environment, the suite, or a runtime
                                        call the fixture needed)
    known-failure  <skipped type=pytest.xfail>
                                        declared in a known-failures profile;
                                        the test failed as the profile says
    xpass-strict   <failure message="[XPASS(strict)] ...">
                                        a known failure started passing: the
                                        profile is out of date and the run fails
    unsupported    <skipped> whose message starts with "unsupported"
                                        an optional RPC answered UNIMPLEMENTED
    skipped        any other <skipped>  not applicable here (e.g. needs SELinux)

pytest writes a second <testcase> with the same name when teardown fails
after the call; the two are merged into one result (fail wins over error).
"""

from __future__ import annotations

import enum
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cri_conformance.catalogue import catalogue

UNSUPPORTED_PREFIX = "unsupported"
XPASS_STRICT_PREFIX = "[XPASS(strict)]"
SESSION_GROUP = "Session checks"
SESSION_CLASSNAME = "cri_conformance.session"


class Outcome(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    KNOWN_FAILURE = "known-failure"
    XPASS_STRICT = "xpass-strict"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]

    @property
    def is_problem(self) -> bool:
        """Whether this outcome makes a run fail."""
        return self in (Outcome.FAIL, Outcome.ERROR, Outcome.XPASS_STRICT)


OUTCOME_LABELS = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "FAIL",
    Outcome.ERROR: "ERROR",
    Outcome.KNOWN_FAILURE: "known failure",
    Outcome.XPASS_STRICT: "KNOWN FAILURE PASSES",
    Outcome.UNSUPPORTED: "unsupported",
    Outcome.SKIPPED: "skipped",
}

# Order in summaries: what needs attention first.
OUTCOME_ORDER = (Outcome.FAIL, Outcome.ERROR, Outcome.XPASS_STRICT, Outcome.KNOWN_FAILURE,
                 Outcome.UNSUPPORTED, Outcome.SKIPPED, Outcome.PASS)


class ReportError(ValueError):
    """A file that is not a readable JUnit report of this suite."""


@dataclass(frozen=True)
class CaseResult:
    key: str  # "test_pod_sandbox.py::test_name[param]": stable across hosts and install paths
    outcome: Outcome
    contracts: tuple[str, ...]
    message: str = ""  # the one-line reason: assertion message, skip or known-failure reason
    detail: str = ""  # the full text pytest wrote (traceback, skip location)
    seconds: float = 0.0


@dataclass
class Run:
    """One runtime's run: the test suite element of one JUnit report."""

    name: str
    properties: dict[str, str]
    results: dict[str, CaseResult]
    source: str = ""
    label: str = ""  # unique among the runs shown together; see label_runs()

    def prop(self, key: str) -> str:
        return self.properties.get(key, "")

    @property
    def runtime_version(self) -> str:
        return self.prop("runtime_version")

    @property
    def suite_version(self) -> str:
        return self.prop("suite_version")

    def counts(self) -> dict[Outcome, int]:
        counts = {outcome: 0 for outcome in OUTCOME_ORDER}
        for result in self.results.values():
            counts[result.outcome] += 1
        return counts

    def describe(self) -> str:
        """'containerd 1.6.20', or 'good (containerd 1.6.20)' when named otherwise."""
        runtime = self.prop("runtime_name") or self.name
        what = f"{runtime} {self.runtime_version}".strip()
        return what if runtime == self.name else f"{self.name} ({what})"


# --- test identity and grouping ------------------------------------------------

def case_key(classname: str, name: str) -> str:
    """The test's identity without the path it was collected from.

    pytest derives classname from the node ID, which depends on where the
    suite was installed and the rootdir; the module name onwards does not:
    'site.packages.cri_conformance.test_pod_sandbox.TestX' + 'test_y[a]'
    -> 'test_pod_sandbox.py::TestX::test_y[a]'.
    """
    if classname == SESSION_CLASSNAME:
        return f"session::{name}"
    parts = classname.split(".")
    modules = [i for i, part in enumerate(parts) if part.startswith("test_")]
    if not modules:
        return f"{classname}::{name}" if classname else name
    start = modules[-1]
    return "::".join([f"{parts[start]}.py", *parts[start + 1:], name])


def _section_order() -> dict[str, int]:
    order: dict[str, int] = {}
    for contract in catalogue().values():
        order.setdefault(contract.section, len(order))
    return order


def section_of(contracts: tuple[str, ...]) -> str:
    """The catalogue section a test belongs to: that of its first contract
    that is not cross-cutting (X.*), else of its first contract."""
    known = [catalogue()[cid] for cid in contracts if cid in catalogue()]
    specific = [c for c in known if not c.id.startswith("X.")]
    chosen = (specific or known)
    if chosen:
        return chosen[0].section
    if contracts:  # IDs from a newer catalogue: group by their prefix
        return contracts[0].split(".", 1)[0]
    return ""


def group_of(key: str, contracts: tuple[str, ...]) -> str:
    if key.startswith("session::"):
        return SESSION_GROUP
    section = section_of(contracts)
    return section.split(" ", 1)[-1] if section and section[0].isdigit() else (section or "No contract")


def group_sort_key(key: str, contracts: tuple[str, ...]) -> tuple[int, str]:
    """Catalogue order of the test's section; session checks last."""
    if key.startswith("session::"):
        return (10_000, "")
    order = _section_order()
    section = section_of(contracts)
    return (order.get(section, 9_000), section)


# --- parsing -------------------------------------------------------------------

_PHASE = re.compile(r'^failed on (setup|teardown) with "(.*)"$', re.DOTALL)
_GRPC_STATUS = re.compile(r"status = StatusCode\.(\w+)")
_GRPC_DETAILS = re.compile(r'^\s*details = "(.*)"\s*$', re.MULTILINE)


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def summarize(message: str) -> str:
    """One line that says what went wrong.

    A gRPC error's first line only says that an RPC failed; its status code
    and details are what a reader needs: 'setup: NOT_FOUND: failed to get
    sandbox image ...' instead of '<_InactiveRpcError of RPC that terminated'.
    """
    phase = ""
    match = _PHASE.match(message.strip())
    if match:
        phase, message = f"{match.group(1)}: ", match.group(2)
    status, details = _GRPC_STATUS.search(message), _GRPC_DETAILS.search(message)
    if status:
        return f"{phase}gRPC {status.group(1)}: {details.group(1) if details else ''}".rstrip(": ")
    return phase + _first_line(message)


def _case_result(case: ET.Element) -> CaseResult:
    key = case_key(case.get("classname", ""), case.get("name", ""))
    contracts = tuple(dict.fromkeys(
        p.get("value", "") for p in case.iter("property") if p.get("name") == "contract"))
    seconds = float(case.get("time") or 0.0)
    failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
    if failure is not None:
        message = failure.get("message", "")
        if message.startswith(XPASS_STRICT_PREFIX):
            outcome, message = Outcome.XPASS_STRICT, message[len(XPASS_STRICT_PREFIX):].strip()
        else:
            outcome = Outcome.FAIL
        return CaseResult(key, outcome, contracts, summarize(message) or _first_line(failure.text),
                          failure.text or message, seconds)
    if error is not None:
        message = error.get("message", "")
        return CaseResult(key, Outcome.ERROR, contracts, summarize(message) or _first_line(error.text),
                          error.text or message, seconds)
    if skipped is not None:
        message = skipped.get("message", "")
        if skipped.get("type") == "pytest.xfail":
            # The suite's only xfails come from known-failures profiles.
            outcome = Outcome.KNOWN_FAILURE
        elif message.startswith(UNSUPPORTED_PREFIX):
            outcome = Outcome.UNSUPPORTED
        else:
            outcome = Outcome.SKIPPED
        return CaseResult(key, outcome, contracts, _first_line(message), skipped.text or message, seconds)
    return CaseResult(key, Outcome.PASS, contracts, "", "", seconds)


def _merge(first: CaseResult, second: CaseResult) -> CaseResult:
    """One test reported twice (call, then teardown): keep the worse outcome,
    and both messages."""
    rank = {Outcome.FAIL: 0, Outcome.XPASS_STRICT: 1, Outcome.ERROR: 2}
    a, b = sorted((first, second), key=lambda r: rank.get(r.outcome, 9))
    message = a.message if not b.message or b.message == a.message else f"{a.message}; then: {b.message}"
    detail = "\n\n".join(filter(None, (a.detail, b.detail)))
    contracts = tuple(dict.fromkeys(a.contracts + b.contracts))
    return CaseResult(a.key, a.outcome, contracts, message, detail, a.seconds + b.seconds)


def _suites(root: ET.Element) -> list[ET.Element]:
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.findall("testsuite"))
    raise ReportError(f"not a JUnit report (root element <{root.tag}>)")


def parse_runs(text: str | bytes, source: str = "") -> list[Run]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ReportError(f"{source or 'report'}: not XML: {err}") from None
    runs = []
    for suite in _suites(root):
        properties = {}
        suite_properties = suite.find("properties")
        if suite_properties is not None:
            properties = {p.get("name", ""): p.get("value", "") for p in suite_properties.findall("property")}
        results: dict[str, CaseResult] = {}
        for case in suite.iter("testcase"):
            result = _case_result(case)
            results[result.key] = _merge(results[result.key], result) if result.key in results else result
        runs.append(Run(suite.get("name", "") or properties.get("runtime_name", ""), properties, results, source))
    if not runs:
        raise ReportError(f"{source or 'report'}: no <testsuite> in it")
    return runs


def load_runs(path: Path | str) -> list[Run]:
    """Every run in a JUnit file, or in the *.xml files of a directory."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.xml"))
        if not files:
            raise ReportError(f"{path}: no *.xml reports in this directory")
        return [run for file in files for run in load_runs(file)]
    try:
        text = path.read_bytes()
    except OSError as err:
        raise ReportError(f"{path}: {err.strerror or err}") from None
    return parse_runs(text, str(path))


def label_runs(runs: list[Run]) -> list[Run]:
    """Give each run a label unique among them: its name, then with its
    version, then with its file name."""
    for make in (lambda r: r.name,
                 lambda r: f"{r.name} {r.runtime_version}".strip(),
                 lambda r: f"{r.name} {r.runtime_version} ({Path(r.source).name})".strip()):
        labels = [make(run) or "run" for run in runs]
        if len(set(labels)) == len(labels):
            break
    else:
        labels = [f"{make(run)} #{i + 1}" for i, run in enumerate(runs)]
    for run, label in zip(runs, labels):
        run.label = label
    return runs


# A contract's standing on a runtime is that of its worst test; a pass
# outranks tests that could not run.
CONTRACT_ORDER = (Outcome.FAIL, Outcome.ERROR, Outcome.XPASS_STRICT, Outcome.KNOWN_FAILURE,
                  Outcome.PASS, Outcome.UNSUPPORTED, Outcome.SKIPPED)


def contract_outcome(outcomes: list[Outcome]) -> Outcome:
    return min(outcomes, key=CONTRACT_ORDER.index)


def with_levels(contracts: tuple[str, ...]) -> str:
    """'RunPodSandbox.ready_on_success (MUST), X.notfound_code (SHOULD)': how
    much a broken contract matters is in its level."""
    known = catalogue()
    return ", ".join(f"{cid} ({known[cid].level})" if cid in known else cid for cid in contracts)
