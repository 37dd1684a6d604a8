"""Process identity and stopping by PID (with a throwaway `sleep`)."""

import signal
import sys

from cri_conformance.fixtures.local import footprint, processes
from cri_conformance.fixtures.local.processes import ProcessRecord
from cri_conformance.fixtures.polling import wait_for


def test_spawn_identify_and_stop(tmp_path):
    record, _ = processes.spawn_detached(["sleep", "60"], tmp_path / "log", tmp_path)
    assert processes.is_running(record)
    assert ProcessRecord.from_json(record.to_json()) == record
    # A record with another start time is a different process: never signalled.
    impostor = ProcessRecord(record.pid, record.start_time + 1)
    assert not processes.is_running(impostor)
    assert processes.signal_pid(impostor, signal.SIGTERM) is False
    assert processes.is_running(record)
    assert processes.stop_process(record, grace=5) == "stopped"
    assert not processes.is_running(record)
    assert processes.stop_process(record) == "not running"


def test_stop_escalates_to_sigkill(tmp_path):
    # A shell that ignores SIGTERM, and says so once the trap is in place.
    ready = tmp_path / "ready"
    record, _ = processes.spawn_detached(
        ["sh", "-c", f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done"], tmp_path / "log", tmp_path
    )
    wait_for(ready.exists, timeout=10, what="the test shell setting its trap")
    assert processes.stop_process(record, grace=0.3) == "killed"


def spawn_named(tmp_path, argument: str) -> processes.ProcessRecord:
    """A process that sleeps with `argument` on its command line, and never forks.

    (A shell would fork for `sleep`, and its child carries the same command line
    until it execs.) Returns once /proc shows the command line: right after
    exec it briefly reads empty.
    """
    record, _ = processes.spawn_detached([sys.executable, "-c", "import time; time.sleep(60)", argument],
                                         tmp_path / "log", tmp_path)
    wait_for(lambda: processes.process_cmdline(record.pid)[-1:] == [argument], timeout=10,
             what="the sleeper's command line")
    return record


def test_pids_with_argument_matches_whole_arguments(tmp_path):
    marker = str(tmp_path / "unique-marker.sock")
    record = spawn_named(tmp_path, marker)
    try:
        assert processes.pids_with_argument(marker) == [record.pid]
        assert processes.pids_with_argument(marker[:-2]) == []
    finally:
        processes.stop_process(record)


def test_processes_naming_a_directory_are_found(tmp_path):
    record = spawn_named(tmp_path, str(tmp_path / "instance" / "containerd.sock"))
    try:
        assert footprint.pids_naming(tmp_path / "instance") == [record.pid]
        assert footprint.pids_naming(tmp_path / "inst") == []  # a prefix of a name is not the directory
    finally:
        processes.stop_process(record)
