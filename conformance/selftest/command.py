"""The `cri-conformance selftest` and `cri-conformance proxy` commands.

    cri-conformance selftest [--local | --runtime-endpoint EP] [--fault NAME ...] [-- PYTEST ARGS]
    cri-conformance proxy --runtime-endpoint EP --listen /tmp/broken.sock --fault NAME [--fault ...]
    cri-conformance proxy --list
"""

from __future__ import annotations

import argparse
import fnmatch
import signal
import sys
import threading
from pathlib import Path

EXIT_FAILED, EXIT_USAGE = 1, 2


def _die(message: str) -> int:
    print(f"cri-conformance: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def select_faults(patterns: list[str] | None):
    """Faults by name; shell-style patterns (`pod_*`) allowed. None selects all."""
    from cri_conformance.fixtures.proxy import catalogue

    faults = catalogue()
    if not patterns:
        return list(faults.values())
    chosen = {}
    for pattern in patterns:
        matches = [name for name in faults if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise KeyError(f"no fault matches {pattern!r} (see `cri-conformance proxy --list`)")
        chosen.update((name, faults[name]) for name in matches)
    return list(chosen.values())


# --- selftest --------------------------------------------------------------------

def cmd_selftest(args: argparse.Namespace) -> int:
    from cri_conformance.cli import endpoint_under_test
    from cri_conformance.fixtures.endpoint import EndpointError, find_well_known_endpoint
    from cri_conformance.selftest import report
    from cri_conformance.selftest.engine import SelftestConfig, run_selftest
    from cri_conformance.selftest.verdict import load_accepted

    try:
        faults = select_faults(args.fault)
        accepted = load_accepted(Path(args.accepted) if args.accepted else None)
    except (KeyError, OSError, ValueError) as err:
        return _die(str(err).strip("'\""))
    options: list[str] = []
    with endpoint_under_test(args) as (endpoint, local):
        if local is not None and not args.alt_runtime_handler and len(local.handlers) > 1:
            options += ["--alt-runtime-handler", local.handlers[1]]
        elif not endpoint:
            try:
                found, probed = find_well_known_endpoint()
            except EndpointError as err:
                return _die(str(err))
            endpoint = str(probed)
            print(f"using the {found} runtime at {endpoint}")
        for flag, value in (("--runtime-handler", args.runtime_handler),
                            ("--alt-runtime-handler", args.alt_runtime_handler),
                            ("--known-failures", args.known_failures)):
            if value:
                options += [flag, value]
        config = SelftestConfig(
            runtime_endpoint=endpoint, image_endpoint=args.image_endpoint, report_dir=Path(args.report_dir),
            faults=faults, accepted=accepted, suite_options=tuple(options), pytest_args=tuple(args.pytest_args),
            work_dir=Path(args.work_dir), jobs=args.jobs, workers=args.workers, compare_direct=not args.no_direct,
        )
        result = run_selftest(config)
    print(report.text(result, endpoint))
    summary, data = report.write(result, endpoint, config.report_dir)
    print(f"report: {summary} and {data}; logs of every run in {config.report_dir / 'runs'}")
    return 0 if result.passed else EXIT_FAILED


def add_selftest_parser(commands) -> None:
    sub = commands.add_parser(
        "selftest", help="mutation self-test: does the suite catch a runtime that breaks a contract?",
        description="Run the suite through the fault-injecting proxy: once clean (it must give the same outcomes "
                    "as a direct run), then once per fault with the tests of the fault's contracts. Reports per "
                    "fault whether it was caught and by which tests, and the mutation score. Arguments after -- "
                    "go to every pytest run.")
    sub.add_argument("--runtime-endpoint", help="the real runtime (default: probe well-known sockets)")
    sub.add_argument("--image-endpoint", help="image service endpoint (default: the runtime endpoint)")
    sub.add_argument("--local", action="store_true", help="bring up the embedded local containerd and use it")
    sub.add_argument("--keep-local", action="store_true", help="leave the local runtime up afterwards")
    sub.add_argument("--local-work-dir", help="work directory of the local runtime")
    sub.add_argument("--runtime-handler", help="runtime handler for every pod")
    sub.add_argument("--alt-runtime-handler", help="a second configured handler")
    sub.add_argument("--known-failures", help="known-failures profile (TOML)")
    sub.add_argument("--work-dir", default="/var/tmp/cri-conformance/runs",
                     help="host directory for pod log directories (default: %(default)s)")
    sub.add_argument("--report-dir", default="reports/selftest",
                     help="where selftest.txt, selftest.json and every run's log go (default: %(default)s)")
    sub.add_argument("--fault", action="append", metavar="NAME",
                     help="only this fault (repeatable; patterns like 'pod_*' allowed)")
    sub.add_argument("--accepted", metavar="FILE", help="accepted survivors (TOML) instead of the shipped list")
    sub.add_argument("--jobs", type=int, default=2, help="fault runs at a time (default: %(default)s)")
    sub.add_argument("-n", "--workers", type=int, default=2,
                     help="xdist workers of the two full runs (default: %(default)s)")
    sub.add_argument("--no-direct", action="store_true",
                     help="skip the direct run (then the clean run through the proxy is not compared)")
    sub.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    sub.set_defaults(func=cmd_selftest)


# --- proxy -------------------------------------------------------------------------

def cmd_proxy(args: argparse.Namespace) -> int:
    from cri_conformance.fixtures.proxy import FaultProxy, ProxyError
    from cri_conformance.fixtures.endpoint import EndpointError

    if args.list:
        for item in select_faults(None):
            print(f"{item.name}\n    {item.summary}\n    contracts: {', '.join(item.contracts)}; "
                  f"RPCs: {', '.join(item.rpcs)}")
        return 0
    if not args.runtime_endpoint:
        return _die("give --runtime-endpoint: the real runtime the proxy forwards to")
    try:
        faults = select_faults(args.fault or [])
        listen = args.listen.removeprefix("unix://")
        proxy = FaultProxy(args.runtime_endpoint, listen, image_endpoint=args.image_endpoint,
                           faults=faults if args.fault else [])
        proxy.start()
    except (KeyError, ProxyError, EndpointError) as err:
        return _die(str(err).strip("'\""))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    active = ", ".join(f.name for f in proxy.faults) or "none (a transparent proxy)"
    print(f"forwarding {proxy.endpoint} -> {args.runtime_endpoint}; faults: {active}", flush=True)
    stop.wait()
    proxy.stop()
    for name, count in sorted(proxy.hits.items()):
        print(f"{name}: intercepted {count} calls")
    for crash in proxy.crashes:
        print(f"fault crashed: {crash}", file=sys.stderr)
    return 0


def add_proxy_parser(commands) -> None:
    sub = commands.add_parser(
        "proxy", help="serve a CRI socket that forwards to a runtime and breaks chosen contracts",
        description="A CRI proxy for checking a CI gate: point any CRI client (this suite, critest, a kubelet) "
                    "at --listen and it sees the real runtime with the chosen faults. Runs until interrupted.")
    sub.add_argument("--runtime-endpoint", help="the real runtime to forward to")
    sub.add_argument("--image-endpoint", help="image service endpoint (default: the runtime endpoint)")
    sub.add_argument("--listen", default="/tmp/cri-conformance-proxy.sock",
                     help="unix socket path to serve (default: %(default)s)")
    sub.add_argument("--fault", action="append", metavar="NAME",
                     help="fault to apply (repeatable; patterns allowed; none: forward unchanged)")
    sub.add_argument("--list", action="store_true", help="list the fault catalogue and exit")
    sub.set_defaults(func=cmd_proxy)
