"""Starting and stopping: nothing of the lab survives, failures name the peer and its log."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gvpconf_lab import ConfigServerStandIn, Lab, LabError, Peer
from gvpconf_lab.base import gvpconf_env, pid_alive, processes_using, stop_process
from gvpconf_lab.lifecycle import LabLifecycle
from gvpconf_lab.ports import free_port
from selftests.helpers import interrupt


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A 0755 directory outside pytest's 0700 tree, so postgres runs inside the lab workdir."""
    path = Path(tempfile.mkdtemp(prefix="gvpconf-selftest-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_exit_leaves_no_process_behind(open_dir: Path) -> None:
    with Lab(open_dir, peers=("postgres", "configserver", "sip_server")) as lab:
        pids = lab.processes()
        assert len(pids) > 3  # postgres forks its background workers
        assert all(pid_alive(pid) for pid in pids)
        data_dir = lab["postgres"].workdir / "cluster" / "data"
        assert (data_dir / "PG_VERSION").exists()  # the cluster lives in the workdir (no fallback)
        assert set(yaml.safe_load(lab.inventory_path.read_text())["destinations"]) == {
            "sip_server", "configserver", "postgres"}
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert processes_using(open_dir) == []


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback TCP port another socket listens on for the whole test (a peer asked to use it cannot bind)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


def test_a_peer_that_cannot_start_raises_laberror_and_the_rest_is_stopped(tmp_path: Path, taken_port: int) -> None:
    lab = Lab(tmp_path, peers=("sip_server", "configserver"), ports={"configserver": taken_port})
    try:
        with pytest.raises(LabError) as info:
            lab.__enter__()
    finally:
        lab.down()  # a no-op when up() already stopped everything
    message = str(info.value)
    log = tmp_path / "configserver" / "configserver.log"
    assert message.startswith("configserver: exited with code 3 before it was ready; see ")
    assert str(log) in message
    assert "cannot bind" in message  # the tail of the log
    assert lab.pids() and not any(pid_alive(pid) for pid in lab.pids().values())
    assert processes_using(tmp_path) == []


def test_unknown_peer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="unknown peer"):
        Lab(tmp_path, peers=("activemq", "no-such-peer"))


def test_only_started_peers_are_in_the_inventory(tmp_path: Path) -> None:
    with Lab(tmp_path, peers=("configserver",)) as lab:
        inv = yaml.safe_load(lab.inventory_path.read_text())
        assert list(inv["destinations"]) == ["configserver"]
        assert not (tmp_path / "secrets" / "activemq-password").exists()
        assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700


# -- command line ---------------------------------------------------------------------------------
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gvpconf_lab", *args]


def test_run_passes_the_inventory_and_returns_the_exit_code(tmp_path: Path) -> None:
    script = ("import os, sys, yaml; inv = yaml.safe_load(open(os.environ['GVP_INVENTORY']));"
              "print(sorted(inv['destinations'])); sys.exit(7)")
    proc = subprocess.run(_cli("run", "--workdir", str(tmp_path), "--peers", "configserver,sip_server",
                               "--", sys.executable, "-c", script),
                          env=gvpconf_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    assert "['configserver', 'sip_server']" in proc.stdout
    assert processes_using(tmp_path) == []


def test_run_reports_laberror_in_one_line(tmp_path: Path, taken_port: int) -> None:
    proc = subprocess.run(_cli("run", "--workdir", str(tmp_path), "--peers", "configserver",
                               "--port", f"configserver={taken_port}", "--", "true"),
                          env=gvpconf_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first.startswith("python -m gvpconf_lab: error: configserver: exited with code 3")
    assert "Traceback" not in proc.stderr


def _finish(proc: subprocess.Popen[str], workdir: Path) -> None:
    """If a test failed half-way: stop the CLI (which stops its lab), then any peer it left."""
    stop_process(proc, grace_s=15)
    for pid in processes_using(workdir):
        os.kill(pid, signal.SIGKILL)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines of proc's stdout up to the one starting with ``marker`` (read in a thread: bounded wait)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        got.append(line)
        if line.startswith(marker):
            return got
    raise AssertionError(f"no {marker!r} line within {timeout} s; got {got}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_up_stops_everything_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen(_cli("up", "--workdir", str(tmp_path), "--peers", "configserver,sip_server",
                                 "--port", f"sip_server={port}"),
                            env=gvpconf_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_until(proc, "lab ready", timeout=30)
        described = [ln for ln in lines if ln.startswith(("configserver:", "sip_server:"))]
        assert len(described) == 2
        assert any(f"127.0.0.1:{port} (pid " in ln for ln in described)
        assert f"inventory: {tmp_path / 'inventory.yaml'}" in lines
        peers = [pid for pid in processes_using(tmp_path) if pid != proc.pid]
        assert len(peers) == 2
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        _finish(proc, tmp_path)
    assert [pid for pid in peers if pid_alive(pid)] == []


def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    """SIGINT arrives while ActiveMQ (the slowest peer) is still booting."""
    proc = subprocess.Popen(_cli("up", "--workdir", str(tmp_path), "--peers", "activemq,configserver"),
                            env=gvpconf_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peers: list[int] = []

    def both_peers_booting() -> bool:
        peers[:] = [pid for pid in processes_using(tmp_path) if pid != proc.pid]
        return len(peers) >= 2

    try:
        stopped = interrupt(proc, signal.SIGINT, when=both_peers_booting, within=20, exit_within=20,
                            what="both peer processes exist, the broker is not ready yet")
        assert "lab ready" not in stopped.output
    finally:
        _finish(proc, tmp_path)
    assert [pid for pid in peers if pid_alive(pid)] == []
    assert processes_using(tmp_path) == []


# -- the lifecycle both labs share (gvpconf_lab.lifecycle) ----------------------------------------
class _TwoListeners(LabLifecycle):
    """The smallest lab: two silent listeners, one of which may refuse to stop."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.refuse_stop = False

    def make_peers(self) -> list[Peer]:
        lab = self

        class Stubborn(ConfigServerStandIn):
            def stop(self) -> None:
                if not lab.refuse_stop:
                    super().stop()

        return [ConfigServerStandIn("one", self.workdir / "one", free_port()),
                Stubborn("two", self.workdir / "two", free_port())]

    def inventory(self) -> dict[str, Any]:
        return {"version": 1, "destinations": {"configserver": {"targets": [
            {"host": p.host, "port": p.port} for p in self.peers.values()]}}}


def test_the_shared_lifecycle_starts_writes_and_stops_by_pid(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with _TwoListeners(tmp_path) as lab:
        pids = lab.processes()
        assert len(pids) == 2 and all(pid_alive(p) for p in pids)
        assert len(yaml.safe_load(lab.inventory_path.read_text())["destinations"]["configserver"]["targets"]) == 2
        assert lab.ready_after_s is not None and (tmp_path / "tls").is_dir()
        if before in (signal.SIG_DFL, None):  # while up, SIGTERM unwinds like Ctrl-C
            assert signal.getsignal(signal.SIGTERM) is not before
        with pytest.raises(LabError, match="already up"):
            lab.up()
    assert signal.getsignal(signal.SIGTERM) is before
    assert [p for p in pids if pid_alive(p)] == []


def test_down_says_when_a_process_of_the_lab_is_left_running(tmp_path: Path) -> None:
    lab = _TwoListeners(tmp_path)
    lab.up()
    try:
        lab.refuse_stop = True
        stubborn = lab["two"].pid
        with pytest.raises(LabError, match=rf"processes \[{stubborn}\] still running"):
            lab.down()
    finally:
        lab.refuse_stop = False
        lab.down()
    assert processes_using(tmp_path) == []
