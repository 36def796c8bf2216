"""Recognise what a peer's first bytes look like, and print bytes safely.

Used for error messages such as "expected a SIP response, the peer sent an HTTP
response: b'HTTP/1.1 400 Bad Request\\r\\n...' (312 bytes)". Recognition is a guess
from the first bytes only; ``identify`` never raises.
"""

from __future__ import annotations

import re

__all__ = ["describe", "identify"]

# An HTTP/SIP/RTSP request line: METHOD SP target SP VERSION (RFC 9112 §3, RFC 3261 §7.1,
# RFC 2326 §6.1). The method is an upper-case token; the target has no whitespace.
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z0-9_-]* [^\s]+ (HTTP/\d|SIP/2\.0|RTSP/1\.0)")
_STOMP_SERVER_COMMANDS = (b"CONNECTED", b"ERROR", b"MESSAGE", b"RECEIPT")
_REDIS_PREFIXES = (b"-ERR", b"-DENIED", b"-NOAUTH", b"-WRONGPASS", b"+OK", b"+PONG")


def _is_tls_record(data: bytes) -> bool:
    """A TLS record header: type alert (0x15) or handshake (0x16), version 3.0-3.4 (RFC 8446 §5.1)."""
    return len(data) >= 3 and data[0] in (0x15, 0x16) and data[1] == 0x03 and data[2] <= 0x04


def _is_openwire(data: bytes) -> bool:
    """An ActiveMQ WireFormatInfo: [4-byte size] type 1, then the magic ``ActiveMQ``."""
    return data[4:13] == b"\x01ActiveMQ" or data[:9] == b"\x01ActiveMQ"


def _is_stomp_server_frame(data: bytes) -> bool:
    """A STOMP server frame: a server command alone on the first line (STOMP 1.2, "Frames")."""
    first_line = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    return first_line in _STOMP_SERVER_COMMANDS and b"\n" in data


def identify(data: bytes) -> str | None:
    """Name the protocol that ``data`` (a peer's first bytes) looks like, or None if unknown."""
    if not data:
        return None
    if _is_tls_record(data):
        return "TLS"
    if _is_openwire(data):
        return "OpenWire"
    if data.startswith((b"HTTP/1.", b"HTTP/2")):
        return "HTTP"
    if data.startswith(b"SIP/2.0 "):
        return "SIP"
    if data.startswith(b"RTSP/1.0"):
        return "RTSP"
    if data.startswith(b"SSH-"):
        return "SSH"
    if data.startswith((b"220 ", b"220-")):
        return "SMTP/FTP-style greeting"
    if data.startswith(b"AMQP"):
        return "AMQP"
    if data.startswith(_REDIS_PREFIXES):
        return "Redis"
    if _is_stomp_server_frame(data):
        return "STOMP"
    request = _REQUEST_LINE.match(data)
    if request is not None:
        version = request.group(1)
        return "HTTP" if version.startswith(b"HTTP") else version.split(b"/")[0].decode("ascii")
    return None


def describe(data: bytes, limit: int = 40) -> str:
    """A printable, repr-like preview of ``data`` for messages, e.g. ``b'SSH-2.0-x\\r\\n' (11 bytes)``.

    Non-printable bytes are escaped; more than ``limit`` bytes are cut and marked with
    ``...`` and the total count.
    """
    if not data:
        return "nothing (0 bytes)"
    count = f"{len(data)} byte" + ("" if len(data) == 1 else "s")
    if len(data) <= limit:
        return f"{bytes(data)!r} ({count})"
    return f"{bytes(data[:max(limit, 0)])!r}... ({count} in total)"


_AN = ("HTTP", "OpenWire", "RTSP", "SSH", "SMTP", "AMQP")


def article(kind: str) -> str:
    """``kind`` with its indefinite article, for messages: 'an HTTP', 'a SIP'."""
    return f"an {kind}" if kind.startswith(_AN) else f"a {kind}"
