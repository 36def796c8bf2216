"""The text-message grammar SIP and RTSP share: RFC 3261 §7 and §25, RFC 2326 §4, §6 and §7.

Both protocols take HTTP/1.1's message shape (RFC 3261 §7; RFC 2326 §4 by reference to RFC 2616 §4)::

    generic-message = start-line *message-header CRLF [ message-body ]
    start-line      = Request-Line / Status-Line
    Request-Line    = Method SP Request-URI SP Version CRLF       ; RFC 3261 §7.1, RFC 2326 §6.1
    Status-Line     = Version SP Status-Code SP Reason-Phrase CRLF ; RFC 3261 §7.2, RFC 2326 §7.1
    message-header  = field-name HCOLON field-value CRLF         ; field-name = token (§25.1, RFC 2326 §15)

What is said here once:

* header tuples ``(name, value)`` in wire order, names as written; names are tokens, values one line of
  UTF-8; look-ups compare names case-insensitively (RFC 3261 §7.3.1, RFC 2616 §4.2);
* the request and response classes' validation (``TextRequest``, ``TextResponse``);
* the header section: a line starting with SP or HT continues the previous field and is joined to it with
  one SP (line folding, RFC 3261 §7.3.1, RFC 2616 §4.2); whitespace around the colon and the value is dropped;
* Content-Length = 1*DIGIT (RFC 3261 §20.14, RFC 2326 §12.14), two different values are an error; the body
  is that many bytes after the empty line;
* empty lines before a start-line are skipped (CRLF keep-alives, RFC 3261 §7.5 and RFC 5626 §4.4.1; RFC
  2616 §4.1 for RTSP);
* the encoder, and ``TextStreamDecoder``, the incremental decoder of such messages on a stream.

What differs stays in ``sip.py`` and ``rtsp.py``, given as a ``TextGrammar`` or as a decoder subclass: the
version string (SIP's is case-insensitive, RFC 3261 §7.1), SIP's compact header names (§7.3.3), whether a
message on a stream must carry Content-Length (SIP §18.3, §20.14) or has an empty body without it (RTSP
§4.4), RTSP's interleaved binary frames (§10.12). Lines end with CRLF; a bare LF is accepted as well
(RFC 2326 §4 asks receivers to).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, NamedTuple, TypeVar

from gvpconf.wire import BufferedDecoder, WireError
from gvpconf.wire.banner import article, describe

__all__ = [
    "BLANK_LINE",
    "TOKEN",
    "Head",
    "HeaderAccess",
    "Headers",
    "TextGrammar",
    "TextRequest",
    "TextResponse",
    "TextStreamDecoder",
    "blank_line",
    "check_headers",
    "check_text",
    "skip_line_ends",
]

M = TypeVar("M")

Headers = tuple[tuple[str, str], ...]

# RFC 3261 §25.1 token; RTSP's (RFC 2326 §15, RFC 2616 §2.2) allows a few more separators-free characters,
# this stricter set is taken for both
TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # the end of the last header line, then the empty line
_LINE_END = re.compile(r"\r?\n")
_TOKEN_LINES = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+(?:\n[A-Za-z0-9.!%*_+`'~-]+)*")  # TOKEN, one per line
#: one header line as ``parse_head`` reads it (name a TOKEN; whitespace around the colon and the value dropped), one
#: match per line of a section without folding (MULTILINE: ``^`` and ``$`` at each line's ends; a CR before a LF
#: dropped, as ``_split_lines`` drops it); a line it does not match (folding, no colon, a CR inside or at the very
#: end) takes the line-by-line parse and its error
_FIELD_LINES = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+)[ \t]*:[ \t]*((?:[^\r\n]*[^\r\n \t])?)[ \t]*(?:\r(?=\n))?$",
                          re.MULTILINE)  # the value greedy up to its last non-blank: a lazy one is 5 times slower
_NOT_IN_URI = re.compile(r"[\s\x00-\x1f\x7f]")  # whitespace (str.isspace()'s) or a control character
_MAX_LENGTH_DIGITS = 9  # no message a probe takes is near a gigabyte


def _split_lines(text: str) -> list[str]:
    """``_LINE_END.split(text)``, in C: each piece before a LF loses one CR at its end (a CR alone ends no line)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line[:-1] if line[-1:] == "\r" else line for line in lines] + [last]


def check_text(what: str, text: str) -> None:
    """``text`` fits on one line of UTF-8."""
    if "\r" in text or "\n" in text:
        raise WireError(f"{what} must not contain CR or LF: {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WireError(f"{what} is not encodable as UTF-8: {text!r}") from exc


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_headers(headers: Headers, protocol: str) -> Headers:
    """``headers`` as a tuple of string pairs; names must be tokens, values one line of UTF-8."""
    checked = tuple([(str(name), str(value)) for name, value in headers])
    if not checked:
        return checked
    # every field at once, in C (two messages per probe); the loop below names the first bad field
    names = "\n".join([name for name, _value in checked])
    values = "\x00".join([value for _name, value in checked])
    if (_TOKEN_LINES.fullmatch(names) and names.count("\n") == len(checked) - 1 and "\r" not in values
            and "\n" not in values and (values.isascii() or _utf8(values))):
        return checked
    for name, value in checked:
        if not TOKEN.fullmatch(name):
            raise WireError(f"{protocol} header name is not a token: {name!r}")
        check_text(f"value of {protocol} header {name}", value)
    return checked


def blank_line(data: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """Where ``BLANK_LINE.search(data, pos)`` matches, as (start, end), or None: found with two ``find`` calls in
    C (the regex, whose first character is optional, is tried at every CR and LF of a header section: 4.4-8 us
    against 1.2-1.6 us, thread time, for a 400-byte SIP response). The first LF followed by LF or CRLF ends the
    last header line; the match starts at the CR before it, if there is one at or after ``pos``."""
    lf_lf, lf_crlf = data.find(b"\n\n", pos), data.find(b"\n\r\n", pos)
    if lf_lf == -1 and lf_crlf == -1:
        return None
    at = lf_crlf if lf_lf == -1 or (lf_crlf != -1 and lf_crlf < lf_lf) else lf_lf
    start = at - 1 if at > pos and data[at - 1] == 0x0D else at
    return start, at + (3 if at == lf_crlf else 2)


def skip_line_ends(data: bytes | bytearray) -> int:
    """How many bytes of empty lines (CRLF or LF) ``data`` starts with; a lone trailing CR is kept."""
    pos = 0
    while pos < len(data):
        if data[pos] == 0x0A:
            pos += 1
        elif data[pos] == 0x0D and data[pos + 1 : pos + 2] == b"\n":
            pos += 2
        else:
            break
    return pos


# ---------------------------------------------------------------- messages


class HeaderAccess:
    """Header look-ups: field names compare case-insensitively (RFC 3261 §7.3.1, RFC 2616 §4.2)."""

    __slots__ = ()
    headers: Headers

    @staticmethod
    def header_key(name: str) -> str:
        """The form a header name is compared in."""
        return name.lower()

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, None if absent."""
        wanted = self.header_key(name)
        return next((value for key, value in self.headers if self.header_key(key) == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, in wire order."""
        wanted = self.header_key(name)
        return [value for key, value in self.headers if self.header_key(key) == wanted]


@dataclass(frozen=True, slots=True)
class TextRequest(HeaderAccess):
    """A request: Request-Line, headers in wire order (names as written), body."""

    PROTOCOL: ClassVar[str] = "text"

    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        protocol = self.PROTOCOL
        if not TOKEN.fullmatch(self.method):
            raise WireError(f"{protocol} method is not a token: {self.method!r}")
        if not self.uri or _NOT_IN_URI.search(self.uri):
            raise WireError(f"{protocol} Request-URI must be non-empty without whitespace: {self.uri!r}")
        check_text(f"{protocol} Request-URI", self.uri)
        object.__setattr__(self, "headers", check_headers(self.headers, protocol))


@dataclass(frozen=True, slots=True)
class TextResponse(HeaderAccess):
    """A response: Status-Line, headers in wire order (names as written), body."""

    PROTOCOL: ClassVar[str] = "text"
    MAX_STATUS: ClassVar[int] = 999

    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        protocol = self.PROTOCOL
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not (
                100 <= self.status <= self.MAX_STATUS):
            raise WireError(f"{protocol} status code must be 100-{self.MAX_STATUS}, got {self.status!r}")
        check_text(f"{protocol} Reason-Phrase", self.reason)
        object.__setattr__(self, "headers", check_headers(self.headers, protocol))


# ---------------------------------------------------------------- one protocol's grammar


class Head(NamedTuple, Generic[M]):
    """A parsed header section: the message without its body, what rebuilds it, and its Content-Length."""

    message: M
    start_line: str
    headers: Headers
    length: int | None


@dataclass(frozen=True, slots=True)
class TextGrammar(Generic[M]):
    """What one text protocol fills in: its name, version string, message classes, header-name form."""

    name: str  # "SIP"
    version: str  # "SIP/2.0"
    request: Callable[[str, str, Headers, bytes], M]
    response: Callable[[int, str, Headers, bytes], M]
    header_key: Callable[[str], str]
    max_headers: int
    length_required: bool  # every message states its Content-Length, even 0
    version_any_case: bool = False
    #: the lower-cased field names whose ``header_key`` is "content-length" (SIP's compact ``l`` too, §7.3.3)
    length_names: frozenset[str] = frozenset({"content-length"})

    def _is_version(self, text: str) -> bool:
        return text.upper() == self.version if self.version_any_case else text == self.version

    def message(self, start_line: str, headers: Headers, body: bytes = b"") -> M:
        """The request or response that ``start_line`` opens."""
        first, _, rest = start_line.partition(" ")
        if first == self.version or self._is_version(first):  # the exact form first: no call, no upper()
            code, _, reason = rest.partition(" ")
            if len(code) != 3 or not code.isascii() or not code.isdigit():
                raise WireError(f"bad {self.name} status line: {describe(start_line.encode('utf-8'))}")
            return self.response(int(code), reason, headers, body)
        parts = start_line.split(" ")
        if len(parts) != 3 or not self._is_version(parts[2]):
            raise WireError(f"not {article(self.name)} request or status line: "
                            f"{describe(start_line.encode('utf-8'))}")
        return self.request(parts[0], parts[1], headers, body)

    def parse_head(self, head: bytes, max_headers: int | None = None) -> Head[M]:
        """Parse a header section (the bytes before the empty line) into a body-less message."""
        name = self.name
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"{name} header section is not UTF-8: {describe(head)}") from exc
        limit = self.max_headers if max_headers is None else max_headers
        fields = fields_at_once(text, limit) or fields_line_by_line(text, limit, name)
        return self._head(*fields)

    def _head(self, start_line: str, fields: Headers) -> Head[M]:
        length_names = self.length_names
        lengths = {_content_length(v) for n, v in fields if n.lower() in length_names}
        if len(lengths) > 1:
            raise WireError(f"conflicting Content-Length values: {sorted(lengths)}")
        return Head(self.message(start_line, fields), start_line, fields, lengths.pop() if lengths else None)

    def complete(self, head: Head[M], body: bytes) -> M:
        """The message of ``head`` with its body."""
        return self.message(head.start_line, head.headers, body) if body else head.message

    def encode(self, msg: TextRequest | TextResponse) -> bytes:
        """CRLF lines and a correct Content-Length (always, or only with a body, as the protocol wants).

        Any Content-Length in ``msg.headers`` is dropped and the real one written last.
        """
        if isinstance(msg, TextRequest):
            start = f"{msg.method} {msg.uri} {self.version}"
        else:
            start = f"{self.version} {msg.status} {msg.reason}"
        lines = [start] + [f"{n}: {v}" for n, v in msg.headers if self.header_key(n) != "content-length"]
        if msg.body or self.length_required:
            lines.append(f"Content-Length: {len(msg.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + msg.body


def fields_at_once(text: str, limit: int) -> tuple[str, Headers] | None:
    """``fields_line_by_line(text, limit, ...)`` in C for the common section, None for any other: no folded line,
    at most ``limit`` header lines, each ``token [SP/HT] : [SP/HT] value [SP/HT]`` without CR or LF in its value
    (one findall over the section, one match per whole line; the test suite holds the two equal)."""
    nl = text.find("\n")
    if nl == -1:
        return None
    rest = text[nl + 1:]
    found = _FIELD_LINES.findall(rest)
    if len(found) != rest.count("\n") + 1 or len(found) > limit:
        return None
    return (text[: nl - 1] if text[nl - 1 : nl] == "\r" else text[:nl]), tuple(found)


def fields_line_by_line(text: str, limit: int, protocol: str) -> tuple[str, Headers]:
    """The start line and header fields of a header section: lines end with LF or CRLF; a line starting with SP
    or HT continues the field before it, joined with one SP; whitespace around the colon and the value is
    dropped; field names are tokens. Raises WireError naming the first line that breaks this."""
    lines = _split_lines(text)
    if len(lines) - 1 > limit:
        raise WireError(f"{protocol} message has more than {limit} header lines")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # a folded continuation line
            if not headers:
                raise WireError(f"{protocol} header section starts with a continuation line: {line!r}")
            field, value = headers[-1]
            headers[-1] = (field, (value + " " + line.strip(" \t")).strip(" \t"))
            continue
        field, colon, value = line.partition(":")
        if not colon:
            raise WireError(f"{protocol} header line without a colon: {describe(line.encode('utf-8'))}")
        field = field.rstrip(" \t")
        if not TOKEN.fullmatch(field):
            raise WireError(f"{protocol} header name is not a token: {field!r}")
        headers.append((field, value.strip(" \t")))
    return lines[0], tuple(headers)


def _content_length(value: str) -> int:
    """Content-Length = 1*DIGIT."""
    if not value.isascii() or not value.isdigit():
        raise WireError(f"Content-Length is not a number: {value!r}")
    if len(value.lstrip("0")) > _MAX_LENGTH_DIGITS:
        raise WireError(f"Content-Length {value} is beyond any message size")
    return int(value)


# ---------------------------------------------------------------- the stream decoder


class TextStreamDecoder(BufferedDecoder[M]):
    """Incremental decoder of text messages on a stream transport (TCP, TLS).

    Empty lines before a message are skipped; its header section ends at the first empty line; its body is
    Content-Length bytes (a WireError without one when the grammar requires it, else empty). A message may
    be at most ``max_message_size`` bytes, header section and body. The search for the empty line resumes
    where the last one stopped and a parsed header section is kept until its body is complete, so bytes fed
    one at a time cost linear time. Subclasses add what only their protocol has.
    """

    def __init__(self, grammar: TextGrammar[M], *, max_message_size: int, max_headers: int) -> None:
        super().__init__(max_message_size=max_message_size)
        self._grammar = grammar
        self._max_headers = max_headers
        self._scanned = 0  # bytes already searched for the end of the header section
        self._head: tuple[Head[M], int, int] | None = None  # parsed head, body start, message end

    def _drop_line_ends(self) -> None:
        skipped = skip_line_ends(self._buffer)
        if skipped:
            del self._buffer[:skipped]
            self._scanned = max(0, self._scanned - skipped)

    def _body_length(self, head: Head[M]) -> int:
        """How many body bytes follow ``head``."""
        if head.length is not None:
            return head.length
        if self._grammar.length_required:
            raise WireError(f"{self._grammar.name} message on a stream transport without Content-Length")
        return 0

    def _incomplete(self, buf: bytearray) -> None:
        """A hook on a header section still without its end: raise if it can already not be one."""

    def _next(self) -> M | None:
        buf, name = self._buffer, self._grammar.name
        if self._head is None:
            self._drop_line_ends()
            # resume the search where the last one stopped (an empty line is at most 4 bytes)
            blank = blank_line(buf, max(0, self._scanned - 3))
            if blank is None:
                self._scanned = len(buf)
                if len(buf) > self.max_message_size:
                    raise WireError(f"no end of the {name} header section within {self.max_message_size} bytes: "
                                    f"{describe(bytes(buf))}")
                self._incomplete(buf)
                return None
            head = self._grammar.parse_head(bytes(buf[: blank[0]]), self._max_headers)
            end = blank[1] + self._body_length(head)
            if end > self.max_message_size:
                raise WireError(f"{name} message of {end} bytes exceeds the {self.max_message_size}-byte limit")
            self._head = (head, blank[1], end)
        head, body_start, end = self._head
        if len(buf) < end:
            return None
        body = bytes(buf[body_start:end])
        del buf[:end]
        self._head, self._scanned = None, 0
        return self._grammar.complete(head, body)
