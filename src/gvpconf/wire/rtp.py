"""RTP and RTCP packets (RFC 3550).

RTP, built, encoded and decoded: the fixed header, CSRC list, header extension and padding (§5.1, §5.3.1).
RTCP, built and encoded only (the probes send it and never need to read it): compound packets (§6.1) with
sender reports (SR, §6.4.1), receiver reports (RR, §6.4.2) and their report blocks, BYE (§6.6), and any other
type (SDES, APP, feedback) as an opaque ``RtcpOther``. Both are datagram protocols: one packet per datagram,
so the RTP decoder takes whole datagrams; RTCP arriving on an RTP port is recognised with ``is_rtcp``
(RFC 5761 §4) and skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gvpconf.wire import WireError
from gvpconf.wire.banner import describe

__all__ = [
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SR",
    "RTP_VERSION",
    "ReceiverReport",
    "ReportBlock",
    "RtcpBye",
    "RtcpOther",
    "RtcpPacket",
    "RtpPacket",
    "SenderReport",
    "encode_rtcp",
    "encode_rtp",
    "is_rtcp",
    "parse_rtp",
]

RTP_VERSION = 2
RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE, RTCP_APP = 200, 201, 202, 203, 204
_U32 = 2**32


def _uint(what: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise WireError(f"{what} must be an unsigned {bits}-bit integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (0: no P bit)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile-defined 16 bits, data: a multiple of 4 octets)
    padding: int = 0

    def __post_init__(self) -> None:
        _uint("RTP payload type", self.payload_type, 7)
        if 192 <= ((0x80 if self.marker else 0) | self.payload_type) <= 223:
            raise WireError(f"RTP payload type {self.payload_type} with marker set reads as RTCP (RFC 5761 §4)")
        _uint("RTP sequence number", self.sequence, 16)
        _uint("RTP timestamp", self.timestamp, 32)
        _uint("RTP SSRC", self.ssrc, 32)
        object.__setattr__(self, "csrc", tuple(self.csrc))
        if len(self.csrc) > 15:
            raise WireError(f"at most 15 CSRCs fit an RTP header, got {len(self.csrc)}")
        for c in self.csrc:
            _uint("RTP CSRC", c, 32)
        if self.extension is not None:
            profile, data = self.extension
            _uint("RTP header extension profile", profile, 16)
            if len(data) % 4 or len(data) >= 4 * 65536:
                raise WireError(f"RTP header extension must be a multiple of 4 octets, got {len(data)}")
        _uint("RTP padding length", self.padding, 8)
        if not isinstance(self.payload, bytes):
            raise WireError("RTP payload must be bytes")


def encode_rtp(packet: RtpPacket) -> bytes:
    p = packet
    first = (RTP_VERSION << 6) | (0x20 if p.padding else 0) | (0x10 if p.extension else 0) | len(p.csrc)
    out = bytearray(struct.pack("!BBHII", first, (0x80 if p.marker else 0) | p.payload_type, p.sequence,
                                p.timestamp, p.ssrc))
    for c in p.csrc:
        out += struct.pack("!I", c)
    if p.extension is not None:
        out += struct.pack("!HH", p.extension[0], len(p.extension[1]) // 4) + p.extension[1]
    out += p.payload
    if p.padding:
        out += bytes(p.padding - 1) + bytes([p.padding])
    return bytes(out)


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on a muxed port is RTCP: version 2 and packet type 192-223 (RFC 5761 §4)."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def parse_rtp(data: bytes) -> RtpPacket:
    """Decode one RTP datagram."""
    if len(data) < 12:
        raise WireError(f"RTP packet shorter than its 12-byte header: {describe(data)}")
    first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != RTP_VERSION:
        raise WireError(f"RTP version must be 2, got {first >> 6}: {describe(data)}")
    if is_rtcp(data):
        raise WireError(f"packet type {second} is RTCP, not RTP (RFC 5761)")
    pos = 12
    count = first & 0x0F
    if len(data) < pos + 4 * count:
        raise WireError(f"RTP packet truncated in its CSRC list ({count} CSRCs)")
    csrc = struct.unpack_from(f"!{count}I", data, pos)
    pos += 4 * count
    extension = None
    if first & 0x10:
        if len(data) < pos + 4:
            raise WireError("RTP packet truncated in its header extension")
        profile, words = struct.unpack_from("!HH", data, pos)
        pos += 4
        if len(data) < pos + 4 * words:
            raise WireError(f"RTP header extension of {words} words runs past the packet")
        extension = (profile, bytes(data[pos : pos + 4 * words]))
        pos += 4 * words
    end, padding = len(data), 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or end - padding < pos:
            raise WireError(f"RTP padding length {padding} is impossible for a {len(data)}-byte packet")
        end -= padding
    return RtpPacket(second & 0x7F, seq, ts, ssrc, bytes(data[pos:end]), bool(second & 0x80), csrc, extension,
                     padding)


# ---------------------------------------------------------------- RTCP


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """A reception report block (§6.4.1): what a receiver saw of source ``ssrc``."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point: lost / expected * 256 since the last report
    cumulative_lost: int  # signed 24-bit (duplicates can make it negative)
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # interarrival jitter in timestamp units
    last_sr: int = 0  # middle 32 bits of the NTP timestamp of the last SR received
    delay_since_last_sr: int = 0  # in 1/65536 s

    def __post_init__(self) -> None:
        _uint("report block SSRC", self.ssrc, 32)
        _uint("fraction lost", self.fraction_lost, 8)
        if isinstance(self.cumulative_lost, bool) or not isinstance(self.cumulative_lost, int) or not (
                -(2**23) <= self.cumulative_lost < 2**23):
            raise WireError(f"cumulative lost must be a signed 24-bit integer, got {self.cumulative_lost!r}")
        for what, value in (("highest sequence", self.highest_sequence), ("jitter", self.jitter),
                            ("LSR", self.last_sr), ("DLSR", self.delay_since_last_sr)):
            _uint(what, value, 32)


def _check_blocks(blocks: tuple[ReportBlock, ...]) -> tuple[ReportBlock, ...]:
    blocks = tuple(blocks)
    if len(blocks) > 31:
        raise WireError(f"at most 31 report blocks fit one RTCP packet, got {len(blocks)}")
    if not all(isinstance(b, ReportBlock) for b in blocks):
        raise WireError("report blocks must be ReportBlock objects")
    return blocks


@dataclass(frozen=True, slots=True)
class SenderReport:
    """RTCP SR (PT 200)."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def __post_init__(self) -> None:
        _uint("SR SSRC", self.ssrc, 32)
        _uint("SR NTP timestamp", self.ntp_timestamp, 64)
        for what, value in (("SR RTP timestamp", self.rtp_timestamp), ("SR packet count", self.packet_count),
                            ("SR octet count", self.octet_count)):
            _uint(what, value, 32)
        object.__setattr__(self, "reports", _check_blocks(self.reports))


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RTCP RR (PT 201)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def __post_init__(self) -> None:
        _uint("RR SSRC", self.ssrc, 32)
        object.__setattr__(self, "reports", _check_blocks(self.reports))


@dataclass(frozen=True, slots=True)
class RtcpBye:
    """RTCP BYE (PT 203)."""

    sources: tuple[int, ...]
    reason: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if len(self.sources) > 31:
            raise WireError(f"at most 31 sources fit an RTCP BYE, got {len(self.sources)}")
        for s in self.sources:
            _uint("BYE SSRC", s, 32)
        if len(self.reason) > 255:
            raise WireError("BYE reason longer than 255 octets")


@dataclass(frozen=True, slots=True)
class RtcpOther:
    """Any other RTCP packet (SDES, APP, feedback...): type, count field and body, kept opaque."""

    packet_type: int
    count: int
    body: bytes

    def __post_init__(self) -> None:
        if isinstance(self.packet_type, bool) or not isinstance(self.packet_type, int) or not (
                192 <= self.packet_type <= 223) or self.packet_type in (RTCP_SR, RTCP_RR, RTCP_BYE):
            raise WireError(f"RtcpOther type must be 192-223 other than SR/RR/BYE, got {self.packet_type!r}")
        _uint("RTCP count", self.count, 5)
        if len(self.body) % 4 or len(self.body) >= 4 * 65536:
            raise WireError(f"RTCP body must be a multiple of 4 octets, got {len(self.body)}")


RtcpPacket = SenderReport | ReceiverReport | RtcpBye | RtcpOther


def _block_bytes(b: ReportBlock) -> bytes:
    lost = b.cumulative_lost & 0xFFFFFF
    return struct.pack("!IIIIII", b.ssrc, (b.fraction_lost << 24) | lost, b.highest_sequence, b.jitter,
                       b.last_sr, b.delay_since_last_sr)


def _one(packet: RtcpPacket) -> bytes:
    if isinstance(packet, SenderReport):
        count, ptype = len(packet.reports), RTCP_SR
        body = struct.pack("!IQIII", packet.ssrc, packet.ntp_timestamp, packet.rtp_timestamp,
                           packet.packet_count, packet.octet_count)
        body += b"".join(_block_bytes(b) for b in packet.reports)
    elif isinstance(packet, ReceiverReport):
        count, ptype = len(packet.reports), RTCP_RR
        body = struct.pack("!I", packet.ssrc) + b"".join(_block_bytes(b) for b in packet.reports)
    elif isinstance(packet, RtcpBye):
        count, ptype = len(packet.sources), RTCP_BYE
        body = b"".join(struct.pack("!I", s) for s in packet.sources)
        if packet.reason:
            reason = bytes([len(packet.reason)]) + packet.reason
            body += reason + bytes(-len(reason) % 4)
    else:
        count, ptype, body = packet.count, packet.packet_type, packet.body
    return struct.pack("!BBH", (RTP_VERSION << 6) | count, ptype, len(body) // 4) + body


def encode_rtcp(packets: tuple[RtcpPacket, ...] | list[RtcpPacket]) -> bytes:
    """A compound RTCP packet (§6.1): the packets back to back, no padding."""
    if not packets:
        raise WireError("a compound RTCP packet needs at least one packet")
    return b"".join(_one(p) for p in packets)
