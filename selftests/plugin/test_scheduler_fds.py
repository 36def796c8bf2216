"""Many targets at the default ``ulimit -n``: the scheduler makes room for its workers' descriptors, and a probe
that still runs out of them fails as ``config`` with a message naming the limit, never as a prober bug."""

from __future__ import annotations

import subprocess
import sys

import pytest

_SCRIPT = """
import resource, socket, sys
from gvpconf import net, scheduler
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import ProbeFailure
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
soft = scheduler.fd_headroom(256)
print("RAISED", soft >= min(hard, scheduler.FDS_BASE + 256 * scheduler.FDS_PER_PROBE))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
held = []
try:
    while True:
        held.append(socket.socket())
except OSError:
    pass
try:
    net.connect_tcp("127.0.0.1", 9, Deadline(Timeouts(connect=1, read=1, probe=2)))
except ProbeFailure as exc:
    print("FAILURE", exc)
"""


def test_fd_headroom_and_exhaustion_message() -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "RAISED True" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("FAILURE"))
    assert "config: out of file descriptors during TCP connect" in line
    assert "ulimit -n) is 64" in line and "--gvp-workers" in line


def test_a_prober_that_lets_a_cancellation_out_is_a_prober_bug_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio's CancelledError is a BaseException: one escaping a prober (the WebSocket probe's session once let
    it out when its own timeout and the deadline ended together) is the case's error, like any prober bug; it
    neither kills the worker nor escapes to pytest as a traceback."""
    import asyncio

    from gvpconf import catalog, probes
    from gvpconf.deadline import Timeouts
    from gvpconf.inventory import Target
    from gvpconf.inventory.web import NexusDestination
    from gvpconf.probes.context import ProbeContext
    from gvpconf.scheduler import Job, run_job

    def cancelled(_ctx: ProbeContext) -> None:
        raise asyncio.CancelledError()

    monkeypatch.setattr(probes, "get", lambda _name: cancelled)
    target = Target(host="127.0.0.1", port=9, name="t")
    result = run_job(Job("websocket.session", Timeouts(connect=1, read=1, probe=2), lambda deadline: ProbeContext(
        connection=catalog.connection(13), target=target, destination=NexusDestination(), secrets={},
        deadline=deadline)))
    assert isinstance(result.error, asyncio.CancelledError) and result.failure is None
