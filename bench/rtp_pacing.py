"""RTP sender pacing benchmark (not a test): inter-departure error percentiles at 50 pps (20 ms ptime).

    .venv/bin/python bench/rtp_pacing.py [--packets 500] [--ptime 20]

Sends real RTP over a loopback UDP socket with ``gvpconf.probes.media.Pacer`` and prints the error of each
departure against its schedule (t0 + k * ptime) and of each inter-departure gap against ptime, in microseconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import statistics
import time

from gvpconf.probes.media import Pacer
from gvpconf.wire import rtp


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=500)
    parser.add_argument("--ptime", type=int, default=20, help="ms between packets (20 = 50 pps, 1 = 1000 pps)")
    parser.add_argument("--json", action="store_true", help="one JSON line of figures (for bench/bench.py)")
    args = parser.parse_args()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(sink.getsockname())
    pacer = Pacer(args.ptime / 1000)
    departures: list[float] = []
    schedule: list[float] = []
    for k in range(args.packets):
        target = pacer.wait()
        sock.send(rtp.encode_rtp(rtp.RtpPacket(0, k % 65536, k * 8 * args.ptime, 1, b"\xff" * 8 * args.ptime)))
        departures.append(time.monotonic())
        schedule.append(target)
    sock.close()
    sink.close()
    late = [(d - s) * 1e6 for d, s in zip(departures, schedule, strict=True)]
    gaps = [abs((b - a) * 1e3 - args.ptime) * 1e3 for a, b in itertools.pairwise(departures)]
    if args.json:
        print(json.dumps({"pps": round(1000 / args.ptime), "packets": args.packets,
                          "p50_ms": pct(gaps, 50) / 1000, "p99_ms": pct(gaps, 99) / 1000, "max_ms": max(gaps) / 1000,
                          "late_p99_ms": pct(late, 99) / 1000}))
        return
    print(f"{args.packets} packets at {1000 / args.ptime:.0f} pps")
    for name, values in (("departure - schedule (us)", late), ("|gap - ptime| (us)", gaps)):
        print(f"{name:28s} p50 {pct(values, 50):8.1f}  p90 {pct(values, 90):8.1f}  p99 {pct(values, 99):8.1f}  "
              f"max {max(values):8.1f}  mean {statistics.fmean(values):8.1f}")


if __name__ == "__main__":
    main()
