"""STOMP 1.2 frames (https://stomp.github.io/stomp-specification-1.2.html).

Section names below are those of the specification. A frame is (Augmented BNF)::

    frame = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
    EOL   = [CR] LF

Header names and values are UTF-8, escaped ("Value Encoding") except in CONNECT and
CONNECTED frames. A body is read up to ``content-length`` octets if that header is
present (then the next octet must be NUL), otherwise up to the first NUL ("Body").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gvpconf.wire import BufferedDecoder, WireError
from gvpconf.wire._text import skip_line_ends
from gvpconf.wire.banner import describe

__all__ = [
    "CLIENT_COMMANDS",
    "COMMANDS",
    "MAX_FRAME_SIZE",
    "MAX_HEADERS",
    "SERVER_COMMANDS",
    "Frame",
    "StompDecoder",
    "encode",
]

Headers = tuple[tuple[str, str], ...]

CLIENT_COMMANDS = frozenset(
    {"SEND", "SUBSCRIBE", "UNSUBSCRIBE", "BEGIN", "COMMIT", "ABORT", "ACK", "NACK", "DISCONNECT",
     "CONNECT", "STOMP"}
)
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
COMMANDS = CLIENT_COMMANDS | SERVER_COMMANDS
# "Body": only SEND, MESSAGE and ERROR frames MAY have a body.
_BODY_COMMANDS = frozenset({"SEND", "MESSAGE", "ERROR"})
# "Value Encoding": CONNECT and CONNECTED do not escape (STOMP 1.0 compatibility).
# STOMP is the 1.2 synonym of CONNECT, so it is treated the same way.
_UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})

MAX_FRAME_SIZE = 1024 * 1024  # "Size Limits": implementations may limit the frame size
MAX_HEADERS = 128

_BLANK_LINE = re.compile(rb"\n\r?\n")  # end of the last header line, then the empty line
_ESCAPES = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"}
_UNESCAPES = {"\\": "\\", "r": "\r", "n": "\n", "c": ":"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One STOMP frame. ``headers`` keeps wire order, repeated entries included."""

    command: str
    headers: Headers = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise WireError(f"not a STOMP 1.2 command: {self.command!r}")
        object.__setattr__(self, "headers", tuple((str(k), str(v)) for k, v in self.headers))
        escaped = self.command not in _UNESCAPED_COMMANDS
        for name, value in self.headers:
            if not name:
                raise WireError("STOMP header names must not be empty")
            _check_utf8(name)
            _check_utf8(value)
            if not escaped and (":" in name or any(c in name + value for c in "\r\n")):
                raise WireError(f"{self.command} headers are not escaped and cannot hold CR, LF "
                                f"(or a colon in the name): {name!r}: {value!r}")
        if self.body and self.command not in _BODY_COMMANDS:
            raise WireError(f"a {self.command} frame must not have a body (only SEND, MESSAGE and ERROR)")
        length = self.header("content-length")
        if length is not None and _parse_content_length(length) != len(self.body):
            raise WireError(f"content-length {length!r} does not match the {len(self.body)}-byte body")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` ("Repeated Header Entries": the first one wins)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WireError(f"STOMP header text is not encodable as UTF-8: {text!r}") from exc


def _parse_content_length(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise WireError(f"content-length is not a non-negative integer: {value!r}")
    if len(value.lstrip("0")) > 9:  # beyond any frame size; and int() refuses more than 4300 digits
        raise WireError(f"content-length {value[:20]}... is beyond any frame size")
    return int(value)


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for c in chars:
        if c != "\\":
            out.append(c)
            continue
        follower = next(chars, "")
        if follower not in _UNESCAPES:
            sequence = "\\" + follower
            raise WireError(f"undefined escape sequence {sequence!r} in STOMP header {text!r}")
        out.append(_UNESCAPES[follower])
    return "".join(out)


def encode(frame: Frame) -> bytes:
    """The wire form of ``frame``: escaped headers, ``content-length`` added for a body, NUL."""
    headers = list(frame.headers)
    if frame.body and frame.header("content-length") is None:
        headers.append(("content-length", str(len(frame.body))))
    escape = frame.command not in _UNESCAPED_COMMANDS
    lines = [frame.command]
    lines += [f"{_escape(k)}:{_escape(v)}" if escape else f"{k}:{v}" for k, v in headers]
    return ("\n".join(lines) + "\n\n").encode("utf-8") + frame.body + b"\x00"


class StompDecoder(BufferedDecoder[Frame]):
    """Incremental STOMP frame decoder: ``feed(bytes)``, then ``next_message()`` until None.

    Heart-beat EOLs between frames ("Heart-beating") are skipped. A frame may be at most
    ``max_message_size`` bytes (``MAX_FRAME_SIZE``, 1 MB), NUL included; the searches for the
    empty line and for the NUL resume where the last one stopped. After a WireError the
    decoder stays broken and raises the same error again.
    """

    def __init__(self, *, max_message_size: int = MAX_FRAME_SIZE, max_headers: int = MAX_HEADERS) -> None:
        super().__init__(max_message_size=max_message_size)
        self._max_headers = max_headers
        self._scanned = 0  # bytes already searched (for the blank line, then for the NUL)
        self._head: tuple[str, Headers, int, int | None] | None = None  # parsed, body start, length

    def _next(self) -> Frame | None:
        buf = self._buffer
        if self._head is None:
            skipped = skip_line_ends(buf)  # heart-beats: EOL = [CR] LF
            del buf[:skipped]
            if buf == b"\r":
                return None  # maybe the start of a CRLF heart-beat
            blank = _BLANK_LINE.search(buf, max(0, self._scanned - skipped - 2))  # resume the last search
            if blank is None:
                self._scanned = len(buf)
                if len(buf) > self.max_message_size:
                    raise WireError(f"no end of STOMP headers within {self.max_message_size} bytes: "
                                    f"{describe(bytes(buf))}")
                return None
            command, headers = self._parse_head(bytes(buf[: blank.start()]))
            length_text = next((v for k, v in headers if k == "content-length"), None)
            length = None if length_text is None else _parse_content_length(length_text)
            if length is not None and blank.end() + length > self.max_message_size:
                raise WireError(f"STOMP frame of {blank.end() + length} bytes exceeds the "
                                f"{self.max_message_size}-byte limit")
            self._head = (command, headers, blank.end(), length)
            self._scanned = blank.end()
        command, headers, body_start, length = self._head
        if length is not None:
            body_end = body_start + length
            if len(buf) <= body_end:
                return None
            if buf[body_end] != 0:
                raise WireError(f"STOMP body of content-length {length} is not followed by NUL: "
                                f"{describe(bytes(buf[body_end:]))}")
        else:
            body_end = buf.find(b"\x00", self._scanned)
            if body_end == -1:
                self._scanned = len(buf)
                if len(buf) > self.max_message_size:
                    raise WireError(f"no NUL ending the STOMP frame within {self.max_message_size} bytes")
                return None
            if body_end > self.max_message_size:
                raise WireError(f"STOMP frame of {body_end} bytes exceeds {self.max_message_size}")
        body = bytes(buf[body_start:body_end])
        del buf[: body_end + 1]
        self._head, self._scanned = None, 0
        return Frame(command, headers, body)

    def _parse_head(self, head: bytes) -> tuple[str, Headers]:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"STOMP frame headers are not UTF-8: {describe(head)}") from exc
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        command = lines[0]
        if command not in COMMANDS:
            raise WireError(f"not a STOMP command: {describe(command.encode('utf-8'))}")
        if len(lines) - 1 > self._max_headers:
            raise WireError(f"STOMP frame has {len(lines) - 1} headers, the limit is {self._max_headers}")
        escaped = command not in _UNESCAPED_COMMANDS
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise WireError(f"STOMP header line without a colon: {line!r}")
            headers.append((_unescape(name), _unescape(value)) if escaped else (name, value))
        return command, tuple(headers)
