"""Run inside a network namespace by test_voice_netns.py (``ip netns exec NS python netns_driver.py ...``).

``echo PORT SECONDS``: a UDP echo on 0.0.0.0:PORT that exits after SECONDS.
``burst HOST PORT PACKETS``: an RTP echo burst through ``gvpconf.probes.rtp.echo_burst``; prints JSON stats.
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
from gvpconf.probes import ProbeContext
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


def burst(host: str, port: int, packets: int) -> None:
    from gvpconf.probes import rtp

    dest = SbcDestination()
    ctx = ProbeContext(catalog.connection(9), Target(host=host, port=port), dest, {},
                       Deadline(Timeouts(connect=2, read=2, probe=30)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    media = MediaSettings(packets=packets, ptime_ms=1, burst=10, settle_ms=1000, max_loss_pct=100)  # 1000 pps
    result = rtp.echo_burst(ctx, sock, media)
    print(json.dumps({"sent": result.sent, "received": result.stats.unique, "lost": result.sent - result.stats.unique,
                      "loss_pct": 100 * (result.sent - result.stats.unique) / result.sent}))


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
        burst(args[0], int(args[1]), int(args[2]))
    else:
        range_(args[0], int(args[1]), int(args[2]))
