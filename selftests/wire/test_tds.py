"""TDS codec (gvpconf.wire.tds): valid tables fed whole, byte by byte and with trailing bytes; malformed
input; property tests (arbitrary bytes parse or raise WireError; round trips)."""

from __future__ import annotations

import contextlib
import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, tds
from gvpconf_lab import tds as labtds
from selftests.wire.wirehelp import FEEDS, WIRE_SETTINGS, check_broken, chunks, decode_chunks

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


def test_login7_round_trip_and_password_obfuscation() -> None:
    login = labtds.Login7(username="gvp_reader", password="pä$$w0rd", database="gvp_rs", hostname="rs-0",
                       app_name="gvpconf", server_name="mssql", library="DB-Library", language="us_english")
    payload = labtds.encode_login7(login)
    assert struct.unpack_from("<I", payload)[0] == len(payload)
    assert "pä$$w0rd".encode("utf-16-le") not in payload  # obfuscated on the wire
    assert labtds.parse_login7(payload) == login
    assert "pä$$w0rd" not in repr(login)


def test_login7_with_feature_extension_flag() -> None:
    login = labtds.Login7(username="u", password="p", option_flags3=0x10)
    assert labtds.parse_login7(labtds.encode_login7(login)) == login


def test_login7_malformed() -> None:
    with pytest.raises(WireError, match="shorter"):
        labtds.parse_login7(b"\x00" * 40)
    good = bytearray(labtds.encode_login7(labtds.Login7(username="u")))
    good[0] += 1
    with pytest.raises(WireError, match="length field"):
        labtds.parse_login7(bytes(good))
    bad = bytearray(labtds.encode_login7(labtds.Login7(username="u")))
    struct.pack_into("<HH", bad, 40, 60000, 5)  # username far outside
    with pytest.raises(WireError, match="outside"):
        labtds.parse_login7(bytes(bad))


def test_sql_batch_round_trip_and_freetds_header() -> None:
    batch = labtds.SqlBatch("SELECT @@VERSION, DB_NAME()", transaction=7, outstanding=1)
    assert labtds.parse_sql_batch(labtds.encode_sql_batch(batch)) == batch
    with pytest.raises(WireError, match="ALL_HEADERS"):
        labtds.parse_sql_batch(b"\xff\x00\x00\x00S\x00")


def test_token_stream_of_a_login_and_a_result_set() -> None:
    tokens: list[labtds.Token] = [
        labtds.EnvChange(labtds.ENV_DATABASE, "gvp_rs", "master"),
        labtds.ServerMessage(5701, "Changed database context to 'gvp_rs'.", 0, 2, "SQL1", error=False),
        labtds.LoginAck("Microsoft SQL Server", (15, 0, 7, 208)),
        labtds.Done(),
        labtds.ColMetadata((labtds.Column("", 8000), labtds.Column("db", 256))),
        labtds.Row(("Microsoft SQL Server 2019", "gvp_rs")),
        labtds.Row((None, "x")),
        labtds.Done(labtds.DONE_COUNT, 0xC1, 2),
        labtds.ServerMessage(18456, "Login failed for user 'x'.", 14, 1, "SQL1", line=1),
    ]
    payload = labtds.encode_tokens(tokens)
    assert labtds.parse_tokens(payload) == tuple(tokens)
    # LOGINACK carries the TDS version big-endian (74 00 00 04), unlike LOGIN7's little-endian one
    assert bytes.fromhex("0174000004") in payload


def test_token_errors() -> None:
    with pytest.raises(WireError, match="before any COLMETADATA"):
        labtds.parse_tokens(bytes([labtds.TOKEN_ROW, 0, 0]))
    with pytest.raises(WireError, match="not handled"):
        labtds.parse_tokens(b"\x79\x00\x00\x00\x00")  # RETURNSTATUS
    with pytest.raises(WireError, match="cut short"):
        labtds.parse_tokens(bytes([labtds.TOKEN_DONE, 0]))
    with pytest.raises(WireError):
        labtds.Row(("a",)).__class__  # noqa: B018 - building is fine; encoding without metadata is not
        labtds.encode_tokens([labtds.Row(("a",))])


@pytest.mark.parametrize(
    "build",
    [
        lambda: tds.Packet(0x99),
        lambda: tds.Packet(tds.PacketType.RESPONSE, status=0x40),
        lambda: tds.Prelogin(version=(256, 0, 0, 0)),
        lambda: tds.Prelogin(version=(15, 0, 0, 0), encryption=7),
        lambda: tds.Prelogin(version=(15, 0, 0, 0), other=((0x01, b"x"),)),
        lambda: labtds.Login7(client_id=b"x"),
        lambda: labtds.Login7(username="x" * 200),
        lambda: labtds.Column("c", 7),
        lambda: labtds.ColMetadata(()),
        lambda: labtds.EnvChange(7, "x"),
        lambda: labtds.Done(token=0x01),
    ],
)
def test_messages_validate_when_built(build: object) -> None:
    with pytest.raises(WireError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("cls", [tds.Packet, tds.Message, tds.Prelogin, labtds.Login7, labtds.SqlBatch,
                                 labtds.LoginAck, labtds.ServerMessage, labtds.EnvChange, labtds.Column,
                                 labtds.ColMetadata, labtds.Row, labtds.Done])
def test_frozen_slotted(cls: type) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in cls.__dict__


# -- properties ---------------------------------------------------------------------------------------

@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_wire_error(data: bytes) -> None:
    decoder = tds.MessageDecoder()
    with contextlib.suppress(WireError):
        decoder.feed(data)
        while decoder.next_message() is not None:
            pass
    for parse in (tds.parse_prelogin, labtds.parse_login7, labtds.parse_sql_batch, labtds.parse_tokens):
        with contextlib.suppress(WireError):
            parse(data)


@WIRE_SETTINGS
@given(st.binary(max_size=200), st.integers(0, 4))
def test_arbitrary_prelogin_tables_parse_or_raise(data: bytes, n: int) -> None:
    table = b"".join(struct.pack(">BHH", t, 5 * n + 1, len(data)) for t in range(n)) + b"\xff"
    with contextlib.suppress(WireError):
        tds.parse_prelogin(table + data)


versions = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535), st.integers(0, 65535))
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@WIRE_SETTINGS
@given(versions, st.sampled_from(list(tds.Encryption)), st.one_of(st.none(), st.binary(max_size=20).map(
    lambda b: b.replace(b"\x00", b""))), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.one_of(st.none(), st.booleans()))
def test_prelogin_round_trip(version: tuple[int, int, int, int], enc: int, instance: bytes | None,
                             thread_id: int | None, mars: bool | None) -> None:
    p = tds.Prelogin(version=version, encryption=enc, instance=instance, thread_id=thread_id, mars=mars)
    assert tds.parse_prelogin(tds.encode_prelogin(p)) == p


@WIRE_SETTINGS
@given(names, names, names, st.integers(0, 2**32 - 1))
def test_login7_round_trip(user: str, password: str, database: str, pid: int) -> None:
    login = labtds.Login7(username=user, password=password, database=database, client_pid=pid)
    assert labtds.parse_login7(labtds.encode_login7(login)) == login


@WIRE_SETTINGS
@given(st.lists(st.one_of(st.none(), names), min_size=1, max_size=5), st.integers(9, 64), st.sampled_from(FEEDS))
def test_result_set_round_trip_through_packets(values: list[str | None], size: int, how: str) -> None:
    tokens: list[labtds.Token] = [labtds.ColMetadata(tuple(labtds.Column(f"c{i}", 8000) for i in range(len(values)))),
                               labtds.Row(tuple(values)), labtds.Done(labtds.DONE_COUNT, 0xC1, 1)]
    wire = tds.encode_message(tds.PacketType.RESPONSE, labtds.encode_tokens(tokens), packet_size=size)
    (msg,) = decode(chunks(wire, how))
    assert labtds.parse_tokens(msg.payload) == tuple(tokens)
