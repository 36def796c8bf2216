"""The RTP/RTCP engine (RFC 3550) that the media probes share (``rtp.*``, ``sip.call``, ``sbc.call``,
``rtsp.setup``); it is no prober itself.

* ``StreamStats``: receiver statistics of one stream, fed ``(sequence, timestamp, arrival)``:
  received, duplicates, reordered, expected and lost over the extended sequence range (§A.1,
  §A.3), the interarrival jitter J += (|D| - J)/16 (§6.4.1, §A.8) in ms, and its minimum, mean and maximum
  over the "regular" packets (not the first, no marker bit) exactly as
  Wireshark's ``-z rtp,streams`` computes them. Pure: arrival times are given.
* ``Pacer``: departures on an absolute schedule (t0 + k * ptime), sleeping then spinning the last
  millisecond, so errors do not accumulate.
* ``echo_burst``: a bounded burst to a far end that echoes RTP (sipp ``-rtp_echo``, an SBC's echo
  number): loss, jitter and round-trip time of what comes back, plus RTCP SR/RR to port + 1.
* ``receive_stream``: what a far end streams to a port we listen on (connection 19).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gvpconf import net
from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.evidence import Evidence
from gvpconf.inventory.voice import MediaSettings
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import within
from gvpconf.wire import WireError, rtsp, sdp, sip
from gvpconf.wire import rtp as wire

CLOCK_RATE = 8000  # PCMU / PCMA
SILENCE = {0: b"\xff", 8: b"\xd5"}  # one sample of silence in mu-law / A-law
NTP_EPOCH_OFFSET = 2208988800


# ---------------------------------------------------------------- statistics (pure)


@dataclass
class StreamStats:
    """Receiver statistics of one RTP stream; ``add`` each packet in arrival order."""

    clock_rate: int = CLOCK_RATE
    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0
    min_jitter_ms: float | None = None
    _mean_jitter_ms: float = 0.0
    _base: int | None = None
    _max_ext: int = 0
    _seen: set[int] = field(default_factory=set)
    _first_ts: int = 0
    _first_arrival: float = 0.0
    _last_arrival_ms: float = 0.0
    _last_nominal_ms: float = 0.0
    _last_ts: int = 0

    def _extend(self, seq: int) -> int:
        """The extended sequence number closest to the highest seen (§A.1)."""
        cycle = self._max_ext & ~0xFFFF
        candidates = (cycle - 0x10000 + seq, cycle + seq, cycle + 0x10000 + seq)
        return min(candidates, key=lambda c: abs(c - self._max_ext))

    def add(self, sequence: int, timestamp: int, arrival: float, marker: bool = False) -> None:
        """One packet: its RTP sequence number and timestamp, and its arrival time in seconds."""
        if self._base is None:
            self._base = self._max_ext = sequence
            self._first_ts, self._first_arrival = timestamp, arrival
            self._last_ts = timestamp
            self._seen.add(sequence)
            self.received = 1
            return
        ext = self._extend(sequence)
        self.received += 1
        if ext in self._seen:
            self.duplicates += 1
        elif ext < self._max_ext:
            self.reordered += 1
        self._seen.add(ext)
        self._max_ext = max(self._max_ext, ext)
        if self._base is not None and ext < self._base:  # sent before the first packet received
            self._base = ext
        # jitter in ms, as RFC 3550 §6.4.1 and Wireshark's tap-rtp-analysis compute it
        arrival_ms = (arrival - self._first_arrival) * 1000.0
        # the timestamp difference as a signed 32-bit number (RFC 3550 A.8 computes transit times in signed
        # arithmetic): a packet sent before the first one received (reordered ahead of it) is in the past,
        # not 2**32 samples in the future
        delta = (timestamp - self._first_ts) % 2**32
        if delta >= 2**31:
            delta -= 2**32
        nominal_ms = delta / (self.clock_rate / 1000.0)
        expected_ms = self._last_arrival_ms + (nominal_ms - self._last_nominal_ms)
        diff = abs(arrival_ms - expected_ms)
        self.jitter_ms = (15 * self.jitter_ms + diff) / 16
        if not marker:  # Wireshark leaves marker packets (talk spurts) out of min/mean/max
            self.max_jitter_ms = max(self.max_jitter_ms, self.jitter_ms)
            self.min_jitter_ms = self.jitter_ms if self.min_jitter_ms is None else min(self.min_jitter_ms,
                                                                                       self.jitter_ms)
            n = self.received - 1  # packets before this one (Wireshark's total_nr)
            self._mean_jitter_ms = (self._mean_jitter_ms * (n - 1) + self.jitter_ms) / n
        self._last_arrival_ms, self._last_nominal_ms, self._last_ts = arrival_ms, nominal_ms, timestamp

    @property
    def expected(self) -> int:
        # from the lowest sequence number seen: a packet overtaken by its successor is still expected
        return 0 if self._base is None else self._max_ext - self._base + 1

    @property
    def unique(self) -> int:
        return len(self._seen)

    @property
    def lost(self) -> int:
        """Packets of the sequence range never received (duplicates do not make up for them)."""
        return self.expected - self.unique

    @property
    def cumulative_lost(self) -> int:
        """RFC 3550's cumulative lost: expected - received, duplicates included (may be negative)."""
        return self.expected - self.received

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    @property
    def mean_jitter_ms(self) -> float:
        """Wireshark's "Mean Jitter": the running mean of J over the regular packets."""
        return self._mean_jitter_ms

    def report_block(self, ssrc: int) -> wire.ReportBlock:
        lost = max(-(2**23), min(2**23 - 1, self.cumulative_lost))
        fraction = 0 if self.expected == 0 or lost <= 0 else min(255, lost * 256 // self.expected)
        return wire.ReportBlock(ssrc, fraction, lost, self._max_ext % 2**32,
                                int(self.jitter_ms * self.clock_rate / 1000) % 2**32)

    def record(self, ev: Evidence, prefix: str = "rtp") -> None:
        ev.fact(f"{prefix}.received", self.received)
        ev.fact(f"{prefix}.expected", self.expected)
        ev.fact(f"{prefix}.lost", self.lost)
        ev.fact(f"{prefix}.loss_pct", round(self.loss_pct, 2))
        ev.fact(f"{prefix}.duplicates", self.duplicates)
        ev.fact(f"{prefix}.reordered", self.reordered)
        ev.fact(f"{prefix}.jitter_ms", round(self.jitter_ms, 3))
        ev.fact(f"{prefix}.max_jitter_ms", round(self.max_jitter_ms, 3))
        ev.fact(f"{prefix}.mean_jitter_ms", round(self.mean_jitter_ms, 3))


# ---------------------------------------------------------------- pacing


class Pacer:
    """Departure times t0 + k * interval on the monotonic clock; ``wait`` sleeps, then spins."""

    SPIN_S = 0.001

    def __init__(self, interval: float, start: float | None = None) -> None:
        self.interval = interval
        self.t0 = time.monotonic() if start is None else start
        self.k = 0

    def next_departure(self) -> float:
        return self.t0 + self.k * self.interval

    def wait(self, idle: Callable[[float], None] | None = None) -> float:
        """Block until the next departure (calling ``idle(seconds)`` while far from it); returns its time."""
        target = self.next_departure()
        while (left := target - time.monotonic()) > self.SPIN_S:
            if idle is not None:
                idle(left - self.SPIN_S)
            else:
                time.sleep(left - self.SPIN_S)
        while time.monotonic() < target:
            pass
        self.k += 1
        return target


def _payload(pt: int, ptime_ms: int) -> bytes:
    return SILENCE.get(pt, b"\x00") * (CLOCK_RATE * ptime_ms // 1000)


def new_ssrc() -> int:
    return int.from_bytes(os.urandom(4), "big")


# ---------------------------------------------------------------- echo burst


@dataclass
class EchoResult:
    sent: int
    stats: StreamStats
    rtts: list[float]
    foreign: int  # RTP from another SSRC
    garbage: int  # datagrams that are not RTP
    rtcp_received: int



def sdp_body(msg: sip.SipMessage | rtsp.RtspResponse, *, expected: str, cause: Cause, malformed: str,
             phase: str) -> sdp.SessionDescription:
    """The SDP that ``msg`` carries: Content-Type application/sdp and a body, else a ``cause`` failure
    "expected <expected>, got ..."; SDP that does not parse is PROTOCOL "<malformed>: <error>"."""
    ctype = (msg.header("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/sdp" or not msg.body:
        raise ProbeFailure(cause, f"expected {expected}, got {ctype or 'no Content-Type'} with {len(msg.body)} "
                           "body bytes", phase=phase)
    try:
        return sdp.parse(msg.body)
    except WireError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"{malformed}: {exc}", phase=phase) from exc


def echo_burst(ctx: ProbeContext, sock: socket.socket, media: MediaSettings, *,
               rtcp: socket.socket | None = None) -> EchoResult:
    """Send ``media.packets`` RTP packets on the connected ``sock`` and measure what is echoed."""
    dl = ctx.deadline
    ssrc = new_ssrc()
    seq0, ts0 = int.from_bytes(os.urandom(2), "big"), int.from_bytes(os.urandom(4), "big")
    samples = CLOCK_RATE * media.ptime_ms // 1000
    payload = _payload(media.payload_type, media.ptime_ms)
    stats = StreamStats()
    sent_at: dict[int, float] = {}
    rtts: list[float] = []
    echoed: set[int] = set()
    result = EchoResult(0, stats, rtts, 0, 0, 0)
    needed = media.packets * media.ptime_ms / 1000 + media.settle_ms / 1000
    if dl.remaining() < needed:
        raise ProbeFailure(Cause.CONFIG, f"the media burst needs {needed:.1f} s but only {dl.remaining():.1f} s "
                           "of the probe budget is left (raise timeouts.probe or lower media.packets)",
                           phase="RTP burst")
    socks = [sock] + ([rtcp] if rtcp is not None else [])

    def drain(wait: float) -> None:
        got = net.wait_datagram(socks, wait, "RTP receive")
        if got is None:
            return
        s, data = got
        now = time.monotonic()
        if s is rtcp:
            result.rtcp_received += 1
            return
        try:
            pkt = wire.parse_rtp(data)
        except WireError:
            if wire.is_rtcp(data):
                result.rtcp_received += 1
            else:
                result.garbage += 1
            return
        if pkt.ssrc != ssrc:
            result.foreign += 1
            return
        index = (pkt.sequence - seq0) % 65536
        stats.add(pkt.sequence, pkt.timestamp, now, pkt.marker)
        if index in sent_at and index not in echoed:
            echoed.add(index)
            rtts.append(now - sent_at[index])

    for s in socks:
        s.setblocking(False)
    pacer = Pacer(media.ptime_ms / 1000.0 * media.burst)
    k = 0
    while k < media.packets:
        pacer.wait(drain)
        for _ in range(min(media.burst, media.packets - k)):
            pkt = wire.RtpPacket(media.payload_type, (seq0 + k) % 65536, (ts0 + k * samples) % 2**32, ssrc, payload,
                                 marker=k == 0)
            try:
                sock.send(wire.encode_rtp(pkt))
            except BlockingIOError:
                pass
            except OSError as exc:
                raise failure_from_os_error(exc, during="RTP send") from exc
            sent_at[k] = time.monotonic()
            k += 1
            result.sent = k
    end = time.monotonic() + media.settle_ms / 1000
    while stats.unique < result.sent and (left := end - time.monotonic()) > 0 and dl.remaining() > 0:
        drain(min(left, dl.remaining()))
    if rtcp is not None:
        _send_rtcp(rtcp, ssrc, result, ts0 + media.packets * samples, len(payload))
    return result


def _send_rtcp(rtcp: socket.socket, ssrc: int, result: EchoResult, rtp_ts: int, payload_len: int) -> None:
    """A compound SR (+ a report block on what came back) then BYE, to the RTCP port (best effort)."""
    now = time.time() + NTP_EPOCH_OFFSET
    ntp = (int(now) << 32) | int((now % 1) * 2**32)
    blocks = (result.stats.report_block(ssrc),) if result.stats.received else ()
    sr = wire.SenderReport(ssrc, ntp % 2**64, rtp_ts % 2**32, result.sent, (result.sent * payload_len) % 2**32,
                           blocks)
    # RTCP is advisory here: an ICMP on the RTCP port does not decide the verdict
    with contextlib.suppress(OSError):
        rtcp.send(wire.encode_rtcp([sr, wire.RtcpBye((ssrc,))]))


def judge_media(ctx: ProbeContext, result: EchoResult, media: MediaSettings, what: str, silent: str = "") -> None:
    """Record the echo burst's facts and decide: nothing back / garbage / loss / jitter / RTT. ``silent``: what the
    message adds when nothing came back (a path the call's media needs that the table does not have)."""
    ev = ctx.evidence
    ev.fact("rtp.sent", result.sent)
    result.stats.record(ev)
    if result.rtts:
        ev.fact("rtp.rtt_ms", round(1000 * sum(result.rtts) / len(result.rtts), 3))
        ev.fact("rtp.max_rtt_ms", round(1000 * max(result.rtts), 3))
    ev.fact("rtcp.received", result.rtcp_received)
    if result.stats.received == 0:
        if result.garbage or result.foreign:
            raise ProbeFailure(Cause.PROTOCOL, f"expected our RTP echoed by {what}, got {result.garbage} non-RTP "
                               f"datagrams and {result.foreign} RTP packets of another SSRC", phase="RTP burst")
        raise ProbeFailure(Cause.TIMEOUT, f"expected our RTP echoed by {what}, got nothing back for "
                           f"{result.sent} packets sent{silent}", phase="RTP burst")
    lost = 100.0 * (result.sent - result.stats.unique) / result.sent
    ev.fact("rtp.loss_pct", round(lost, 2))
    if not within(lost, media.max_loss_pct):
        raise ProbeFailure(Cause.SEMANTIC, f"expected RTP loss <= {media.max_loss_pct}%, got {lost:.1f}% "
                           f"({result.sent - result.stats.unique} of {result.sent} not echoed)", phase="RTP burst")
    if not within(result.stats.jitter_ms, media.max_jitter_ms):
        raise ProbeFailure(Cause.SEMANTIC, f"expected RTP jitter <= {media.max_jitter_ms} ms, got "
                           f"{result.stats.jitter_ms:.1f} ms", phase="RTP burst")
    if media.max_rtt_ms is not None and result.rtts:
        mean = 1000 * sum(result.rtts) / len(result.rtts)
        if not within(mean, media.max_rtt_ms):
            raise ProbeFailure(Cause.SEMANTIC, f"expected RTP round trip <= {media.max_rtt_ms} ms, got "
                               f"{mean:.1f} ms", phase="RTP burst")


def bind_pair(local_host: str) -> tuple[socket.socket, socket.socket]:
    """An RTP socket on an even port and its RTCP socket on the next (odd) one, both bound, unconnected."""
    family = socket.AF_INET6 if ":" in local_host else socket.AF_INET
    for _ in range(50):
        rtp_sock = net.udp_socket(family)
        try:
            rtp_sock.bind((local_host, 0))
            port = rtp_sock.getsockname()[1]
            if port % 2 == 0 and port < 65535:
                rtcp_sock = net.udp_socket(family)
                try:
                    rtcp_sock.bind((local_host, port + 1))
                except OSError:
                    rtcp_sock.close()
                else:
                    return rtp_sock, rtcp_sock
        except OSError as exc:
            rtp_sock.close()
            raise failure_from_os_error(exc, during=f"binding an RTP port on {local_host}") from exc
        rtp_sock.close()
    raise ProbeFailure(Cause.CONFIG, f"no free even/odd UDP port pair on {local_host}", phase="RTP setup")


def connect_pair(rtp_sock: socket.socket, rtcp_sock: socket.socket, host: str, port: int,
                 deadline: Deadline) -> None:
    """Connect the pair to the far end's RTP port and port + 1 (ICMP errors then surface as ECONNREFUSED)."""
    _family, addr = net.resolve(host, port, deadline, socket.SOCK_DGRAM)[0]
    net.call(lambda: rtp_sock.connect(addr), during="RTP connect", timeout=0)
    net.call(lambda: rtcp_sock.connect((addr[0], min(65535, port + 1))), during="RTCP connect", timeout=0)


# ---------------------------------------------------------------- receiving a stream (connection 19)


def receive_stream(sock: socket.socket, media: MediaSettings, deadline: Deadline, *,
                   first_timeout: float) -> tuple[StreamStats, int]:
    """Collect up to ``media.packets`` RTP packets from whoever sends to ``sock``.

    Waits ``first_timeout`` for the first packet, then at most the stream's nominal duration plus
    ``settle_ms``. Returns the statistics and the number of non-RTP datagrams.
    """
    stats = StreamStats()
    garbage = 0
    ssrc: int | None = None
    sock.setblocking(False)
    start = time.monotonic()
    end = start + first_timeout
    while stats.received < media.packets:
        left = min(end - time.monotonic(), deadline.remaining())
        if left <= 0:
            break
        got = net.wait_datagram([sock], left, "RTP receive")
        if got is None:
            continue
        data = got[1]
        now = time.monotonic()
        if wire.is_rtcp(data):
            continue
        try:
            pkt = wire.parse_rtp(data)
        except WireError:
            garbage += 1
            continue
        if ssrc is None:
            ssrc = pkt.ssrc
            end = now + media.packets * media.ptime_ms / 1000 + media.settle_ms / 1000
        if pkt.ssrc == ssrc:
            stats.add(pkt.sequence, pkt.timestamp, now, pkt.marker and stats.received > 0)
    return stats, garbage


# ---------------------------------------------------------------- range conformance (connection 9 b)
