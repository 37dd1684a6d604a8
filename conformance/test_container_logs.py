"""Container logs: where the file is, the CRI log line format, and
ReopenContainerLog after the file was rotated.

Format (kubelet parser): `<RFC 3339 ns timestamp> <stdout|stderr> <P|F>[:tags] <content>\\n`.
"""

from __future__ import annotations

import os
import time

import grpc
import pytest

from cri_conformance.fixtures.cri_helpers import (
    assert_ns_near,
    expect_rpc_error,
    join_partials,
    log_file,
    read_log,
    run_to_completion,
    unknown_id,
    wait_for_log,
    wait_for_output,
)
from cri_conformance.proto import runtime_v1_pb2 as pb

pytestmark = pytest.mark.xdist_group("container_logs")

# Exact bytes per stream: inner and trailing spaces, a tab, an empty line.
SCRIPT = (
    "echo 'hello World'; echo 'to stderr' >&2; printf 'two  spaces and a trailing one \\n'; "
    "echo; printf 'tab\\there\\n'; echo 'stderr again' >&2"
)
EXPECTED = {
    "stdout": [b"hello World", b"two  spaces and a trailing one ", b"", b"tab\there"],
    "stderr": [b"to stderr", b"stderr again"],
}
LONG_LINE = 40_000  # bytes: longer than the runtimes' line buffers (16 KiB in containerd)
TICKER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done"]


@pytest.fixture(scope="module")
def pod(module_resources):
    return module_resources.run_pod()


def reopen(runtime, container_id: str) -> None:
    runtime.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=container_id))


@pytest.mark.contract("RunPodSandbox.log_directory", "CreateContainer.log_path", "Log.location")
def test_log_file_exists_under_log_directory_once_started(runtime, resources, pod, busybox):
    config = resources.container_config(busybox)
    container_id = resources.create_container(pod, config)
    runtime.StartContainer(pb.StartContainerRequest(container_id=container_id))
    path = log_file(pod, config)
    assert path.is_file(), f"no log file at log_directory/log_path = {path} after StartContainer returned"


@pytest.fixture(scope="module")
def finished(module_resources, pod, busybox):
    """The module's short-lived containers, run together to the end; with the clock around them."""
    long_line = f"head -c {LONG_LINE} /dev/zero | tr '\\0' x; echo; echo after"
    configs = {name: module_resources.container_config(busybox, command=command) for name, command in (
        ("format", ["sh", "-c", SCRIPT]), ("long-line", ["sh", "-c", long_line]), ("done", ["echo", "done"]))}
    before = time.time_ns()
    # run_to_completion reads each log as soon as the status says EXITED.
    return run_to_completion(module_resources, pod, configs), before, time.time_ns()


@pytest.mark.contract("Log.line_grammar", "Log.timestamp", "Log.stream", "Log.tags", "Log.newline_terminated",
                      "Log.content_exact", "Log.streams_interleaved", "Log.flushed_by_exit", "Log.legacy_no_tag")
def test_records_follow_the_cri_log_format(finished):
    runs, before, after = finished
    run = runs["format"]
    assert run.status.exit_code == 0, f"the script exited {run.status.exit_code}"
    for record in run.records:
        assert_ns_near(record.timestamp_ns, f"timestamp of {record}", before, after)
    got = {stream: [content for s, content in join_partials(run.records) if s == stream] for stream in EXPECTED}
    assert got == EXPECTED, f"log content per stream: {got}, expected {EXPECTED}"


@pytest.mark.contract("Log.partial_join", "Log.tags")
def test_long_line_comes_back_whole_after_joining_partials(finished):
    records = finished[0]["long-line"].records
    lines = join_partials(records)
    assert lines == [("stdout", b"x" * LONG_LINE), ("stdout", b"after")], (
        f"joined lines: {[(s, len(c)) for s, c in lines]} (stream, length); expected one line of {LONG_LINE} "
        f"then 'after'; tags seen {[r.tags for r in records]}"
    )
    assert not records[-1].partial, "the last record of a finished line is tagged P"


# --- ReopenContainerLog -----------------------------------------------------------------------

@pytest.mark.contract("ReopenContainerLog.reopen", "ReopenContainerLog.old_file_untouched", "Log.rotation")
def test_reopen_after_rotation_writes_to_a_new_file(runtime, resources, pod, busybox):
    config = resources.container_config(busybox, command=TICKER)
    container_id = resources.start_container(pod, config)
    path = log_file(pod, config)
    wait_for_output(path, "line 3")
    rotated = path.with_name(path.name + ".1")
    os.rename(path, rotated)  # what the kubelet's log rotation does
    reopen(runtime, container_id)
    assert path.is_file(), f"no new log file at {path} when ReopenContainerLog returned"
    size_after_reopen = rotated.stat().st_size
    new = wait_for_log(path, lambda records: len(records) >= 5, what=f"5 new records in {path}")
    assert all(r.content.startswith(b"line ") for r in new), f"unexpected records in the new file: {new[:5]}"
    assert rotated.stat().st_size == size_after_reopen, (
        f"the rotated file grew from {size_after_reopen} to {rotated.stat().st_size} bytes after the reopen"
    )
    last_old = int(read_log(rotated)[-1].content.split()[1])
    first_new = int(new[0].content.split()[1])
    assert first_new > last_old, f"the new file starts at line {first_new}, the rotated one ended at {last_old}"


@pytest.mark.contract("ReopenContainerLog.not_running", "ReopenContainerLog.error_no_new_file")
def test_reopen_of_an_exited_container_fails_cleanly_or_succeeds(runtime, finished, pod):
    run = finished[0]["done"]
    path = log_file(pod, run.config)
    os.rename(path, path.with_name(path.name + ".1"))
    try:
        reopen(runtime, run.container_id)
    except grpc.RpcError as err:
        assert not path.exists(), f"ReopenContainerLog failed ({err.code().name}) but created {path}"


@pytest.mark.contract("X.notfound_code")
def test_reopen_of_an_unknown_container_is_not_found(runtime):
    expect_rpc_error(grpc.StatusCode.NOT_FOUND, runtime.ReopenContainerLog,
                     pb.ReopenContainerLogRequest(container_id=unknown_id()))
