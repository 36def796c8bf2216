"""Stopping a run stops it: SIGINT or SIGTERM against a silent peer with a 60 s probe timeout closes the
probe's connection within one second plus one connect timeout and ends the run (reports written) long
before the probe timeout, keeps the probes that had finished, marks the unfinished cases ``interrupted``
in every report, and exits with pytest's status for an interrupted run (2)."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import pytest

from gvpconf_lab import impostors
from selftests.helpers import SIP_TCP_CONNECTIONS, interrupt, parse_junit, start_suite, write_inventory

CONNECT_S = 3.0
#: what pytest prints as #1's first case starts: the run is in its test loop (a signal before it is no interrupt
#: of a running test loop)
C01 = "tests/egress/test_c01_"


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
        held_since: list[float] = []

        def settled() -> bool:
            """The silent peer holds every connection of #1's probes, and has for 0.5 s: the closed target's
            probes must have finished before the signal too, and nothing outside the run shows when they have
            (without the margin a loaded machine saw them interrupted, 1 run in 3)."""
            if len(silent._conns) < SIP_TCP_CONNECTIONS:
                return False
            held_since[:] = held_since or [time.monotonic()]
            return time.monotonic() - held_since[0] >= 0.5

        stopped = interrupt(start_suite(junit, inv, "--connection", "1"), sig, when=settled, in_output=C01,
                            what=f"the {SIP_TCP_CONNECTIONS} connections of #1's probes wait on the silent peer",
                            then=lambda: not silent._conns)  # the probes' sockets are closed
    assert stopped.returncode == pytest.ExitCode.INTERRUPTED, stopped.output[-3000:]
    # the probe gave up its peer within the bound; the process (reports written) long before the 60 s timeout
    closed_after = stopped.then_after
    assert closed_after is not None and closed_after < 1.0 + CONNECT_S, (
        f"the probe's socket closed {closed_after} s after {sig.name}")
    assert stopped.took < 15, f"the run ended {stopped.took:.1f} s after {sig.name}"
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
        peer.setblocking(False)
        senders: set[tuple[str, int]] = set()

        def both_probes_wait() -> bool:  # a datagram from each probe's socket: both now wait for an answer
            with contextlib.suppress(BlockingIOError):
                senders.add(peer.recvfrom(65535)[1])
            return len(senders) >= 2

        stopped = interrupt(start_suite(tmp_path / "junit.xml", inv, "--connection", "1"), signal.SIGINT,
                            when=both_probes_wait, in_output=C01,
                            what="the OPTIONS and the padded OPTIONS reached the silent peer",
                            exit_within=90)
    assert stopped.returncode == pytest.ExitCode.INTERRUPTED, stopped.output[-3000:]
    assert stopped.took < 15, f"the run ended {stopped.took:.1f} s after SIGINT"
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = [r for r in results["connections"] if r["number"] == 1]
    # #1's OPTIONS and its padded OPTIONS (the path-MTU probe), both waiting on the silent peer
    assert [c["outcome"] for c in row["cases"]] == ["interrupted", "interrupted"], row["cases"]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_an_interrupt_during_the_padded_options_fan_out_ends_the_run(tmp_path: Path, transport: str) -> None:
    """The signal comes at the first packet the silent peer sees, while the main thread may still be submitting
    #1's probes (importing the padded OPTIONS' prober) and the probes are still opening their sockets: an
    interrupt there must stop the probes as one in the test loop does (a run interrupted while it submitted kept
    its probes running and waited out their 60 s budget), and a socket opened after the interrupt would be shut
    down by nobody: from the interrupt on no probe opens one (``net.RunInterruptedError``)."""
    import socket

    silent = impostors.silent()
    with silent as (thost, tport), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        host, port = (thost, tport) if transport == "tcp" else peer.getsockname()
        inv = write_inventory(tmp_path, {"version": 1, "defaults": {"timeouts": {
            "connect": CONNECT_S, "read": 60.0, "probe": 60.0}}, "destinations": {"sip_server": {
                "transport": transport, "targets": [{"name": "silent", "host": host, "port": port}]}}})

        def first_packet() -> bool:
            if transport == "tcp":
                return len(silent._conns) >= 1
            try:
                peer.recvfrom(65535)
            except BlockingIOError:
                return False
            return True

        stopped = interrupt(start_suite(tmp_path / "junit.xml", inv, "--connection", "1"), signal.SIGINT,
                            when=first_packet, what="the first packet of #1's probes",
                            then=(lambda: not silent._conns) if transport == "tcp" else None, exit_within=90)
    assert stopped.returncode == pytest.ExitCode.INTERRUPTED, stopped.output[-3000:]
    if transport == "tcp":
        assert stopped.then_after is not None and stopped.then_after < 1.0 + CONNECT_S, (
            f"the probes' connections closed {stopped.then_after} s after SIGINT")
    assert stopped.took < 15, f"the run ended {stopped.took:.1f} s after SIGINT"


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
        stopped = interrupt(start_suite(junit, inv, "--connection", "21"), signal.SIGTERM,
                            when=lambda: silent._conns, in_output="tests/egress/test_c21_",
                            what="the HTTP probe reached the silent peer",
                            exit_within=90)
    assert stopped.returncode == pytest.ExitCode.INTERRUPTED, stopped.output[-3000:]
    assert stopped.took < 1.0 + CONNECT_S + 8, f"the run ended {stopped.took:.1f} s after SIGTERM"
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = [r for r in results["connections"] if r["number"] == 21]
    assert [c["outcome"] for c in row["cases"]] == ["interrupted"], row["cases"]
    cases, _props = parse_junit(junit)
    assert [c.outcome for c in cases] == ["error"]
    assert "interrupted" in (tmp_path / "report.md").read_text()
