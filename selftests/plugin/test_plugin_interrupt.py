"""Stopping a run stops it: SIGINT or SIGTERM against a silent peer with a 60 s probe timeout closes the
probe's connection within one second plus one connect timeout and ends the run (reports written) long
before the probe timeout, keeps the probes that had finished, marks the unfinished cases ``interrupted``
in every report, and exits with pytest's status for an interrupted run (2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gvpconf_lab import impostors
from selftests.helpers import ROOT, parse_junit, write_inventory

CONNECT_S = 3.0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_against_a_silent_peer_stops_at_once_and_reports_what_finished(
        tmp_path: Path, sig: signal.Signals) -> None:
    silent = impostors.silent()
    with silent as (host, port), impostors.refused() as (_h, closed):
        inv = write_inventory(tmp_path, {"version": 1, "defaults": {"timeouts": {
            "connect": CONNECT_S, "read": 60.0, "probe": 60.0}}, "destinations": {"sip_server": {
                "transport": "tcp", "targets": [{"name": "silent", "host": host, "port": port},
                                                {"name": "closed", "host": host, "port": closed}]}}})
        junit = tmp_path / "junit.xml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "--inventory",
                                 str(inv), "--connection", "1", "--junitxml", str(junit)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while not silent._conns and time.monotonic() < deadline:  # the probe waits on the silent peer
                time.sleep(0.05)
            assert silent._conns, "the probe never reached the silent peer"
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(sig)
            while silent._conns and time.monotonic() < sent + 30:  # the probe's socket is closed
                time.sleep(0.02)
            closed_after = time.monotonic() - sent
            out, _ = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    # the probe gave up its peer within the bound; the process (reports written) long before the 60 s timeout
    assert closed_after < 1.0 + CONNECT_S, f"the probe's socket closed {closed_after:.1f} s after {sig.name}"
    assert took < 15, f"the run ended {took:.1f} s after {sig.name}"
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = [r for r in results["connections"] if r["number"] == 1]
    outcomes = {c["target"]: (c["outcome"], c.get("cause", "")) for c in row["cases"]}
    assert outcomes == {"closed": ("failed", "refused"), "silent": ("interrupted", "")}, outcomes
    assert row["verdict"] == "FAILED"  # the finished failure stands
    cases, _props = parse_junit(junit)
    states = {c.name.split("[")[-1].rstrip("]"): c.outcome for c in cases}
    assert states == {"closed": "failed", "silent": "error"}, states
    assert "interrupted" in junit.read_text()
    for name in ("report.html", "report.md"):
        assert "interrupted" in (tmp_path / name).read_text(), name


def test_an_interrupt_stops_a_probe_waiting_on_a_silent_udp_peer(tmp_path: Path) -> None:
    """SIP over UDP to a peer that takes the datagrams and never answers: the probe's UDP socket is shut down
    by the interrupt like a TCP one (net.udp_socket), so the run ends long before the 60 s probe timeout
    (pytest joins the probe threads at exit: a probe left waiting kept the process alive until its timeout)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        host, port = peer.getsockname()
        inv = write_inventory(tmp_path, {"version": 1, "defaults": {"timeouts": {
            "connect": CONNECT_S, "read": 60.0, "probe": 60.0}}, "destinations": {"sip_server": {
                "transport": "udp", "targets": [{"name": "silent", "host": host, "port": port}]}}})
        junit = tmp_path / "junit.xml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "--inventory",
                                 str(inv), "--connection", "1", "--junitxml", str(junit)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            peer.settimeout(60)
            peer.recv(65535)  # the probe's first OPTIONS: it now waits for an answer
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=90)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert took < 15, f"the run ended {took:.1f} s after SIGINT"
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = [r for r in results["connections"] if r["number"] == 1]
    assert [c["outcome"] for c in row["cases"]] == ["interrupted"], row["cases"]


def test_an_interrupt_does_not_wait_for_a_client_library_probe(tmp_path: Path) -> None:
    """An HTTP probe (httpx, its own sockets) on a peer that accepts and never answers, with a 60 s timeout:
    the interrupted run writes its reports and ends at once (its process does not wait at exit for the probe
    thread to reach its timeout)."""
    silent = impostors.silent()
    with silent as (host, port):
        inv = write_inventory(tmp_path, {"version": 1, "defaults": {"timeouts": {
            "connect": CONNECT_S, "read": 60.0, "probe": 60.0}}, "destinations": {"customer": {
                "targets": [{"name": "silent", "host": host, "port": port}]}}})
        junit = tmp_path / "junit.xml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "--inventory",
                                 str(inv), "--connection", "21", "--junitxml", str(junit)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while not silent._conns and time.monotonic() < deadline:
                time.sleep(0.05)
            assert silent._conns, "the probe never reached the silent peer"
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=90)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert took < 1.0 + CONNECT_S + 8, f"the run ended {took:.1f} s after SIGTERM"
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = [r for r in results["connections"] if r["number"] == 21]
    assert [c["outcome"] for c in row["cases"]] == ["interrupted"], row["cases"]
    cases, _props = parse_junit(junit)
    assert [c.outcome for c in cases] == ["error"]
    assert "interrupted" in (tmp_path / "report.md").read_text()
