"""Run inside a network namespace by test_voice_netns.py (``ip netns exec NS python netns_driver.py ...``).

``echo PORT SECONDS``: a UDP echo on 0.0.0.0:PORT that exits after SECONDS.
``burst HOST PORT PACKETS [PTIME_MS BURST]``: an RTP echo burst through ``gvpconf.probes.media.echo_burst``
(default 1 ms x 10 = 1000 pps); prints JSON stats (loss, jitter and round-trip time of what came back).
``recv PORT PACKETS FIRST_TIMEOUT``: ``gvpconf.probes.media.receive_stream`` on 0.0.0.0:PORT; prints JSON stats.
``warmup HOST PORT``: an RTP packet (SSRC 1) every 50 ms until killed (a capture's readiness check).
``range HOST LOW HIGH``: the ``rtp.range`` prober on every port of LOW-HIGH; prints JSON verdict and facts.
"""

from __future__ import annotations

import json
import socket
import sys
import time

from gvpconf import catalog
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.inventory import Target
from gvpconf.inventory.voice import MediaSettings, PortRange, RangeSampling, SbcDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, run_job


def echo(port: int, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    end = time.monotonic() + seconds
    print("ready", flush=True)
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, peer = sock.recvfrom(65535)
        except TimeoutError:
            break
        sock.sendto(data, peer)


def burst(host: str, port: int, packets: int, ptime_ms: int = 1, per_tick: int = 10) -> None:
    from gvpconf.probes import media as rtp

    dest = SbcDestination()
    ctx = ProbeContext(catalog.connection(9), Target(host=host, port=port), dest, {},
                       Deadline(Timeouts(connect=2, read=2, probe=30)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    media = MediaSettings(packets=packets, ptime_ms=ptime_ms, burst=per_tick, settle_ms=1000, max_loss_pct=100)
    result = rtp.echo_burst(ctx, sock, media)
    st = result.stats
    rtts = sorted(result.rtts)
    print(json.dumps({"sent": result.sent, "received": st.unique, "lost": result.sent - st.unique,
                      "loss_pct": 100 * (result.sent - st.unique) / result.sent, "jitter_ms": st.jitter_ms,
                      "mean_jitter_ms": st.mean_jitter_ms, "max_jitter_ms": st.max_jitter_ms,
                      "reordered": st.reordered, "duplicates": st.duplicates,
                      "rtt_ms": 1000 * sum(rtts) / len(rtts) if rtts else None,
                      "median_rtt_ms": 1000 * rtts[len(rtts) // 2] if rtts else None}))


def recv(port: int, packets: int, first_timeout: float) -> None:
    from gvpconf.probes import media as rtp

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("ready", flush=True)
    media = MediaSettings(packets=packets, ptime_ms=20, settle_ms=1000)
    st, garbage = rtp.receive_stream(sock, media, Deadline(Timeouts(connect=2, read=2, probe=60)),
                                     first_timeout=first_timeout)
    print(json.dumps({"received": st.received, "expected": st.expected, "lost": st.lost,
                      "cumulative_lost": st.cumulative_lost, "duplicates": st.duplicates, "reordered": st.reordered,
                      "jitter_ms": st.jitter_ms, "mean_jitter_ms": st.mean_jitter_ms,
                      "max_jitter_ms": st.max_jitter_ms, "min_jitter_ms": st.min_jitter_ms, "garbage": garbage}))


def warmup(host: str, port: int) -> None:
    from gvpconf.wire import rtp as wire

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k in range(2000):  # at most 100 s
        sock.sendto(wire.encode_rtp(wire.RtpPacket(0, k, k * 160, 1, b"\xff" * 160)), (host, port))
        time.sleep(0.05)


def range_(host: str, low: int, high: int) -> None:
    dest = SbcDestination(media_host=host, rtp_range=PortRange(min=low, max=high),
                          sampling=RangeSampling(sample=high - low + 1, seed=1, port_timeout=1.0))
    timeouts = Timeouts(connect=1, read=1, probe=3)

    def make(deadline: Deadline) -> ProbeContext:
        return ProbeContext(catalog.connection(9), Target(host=host, port=5060), dest, {}, deadline)

    started = time.monotonic()
    result = run_job(Job("rtp.range", timeouts, make))
    print(json.dumps({"elapsed": time.monotonic() - started, "facts": result.evidence.facts,
                      "cause": result.failure.cause.value if result.failure else None,
                      "error": repr(result.error) if result.error else None}))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "echo":
        echo(int(args[0]), float(args[1]))
    elif cmd == "burst":
        burst(args[0], *map(int, args[1:]))
    elif cmd == "recv":
        recv(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "warmup":
        warmup(args[0], int(args[1]))
    else:
        range_(args[0], int(args[1]), int(args[2]))
