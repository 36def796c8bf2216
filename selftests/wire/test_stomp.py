"""STOMP 1.2 codec: valid table in every feeding style, malformed input, properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire.stomp import COMMANDS, MAX_FRAME_SIZE, Frame, StompDecoder, encode
from selftests.wire.wirehelp import (
    FEEDS,
    WIRE_SETTINGS,
    check_broken,
    check_table,
    chunks,
    decode_chunks,
    parse_or_wire_error,
)

# ActiveMQ 5.17's answer to a STOMP 1.2 CONNECT: CONNECTED headers are not escaped, so the
# session id keeps its raw colons.
ACTIVEMQ_CONNECTED = (
    b"CONNECTED\nserver:ActiveMQ/5.17.6\nheart-beat:0,0\n"
    b"session:ID:mq-1-41235-1700000000000-3:1\nversion:1.2\n\n\x00\n"
)
ACTIVEMQ_CONNECTED_FRAME = Frame(
    "CONNECTED",
    (("server", "ActiveMQ/5.17.6"), ("heart-beat", "0,0"), ("session", "ID:mq-1-41235-1700000000000-3:1"),
     ("version", "1.2")),
)
NEXT = b"RECEIPT\nreceipt-id:99\n\n\x00"

VALID = [
    pytest.param(ACTIVEMQ_CONNECTED, ACTIVEMQ_CONNECTED_FRAME, id="activemq-connected"),
    pytest.param(
        b"MESSAGE\nsubscription:0\nmessage-id:ID\\chost-1\\c1\ndestination:/queue/a\\\\b\n"
        b"note:line1\\nline2\\r\ncontent-length:5\n\nab\x00cd\x00",
        Frame(
            "MESSAGE",
            (("subscription", "0"), ("message-id", "ID:host-1:1"), ("destination", "/queue/a\\b"),
             ("note", "line1\nline2\r"), ("content-length", "5")),
            b"ab\x00cd",
        ),
        id="escaped-headers-binary-body",
    ),
    pytest.param(
        b"ERROR\r\ncontent-type:text/plain\r\nmessage:Authentication failed\r\n\r\n"
        b"User name [x] or password is invalid.\x00",
        Frame("ERROR", (("content-type", "text/plain"), ("message", "Authentication failed")),
              b"User name [x] or password is invalid."),
        id="crlf-error-no-content-length",
    ),
    pytest.param(b"\n\r\n\nRECEIPT\nreceipt-id:77\n\n\x00\r\n\n",
                 Frame("RECEIPT", (("receipt-id", "77"),)), id="heartbeats-around"),
    pytest.param(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\x00",
                 Frame("MESSAGE", (("foo", "World"), ("foo", "Hello"))), id="repeated-header"),
    pytest.param(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:a:b\\c\n\n\x00",
                 Frame("CONNECT", (("accept-version", "1.2"), ("host", "/"), ("login", "a:b\\c"))),
                 id="connect-unescaped"),
    pytest.param("SEND\ndestination:/queue/größe\n\n\x00".encode(),
                 Frame("SEND", (("destination", "/queue/größe"),)), id="utf8-header"),
]


def decode(parts: list[bytes]) -> list[Frame]:
    return decode_chunks(StompDecoder(), parts)


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_valid_whole_bytewise_and_trailing(data: bytes, expected: Frame) -> None:
    check_table(StompDecoder, data, expected, NEXT, Frame("RECEIPT", (("receipt-id", "99"),)), 12)


def test_first_header_wins() -> None:
    assert Frame("MESSAGE", (("foo", "World"), ("foo", "Hello"))).header("foo") == "World"
    assert Frame("MESSAGE").header("foo") is None


MALFORMED = [
    pytest.param(b"MESSAGE\nfoo:a\\tb\n\n\x00", "undefined escape", id="escape-t"),
    pytest.param(b"MESSAGE\nfoo:a\\\n\n\x00", "undefined escape", id="trailing-backslash"),
    pytest.param(b"HELLO\n\n\x00", "not a STOMP command", id="unknown-command"),
    pytest.param(b"send\n\n\x00", "not a STOMP command", id="lower-case-command"),
    pytest.param(b"SEND\ncontent-length:2\n\nabc\x00", "not followed by NUL", id="no-nul-after-body"),
    pytest.param(b"SEND\ncontent-length:x\n\nabc\x00", "content-length", id="bad-content-length"),
    pytest.param(b"SEND\ncontent-length:-1\n\nabc\x00", "content-length", id="negative-content-length"),
    pytest.param(b"SEND\ncontent-length:2000000\n\n", "exceeds", id="oversize-content-length"),
    pytest.param(b"SEND\n" + b"h:v\n" * 129 + b"\n\x00", "headers", id="too-many-headers"),
    pytest.param(b"MESSAGE\nfoo:\xff\n\n\x00", "not UTF-8", id="not-utf8"),
    pytest.param(b"MESSAGE\nfoo\n\n\x00", "without a colon", id="no-colon"),
    pytest.param(b"MESSAGE\n:value\n\n\x00", "empty", id="empty-name"),
    pytest.param(b"RECEIPT\nreceipt-id:1\n\nbody\x00", "must not have a body", id="body-on-receipt"),
    pytest.param(b"CONNECTED\nversion:1.\r2\n\n\x00", "CR, LF", id="raw-cr-in-connected"),
    pytest.param(b"\rCONNECTED\n\n\x00", "not a STOMP command", id="stray-cr"),
    pytest.param(b"SEND\ncontent-length:1" + b"0" * 5000 + b"\n\n", "beyond any frame size", id="huge-length"),
    pytest.param(b"SEND\n" + b"a" * (MAX_FRAME_SIZE + 1), "no end of STOMP headers", id="endless-headers"),
    pytest.param(b"SEND\n\n" + b"a" * (MAX_FRAME_SIZE + 1), "no NUL", id="endless-body"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED)
def test_malformed(data: bytes, message: str) -> None:
    check_broken(StompDecoder(), data, message)


def test_encode() -> None:
    assert encode(Frame("CONNECT", (("accept-version", "1.2"), ("login", "a:b\\")))) == (
        b"CONNECT\naccept-version:1.2\nlogin:a:b\\\n\n\x00"
    )
    assert encode(Frame("SEND", (("destination", "/q/a:b"), ("x\ny", "\\\r")), b"hi\x00")) == (
        b"SEND\ndestination:/q/a\\cb\nx\\ny:\\\\\\r\ncontent-length:3\n\nhi\x00\x00"
    )
    assert encode(Frame("DISCONNECT", (("receipt", "1"),))) == b"DISCONNECT\nreceipt:1\n\n\x00"
    given_length = Frame("SEND", (("content-length", "2"),), b"ab")
    assert encode(given_length) == b"SEND\ncontent-length:2\n\nab\x00"


@pytest.mark.parametrize(
    ("command", "headers", "body"),
    [
        ("CONNECT2", (), b""),
        ("CONNECT", (("host", "a\nb"),), b""),
        ("CONNECT", (("ho:st", "a"),), b""),
        ("CONNECT", (), b"body"),
        ("SEND", (("content-length", "3"),), b"ab"),
        ("SEND", (("", "a"),), b""),
        ("SEND", (("x", "\udc80"),), b""),
    ],
)
def test_invalid_construction(command: str, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
    with pytest.raises(WireError):
        Frame(command, headers, body)


# ---------------------------------------------------------------- properties

any_char = st.characters(exclude_categories=["Cs"])
line_char = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")
name_char = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n:")


def not_content_length(name: str) -> str:
    return name + "x" if name == "content-length" else name


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    escaped = command not in ("CONNECT", "STOMP", "CONNECTED")
    names = st.text(any_char if escaped else name_char, min_size=1, max_size=20).map(not_content_length)
    values = st.text(any_char if escaped else line_char, max_size=20)
    headers = draw(st.lists(st.tuples(names, values), max_size=6))
    body = draw(st.binary(max_size=100)) if command in ("SEND", "MESSAGE", "ERROR") else b""
    return Frame(command, tuple(headers), body)


def as_decoded(frame: Frame) -> Frame:
    if not frame.body:
        return frame
    return Frame(frame.command, (*frame.headers, ("content-length", str(len(frame.body)))), frame.body)


@WIRE_SETTINGS
@given(st.lists(frames(), min_size=1, max_size=3), st.sampled_from([b"", b"\n", b"\r\n\n"]),
       st.sampled_from(FEEDS))
def test_round_trip(original: list[Frame], heartbeat: bytes, how: str) -> None:
    data = heartbeat.join(encode(f) for f in original)
    assert decode(chunks(data, how)) == [as_decoded(f) for f in original]


@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_wire_error(data: bytes) -> None:
    parse_or_wire_error(StompDecoder(), data)


@WIRE_SETTINGS
@given(st.sampled_from([p.values[0] for p in VALID]), st.integers(0, 200), st.binary(max_size=200))
def test_arbitrary_bytes_after_valid_prefix(valid: bytes, cut: int, tail: bytes) -> None:
    parse_or_wire_error(StompDecoder(), valid[:cut] + tail)
