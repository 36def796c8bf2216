"""Loss and filtering injected in network namespaces of our own (198.18.0.0/15, routes only on our veth).

* 5% random loss (iptables ``statistic --mode random --probability 0.05 -j DROP`` on the echo's input):
  the measured loss of a 4000-packet echo burst is within 1.5 points of 5%.
* Part of an RTP range DROPped: those ports are reported silent (cause timeout); REJECTed ports
  unreachable; the probe ends within its timeout + 1 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gvpconf.lab.base import gvpconf_env

HERE = Path(__file__).parent
A_ADDR, B_ADDR = "198.18.0.1", "198.18.0.2"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables") is None,
                                reason="needs root, iproute2 and iptables (python -m gvpconf.lab install)")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=check)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by one veth pair: A = 198.18.0.1/30, B = 198.18.0.2/30; nothing else."""
    tag = f"{os.getpid() % 100000}"
    a, b = f"gvpv{tag}a", f"gvpv{tag}b"
    sh("ip", "netns", "add", a)
    try:
        sh("ip", "netns", "add", b)
        sh("ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b)
        for ns, addr, dev in ((a, A_ADDR, "veth0"), (b, B_ADDR, "veth1")):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for ns in (a, b):  # wiring check: the only route is our /30 on the veth, nothing leaves
            routes = [r for r in sh("ip", "-n", ns, "-4", "route").stdout.splitlines() if r.strip()]
            assert len(routes) == 1 and routes[0].startswith("198.18.0.0/30 dev veth"), routes
        sh("ip", "netns", "exec", b, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
        yield a, b
    finally:
        sh("ip", "netns", "del", a, check=False)
        sh("ip", "netns", "del", b, check=False)
    assert a not in sh("ip", "netns", "list").stdout


def in_ns(ns: str, *args: str, timeout: float = 60) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(HERE / "netns_driver.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gvpconf_env())


def test_random_loss_is_measured_within_one_and_a_half_points(netns: tuple[str, str]) -> None:
    a, b = netns
    sh("ip", "netns", "exec", b, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "40000", "-m", "statistic",
       "--mode", "random", "--probability", "0.05", "-j", "DROP")
    server = in_ns(b, "echo", "40000", "20")
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        client = in_ns(a, "burst", B_ADDR, "40000", "4000")
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        stats = json.loads(out)
    finally:
        server.kill()
        server.wait()
    assert stats["sent"] == 4000
    assert abs(stats["loss_pct"] - 5.0) <= 1.5, stats


def test_dropped_ports_are_silent_and_rejected_ports_unreachable(netns: tuple[str, str]) -> None:
    a, b = netns
    sh("ip", "netns", "exec", b, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "41000:41005", "-j", "DROP")
    sh("ip", "netns", "exec", b, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "41006:41009", "-j", "REJECT",
       "--reject-with", "icmp-port-unreachable")
    server = in_ns(b, "echo", "41010", "20")  # 41010 echoes; 41011: nothing listens (kernel ICMP)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        client = in_ns(a, "range", B_ADDR, "41000", "41011")
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        got = json.loads(out)
    finally:
        server.kill()
        server.wait()
    assert got["error"] is None, got
    facts = got["facts"]
    assert got["cause"] == "timeout"
    assert facts["rtp.range_silent_ports"] == "41000,41001,41002,41003,41004,41005"
    assert facts["rtp.range_unreachable_ports"] == "41006,41007,41008,41009,41011"
    assert facts["rtp.range_echoed_ports"] == "41010"
    assert got["elapsed"] <= 3.0 + 1.0
