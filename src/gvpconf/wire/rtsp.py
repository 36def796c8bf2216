"""RTSP 1.0 messages (RFC 2326; MRCPv1 runs over it, RFC 4463): build, encode and decode.

Requests and responses share SIP's text framing (start line, headers, blank line, a body of
Content-Length bytes); on TCP a server may also interleave binary ``$``-framed RTP/RTCP
(§10.12), which the stream decoder returns as ``Interleaved`` frames. The Transport (§12.39),
Session (§12.37) and Public (§12.28) headers are understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gvpconf.wire import WireError
from gvpconf.wire._text import TOKEN, Headers, check_headers
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
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(r"\r?\n")
_PORT_RANGE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def _check_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise WireError(f"RTSP header {name} must not contain CR or LF: {value!r}")


def _check_headers(headers: Headers) -> Headers:
    return check_headers(headers, "RTSP", _check_value)


class _HeaderAccess:
    __slots__ = ()
    headers: Headers

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), None if absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def cseq(self) -> int | None:
        value = self.header("CSeq")
        return int(value.strip()) if value is not None and value.strip().isdigit() else None


@dataclass(frozen=True, slots=True)
class RtspRequest(_HeaderAccess):
    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.method):
            raise WireError(f"RTSP method is not a token: {self.method!r}")
        if not self.uri or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in self.uri):
            raise WireError(f"RTSP Request-URI must be non-empty without whitespace: {self.uri!r}")
        object.__setattr__(self, "headers", _check_headers(self.headers))


@dataclass(frozen=True, slots=True)
class RtspResponse(_HeaderAccess):
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise WireError(f"RTSP status code must be 100-999, got {self.status!r}")
        if "\r" in self.reason or "\n" in self.reason:
            raise WireError(f"RTSP reason phrase must not contain CR or LF: {self.reason!r}")
        object.__setattr__(self, "headers", _check_headers(self.headers))


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


def encode(msg: RtspMessage | Interleaved) -> bytes:
    """The wire form, with a correct Content-Length whenever there is a body."""
    if isinstance(msg, Interleaved):
        return b"$" + bytes([msg.channel]) + len(msg.data).to_bytes(2, "big") + msg.data
    start = f"{msg.method} {msg.uri} RTSP/1.0" if isinstance(msg, RtspRequest) else (
        f"RTSP/1.0 {msg.status} {msg.reason}")
    lines = [start] + [f"{n}: {v}" for n, v in msg.headers if n.lower() != "content-length"]
    if msg.body:
        lines.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + msg.body


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


def _parse_head(head: bytes) -> tuple[RtspMessage, int]:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"RTSP header section is not UTF-8: {describe(head)}") from exc
    lines = _LINE_END.split(text)
    if len(lines) - 1 > MAX_HEADERS:
        raise WireError(f"RTSP message has more than {MAX_HEADERS} header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, (value + " " + line.strip()).strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name.strip()):
            raise WireError(f"bad RTSP header line: {describe(line.encode('utf-8'))}")
        headers.append((name.strip(), value.strip()))
    lengths = {v for n, v in headers if n.lower() == "content-length"}
    if len(lengths) > 1:
        raise WireError(f"conflicting Content-Length values: {sorted(lengths)}")
    length = 0
    if lengths:
        value = lengths.pop()
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise WireError(f"Content-Length is not a number: {value!r}")
        length = int(value)
    first = lines[0]
    if first.startswith("RTSP/1.0 "):
        code, _, reason = first[9:].partition(" ")
        if len(code) != 3 or not code.isascii() or not code.isdigit():
            raise WireError(f"bad RTSP status line: {describe(first.encode('utf-8'))}")
        return RtspResponse(int(code), reason, tuple(headers)), length
    parts = first.split(" ")
    if len(parts) != 3 or parts[2] != "RTSP/1.0":
        raise WireError(f"not an RTSP request or status line: {describe(first.encode('utf-8'))}")
    return RtspRequest(parts[0], parts[1], tuple(headers)), length


class RtspStreamDecoder:
    """Incremental decoder for an RTSP connection: ``feed`` bytes, then ``next_message``.

    Returns requests, responses and interleaved frames, None when more bytes are needed. After a
    WireError the decoder stays broken and raises the same error again.
    """

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._error: WireError | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> RtspMessage | Interleaved | None:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except WireError as exc:
            self._error = exc
            raise

    def _next(self) -> RtspMessage | Interleaved | None:
        buf = self._buffer
        while buf[:2] == b"\r\n" or buf[:1] == b"\n":
            del buf[: 2 if buf[:1] == b"\r" else 1]
        if buf[:1] == b"$":
            if len(buf) < 4:
                return None
            size = int.from_bytes(buf[2:4], "big")
            if len(buf) < 4 + size:
                return None
            frame = Interleaved(buf[1], bytes(buf[4 : 4 + size]))
            del buf[: 4 + size]
            return frame
        blank = _BLANK_LINE.search(buf)
        if blank is None:
            if len(buf) > self._max_size:
                raise WireError(f"no end of the RTSP header section within {self._max_size} bytes")
            if len(buf) >= 32 and b" " not in buf[:32]:  # no start line has a 32-byte first word
                raise WireError(f"not RTSP: {describe(bytes(buf))}")
            return None
        msg, length = _parse_head(bytes(buf[: blank.start()]))
        end = blank.end() + length
        if end > self._max_size:
            raise WireError(f"RTSP message of {end} bytes exceeds the {self._max_size}-byte limit")
        if len(buf) < end:
            return None
        body = bytes(buf[blank.end() : end])
        del buf[:end]
        if isinstance(msg, RtspRequest):
            return RtspRequest(msg.method, msg.uri, msg.headers, body)
        return RtspResponse(msg.status, msg.reason, msg.headers, body)


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

