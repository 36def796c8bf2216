"""banner.identify / describe, and the PostgreSQL SSLRequest answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire.banner import describe, identify
from gvpconf.wire.openwire import client_wireformat_info, encode_wireformat_info
from gvpconf.wire.postgres import SSL_REQUEST, parse_ssl_response
from selftests.wire.wirehelp import WIRE_SETTINGS

BANNERS = [
    (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n", "HTTP"),
    (b"HTTP/2 200\r\n", "HTTP"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP"),
    (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h\r\n", "SIP"),
    (b"OPTIONS sip:gvp@192.0.2.10 SIP/2.0\r\n", "SIP"),
    (b"\x15\x03\x03\x00\x02\x02\x28", "TLS"),  # handshake_failure alert
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "TLS"),  # ClientHello
    (b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n", "SSH"),
    (b"220 mail.example.com ESMTP Postfix\r\n", "SMTP/FTP-style greeting"),
    (b"220-Welcome to the FTP server\r\n", "SMTP/FTP-style greeting"),
    (encode_wireformat_info(client_wireformat_info()), "OpenWire"),
    (b"\x01ActiveMQ\x00\x00\x00\x0c", "OpenWire"),  # sizePrefixDisabled=true
    (b"CONNECTED\nversion:1.2\n\n\x00", "STOMP"),
    (b"\nERROR\r\nmessage:bad\r\n\r\n\x00", "STOMP"),
    (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n", "RTSP"),
    (b"DESCRIBE rtsp://h/stream RTSP/1.0\r\n", "RTSP"),
    (b"-ERR unknown command 'OPTIONS'\r\n", "Redis"),
    (b"-DENIED Redis is running in protected mode\r\n", "Redis"),
    (b"+OK\r\n", "Redis"),
    (b"AMQP\x00\x00\x09\x01", "AMQP"),
]


@pytest.mark.parametrize(("data", "name"), BANNERS)
def test_identify(data: bytes, name: str) -> None:
    assert identify(data) == name


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage", b"N", b"hello world", b"ERROR", b"\x16\x03\x09"])
def test_identify_unknown(data: bytes) -> None:
    assert identify(data) is None


def test_describe() -> None:
    assert describe(b"") == "nothing (0 bytes)"
    assert describe(b"N") == "b'N' (1 byte)"
    assert describe(b"SSH-2.0-x\r\n") == "b'SSH-2.0-x\\r\\n' (11 bytes)"
    long = b"HTTP/1.1 400 Bad Request\r\n" + b"x" * 300
    assert describe(long, limit=10) == "b'HTTP/1.1 4'... (326 bytes in total)"
    assert describe(b"\x00\xff\x1b[31m") == "b'\\x00\\xff\\x1b[31m' (7 bytes)"


@WIRE_SETTINGS
@given(st.binary(max_size=200), st.integers(0, 80))
def test_identify_and_describe_never_fail(data: bytes, limit: int) -> None:
    name = identify(data)
    assert name is None or isinstance(name, str)
    text = describe(data, limit)
    assert text.isascii() and text.isprintable()
    assert len(text) <= 4 * limit + 40


def test_ssl_request_bytes() -> None:
    assert bytes.fromhex("0000000804d2162f") == SSL_REQUEST  # length 8, code 1234.5679


def test_ssl_response() -> None:
    assert parse_ssl_response(b"S") is True
    assert parse_ssl_response(b"N") is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"E\x00\x00\x00\x55SFATAL\x00C0A000\x00Munsupported frontend protocol\x00\x00", "error message"),
        (b"EFATAL: unsupported frontend protocol\n\x00", "error message"),
        (b"X", r"b'X'"),
        (b"", "nothing"),
        (b"SHTTP", "after"),
        (b"\x15\x03\x03\x00\x02\x02\x28", r"b'\\x15"),
    ],
    ids=["error-response", "old-error", "other-byte", "nothing", "bytes-after-S", "tls-alert"],
)
def test_ssl_response_errors(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        parse_ssl_response(data)
