"""The path-MTU probe (``sipmtu.options``) against sipp over UDP and TCP in namespaces of our own, with a
path-MTU blackhole injected as the fault lab injects it: an iptables length match on the peer's input.

A = 198.18.0.1 (the probe) and B = 198.18.0.2 (sipp answering OPTIONS on UDP 5060 and TCP 5070) on one
segment of 198.18.0.0/30, the wiring checked before any traffic (``netns.Segment``). Needs root, iproute2,
iptables and sipp (what ``make test`` installs): a missing one fails these tests, never skips them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import SipDestination, Target
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab.netlab import netns
from gvpconf_lab.netlab.peers import NetnsSipp

A_ADDR, B_ADDR = "198.18.0.1", "198.18.0.2"
TIMEOUTS = Timeouts(connect=2.0, read=2.0, probe=4.0)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    prefix = f"gvpm{os.getpid() % 100000}-"
    a, b = f"{prefix}a", f"{prefix}b"
    work = tmp_path_factory.mktemp("sipmtu")
    with netns.Segment(f"{prefix}sw", "198.18.0.0/30", {a: A_ADDR, b: B_ADDR}):
        peers = []
        for transport, port in (("udp", 5060), ("tcp", 5070)):
            peer = NetnsSipp(f"sip-{transport}", Path(work) / transport, port, host=B_ADDR, transport=transport,
                             server_header=f"sipp-mtu-{transport}")
            peer.netns = b
            peers.append(peer)
        try:
            for peer in peers:
                peer.start()
                peer.wait_ready(10)
            yield a, b
        finally:
            for peer in peers:
                peer.stop()
    assert netns.list_prefixed(prefix) == []


def probe(a: str, transport: str, size: int = 1300) -> tuple[ProbeResult, float]:
    port = 5060 if transport == "udp" else 5070
    dest = SipDestination.model_validate({"transport": transport, "mtu_size": size,
                                          "targets": [{"host": B_ADDR, "port": port}]})
    target = Target(host=B_ADDR, port=port, name="sipp")

    def make(deadline: object) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(1), target=target, destination=dest, secrets={},
                            deadline=deadline)  # type: ignore[arg-type]

    def go() -> tuple[ProbeResult, float]:
        started = time.monotonic()
        result = run_job(Job("sipmtu.options", TIMEOUTS, make))
        return result, time.monotonic() - started
    out: tuple[ProbeResult, float] = netns.in_netns(a, go, timeout=30)
    return out


def blackhole(b: str, proto: str, above: int) -> list[str]:
    return ["-p", proto, "-m", "length", "--length", f"{above + 1}:65535", "-j", "DROP"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_healthy_path_passes_with_every_size_answered(pair: tuple[str, str], transport: str) -> None:
    result, elapsed = probe(pair[0], transport)
    assert result.error is None and result.failure is None, result.failure
    facts = result.evidence.facts
    assert facts["sipmtu.largest_ok"] == 1300
    assert facts["sipmtu.answered"] == facts["sipmtu.sizes"]
    sizes = [int(s) for s in str(facts["sipmtu.sizes"]).split(",")]
    if transport == "udp":  # every size at once on one socket
        assert sizes[0] < 576 and sizes[-1] == 1300 and 1100 in sizes and 1200 in sizes
    else:  # the natural size, then the largest: the ladder only when it is not answered
        assert len(sizes) == 2 and sizes[0] < 576 and sizes[-1] == 1300
    assert elapsed < 2.0


@pytest.mark.parametrize(("transport", "above", "failed", "largest"), [
    ("udp", 1000, 1100, 900),   # the blackhole the fault lab injects, found over UDP
    ("udp", 1250, 1300, 1200),
    ("tcp", 1000, 1100, 900),
])
def test_blackhole_is_reported_as_mtu_with_the_sizes(pair: tuple[str, str], transport: str, above: int, failed: int,
                                                     largest: int) -> None:
    a, b = pair
    spec = blackhole(b, transport, above)
    netns.iptables(b, "-I", "INPUT", "1", *spec)
    try:
        result, elapsed = probe(a, transport)
    finally:
        netns.iptables(b, "-D", "INPUT", *spec)
    assert result.error is None
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    assert result.failure.cause is Cause.TIMEOUT
    message = str(result.failure)
    assert "MTU" in message and f"a {failed}-byte OPTIONS" in message, message
    assert f"the largest that passed was {largest} bytes" in message, message
    assert result.evidence.facts["sipmtu.failed_size"] == failed
    assert result.evidence.facts["sipmtu.largest_ok"] == largest
    assert elapsed <= TIMEOUTS.read + 1.0  # every size at once, the rest waited for one read timeout, not one each


def test_a_path_down_at_every_size_is_not_called_mtu(pair: tuple[str, str]) -> None:
    a, b = pair
    spec = ["-p", "udp", "--dport", "5060", "-j", "DROP"]
    netns.iptables(b, "-I", "INPUT", "1", *spec)
    try:
        result, _elapsed = probe(a, "udp")
    finally:
        netns.iptables(b, "-D", "INPUT", *spec)
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT
    assert "MTU" not in str(result.failure), str(result.failure)


def test_nothing_listening_is_refused(pair: tuple[str, str]) -> None:
    dest_port_closed = 5999
    dest = SipDestination.model_validate({"transport": "udp", "targets": [{"host": B_ADDR, "port": dest_port_closed}]})
    target = Target(host=B_ADDR, port=dest_port_closed, name="closed")

    def go() -> ProbeResult:
        return run_job(Job("sipmtu.options", TIMEOUTS, lambda dl: ProbeContext(
            connection=catalog.connection(1), target=target, destination=dest, secrets={}, deadline=dl)))
    result = netns.in_netns(pair[0], go, timeout=30)
    assert result.failure is not None and result.failure.cause is Cause.REFUSED, result.failure
