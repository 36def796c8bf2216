"""The lab's TDS codec for its SQL Server stand-in (gvpconf_lab.tds): LOGIN7, SQL batches and the result
tokens, on top of the product's packets and PRELOGIN (gvpconf.wire.tds, tested in selftests/wire/test_tds.py):
round trips, malformed input, properties (arbitrary bytes parse or raise WireError)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, tds
from gvpconf_lab import tds as labtds
from selftests.wire.wirehelp import FEEDS, WIRE_SETTINGS, check_frozen_slotted, chunks, decode_chunks, message_classes


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


@pytest.mark.parametrize("cls", message_classes(labtds), ids=lambda c: c.__name__)
def test_frozen_slotted(cls: type) -> None:
    check_frozen_slotted(cls)


# -- properties ---------------------------------------------------------------------------------------

@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_wire_error(data: bytes) -> None:
    for parse in (labtds.parse_login7, labtds.parse_sql_batch, labtds.parse_tokens):
        with contextlib.suppress(WireError):
            parse(data)


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


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
    (msg,) = decode_chunks(tds.MessageDecoder(), chunks(wire, how))
    assert labtds.parse_tokens(msg.payload) == tuple(tokens)
