"""The `cri-conformance` command.

    cri-conformance run [--local | --runtime-endpoint EP] [-- PYTEST ARGS]
    cri-conformance run --runtime NAME=EP --runtime NAME2=EP2 [-- PYTEST ARGS]
    cri-conformance compare REPORT.xml REPORT2.xml ...
    cri-conformance gate --baseline OLD.xml NEW.xml
    cri-conformance local up|down|status
    cri-conformance cleanup [--runtime-endpoint EP]
    cri-conformance contracts [--format text|markdown|json|html]
    cri-conformance selftest [--local | --runtime-endpoint EP] [--fault NAME]
    cri-conformance proxy --runtime-endpoint EP --listen PATH --fault NAME
    cri-conformance images list|build DIR|push [REGISTRY]
    cri-conformance replay TARGET REQUEST [--runtime-endpoint EP]

Errors the user can act on (bad endpoint, runtime not running) are one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

EXIT_USAGE = 2


def _die(message: str) -> int:
    print(f"cri-conformance: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# --- run -------------------------------------------------------------------

def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    if args.runtimes:
        return cmd_run_several(args)
    with endpoint_under_test(args) as (endpoint, local):
        # Options as one "--flag=value" word each: pytest would take a separate
        # value that names a directory as a candidate for its rootdir.
        pytest_args = ["--pyargs", "cri_conformance", f"--report-dir={args.report_dir}"]
        if endpoint:
            pytest_args.append(f"--runtime-endpoint={endpoint}")
        for flag, value in (("--image-endpoint", args.image_endpoint), ("--runtime-handler", args.runtime_handler),
                            ("--runtime-name", args.runtime_name)):
            if value:
                pytest_args.append(f"{flag}={value}")
        if local is not None and not args.runtime_handler and len(local.handlers) > 1:
            pytest_args.append(f"--alt-runtime-handler={local.handlers[1]}")
        if args.workers > 1:
            pytest_args += ["-n", str(args.workers), "--dist", "loadgroup"]
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        pytest_args += args.pytest_args
        return int(pytest.main(pytest_args))


def cmd_run_several(args: argparse.Namespace) -> int:
    from cri_conformance import multi_run

    if args.local or args.runtime_endpoint or args.image_endpoint or args.runtime_handler or args.runtime_name:
        return _die("--runtime NAME=ENDPOINT[,handler=H] carries the endpoint, handler and name of each runtime; "
                    "it excludes --local, --runtime-endpoint, --image-endpoint, --runtime-handler and --runtime-name")
    options = multi_run.RunOptions(Path(args.report_dir), args.workers, args.keyword, args.pytest_args)
    return multi_run.run_and_compare(args.runtimes, options)


# --- compare and gate --------------------------------------------------------

def cmd_compare(args: argparse.Namespace) -> int:
    from cri_conformance import compare

    return compare.main(args)


def cmd_gate(args: argparse.Namespace) -> int:
    from cri_conformance import gate

    return gate.main(args)


# --- local -----------------------------------------------------------------

def local_runtime(work_dir: str | None):
    from cri_conformance.fixtures.local import DEFAULT_WORKDIR, LocalRuntime

    # The instance name follows its work directory, so two instances never share a bridge name.
    if not work_dir:
        return LocalRuntime(workdir=DEFAULT_WORKDIR, name="local")
    return LocalRuntime(workdir=Path(work_dir), name=Path(work_dir).name)


class UsageProblem(Exception):
    """The command line cannot work as given; the message is one line."""


@contextlib.contextmanager
def endpoint_under_test(args: argparse.Namespace):
    """(endpoint, local runtime or None) for commands that test a runtime.

    Without --local: --runtime-endpoint as given (None means: probe). With
    --local: the embedded runtime, brought up, and taken down again afterwards
    if this command started it (unless --keep-local).
    """
    if not args.local:
        yield args.runtime_endpoint, None
        return
    if args.runtime_endpoint:
        raise UsageProblem("--local and --runtime-endpoint exclude each other")
    local = local_runtime(args.local_work_dir)
    started_here = not local.status().get("up")
    endpoint = local.up(progress=print)
    try:
        yield endpoint, local
    finally:
        if started_here and not args.keep_local:
            local.down(progress=print)


def cmd_local(args: argparse.Namespace) -> int:
    runtime = local_runtime(args.local_work_dir)
    if args.action == "up":
        print(runtime.up(progress=print))
    elif args.action == "down":
        runtime.down(progress=print)
    else:
        status = runtime.status()
        for key, value in status.items():
            print(f"{key}: {value}")
        return 0 if status.get("up") else 1
    return 0


# --- cleanup ---------------------------------------------------------------

def cmd_cleanup(args: argparse.Namespace) -> int:
    from cri_conformance.fixtures.client import ConnectionProblem
    from cri_conformance.fixtures.resources import find_leftovers, remove_leftovers
    from cri_conformance.fixtures.session import connect

    try:
        rut = connect(args.runtime_endpoint, args.image_endpoint, connect_timeout=10, request_timeout=60)
    except ConnectionProblem as problem:
        return _die(str(problem))
    leftovers = find_leftovers(rut.client, args.run_id)
    if not leftovers:
        print(f"nothing to clean up at {rut.endpoint}")
        return 0
    print(f"removing {leftovers.describe()}")
    errors = remove_leftovers(rut.client, leftovers)
    for error in errors:
        print(f"failed: {error}", file=sys.stderr)
    return 1 if errors else 0


# --- contracts -------------------------------------------------------------

def cmd_contracts(args: argparse.Namespace) -> int:
    from cri_conformance import coverage

    return coverage.main(args)


# --- replay ------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    from cri_conformance.fixtures.fuzz import replay

    return replay.main(args)


# --- parser ----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cri-conformance",
        description="Conformance suite for the Kubernetes Container Runtime Interface (CRI).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def endpoint_options(sub):
        sub.add_argument("--runtime-endpoint", help="unix:///path or tcp://host:port (default: probe well-known sockets)")
        sub.add_argument("--image-endpoint", help="image service endpoint (default: the runtime endpoint)")

    run = commands.add_parser("run", help="run the suite against a runtime and write its JUnit report",
                              description="Run the suite. Arguments after -- go to pytest.")
    endpoint_options(run)
    run.add_argument("--local", action="store_true", help="bring up the embedded local containerd and test it")
    run.add_argument("--keep-local", action="store_true", help="leave the local runtime up after the run")
    run.add_argument("--local-work-dir", help="work directory of the local runtime")
    run.add_argument("--runtime-handler", help="runtime handler for every pod")
    run.add_argument("--runtime-name", help="name for the report (default: from Version)")
    run.add_argument("--report-dir", default="reports", help="where the JUnit report goes (default: reports)")
    run.add_argument("-n", "--workers", type=int, default=default_workers(),
                     help=f"parallel test processes (default: {default_workers()})")
    run.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    run.add_argument("--runtime", dest="runtimes", action="append", metavar="NAME=ENDPOINT[,handler=H]",
                     help="test several runtimes (repeat the option); writes REPORT_DIR/NAME.xml for each and "
                          "their comparison (comparison.md, .html, .json)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    run.set_defaults(func=cmd_run)

    from cri_conformance import compare as compare_module, gate as gate_module

    compare = commands.add_parser("compare", help="compare the JUnit reports of several runtimes side by side",
                                  description="Every test with each runtime's outcome, differences first.")
    compare_module.add_arguments(compare)
    compare.set_defaults(func=cmd_compare)

    gate = commands.add_parser("gate", help="fail when a test that passed on the baseline report does not pass now",
                               description=gate_module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gate_module.add_arguments(gate)
    gate.set_defaults(func=cmd_gate)

    local = commands.add_parser("local", help="manage the embedded local runtime (containerd + registry)")
    local.add_argument("action", choices=["up", "down", "status"])
    local.add_argument("--local-work-dir", help="work directory of the local runtime")
    local.set_defaults(func=cmd_local)

    cleanup = commands.add_parser("cleanup", help="remove pods and containers left by interrupted runs")
    endpoint_options(cleanup)
    cleanup.add_argument("--run-id", help="only this run's resources (default: every run's)")
    cleanup.set_defaults(func=cmd_cleanup)

    contracts = commands.add_parser("contracts", help="list catalogue contracts and the tests that check them")
    contracts.add_argument("--format", choices=["text", "markdown", "json", "html"], default="text")
    contracts.add_argument("--uncovered", action="store_true", help="only contracts no test checks")
    contracts.set_defaults(func=cmd_contracts)

    from cri_conformance.selftest.command import add_proxy_parser, add_selftest_parser

    add_selftest_parser(commands)
    add_proxy_parser(commands)
    from cri_conformance import images_command

    images_command.add_parser(commands)

    from cri_conformance.fixtures.fuzz.replay import add_arguments as replay_arguments

    replay = commands.add_parser("replay", help="send a request a fuzz test reported again, with the same oracles",
                                 description="Send a failing fuzz example again (its request in protobuf text, "
                                             "or @FILE) and judge it with the same oracles.")
    endpoint_options(replay)
    replay_arguments(replay)
    replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cri_conformance.fixtures.local import LocalRuntimeError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LocalRuntimeError as err:
        return _die(f"local runtime: {err}")
    except UsageProblem as err:
        return _die(str(err))
    except KeyboardInterrupt:
        return _die("interrupted")


if __name__ == "__main__":
    sys.exit(main())
