"""`cri-conformance local down` leaves nothing of the instance behind.

A separate instance (not the shared project-tests one) is brought up, runs a
pod with a container, and is taken down with the CLI from another process
while the pod still runs (also after containerd was killed). What the instance had on the host is noted first
(fixtures.local.footprint, which the selfcheck uses too) and must all be
gone afterwards: processes started with its paths or running in its
containers, mounts under its workdir, its pods' network namespaces, its
bridge and veth ports, shim sockets, CNI cache entries, the workdir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cri_conformance.fixtures.client import CriClient
from cri_conformance.fixtures.endpoint import parse_endpoint
from cri_conformance.fixtures.local import LocalRuntime, footprint
from cri_conformance.fixtures.mounts import MOUNTINFO, mounts_under
from cri_conformance.fixtures.local.processes import process_cmdline
from cri_conformance.fixtures.polling import wait_for
from cri_conformance.fixtures.resources import ResourceFactory
from cri_conformance.proto import runtime_v1_pb2 as pb

WORKDIR = Path("/var/tmp/cri-conformance/down-check")
NAME = "down-check"


@pytest.fixture
def instance():
    runtime = LocalRuntime(workdir=WORKDIR, name=NAME)
    started = time.monotonic()
    runtime.up(progress=lambda line: print(f"[down-check] {line}"))
    print(f"up: {time.monotonic() - started:.2f} s")
    yield runtime
    runtime.down()  # whatever the test did: never leave this instance running


def run_pod_with_container(runtime: LocalRuntime, work_dir: Path) -> None:
    with CriClient(parse_endpoint(runtime.endpoint), request_timeout=30) as client:
        busybox = runtime.images["busybox"]
        client.image.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=busybox)))
        factory = ResourceFactory(client, run_id=f"down-{uuid.uuid4().hex[:8]}", work_dir=work_dir, name_hint="down")
        pod = factory.run_pod()
        container_id = factory.start_container(pod, image=busybox)
        wait_for(lambda: client.runtime.ContainerStatus(pb.ContainerStatusRequest(container_id=container_id)).status,
                 lambda status: status.state == pb.CONTAINER_RUNNING, timeout=15, what="the container running")
        # Deliberately not cleaned up: `down` must take the running pod with it.


@pytest.mark.timeout(120)
@pytest.mark.parametrize("containerd_killed", [False, True], ids=["running", "containerd-killed"])
def test_local_down_leaves_nothing_behind(instance, tmp_path, containerd_killed):
    run_pod_with_container(instance, tmp_path)
    before = footprint.take(instance)
    # The footprint must hold what a running pod puts on the host, or the check proves nothing.
    commands = [" ".join(process_cmdline(record.pid)) for record in before.processes]
    for program in ("/usr/bin/containerd ", "/usr/bin/docker-registry ", "containerd-shim-runc-v2 ", "/catatonit"):
        assert any(program in command for command in commands), f"{program} not in the footprint: {commands}"
    assert len(before.netns_inodes) == 1, before
    assert before.links[0] == instance.bridge and len(before.links) == 2, before.links  # bridge + the pod's veth
    assert before.shim_sockets, before
    if containerd_killed:
        # containerd dies with the pod running: down must clean up what containerd could not.
        os.kill(instance.status()["containerd_pid"], signal.SIGKILL)

    started = time.monotonic()
    command = [sys.executable, "-m", "cri_conformance.cli", "local", "down", "--local-work-dir", str(WORKDIR)]
    down = subprocess.run(command, capture_output=True, text=True, timeout=90)
    seconds = time.monotonic() - started
    print(down.stdout + down.stderr)
    print(f"down (CLI, another process): {seconds:.2f} s")
    assert down.returncode == 0, down.stdout + down.stderr

    assert footprint.leftovers(before) == []
    # Part of the above, spelled out as the walking skeleton's "done when" says it
    # (the network namespaces are checked by leftovers only).
    assert footprint.pids_naming(WORKDIR) == []
    assert mounts_under(WORKDIR, MOUNTINFO.read_text()) == []
    assert instance.bridge not in [link["ifname"] for link in footprint.host_links()]
    assert not WORKDIR.exists()
