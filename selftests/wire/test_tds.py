"""TDS codec (gvpconf.wire.tds): valid tables fed whole, byte by byte and with trailing bytes; malformed
input; property tests (arbitrary bytes parse or raise WireError; round trips). The lab's LOGIN7, SQL batch
and token codec (gvpconf_lab.tds) is tested in selftests/lab/test_lab_tds.py."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, tds
from selftests.wire.wirehelp import FEEDS, WIRE_SETTINGS, check_broken, chunks, decode_chunks, parse_or_wire_error

# The shape of a SQL Server 2019 PRELOGIN answer (15.0.2000, ENCRYPT_OFF, no MARS), written by hand from
# [MS-TDS] 2.2.6.5: option table VERSION/ENCRYPTION/INSTOPT/THREADID (empty)/MARS, 0xFF, then the data.
SQL2019_PRELOGIN = bytes.fromhex(
    "00001a0006" "0100200001" "0200210001" "0300220000" "0400220001" "ff"
    "0f0007d00000" "00" "00" "00"
)
SQL2019 = tds.Prelogin(version=(15, 0, 2000, 0), encryption=tds.Encryption.OFF, instance=b"", thread_id=None,
                       mars=False)


def packetize(payload: bytes, ptype: int = tds.PacketType.RESPONSE, size: int = 4096) -> bytes:
    return tds.encode_message(ptype, payload, size)


VALID_MESSAGES = [
    pytest.param(packetize(SQL2019_PRELOGIN), tds.Message(tds.PacketType.RESPONSE, SQL2019_PRELOGIN),
                 id="sql2019-prelogin-answer"),
    pytest.param(packetize(b"x" * 30, tds.PacketType.SQL_BATCH, 16),
                 tds.Message(tds.PacketType.SQL_BATCH, b"x" * 30), id="split-over-4-packets"),
    pytest.param(packetize(b"", tds.PacketType.ATTENTION), tds.Message(tds.PacketType.ATTENTION, b""),
                 id="empty-attention"),
]
TRAILING = bytes(packetize(b"next", tds.PacketType.SQL_BATCH))


def decode(parts: list[bytes]) -> list[tds.Message]:
    return decode_chunks(tds.MessageDecoder(), parts)


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("data", "expected"), VALID_MESSAGES)
def test_messages_in_every_feeding_style(data: bytes, expected: tds.Message, how: str) -> None:
    assert decode(chunks(data, how)) == [expected]
    got = decode(chunks(data + TRAILING, how))
    assert got[0] == expected and got[1] == tds.Message(tds.PacketType.SQL_BATCH, b"next")


@pytest.mark.parametrize("how", FEEDS)
def test_partial_message_needs_more(how: str) -> None:
    data = packetize(SQL2019_PRELOGIN)
    assert decode(chunks(data[:-1], how)) == []


def test_real_prelogin_answer_parses() -> None:
    parsed = tds.parse_prelogin(SQL2019_PRELOGIN)
    assert parsed == SQL2019
    assert parsed.version_text == "15.0.2000" and parsed.encryption_name == "OFF"


def test_freetds_style_prelogin_with_threadid_and_unknown_option() -> None:
    ours = tds.Prelogin(version=(9, 0, 0, 0), encryption=tds.Encryption.OFF, instance=b"MSSQLServer",
                        thread_id=1234, mars=False, other=((0x05, b"\x00" * 36),))
    assert tds.parse_prelogin(tds.encode_prelogin(ours)) == ours


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "terminator"),
        (b"\x00\x00\x06\x00\x06", "terminator"),
        (b"\x01\x00\x06\x00\x01\xff\x00", "VERSION"),
        (b"\x00\x00\x06\x00\x06\xff" + b"\x0f\x00\x07\xd0\x00\x00", "ENCRYPTION"),
        (b"\x00\x00\x0b\x00\x06\x01\x00\x11\x00\x01\xff" + b"\x0f\x00\x07\xd0\x00\x00", "outside"),
        (b"\x00\x00\x0b\x00\x06\x00\x00\x0b\x00\x06\xff" + b"\x0f\x00\x07\xd0\x00\x00", "twice"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "terminator|outside|VERSION|cut short"),
    ],
    ids=["empty", "no-terminator", "no-version", "no-encryption", "offset-outside", "duplicate", "http"],
)
def test_malformed_prelogin(payload: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        tds.parse_prelogin(payload)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n", "looks like HTTP"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "looks like TLS"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "looks like SSH"),
        (b"\x04\x01\x00\x04\x00\x00\x01\x00", "shorter than the header"),
        (b"\x04\x80\x00\x08\x00\x00\x01\x00", "invalid status"),
    ],
    ids=["http", "tls", "ssh", "short-length", "bad-status"],
)
def test_not_tds_is_rejected_from_the_first_bytes(data: bytes, message: str) -> None:
    check_broken(tds.MessageDecoder(), data, message)


@pytest.mark.parametrize(
    "build",
    [
        lambda: tds.Packet(0x99),
        lambda: tds.Packet(tds.PacketType.RESPONSE, status=0x40),
        lambda: tds.Prelogin(version=(256, 0, 0, 0)),
        lambda: tds.Prelogin(version=(15, 0, 0, 0), encryption=7),
        lambda: tds.Prelogin(version=(15, 0, 0, 0), other=((0x01, b"x"),)),
    ],
)
def test_messages_validate_when_built(build: object) -> None:
    with pytest.raises(WireError):
        build()  # type: ignore[operator]


# -- properties ---------------------------------------------------------------------------------------

@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_wire_error(data: bytes) -> None:
    parse_or_wire_error(tds.MessageDecoder(), data)
    with contextlib.suppress(WireError):
        tds.parse_prelogin(data)


@WIRE_SETTINGS
@given(st.binary(max_size=200), st.integers(0, 4))
def test_arbitrary_prelogin_tables_parse_or_raise(data: bytes, n: int) -> None:
    table = b"".join(struct.pack(">BHH", t, 5 * n + 1, len(data)) for t in range(n)) + b"\xff"
    with contextlib.suppress(WireError):
        tds.parse_prelogin(table + data)


versions = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535), st.integers(0, 65535))
@WIRE_SETTINGS
@given(versions, st.sampled_from(list(tds.Encryption)), st.one_of(st.none(), st.binary(max_size=20).map(
    lambda b: b.replace(b"\x00", b""))), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.one_of(st.none(), st.booleans()))
def test_prelogin_round_trip(version: tuple[int, int, int, int], enc: int, instance: bytes | None,
                             thread_id: int | None, mars: bool | None) -> None:
    p = tds.Prelogin(version=version, encryption=enc, instance=instance, thread_id=thread_id, mars=mars)
    assert tds.parse_prelogin(tds.encode_prelogin(p)) == p


def test_encode_message_packets() -> None:
    """Packets of exactly ``packet_size`` but the last, ids counting from 1 and wrapping at 256, EOM on the last
    one only; an empty payload is one empty EOM packet."""
    room = 512 - tds.HEADER_SIZE
    data = tds.encode_message(tds.PacketType.SQL_BATCH, b"p" * (room * 300 + 5), 512)
    packets = []
    buf = bytearray(data)
    while buf:
        packet = tds._take_packet(buf)
        assert packet is not None
        packets.append(packet)
    assert len(packets) == 301 and all(len(p.payload) == room for p in packets[:-1]) and len(packets[-1].payload) == 5
    assert [p.packet_id for p in packets[:3]] == [1, 2, 3] and packets[254].packet_id == 255
    assert packets[255].packet_id == 0 and packets[256].packet_id == 1
    assert [p.eom for p in packets] == [False] * 300 + [True]
    (empty,) = decode(chunks(tds.encode_message(tds.PacketType.ATTENTION, b""), "whole"))
    assert empty == tds.Message(tds.PacketType.ATTENTION, b"")
    assert tds.encode_message(tds.PacketType.ATTENTION, b"") == bytes.fromhex("0601000800000100")


@pytest.mark.parametrize(("size", "ok"), [(8, False), (9, True), (0xFFFF, True), (0x10000, False)])
def test_encode_message_packet_size_bounds(size: int, ok: bool) -> None:
    if ok:
        assert decode([tds.encode_message(tds.PacketType.SQL_BATCH, b"x" * 20, size)]) == [
            tds.Message(tds.PacketType.SQL_BATCH, b"x" * 20)]
    else:
        with pytest.raises(WireError, match="packet size must be between 9 and 65535"):
            tds.encode_message(tds.PacketType.SQL_BATCH, b"x", size)
