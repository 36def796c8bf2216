"""Receiver statistics when the very first packet is overtaken (its successor arrives first)."""

from __future__ import annotations

from gvpconf.probes.media import StreamStats


def test_packet_overtaking_the_first_one_keeps_jitter_sane() -> None:
    stats = StreamStats()
    # 20 ms ptime at 8 kHz: 160 samples per packet; packet 1 arrives 1 ms before packet 0
    stats.add(sequence=1, timestamp=1160, arrival=0.000)
    stats.add(sequence=0, timestamp=1000, arrival=0.001)
    for k in range(2, 50):
        stats.add(sequence=k, timestamp=1000 + 160 * k, arrival=0.020 * k - 0.019)
    assert stats.reordered == 1 and stats.duplicates == 0
    assert stats.expected == 50 and stats.lost == 0
    # one 21 ms misprediction decays away; a wrapped timestamp difference would have given ~2**32/8 ms
    assert stats.max_jitter_ms < 5.0
    assert stats.jitter_ms < 0.5


def test_timestamps_wrapping_around_2_32_stay_continuous() -> None:
    stats = StreamStats()
    first = 2**32 - 320
    for k in range(10):
        stats.add(sequence=k, timestamp=(first + 160 * k) % 2**32, arrival=0.020 * k)
    assert stats.jitter_ms < 1e-6 and stats.lost == 0
