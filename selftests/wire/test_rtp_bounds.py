"""RTP and RTCP (RFC 3550) at their edges, found by mutation testing (``make mutants``): every field at its largest
value and one past it, negatives, booleans and floats, with the message a caller reads; known bytes for each
flag and length field (§5.1, §6.4.1, §6.4.2, §6.6, RFC 5761 §4)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from gvpconf.wire.banner import describe
from gvpconf.wire.rtp import (
    ReceiverReport,
    ReportBlock,
    RtcpBye,
    RtcpOther,
    RtpPacket,
    SenderReport,
    encode_rtcp,
    encode_rtp,
    is_rtcp,
    parse_rtp,
)
from selftests.wire.wirehelp import refused


def holds_unsigned(make: Callable[[Any], object], what: str, bits: int) -> None:
    """``make(value)`` takes 0 and 2**bits - 1 and refuses, saying so, what is not an unsigned ``bits``-bit int."""
    make(0)
    make(2**bits - 1)
    for bad in (2**bits, -1, True, 1.5):
        refused(lambda bad=bad: make(bad), f"{what} must be an unsigned {bits}-bit integer, got {bad!r}")


def rtp(**fields: Any) -> RtpPacket:
    return RtpPacket(**{"payload_type": 0, "sequence": 0, "timestamp": 0, "ssrc": 0, **fields})


@pytest.mark.parametrize(("field", "what", "bits"), [
    ("payload_type", "RTP payload type", 7), ("sequence", "RTP sequence number", 16),
    ("timestamp", "RTP timestamp", 32), ("ssrc", "RTP SSRC", 32), ("padding", "RTP padding length", 8)])
def test_rtp_header_fields_are_unsigned_of_their_width(field: str, what: str, bits: int) -> None:
    holds_unsigned(lambda v: rtp(**{field: v}), what, bits)


def test_rtp_csrc_list_and_extension_limits() -> None:
    rtp(csrc=tuple(range(15)))
    refused(lambda: rtp(csrc=tuple(range(16))), "at most 15 CSRCs fit an RTP header, got 16")
    holds_unsigned(lambda v: rtp(csrc=(v,)), "RTP CSRC", 32)
    holds_unsigned(lambda v: rtp(extension=(v, b"")), "RTP header extension profile", 16)
    rtp(extension=(0, bytes(4 * 65535)))  # the length field counts 32-bit words in 16 bits
    for size in (3, 4 * 65536):
        refused(lambda size=size: rtp(extension=(0, bytes(size))),
                f"RTP header extension must be a multiple of 4 octets, got {size}")
    refused(lambda: rtp(payload="text"), "RTP payload must be bytes")


def test_a_marker_that_makes_the_second_octet_read_as_rtcp_is_refused() -> None:
    """RFC 5761 §4: with the marker set, payload types 64-95 give a second octet of 192-223 (RTCP's types)."""
    for pt in (63, 96, 127):
        assert not is_rtcp(encode_rtp(rtp(payload_type=pt, marker=True)))
    for pt in (64, 95):
        refused(lambda pt=pt: rtp(payload_type=pt, marker=True),
                f"RTP payload type {pt} with marker set reads as RTCP (RFC 5761 §4)")
        rtp(payload_type=pt)  # without the marker, 64-95 are ordinary payload types


def test_rtp_known_bytes_of_each_flag() -> None:
    """§5.1: V=2, P (0x20), X (0x10), CC in the low nibble of the first octet; M and PT in the second."""
    plain = encode_rtp(rtp(payload_type=8, sequence=0x1234, timestamp=0x01020304, ssrc=0xA0B0C0D0, payload=b"ab"))
    assert plain == bytes([0x80, 0x08, 0x12, 0x34, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0]) + b"ab"
    ext = encode_rtp(rtp(extension=(0xBEDE, b"\x01\x02\x03\x04"), marker=True))
    assert ext[:2] == b"\x90\x80" and ext[12:20] == b"\xbe\xde\x00\x01\x01\x02\x03\x04"
    padded = encode_rtp(rtp(payload=b"x", padding=3))
    assert padded[0] == 0xA0 and padded[12:] == b"x\x00\x00\x03"
    one = encode_rtp(rtp(padding=1))
    assert one[12:] == b"\x01"
    csrc = encode_rtp(rtp(csrc=(7,)))
    assert csrc[0] == 0x81 and csrc[12:] == b"\x00\x00\x00\x07"


def test_parse_rtp_reads_each_flag_and_refuses_what_cannot_be() -> None:
    for packet in (rtp(csrc=(7,)), rtp(csrc=(1, 2), payload=b"p"), rtp(padding=4, payload=b"abc"),
                   rtp(extension=(1, bytes(8)), csrc=(9,), payload=b"z", padding=2, marker=True, payload_type=96)):
        assert parse_rtp(encode_rtp(packet)) == packet
    # a header extension that ends the packet, its profile above 0x7FFF (unsigned, as the word count is)
    for words in (1, 2):
        edge = rtp(extension=(0xBEDE, bytes(4 * words)))
        assert parse_rtp(encode_rtp(edge)) == edge
    # one CSRC and no padding: the P bit alone says padding (0x21 would read the CC bit as one)
    assert parse_rtp(bytes([0x81, 0]) + bytes(10) + b"\x00\x00\x00\x07").padding == 0
    short, v1 = bytes([0x80]) + bytes(10), bytes([0x40]) + bytes(11)
    refused(lambda: parse_rtp(short), f"RTP packet shorter than its 12-byte header: {describe(short)}")
    refused(lambda: parse_rtp(v1), f"RTP version must be 2, got 1: {describe(v1)}")
    v3 = bytes([0xC0]) + bytes(11)
    refused(lambda: parse_rtp(v3), f"RTP version must be 2, got 3: {describe(v3)}")
    refused(lambda: parse_rtp(bytes([0x81, 0]) + bytes(10) + b"\x00\x00\x00"),
            "RTP packet truncated in its CSRC list (1 CSRCs)")
    refused(lambda: parse_rtp(bytes([0x90, 0]) + bytes(10) + b"\x00\x00\x00"),
            "RTP packet truncated in its header extension")
    refused(lambda: parse_rtp(bytes([0x90, 0]) + bytes(10) + b"\x00\x00\x00\x01"),
            "RTP header extension of 1 words runs past the packet")
    for pad in (0, 2):
        refused(lambda pad=pad: parse_rtp(bytes([0xA0, 0]) + bytes(10) + bytes([pad])),
                f"RTP padding length {pad} is impossible for a 13-byte packet")
    assert parse_rtp(bytes([0xA0, 0]) + bytes(10) + b"\x01").payload == b""


def test_is_rtcp_boundaries() -> None:
    """RFC 5761 §4: version 2 and a second octet of 192-223; two octets are enough to tell."""
    assert is_rtcp(b"\x80\xc0") and is_rtcp(b"\x80\xdf")
    assert not is_rtcp(b"\x80\xbf") and not is_rtcp(b"\x80\xe0") and not is_rtcp(b"\x80")
    assert not is_rtcp(b"\x40\xc8")
    refused(lambda: parse_rtp(b"\x80\xc8" + bytes(10)), "packet type 200 is RTCP, not RTP (RFC 5761)")


def block(**fields: Any) -> ReportBlock:
    return ReportBlock(**{"ssrc": 0, "fraction_lost": 0, "cumulative_lost": 0, "highest_sequence": 0, "jitter": 0,
                          **fields})


@pytest.mark.parametrize(("field", "what", "bits"), [
    ("ssrc", "report block SSRC", 32), ("fraction_lost", "fraction lost", 8),
    ("highest_sequence", "highest sequence", 32), ("jitter", "jitter", 32), ("last_sr", "LSR", 32),
    ("delay_since_last_sr", "DLSR", 32)])
def test_report_block_fields(field: str, what: str, bits: int) -> None:
    holds_unsigned(lambda v: block(**{field: v}), what, bits)


def test_cumulative_lost_is_signed_24_bit() -> None:
    """§6.4.1: cumulative number of packets lost, signed (duplicates make it negative), 24 bits."""
    for ok in (-(2**23), 2**23 - 1):
        block(cumulative_lost=ok)
    for bad in (2**23, -(2**23) - 1, True, 1.5):
        refused(lambda bad=bad: block(cumulative_lost=bad),
                f"cumulative lost must be a signed 24-bit integer, got {bad!r}")
    # on the wire: two's complement in the low 24 bits, under the fraction lost
    rr = encode_rtcp([ReceiverReport(1, (block(fraction_lost=0x40, cumulative_lost=-1),))])
    assert rr[12:16] == b"\x40\xff\xff\xff"


@pytest.mark.parametrize(("field", "what", "bits"), [
    ("ssrc", "SR SSRC", 32), ("ntp_timestamp", "SR NTP timestamp", 64), ("rtp_timestamp", "SR RTP timestamp", 32),
    ("packet_count", "SR packet count", 32), ("octet_count", "SR octet count", 32)])
def test_sender_report_fields(field: str, what: str, bits: int) -> None:
    base = {"ssrc": 0, "ntp_timestamp": 0, "rtp_timestamp": 0, "packet_count": 0, "octet_count": 0}
    holds_unsigned(lambda v: SenderReport(**{**base, field: v}), what, bits)


def test_report_lists_and_bye_limits() -> None:
    holds_unsigned(lambda v: ReceiverReport(v), "RR SSRC", 32)
    ReceiverReport(1, tuple(block() for _ in range(31)))
    refused(lambda: ReceiverReport(1, tuple(block() for _ in range(32))),
            "at most 31 report blocks fit one RTCP packet, got 32")
    refused(lambda: ReceiverReport(1, ("block",)), "report blocks must be ReportBlock objects")  # type: ignore[arg-type]
    RtcpBye(tuple(range(31)))
    refused(lambda: RtcpBye(tuple(range(32))), "at most 31 sources fit an RTCP BYE, got 32")
    holds_unsigned(lambda v: RtcpBye((v,)), "BYE SSRC", 32)
    RtcpBye((1,), bytes(255))
    refused(lambda: RtcpBye((1,), bytes(256)), "BYE reason longer than 255 octets")


def test_rtcp_other_limits() -> None:
    for ptype in (192, 202, 204, 223):
        RtcpOther(ptype, 0, b"")
    for bad in (191, 200, 201, 203, 224, True, "202"):
        refused(lambda bad=bad: RtcpOther(bad, 0, b""),
                f"RtcpOther type must be 192-223 other than SR/RR/BYE, got {bad!r}")
    holds_unsigned(lambda v: RtcpOther(202, v, b""), "RTCP count", 5)
    RtcpOther(202, 0, bytes(4 * 65535))
    for size in (2, 4 * 65536):
        refused(lambda size=size: RtcpOther(202, 0, bytes(size)),
                f"RTCP body must be a multiple of 4 octets, got {size}")


def test_rtcp_known_bytes() -> None:
    """§6.4.1 SR, §6.4.2 RR, §6.6 BYE (its reason padded to a 32-bit boundary), an opaque SDES; a compound packet
    is their concatenation, and it cannot be empty (§6.1)."""
    b = block(ssrc=2, fraction_lost=1, cumulative_lost=3, highest_sequence=4, jitter=5, last_sr=6,
              delay_since_last_sr=7)
    sr = encode_rtcp([SenderReport(1, 0x0102030405060708, 9, 10, 11, (b,))])
    assert sr[:4] == b"\x81\xc8\x00\x0c" and len(sr) == 4 * 13
    assert sr[4:28] == struct.pack("!IQIII", 1, 0x0102030405060708, 9, 10, 11)
    assert sr[28:] == struct.pack("!IIIIII", 2, (1 << 24) | 3, 4, 5, 6, 7)
    rr = encode_rtcp([ReceiverReport(1)])
    assert rr == b"\x80\xc9\x00\x01\x00\x00\x00\x01"
    bye = encode_rtcp([RtcpBye((1, 2), b"bye")])
    assert bye == b"\x82\xcb\x00\x03" + b"\x00\x00\x00\x01\x00\x00\x00\x02" + b"\x03bye"
    bye5 = encode_rtcp([RtcpBye((1,), b"gone!")])
    assert bye5[8:] == b"\x05gone!\x00\x00" and bye5[2:4] == b"\x00\x03"
    sdes = encode_rtcp([RtcpOther(202, 1, b"\x00\x00\x00\x01")])
    assert sdes == b"\x81\xca\x00\x01\x00\x00\x00\x01"
    assert encode_rtcp((RtcpBye(()), ReceiverReport(1))) == b"\x80\xcb\x00\x00" + rr
    top = encode_rtcp([SenderReport(2**32 - 1, 2**64 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1, (b, b))])
    assert top[4:28] == b"\xff" * 24 and top[28:] == sr[28:] * 2 and top[2:4] == b"\x00\x12"
    assert encode_rtcp([ReceiverReport(2**32 - 1)])[4:] == b"\xff\xff\xff\xff"
    two = encode_rtcp([ReceiverReport(1, (b, b))])  # report blocks back to back, nothing between them
    assert two == b"\x82\xc9\x00\x0d\x00\x00\x00\x01" + sr[28:] * 2
    assert encode_rtcp([RtcpBye((2**32 - 1,))]) == b"\x81\xcb\x00\x01\xff\xff\xff\xff"  # SSRCs are unsigned
    refused(lambda: encode_rtcp([]), "a compound RTCP packet needs at least one packet")
