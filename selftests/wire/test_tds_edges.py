"""TDS packets and PRELOGIN ([MS-TDS] 2.2.3.1, 2.2.6.5) at their edges, found by mutation testing
(``make mutants``): each header field at its limit and one past it, options that end exactly at the message's
end, the known options' sizes, and the whole message of each refusal."""

from __future__ import annotations

import struct

import pytest

from gvpconf.wire import WireError, tds
from gvpconf.wire.banner import describe
from gvpconf.wire.tds import Packet, Prelogin, encode_prelogin, parse_prelogin
from selftests.wire.wirehelp import refused

PRELOGIN = tds.PacketType.PRELOGIN


def test_packet_header_fields_at_their_limits() -> None:
    Packet(PRELOGIN, spid=0xFFFF, packet_id=0xFF, window=0xFF, payload=bytes(0xFFFF - 8))
    for field, what, top, size in (("spid", "SPID", 0xFFFF, "16 bits"), ("packet_id", "packet id", 0xFF, "one byte"),
                                   ("window", "window", 0xFF, "one byte")):
        for bad in (top + 1, -1):
            refused(lambda field=field, bad=bad: Packet(PRELOGIN, **{field: bad}),  # type: ignore[arg-type]
                    f"{what} must fit in {size}, got {bad}")
    refused(lambda: Packet(PRELOGIN, payload=bytes(0xFFFF - 7)), "a TDS packet holds at most 65527 payload bytes, "
            "got 65528")
    refused(lambda: Packet(0x55), "unknown TDS packet type 0x55")
    Packet(PRELOGIN, status=0x1B)  # EOM, IGNORE, RESETCONNECTION, RESETCONNECTIONSKIPTRAN
    for status in (0x04, 0x20, 0x100, -1):
        with pytest.raises(WireError, match=r"^invalid TDS packet status "):
            Packet(PRELOGIN, status=status)
    assert tds.encode_packet(Packet(PRELOGIN, b"ab", 1, 0x0102, 3, 4)) == b"\x12\x01\x00\x0a\x01\x02\x03\x04ab"


def test_messages_split_into_packets_and_joined_back() -> None:
    """2.2.3.1: packets of at most the negotiated size, ids from 1 wrapping at 256, EOM on the last only."""
    wire = tds.encode_message(PRELOGIN, b"abcde", packet_size=10, spid=7)  # 2 payload bytes a packet
    assert wire == (b"\x12\x00\x00\x0a\x00\x07\x01\x00ab" + b"\x12\x00\x00\x0a\x00\x07\x02\x00cd"
                    + b"\x12\x01\x00\x09\x00\x07\x03\x00e")
    ids = tds.encode_message(PRELOGIN, bytes(257), packet_size=9)  # one byte a packet: the ids wrap at 256
    assert [ids[i * 9 + 6] for i in (0, 254, 255, 256)] == [1, 255, 0, 1]
    assert tds.encode_message(PRELOGIN, b"") == b"\x12\x01\x00\x08\x00\x00\x01\x00"
    assert len(tds.encode_message(PRELOGIN, bytes(8), packet_size=0xFFFF)) == 16
    for size in (8, 0x10000):
        refused(lambda size=size: tds.encode_message(PRELOGIN, b"", packet_size=size),
                f"packet size must be between 9 and 65535, got {size}")
    d = tds.MessageDecoder()
    d.feed(wire)
    assert d.next_message() == tds.Message(PRELOGIN, b"abcde", 7)
    small = tds.MessageDecoder(max_message_size=2 * 9, max_packets=5)
    small.feed(tds.encode_message(PRELOGIN, bytes(2), packet_size=9))  # two packets of 9 bytes: exactly the limit
    assert small.next_message() == tds.Message(PRELOGIN, bytes(2))
    small.feed(tds.encode_message(PRELOGIN, bytes(3), packet_size=9))
    refused(small.next_message, "TDS message larger than 18 bytes")
    few = tds.MessageDecoder(max_packets=2)
    few.feed(tds.encode_message(PRELOGIN, bytes(2), packet_size=9))
    assert few.next_message() == tds.Message(PRELOGIN, bytes(2))  # two packets: the EOM one is the second
    few.feed(tds.encode_message(PRELOGIN, bytes(3), packet_size=9))
    refused(few.next_message, "TDS message of more than 2 packets without an end-of-message packet (18 bytes so far)")
    mixed = tds.MessageDecoder()
    mixed.feed(tds.encode_packet(Packet(PRELOGIN, b"a", 0)) + tds.encode_packet(Packet(tds.PacketType.LOGIN7, b"b")))
    refused(mixed.next_message, "packet of type 0x10 inside a message of type 0x12")


def test_a_peer_that_is_not_tds_is_told_apart_from_its_first_bytes() -> None:
    for data, why in ((b"HTTP/1.1 400 Bad Request\r\n", "unknown packet type 0x48"),
                      (b"\x12\x04", "invalid status 0x04"),
                      (b"\x12\x01\x00\x07\x00\x00\x01\x00", "length 7 is shorter than the header")):
        d = tds.MessageDecoder()
        d.feed(data)
        with pytest.raises(WireError) as caught:
            d.next_message()
        assert str(caught.value).startswith("not a TDS packet") and f": {why}: {describe(data[:36])}" in str(
            caught.value)
    partial = tds.MessageDecoder()
    partial.feed(b"\x12\x01\x00\x0a\x00\x00\x01\x00a")  # a header announcing 10 bytes, 9 here: wait
    assert partial.next_message() is None
    partial.feed(b"b")
    assert partial.next_message() == tds.Message(PRELOGIN, b"ab")


def test_prelogin_fields_at_their_limits() -> None:
    """2.2.6.5: VERSION is major (byte), minor (byte), build (USHORT), sub-build (USHORT); ENCRYPTION one byte of
    0-3, plus the client-certificate bit 0x80; THREADID a ULONG."""
    Prelogin((0xFF, 0xFF, 0xFFFF, 0xFFFF), encryption=0x83, thread_id=0xFFFFFFFF)
    for index, what, size, top in ((0, "major version", "one byte", 0xFF), (1, "minor version", "one byte", 0xFF),
                                   (2, "build number", "16 bits", 0xFFFF), (3, "sub-build number", "16 bits", 0xFFFF)):
        for bad in (top + 1, -1):
            version = [1, 2, 3, 4]
            version[index] = bad
            refused(lambda version=version: Prelogin(tuple(version)),  # type: ignore[arg-type]
                    f"{what} must fit in {size}, got {bad}")
    refused(lambda: Prelogin((1, 2, 3)), "PRELOGIN version is (major, minor, build, sub-build), got (1, 2, 3)")  # type: ignore[arg-type]
    for bad in (0x04, 0x7F, 0x100, 0x184):
        refused(lambda bad=bad: Prelogin((1, 2, 3, 4), encryption=bad),
                f"invalid PRELOGIN encryption value 0x{bad:02x}")
    for bad in (1 << 32, -1):
        refused(lambda bad=bad: Prelogin((1, 2, 3, 4), thread_id=bad), f"thread id must fit in 32 bits, got {bad}")
    refused(lambda: Prelogin((1, 2, 3, 4), instance=b"a\x00b"), "PRELOGIN instance name must not contain NUL")
    Prelogin((1, 2, 3, 4), other=((0x05, b"x"), (0xFE, b"")))
    for token in (0x00, 0x04, 0xFF, 0x100, -1):
        refused(lambda token=token: Prelogin((1, 2, 3, 4), other=((token, b""),)),
                f"PRELOGIN option 0x{token:02x} cannot be an 'other' option (known, repeated or not a byte)")
    refused(lambda: Prelogin((1, 2, 3, 4), other=((0x05, b""), (0x05, b""))),
            "PRELOGIN option 0x05 cannot be an 'other' option (known, repeated or not a byte)")
    assert Prelogin((16, 0, 1000, 0)).version_text == "16.0.1000"
    assert Prelogin((16, 0, 1000, 2)).version_text == "16.0.1000.2"
    assert Prelogin((1, 2, 3, 4), encryption=0x83).encryption_name == "REQ"


def test_prelogin_known_answer_and_round_trip() -> None:
    """The option table (token, USHORT offset, USHORT length), the 0xFF terminator, then the data in table order."""
    p = Prelogin((16, 0, 1000, 0), tds.Encryption.ON, b"MSSQL", 7, True, ((0x05, b"ab"),))
    wire = encode_prelogin(p)
    table = b"".join(struct.pack(">BHH", t, o, n) for t, o, n in (
        (0, 31, 6), (1, 37, 1), (2, 38, 6), (3, 44, 4), (4, 48, 1), (5, 49, 2)))
    assert wire == table + b"\xff" + b"\x10\x00\x03\xe8\x00\x00" + b"\x01" + b"MSSQL\x00" + b"\x00\x00\x00\x07" \
        + b"\x01" + b"ab"
    assert parse_prelogin(wire) == p
    bare = Prelogin((1, 2, 3, 4), instance=None, mars=None)
    assert parse_prelogin(encode_prelogin(bare)) == bare
    assert len(encode_prelogin(bare)) == 2 * 5 + 1 + 6 + 1


def _prelogin(*options: tuple[int, bytes], extra: bytes = b"") -> bytes:
    offset = len(options) * 5 + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    return table + b"\xff" + data + extra


VERSION = (0, b"\x10\x00\x03\xe8\x00\x00")
ENCRYPTION = (1, b"\x02")


def test_prelogin_parse_refusals_and_limits() -> None:
    assert parse_prelogin(_prelogin(VERSION, ENCRYPTION)).encryption == 2  # the last option ends the message
    assert parse_prelogin(_prelogin(VERSION, ENCRYPTION, (3, b""))).thread_id is None
    assert parse_prelogin(_prelogin(VERSION, ENCRYPTION, (2, b"I"))).instance == b"I"  # no NUL: taken whole
    assert parse_prelogin(_prelogin(VERSION, ENCRYPTION, (4, b"\x00"))).mars is False
    for data, message in (
            (b"", "PRELOGIN option table without its 0xFF terminator: " + describe(b"")),
            (b"\x00\x00\x06", "PRELOGIN option table cut short: " + describe(b"\x00\x00\x06")),
            (_prelogin(VERSION, VERSION), "PRELOGIN option 0x00 appears twice"),
            (_prelogin(ENCRYPTION), "PRELOGIN without a VERSION option"),
            (_prelogin((0, bytes(5)), ENCRYPTION), "PRELOGIN VERSION must be 6 bytes, got 5"),
            (_prelogin(VERSION), "PRELOGIN without a one-byte ENCRYPTION option"),
            (_prelogin(VERSION, (1, b"\x00\x00")), "PRELOGIN without a one-byte ENCRYPTION option"),
            (_prelogin(VERSION, ENCRYPTION, (2, b"a\x00b\x00")), "PRELOGIN INSTOPT has a NUL before its end"),
            (_prelogin(VERSION, ENCRYPTION, (3, b"\x00\x00")), "PRELOGIN THREADID must be 0 or 4 bytes, got 2"),
            (_prelogin(VERSION, ENCRYPTION, (4, b"\x02")), "PRELOGIN MARS must be one byte 0 or 1, got b'\\x02'"),
            (_prelogin(VERSION, ENCRYPTION, (4, b"")), "PRELOGIN MARS must be one byte 0 or 1, got b''"),
    ):
        refused(lambda data=data: parse_prelogin(data), message)
    good = _prelogin(VERSION, ENCRYPTION)
    past = good[:3] + struct.pack(">H", len(good) - 11 + 1) + good[5:]  # VERSION one byte past the message's end
    refused(lambda: parse_prelogin(past), f"PRELOGIN option 0x00 points outside the message (offset 11, length "
            f"{len(good) - 10}, message {len(good)} bytes)")
    exact = good[:3] + struct.pack(">H", len(good) - 11) + good[5:]  # VERSION to the very end: 7 bytes, not 6
    refused(lambda: parse_prelogin(exact), "PRELOGIN VERSION must be 6 bytes, got 7")
    inside = good[:1] + struct.pack(">H", 10) + good[3:]  # VERSION's offset inside the option table
    refused(lambda: parse_prelogin(inside), f"PRELOGIN option 0x00 points outside the message (offset 10, length 6, "
            f"message {len(good)} bytes)")


def test_unsigned_thread_id_default_packet_size_and_window() -> None:
    """THREADID is a ULONG (0 and 2^32-1 both travel); a message goes in packets of 4096 bytes unless told
    otherwise; a decoded packet keeps its Window byte as sent."""
    for thread_id in (0, 0xFFFFFFFF):
        p = Prelogin((1, 2, 3, 4), thread_id=thread_id)
        assert parse_prelogin(encode_prelogin(p)).thread_id == thread_id
    assert len(tds.encode_message(PRELOGIN, bytes(4088))) == 4096
    assert len(tds.encode_message(PRELOGIN, bytes(4089))) == 4096 + 9
    assert tds._take_packet(bytearray(tds.encode_packet(Packet(PRELOGIN, b"x", window=5)))) == Packet(
        PRELOGIN, b"x", window=5)
