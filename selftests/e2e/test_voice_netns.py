"""Loss and filtering injected in network namespaces of our own (198.18.0.0/15, routes only on our segment).

The namespaces are the lab's harness (``gvpconf_lab.netlab.netns.Segment``, as the namespace lab wires its
pods): A and B on one bridge that lives in a third namespace, the wiring checked before any traffic.

* 5% random loss (iptables ``statistic --mode random --probability 0.05 -j DROP`` on the echo's input):
  the measured loss of a 4000-packet echo burst is within 1.5 points of 5%.
* Part of an RTP range DROPped: those ports are reported silent (cause timeout); REJECTed ports
  unreachable; the probe ends within its timeout + 1 s.
* Delay and jitter injected by the lab's relay (``gvpconf_lab.voice_relay``, run in A with ``ip netns exec``)
  between our RTP sender (A) and a receiver / echo (B): with +-15 ms uniform jitter the receiver's RFC 3550
  jitter is near the theory's E|D| = 2a/3 = 10 ms, and equals tshark's ``-z rtp,streams`` on a capture of the
  relayed stream on B's interface; with delay only (40 ms each way) the jitter stays near zero and the echo's
  round trip grows by about 2 x 40 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gvpconf.probes.media import StreamStats
from gvpconf_lab.base import gvpconf_env
from gvpconf_lab.netlab import netns
from selftests import tshark

HERE = Path(__file__).parent
A_ADDR, B_ADDR = "198.18.0.1", "198.18.0.2"

# root, iproute2, iptables and tshark are what `make test` provides (CI runs as root and installs them):
# a missing one fails these tests, never skips them


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    """Namespaces A = 198.18.0.1 and B = 198.18.0.2 on one segment of 198.18.0.0/30; nothing else."""
    prefix = f"gvpv{os.getpid() % 100000}-"
    a, b = f"{prefix}a", f"{prefix}b"
    with netns.Segment(f"{prefix}sw", "198.18.0.0/30", {a: A_ADDR, b: B_ADDR}):
        netns.run([*netns.exec_prefix(b), "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"])
        yield a, b
    assert netns.list_prefixed(prefix) == []


def driver(*args: str) -> list[str]:
    """argv of ``netns_driver.py`` (echo, burst, recv, warmup, range)."""
    return [sys.executable, str(HERE / "netns_driver.py"), *args]


def relay(listen: str, to: str, delay_ms: float, jitter_ms: float, seed: int) -> list[str]:
    """argv of the lab's relay; it prints ``ready LISTEN``, and its counters (JSON) when it ends."""
    return [sys.executable, "-m", "gvpconf_lab.voice_relay", "--listen", listen, "--to", to, "--delay-ms",
            str(delay_ms), "--jitter-ms", str(jitter_ms), "--seed", str(seed)]


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@contextlib.contextmanager
def running(ns: str, argv: Sequence[str], ready: str | None = "ready") -> Iterator[subprocess.Popen[str]]:
    """``argv`` inside ``ns``, once it has printed ``ready`` (its first line); killed by PID on exit."""
    proc = subprocess.Popen([*netns.exec_prefix(ns), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=gvpconf_env())
    try:
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != ready:
                kill(proc)
                raise AssertionError(f"{argv} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        yield proc
    finally:
        kill(proc)


def result(proc: subprocess.Popen[str], timeout: float = 60, sig: signal.Signals | None = None) -> dict[str, Any]:
    """The JSON line a driver or the relay prints last (after ``sig`` by PID, when given); it must exit 0."""
    if sig is not None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    got: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return got


def run_driver(ns: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    with running(ns, driver(*args), ready=None) as proc:
        return result(proc, timeout)


def test_random_loss_is_measured_within_one_and_a_half_points(pair: tuple[str, str]) -> None:
    a, b = pair
    netns.iptables(b, "-A", "INPUT", "-p", "udp", "--dport", "40000", "-m", "statistic", "--mode", "random",
                   "--probability", "0.05", "-j", "DROP")
    with running(b, driver("echo", "40000", "20")):
        stats = run_driver(a, "burst", B_ADDR, "40000", "4000")
    assert stats["sent"] == 4000
    assert abs(stats["loss_pct"] - 5.0) <= 1.5, stats


def test_dropped_ports_are_silent_and_rejected_ports_unreachable(pair: tuple[str, str]) -> None:
    a, b = pair
    netns.iptables(b, "-A", "INPUT", "-p", "udp", "--dport", "41000:41005", "-j", "DROP")
    netns.iptables(b, "-A", "INPUT", "-p", "udp", "--dport", "41006:41009", "-j", "REJECT", "--reject-with",
                   "icmp-port-unreachable")
    with running(b, driver("echo", "41010", "20")):  # 41010 echoes; 41011: nothing listens (kernel ICMP)
        got = run_driver(a, "range", B_ADDR, "41000", "41011")
    assert got["error"] is None, got
    facts = got["facts"]
    assert got["cause"] == "timeout"
    assert facts["rtp.range_silent_ports"] == "41000,41001,41002,41003,41004,41005"
    assert facts["rtp.range_unreachable_ports"] == "41006,41007,41008,41009,41011"
    assert facts["rtp.range_echoed_ports"] == "41010"
    assert got["elapsed"] <= 3.0 + 1.0


# ---------------------------------------------------------------- delay and jitter through the lab's relay


JITTER_A_MS, JITTER_BASE_MS, JITTER_SEED, JITTER_PACKETS = 15.0, 20.0, 3, 400


def test_relay_jitter_is_measured_as_theory_predicts_and_as_tshark_reads_it(pair: tuple[str, str],
                                                                            tmp_path: Path) -> None:
    a, b = pair
    # the relay draws one uniform per datagram from Random(seed), in arrival order: with this seed packet 1
    # does not overtake packet 0 (a reordered first packet is a case of its own, kept out of this test)
    rng = random.Random(JITTER_SEED)
    u0, u1 = rng.uniform(-JITTER_A_MS, JITTER_A_MS), rng.uniform(-JITTER_A_MS, JITTER_A_MS)
    assert u1 - u0 > -10.0
    pcap = tmp_path / "relayed.pcap"
    listen = f"{A_ADDR}:42000"
    with tshark.Capture("eth0", "udp and (dst port 42010 or dst port 42012)", pcap, netns=b) as cap:
        with running(a, driver("warmup", B_ADDR, "42012"), ready=None):  # SSRC 1, until tshark shows it
            assert cap.seen.wait(20), "tshark never captured a warm-up packet"
        with running(b, driver("recv", "42010", str(JITTER_PACKETS), "15")) as receiver, \
                running(a, relay(listen, f"{B_ADDR}:42010", JITTER_BASE_MS, JITTER_A_MS, JITTER_SEED),
                        ready=f"ready {listen}") as relayed:
            sent = run_driver(a, "burst", A_ADDR, "42000", str(JITTER_PACKETS), "20", "1")
            got = result(receiver, timeout=30)
            counters = result(relayed, timeout=10, sig=signal.SIGTERM)
    print(f"\nrelay {counters}\nreceiver {got}")
    assert sent["sent"] == JITTER_PACKETS
    assert counters["forwarded"] == JITTER_PACKETS and counters["dropped_full"] == 0
    assert got["received"] == got["expected"] == JITTER_PACKETS and got["lost"] == 0, got
    # the relay counts what it released out of order; the receiver sees exactly those as reordered
    assert got["reordered"] == counters["reordered"] > 0
    # theory: D = U_i - U_j of two independent U(-a, a): E|D| = 2a/3, and J (gain 1/16) tends to E|D|
    expected = 2 * JITTER_A_MS / 3
    for key in ("jitter_ms", "mean_jitter_ms"):
        assert 0.5 * expected <= got[key] <= 1.5 * expected, (key, got[key], expected)
    # tshark on the capture of the relayed stream (B's interface)
    rows = [r for r in tshark.streams(pcap) if r["ssrc"] != 1]
    assert len(rows) == 1, rows
    ref = rows[0]
    print(f"tshark {ref}")
    assert ref["packets"] == got["received"]
    assert ref["lost"] == got["cumulative_lost"] == 0
    offline = StreamStats()
    for seq, ts, when, marker in tshark.rtp_times(pcap, ref["ssrc"]):
        offline.add(seq, ts, when, marker and offline.received > 0)
    assert offline.reordered == got["reordered"]
    assert offline.min_jitter_ms is not None
    for ours, theirs in ((offline.min_jitter_ms, ref["min_jitter"]), (offline.mean_jitter_ms, ref["mean_jitter"]),
                         (offline.max_jitter_ms, ref["max_jitter"])):
        assert abs(ours - theirs) <= 0.0011, (ours, theirs)
    # the live receiver, on its own clock: within scheduling noise of tshark's
    assert abs(got["mean_jitter_ms"] - ref["mean_jitter"]) <= max(0.5, 0.15 * ref["mean_jitter"]), (got, ref)
    assert abs(got["max_jitter_ms"] - ref["max_jitter"]) <= max(1.0, 0.25 * ref["max_jitter"]), (got, ref)


def test_relay_delay_only_adds_round_trip_not_jitter(pair: tuple[str, str]) -> None:
    a, b = pair
    delay_ms = 40.0
    listen = f"{A_ADDR}:42001"
    with running(b, driver("echo", "42020", "30")):
        direct = run_driver(a, "burst", B_ADDR, "42020", "100", "20", "1")
        with running(a, relay(listen, f"{B_ADDR}:42020", delay_ms, 0.0, 1), ready=f"ready {listen}") as relayed:
            started = time.monotonic()
            through = run_driver(a, "burst", A_ADDR, "42001", "100", "20", "1")
            elapsed = time.monotonic() - started
            counters = result(relayed, timeout=10, sig=signal.SIGTERM)
    print(f"\ndirect {direct}\nrelayed {through}\nrelay {counters}")
    assert direct["received"] == through["received"] == 100
    assert counters["forwarded"] == counters["returned"] == 100 and counters["reordered"] == 0
    grown = through["median_rtt_ms"] - direct["median_rtt_ms"]
    assert 2 * delay_ms - 10 <= grown <= 2 * delay_ms + 30, (grown, direct, through)
    assert through["jitter_ms"] <= 5.0 and through["mean_jitter_ms"] <= 5.0, through
    assert elapsed < 20
