"""RTSP 1.0 messages (RFC 2326; MRCPv1 runs over it, RFC 4463): build, encode and decode.

Requests and responses have SIP's text grammar (``gvpconf.wire._text``: start line, headers, empty line,
a body of Content-Length bytes, none without it, §4.4). What only RTSP has is here: on TCP a server may
interleave binary ``$``-framed RTP/RTCP (§10.12), which the stream decoder returns as ``Interleaved``
frames; 1xx, 204 and 304 responses never have a body (§4.4); the Transport (§12.39), Session (§12.37)
and Public (§12.28) headers are understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from gvpconf.wire import WireError
from gvpconf.wire._text import (
    TOKEN,
    Head,
    HeaderAccess,
    Headers,
    TextGrammar,
    TextRequest,
    TextResponse,
    TextStreamDecoder,
)
from gvpconf.wire.banner import describe

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Interleaved",
    "RtspRequest",
    "RtspResponse",
    "RtspStreamDecoder",
    "Transport",
    "build_request",
    "encode",
    "encode_transport",
    "parse_public",
    "parse_session",
    "parse_transport",
]

MAX_MESSAGE_SIZE = 64 * 1024
MAX_HEADERS = 128
_TOKEN = TOKEN
_PORT_RANGE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")
_FIRST_WORD = 32  # no start line of ours or a server's has a longer first word (method or RTSP/1.0)


class _RtspHeaders(HeaderAccess):
    __slots__ = ()

    @property
    def cseq(self) -> int | None:
        """The CSeq number (§12.17), None if absent or not a number."""
        value = self.header("CSeq")
        return int(value.strip()) if value is not None and value.strip().isdigit() else None


@dataclass(frozen=True, slots=True)
class RtspRequest(TextRequest, _RtspHeaders):
    """An RTSP request (§6). ``headers`` keeps wire order and names as written."""

    PROTOCOL: ClassVar[str] = "RTSP"


@dataclass(frozen=True, slots=True)
class RtspResponse(TextResponse, _RtspHeaders):
    """An RTSP response (§7). ``headers`` keeps wire order and names as written."""

    PROTOCOL: ClassVar[str] = "RTSP"


@dataclass(frozen=True, slots=True)
class Interleaved:
    """A ``$``-framed binary packet on the RTSP connection (§10.12): channel and data."""

    channel: int
    data: bytes

    def __post_init__(self) -> None:
        if isinstance(self.channel, bool) or not isinstance(self.channel, int) or not 0 <= self.channel <= 255:
            raise WireError(f"interleaved channel must be 0-255, got {self.channel!r}")
        if len(self.data) > 65535:
            raise WireError(f"interleaved frame of {len(self.data)} bytes exceeds 65535")


RtspMessage = RtspRequest | RtspResponse

# Without Content-Length a message has no body (§4.4).
_GRAMMAR: TextGrammar[RtspMessage | Interleaved] = TextGrammar(
    "RTSP", "RTSP/1.0", RtspRequest, RtspResponse, str.lower, MAX_HEADERS, length_required=False)


def encode(msg: RtspMessage | Interleaved) -> bytes:
    """The wire form, with a correct Content-Length whenever there is a body."""
    if isinstance(msg, Interleaved):
        return b"$" + bytes([msg.channel]) + len(msg.data).to_bytes(2, "big") + msg.data
    return _GRAMMAR.encode(msg)


def build_request(method: str, uri: str, cseq: int, *, session: str | None = None,
                  transport: str | None = None, accept: str | None = None,
                  user_agent: str = "gvpconf", extra: Headers = ()) -> RtspRequest:
    """A request with CSeq (§12.17), User-Agent and the optional Session/Transport/Accept headers."""
    if isinstance(cseq, bool) or not 0 <= cseq < 2**31:
        raise WireError(f"CSeq must be 0-2^31, got {cseq!r}")
    headers: list[tuple[str, str]] = [("CSeq", str(cseq))]
    if accept is not None:
        headers.append(("Accept", accept))
    if transport is not None:
        headers.append(("Transport", transport))
    if session is not None:
        headers.append(("Session", session))
    headers.append(("User-Agent", user_agent))
    headers.extend(extra)
    return RtspRequest(method, uri, tuple(headers))


class RtspStreamDecoder(TextStreamDecoder[RtspMessage | Interleaved]):
    """Incremental decoder for an RTSP connection: ``feed`` bytes, then ``next_message``.

    Returns requests, responses and interleaved frames, None when more bytes are needed. A message is at
    most ``max_message_size`` bytes (``MAX_MESSAGE_SIZE``, 64 KB), an interleaved frame's 4-byte prefix
    included (an RTP packet on the connection is far smaller). After a WireError the decoder stays broken
    and raises the same error again.
    """

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        super().__init__(_GRAMMAR, max_message_size=max_message_size, max_headers=MAX_HEADERS)

    def _next(self) -> RtspMessage | Interleaved | None:
        buf = self._buffer
        if self._head is None:
            self._drop_line_ends()
            if buf[:1] == b"$":  # §10.12: "$", channel, 16-bit length, data
                if len(buf) < 4:
                    return None
                size = int.from_bytes(buf[2:4], "big")
                if 4 + size > self.max_message_size:
                    raise WireError(f"interleaved frame of {4 + size} bytes exceeds the "
                                    f"{self.max_message_size}-byte limit")
                if len(buf) < 4 + size:
                    return None
                frame = Interleaved(buf[1], bytes(buf[4 : 4 + size]))
                del buf[: 4 + size]
                return frame
        return super()._next()

    def _incomplete(self, buf: bytearray) -> None:
        if len(buf) >= _FIRST_WORD and b" " not in buf[:_FIRST_WORD]:
            raise WireError(f"not RTSP: {describe(bytes(buf))}")

    def _body_length(self, head: Head[RtspMessage | Interleaved]) -> int:
        # §4.4: 1xx, 204 and 304 responses end at the empty line, whatever their headers say
        if isinstance(head.message, RtspResponse) and (head.message.status < 200 or head.message.status in (204, 304)):
            return 0
        return super()._body_length(head)


# ---------------------------------------------------------------- headers


@dataclass(frozen=True, slots=True)
class Transport:
    """One transport-spec of a Transport header (§12.39)."""

    protocol: str = "RTP/AVP"  # RTP/AVP = RTP/AVP/UDP; RTP/AVP/TCP for interleaved
    unicast: bool = True
    client_port: tuple[int, int] | None = None
    server_port: tuple[int, int] | None = None
    interleaved: tuple[int, int] | None = None
    ssrc: str | None = None
    source: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        if not self.protocol or not all(_TOKEN.fullmatch(p) for p in self.protocol.split("/")):
            raise WireError(f"bad transport protocol {self.protocol!r}")
        for what, pair, top in (("client_port", self.client_port, 65535), ("server_port", self.server_port, 65535),
                                ("interleaved", self.interleaved, 255)):
            if pair is not None and (len(pair) != 2 or not all(isinstance(p, int) and 0 <= p <= top for p in pair)):
                raise WireError(f"bad {what} {pair!r}")
        for what, text in (("ssrc", self.ssrc), ("source", self.source), ("mode", self.mode)):
            if text is not None and (not text or any(c in ";,\r\n\" " for c in text)):
                raise WireError(f"bad transport {what} {text!r}")


def encode_transport(t: Transport) -> str:
    parts = [t.protocol, "unicast" if t.unicast else "multicast"]
    for name, pair in (("client_port", t.client_port), ("server_port", t.server_port),
                       ("interleaved", t.interleaved)):
        if pair is not None:
            parts.append(f"{name}={pair[0]}-{pair[1]}")
    for name, text in (("ssrc", t.ssrc), ("source", t.source), ("mode", t.mode)):
        if text is not None:
            parts.append(f"{name}={text}")
    return ";".join(parts)


def _pair(name: str, value: str, top: int) -> tuple[int, int]:
    m = _PORT_RANGE.fullmatch(value.strip())
    if m is None:
        raise WireError(f"bad {name} in Transport: {value!r}")
    low = int(m[1])
    high = int(m[2]) if m[2] else low + 1
    if low > top or high > top:
        raise WireError(f"{name} out of range in Transport: {value!r}")
    return low, high


def parse_transport(value: str) -> Transport:
    """The first transport-spec of a Transport header value."""
    spec = value.split(",")[0].strip()
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    if not parts:
        raise WireError(f"empty Transport header: {value!r}")
    fields: dict[str, object] = {"protocol": parts[0]}
    for part in parts[1:]:
        name, eq, val = part.partition("=")
        name = name.strip().lower()
        if name in ("unicast", "multicast"):
            fields["unicast"] = name == "unicast"
        elif name in ("client_port", "server_port"):
            fields[name] = _pair(name, val, 65535)
        elif name == "interleaved":
            fields[name] = _pair(name, val, 255)
        elif name in ("ssrc", "source", "mode") and eq:
            fields[name] = val.strip().strip('"') or None
    try:
        return Transport(**fields)  # type: ignore[arg-type]
    except TypeError as exc:  # pragma: no cover - fields are built above
        raise WireError(f"bad Transport header {value!r}") from exc


def parse_session(value: str) -> tuple[str, int | None]:
    """``Session: 12345678;timeout=60`` -> ``("12345678", 60)`` (§12.37)."""
    ident, _, params = value.partition(";")
    ident = ident.strip()
    if not ident or any(c.isspace() or ord(c) < 0x20 for c in ident):
        raise WireError(f"bad Session header: {value!r}")
    timeout = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "timeout" and val.strip().isascii() and val.strip().isdigit():
            timeout = int(val.strip()[:9])
    return ident, timeout


def parse_public(value: str) -> list[str]:
    """``Public: OPTIONS, DESCRIBE, SETUP`` -> the method names (§12.28)."""
    return [m.strip() for m in value.split(",") if m.strip()]

