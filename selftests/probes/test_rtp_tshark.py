"""The RTP statistics equal tshark's ``-z rtp,streams`` on a capture of the same stream.

A stream with injected loss, duplication, reordering and jitter is sent over loopback to a receiver that
feeds ``StreamStats`` live, while tshark captures it. Then: packets, lost, min/mean/max jitter from
tshark's table must equal ours computed from the capture's own timestamps (within the table's
rounding), and the live receiver (its own clock) must agree within a small tolerance.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from pathlib import Path

from gvpconf.probes.media import StreamStats
from gvpconf.wire import rtp
from selftests import tshark

# tshark is installed by `python -m gvpconf_lab install` (make test): a missing one fails, never skips

SSRC = 0x5EED


def _stream(seed: int) -> list[tuple[int, float]]:
    """(sequence, gap before sending in s): 300 packets, 20 ms apart, with impairments."""
    rng = random.Random(seed)
    seqs = [s for s in range(300) if s not in (40, 41, 42, 150, 222)]  # 5 lost
    seqs.insert(seqs.index(100) + 1, 100)  # duplicate
    seqs.insert(seqs.index(201) + 1, 201)  # duplicate
    for a in (60, 120, 260):  # reorder: a+1 before a
        i = seqs.index(a)
        seqs[i], seqs[i + 1] = seqs[i + 1], seqs[i]
    return [(s, 0.020 + (rng.uniform(-0.008, 0.012) if 30 <= i < 270 else 0.0)) for i, s in enumerate(seqs)]


def test_stats_equal_tshark(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    pcap = tmp_path / "rtp.pcap"
    cap = tshark.Capture("lo", f"udp dst port {port}", pcap)
    live = StreamStats()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # readiness: warm-up packets (another SSRC) until tshark prints one: the capture is really running
        seen = cap.seen
        deadline = time.monotonic() + 20
        k = 0
        while not seen.is_set():
            assert time.monotonic() < deadline, "tshark never captured a packet"
            sender.sendto(rtp.encode_rtp(rtp.RtpPacket(0, k, k * 160, 1, b"\xff" * 160)), ("127.0.0.1", port))
            k += 1
            seen.wait(0.1)
        receiver.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            while True:
                receiver.recv(2048)  # drain the warm-up
        receiver.settimeout(2.0)
        for seq, gap in _stream(7):
            time.sleep(gap)
            sender.sendto(rtp.encode_rtp(rtp.RtpPacket(0, seq, seq * 160, SSRC, b"\xff" * 160)), ("127.0.0.1", port))
            data = receiver.recv(2048)
            pkt = rtp.parse_rtp(data)
            live.add(pkt.sequence, pkt.timestamp, time.monotonic(), pkt.marker)
        time.sleep(0.3)
    finally:
        cap.stop()
        sender.close()
        receiver.close()
    rows = [r for r in tshark.streams(pcap) if r["ssrc"] == SSRC]
    assert len(rows) == 1, f"no stream 0x{SSRC:08x} in tshark's table: {tshark.streams(pcap)}"
    ref = rows[0]
    offline = StreamStats()
    for seq, ts, when, _marker in tshark.rtp_times(pcap, SSRC):
        offline.add(seq, ts, when)
    # the same capture, our arithmetic: equal within the table's 3 decimals
    assert ref["packets"] == offline.received == 297
    assert ref["lost"] == offline.cumulative_lost == 5 - 2  # tshark: expected - received, duplicates count
    assert offline.lost == 5 and offline.duplicates == 2 and offline.reordered == 3
    assert offline.min_jitter_ms is not None
    assert abs(ref["min_jitter"] - offline.min_jitter_ms) <= 0.0011
    assert abs(ref["mean_jitter"] - offline.mean_jitter_ms) <= 0.0011
    assert abs(ref["max_jitter"] - offline.max_jitter_ms) <= 0.0011
    # the live receiver, on its own clock: the same counts, jitter within scheduling noise
    assert (live.received, live.lost, live.duplicates, live.reordered) == (297, 5, 2, 3)
    assert abs(live.mean_jitter_ms - ref["mean_jitter"]) <= max(0.5, 0.15 * ref["mean_jitter"])
    assert abs(live.max_jitter_ms - ref["max_jitter"]) <= max(1.0, 0.25 * ref["max_jitter"])
