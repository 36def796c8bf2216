"""SIP messages (RFC 3261): build, encode and decode requests and responses.

Only the framing and the few header fields a connectivity probe needs are understood:
Via, CSeq, Call-ID, From/To tags, Content-Length. Section numbers are RFC 3261's.
"""

from __future__ import annotations

import re
import secrets
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from gvpconf.wire import WireError
from gvpconf.wire._text import (
    _NOT_IN_URI,
    TOKEN,
    HeaderAccess,
    Headers,
    TextGrammar,
    TextRequest,
    TextResponse,
    TextStreamDecoder,
    blank_line,
    skip_line_ends,
)
from gvpconf.wire.banner import describe

__all__ = [
    "COMPACT_FORMS",
    "MAGIC_COOKIE",
    "MAX_HEADERS",
    "MAX_MESSAGE_SIZE",
    "OptionsTemplate",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipStreamDecoder",
    "Transaction",
    "Via",
    "build_ack",
    "build_bye",
    "build_cancel",
    "build_invite",
    "build_options",
    "encode",
    "header_param",
    "new_branch",
    "new_call_id",
    "new_ids",
    "new_tag",
    "pad_request",
    "parse_cseq",
    "parse_datagram",
    "parse_via",
    "response_mismatches",
    "to_tag",
    "via_branch",
]

_T = TypeVar("_T")

MAGIC_COOKIE = "z9hG4bK"  # §8.1.1.7: every RFC 3261 branch starts with it
MAX_MESSAGE_SIZE = 64 * 1024
MAX_HEADERS = 256

# §7.3.3 compact forms (plus k, s, e from §20).
COMPACT_FORMS = {
    "v": "Via", "i": "Call-ID", "f": "From", "t": "To", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding",
}
# Header fields whose grammar is a comma-separated list (§7.3.1), among those we split.
_LIST_HEADERS = frozenset({"via", "allow", "supported", "accept"})

_TOKEN = TOKEN  # §25.1 token
_VIA = re.compile(
    r"\s*(?P<proto>[^/\s]+)\s*/\s*(?P<version>[^/\s]+)\s*/\s*(?P<transport>[A-Za-z0-9.!%*_+`'~-]+)\s+"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?:\s*:\s*(?P<port>\d{1,5}))?\s*(?P<params>;.*)?",
    re.DOTALL,
)
_CSEQ = re.compile(r"\s*(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*")
_WHITESPACE = re.compile(r"\s")  # what str.isspace() calls whitespace (both are Py_UNICODE_ISSPACE)


#: header name as written -> ``_canonical`` of it: every header look-up compares every field name of a message, a
#: probe makes a dozen look-ups. Bounded: names a peer invents stop being remembered past the limit.
_CANONICAL: dict[str, str] = {}
_CANONICAL_MAX = 512


def _canonical(name: str) -> str:
    """Lower-case long form of a header name, compact forms expanded (§7.3.3)."""
    key = _CANONICAL.get(name)
    if key is None:
        key = COMPACT_FORMS.get(name.lower(), name).lower()
        if len(_CANONICAL) < _CANONICAL_MAX:
            _CANONICAL[name] = key
    return key


def _split_commas(value: str) -> list[str]:
    """Split a list-valued header on commas outside quoted strings and <...> (§7.3.1)."""
    if '"' not in value and "<" not in value:  # nothing to stay inside of: the common case, in C
        return [part for part in map(str.strip, value.split(",")) if part]
    return _split_commas_slowly(value)


def _split_commas_slowly(value: str) -> list[str]:
    """``_split_commas`` character by character (any value; the fast path is tested against it)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = in_angle = escaped = False
    for c in value:
        if in_quotes:
            in_quotes = escaped or c != '"'
            escaped = not escaped and c == "\\"
        elif c == '"':
            in_quotes = True
        elif c in "<>":
            in_angle = c == "<"
        elif c == "," and not in_angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


class _SipHeaders(HeaderAccess):
    """SIP's header look-ups: compact forms understood (§7.3.3), list-valued headers split (§7.3.1)."""

    __slots__ = ()

    header_key = staticmethod(_canonical)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, None if absent."""
        wanted = _canonical(name)
        known = _CANONICAL.get  # _canonical(key) without a call for a name seen before
        for key, value in self.headers:
            if (known(key) or _canonical(key)) == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """All values of header ``name``, in order; Via, Allow, Supported, Accept split on commas."""
        wanted = _canonical(name)
        known = _CANONICAL.get
        values = [value for key, value in self.headers if (known(key) or _canonical(key)) == wanted]
        if wanted in _LIST_HEADERS:
            return [part for value in values for part in _split_commas(value)]
        return values


@dataclass(frozen=True, slots=True)
class SipRequest(TextRequest, _SipHeaders):
    """A SIP request (§7.1). ``headers`` keeps wire order and names as written."""

    PROTOCOL: ClassVar[str] = "SIP"


@dataclass(frozen=True, slots=True)
class SipResponse(TextResponse, _SipHeaders):
    """A SIP response (§7.2). ``headers`` keeps wire order and names as written."""

    PROTOCOL: ClassVar[str] = "SIP"
    MAX_STATUS: ClassVar[int] = 699


SipMessage = SipRequest | SipResponse

# SIP-Version is case-insensitive (§7.1); Content-Length is mandatory on streams (§18.3, §20.14).
_GRAMMAR: TextGrammar[SipMessage] = TextGrammar(
    "SIP", "SIP/2.0", SipRequest, SipResponse, _canonical, MAX_HEADERS, length_required=True,
    version_any_case=True, length_names=frozenset({"content-length", "l"}))


def encode(msg: SipMessage) -> bytes:
    """The wire form of ``msg``: CRLF lines, SIP/2.0, and always a correct Content-Length (§20.14).

    Any Content-Length (or ``l``) header in ``msg.headers`` is dropped and one with the
    body's real length is written last.
    """
    return _GRAMMAR.encode(msg)


def parse_datagram(data: bytes) -> SipMessage:
    """Decode one SIP message from a UDP datagram (§18.3).

    Content-Length is optional: without it the body is the rest of the datagram; with it
    the body is cut to that length, and a length beyond the datagram is a WireError.
    """
    start = skip_line_ends(data)  # CRLF keep-alives (§7.5, RFC 5626 §4.4.1)
    if start == len(data):
        raise WireError("the datagram holds no SIP message (empty or only CRLF keep-alives)")
    blank = blank_line(data, start)
    if blank is None:
        raise WireError(f"no empty line ending the SIP header section: {describe(data[start:])}")
    head = _GRAMMAR.parse_head(data[start : blank[0]])
    rest = data[blank[1] :]
    if head.length is not None and head.length > len(rest):
        raise WireError(f"Content-Length {head.length} exceeds the {len(rest)} bytes left in the datagram")
    return _GRAMMAR.complete(head, rest if head.length is None else rest[: head.length])


class SipStreamDecoder(TextStreamDecoder[SipMessage]):
    """Incremental SIP decoder for stream transports (TCP, TLS): ``feed``, then ``next_message``.

    Content-Length is mandatory (§18.3, §20.14); leading CRLF keep-alives are skipped; a
    message may be at most ``max_message_size`` bytes (``MAX_MESSAGE_SIZE``, 64 KB). After a
    WireError the decoder stays broken and raises the same error again.
    """

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE, max_headers: int = MAX_HEADERS) -> None:
        super().__init__(_GRAMMAR, max_message_size=max_message_size, max_headers=max_headers)


# ---------------------------------------------------------------- header fields


@dataclass(frozen=True, slots=True)
class Via:
    """One via-parm (§20.42): ``SIP/2.0/TCP host:port;branch=z9hG4bK...;rport``.

    ``params`` maps lower-cased parameter names to values, None for a flag such as a
    bare ``rport``.
    """

    transport: str
    host: str
    port: int | None
    params: Mapping[str, str | None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))

    @property
    def branch(self) -> str | None:
        """The branch parameter, the transaction id (§8.1.1.7), or None."""
        return self.params.get("branch")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
    return value


def _parse_params(text: str) -> dict[str, str | None]:
    """``;name[=value]`` generic parameters (§25.1 generic-param); names lower-cased."""
    params: dict[str, str | None] = {}
    for part in _split_on(text, ";"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not _TOKEN.fullmatch(name):
            raise WireError(f"bad SIP header parameter {part!r}")
        if equals:
            value = value.strip()
            params.setdefault(name, _unquote(value) if value[:1] == '"' else value)  # _unquote's test, first
        else:
            params.setdefault(name, None)
    return params


def _split_on(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double-quoted strings."""
    if '"' not in text:  # no quoted string: the common case, in C
        return [part.strip() for part in text.split(separator)]
    return _split_on_slowly(text, separator)


def _split_on_slowly(text: str, separator: str) -> list[str]:
    """``_split_on`` character by character (any text; the fast path is tested against it)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for c in text:
        if in_quotes:
            in_quotes = escaped or c != '"'
            escaped = not escaped and c == "\\"
        elif c == '"':
            in_quotes = True
        elif c == separator:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    parts.append("".join(current).strip())
    return parts


def parse_via(value: str) -> Via:
    """Parse one Via value (one via-parm; use ``header_values("Via")[0]`` for the top one)."""
    match = _VIA.fullmatch(value)
    if match is None:
        raise WireError(f"not a Via header value: {value!r}")
    if match["proto"].upper() != "SIP" or match["version"] != "2.0":
        raise WireError(f"Via sent-protocol is not SIP/2.0: {value!r}")
    port = int(match["port"]) if match["port"] else None
    if port is not None and port > 65535:
        raise WireError(f"Via port out of range: {value!r}")
    params = _parse_params(match["params"] or "")
    return Via(match["transport"].upper(), match["host"], port, params)


def parse_cseq(value: str) -> tuple[int, str]:
    """``CSeq: 4711 INVITE`` -> ``(4711, "INVITE")`` (§20.16; the number fits 32 bits, §8.1.1.5)."""
    match = _CSEQ.fullmatch(value)
    if match is None or int(match[1]) > 2**32 - 1:
        raise WireError(f"not a CSeq header value: {value!r}")
    return int(match[1]), match[2]


def _params_part(value: str) -> str:
    """The header parameters of a From/To/Contact/Via value: after ``>`` or after the URI (§20.10)."""
    if '"' not in value:  # no display name in quotes: the first ``<`` or ``;`` decides, found in C
        angle, semicolon = value.find("<"), value.find(";")
        if angle != -1 and (semicolon == -1 or angle < semicolon):
            end = value.find(">", angle)
            if end == -1:
                raise WireError(f"unterminated <...> in SIP header value {value!r}")
            return value[end + 1 :]
        return value[semicolon:] if semicolon != -1 else ""
    return _params_part_slowly(value)


def _params_part_slowly(value: str) -> str:
    """``_params_part`` character by character (any value; the fast path is tested against it)."""
    in_quotes = escaped = False
    for i, c in enumerate(value):
        if in_quotes:
            in_quotes = escaped or c != '"'
            escaped = not escaped and c == "\\"
        elif c == '"':
            in_quotes = True
        elif c == "<":
            end = value.find(">", i)
            if end == -1:
                raise WireError(f"unterminated <...> in SIP header value {value!r}")
            return value[end + 1 :]
        elif c == ";":
            return value[i:]
    return ""


def header_param(value: str, name: str) -> str | None:
    """Header parameter ``name`` of a header value, e.g. the tag of From/To; "" for a flag, None if absent.

    Parameters inside ``<...>`` belong to the URI and are not looked at; without angle
    brackets every ``;`` parameter is a header parameter (§20.10).
    """
    params = _parse_params(_params_part(value))
    if name.lower() not in params:
        return None
    return params[name.lower()] or ""


# ---------------------------------------------------------------- building and matching


def new_branch() -> str:
    """A fresh branch id: the §8.1.1.7 magic cookie then 128 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(16)


def new_tag() -> str:
    """A fresh From/To tag (§19.3: at least 32 random bits)."""
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A fresh Call-ID ``random@host`` (§8.1.1.4)."""
    return f"{secrets.token_hex(16)}@{host}"


def new_ids(host: str) -> tuple[str, str, str]:
    """``(new_branch(), new_call_id(host), new_tag())`` from one draw of the system's random source (each id as
    random as its own function's: 128, 128 and 64 bits)."""
    raw = secrets.token_hex(40)
    return MAGIC_COOKIE + raw[:32], f"{raw[32:64]}@{host}", raw[64:]


def _hostport(host: str, port: int | None = None) -> str:
    """``host[:port]`` with an IPv6 address in brackets (§19.1.1 IPv6reference)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def build_options(
    request_uri: str,
    *,
    local_host: str,
    local_port: int,
    transport: str,
    branch: str,
    call_id: str,
    from_tag: str,
    cseq: int = 1,
    from_uri: str | None = None,
    user_agent: str = "gvpconf",
    max_forwards: int = 70,
) -> SipRequest:
    """An OPTIONS request (§11.1) with everything §8.1.1 requires; ``from_uri`` defaults to
    ``sip:gvpconf@<local_host>``."""
    tail = (("Accept", "application/sdp"), ("User-Agent", user_agent), ("Content-Length", "0"))
    return _new_request("OPTIONS", request_uri, local_host, local_port, transport, branch, call_id, from_tag,
                        cseq, from_uri, max_forwards, tail)


class OptionsTemplate:
    """``encode(build_options(...))`` for many OPTIONS from one local address (to a pool's targets, or one target
    again and again) that differ only in their Request-URI, ids (branch, Call-ID, From tag) and local port: what
    does not vary is built and checked once, by ``build_options`` itself, and each request is its bytes joined
    with the rest (``render``).

    The layout is not written twice: the template is ``build_options``'s own encoding with markers for what
    varies, cut where the markers are. Where a marker could be mistaken for other text (a User-Agent containing
    one), there is no template (``make`` returns None) and the caller builds each request; a Request-URI or ids
    other than the usual ones (a URI of printable characters, ids of token characters, a Call-ID without
    whitespace) take ``build_options`` itself.
    """

    _URI = "sip:gvpconf.request-uri.slot"
    _BRANCH = MAGIC_COOKIE + "\x00b\x00"
    _CALL_ID = "\x00c\x00"
    _TAG = "\x00t\x00"
    _PORT = 65535
    _SLOTS: ClassVar[dict[bytes, str]] = {_URI.encode(): "uri", _BRANCH.encode(): "branch",
                                          _CALL_ID.encode(): "call_id", _TAG.encode(): "from_tag", b":65535": "port"}
    _SPLIT = re.compile(b"(" + b"|".join(re.escape(m) for m in _SLOTS) + b")")
    #: where build_options puts each: Request-Line (URI), Via (port, branch), To (URI), From (tag), Call-ID,
    #: Contact (port)
    _ORDER = ("uri", "port", "branch", "uri", "from_tag", "call_id", "port")

    __slots__ = ("_args", "_from", "_parts", "_via")

    def __init__(self, parts: list[bytes], args: dict[str, Any], via: list[str], from_: list[str]) -> None:
        self._parts, self._args = parts, args
        self._via, self._from = via, from_  # the top Via and From values, cut where the port, branch and tag go

    @classmethod
    def make(cls, *, local_host: str, transport: str, cseq: int = 1, from_uri: str | None = None,
             user_agent: str = "gvpconf", max_forwards: int = 70) -> OptionsTemplate | None:
        """The template, or None when the markers cannot be told from the request's own text. Raises WireError
        for what ``build_options`` rejects."""
        args: dict[str, Any] = {"local_host": local_host, "transport": transport, "cseq": cseq,
                                "from_uri": from_uri, "user_agent": user_agent, "max_forwards": max_forwards}
        request = build_options(cls._URI, local_port=cls._PORT, branch=cls._BRANCH, call_id=cls._CALL_ID,
                                from_tag=cls._TAG, **args)
        pieces = cls._SPLIT.split(encode(request))
        if tuple(cls._SLOTS[m] for m in pieces[1::2]) != cls._ORDER:
            return None
        # and the ids read back from where they were put (a From URI with a ``>`` of its own would move the tag).
        # Making one costs about 1.6 requests built the slow way (32 against 20 us), rendering one a sixth of one
        sent = Transaction.of(request)
        if (sent.branch, sent.call_id, sent.cseq, sent.number_method, sent.from_tag) != (
                cls._BRANCH, cls._CALL_ID, f"{cseq} OPTIONS", (cseq, "OPTIONS"), cls._TAG):
            return None
        via = re.split(f"(:{cls._PORT}|{re.escape(cls._BRANCH)})", sent.via or "")
        from_ = (sent.from_value or "").split(cls._TAG)
        if via[1::2] != [f":{cls._PORT}", cls._BRANCH] or len(from_) != 2:
            return None
        return cls(pieces[0::2], args, via[0::2], from_)

    def render(self, request_uri: str, *, local_port: int, branch: str, call_id: str,
               from_tag: str) -> tuple[bytes, Transaction]:
        """``encode(build_options(request_uri, ...))`` with these ids and the template's other arguments, and
        ``Transaction.of`` that request (its side of matching a response). Raises WireError as ``build_options``
        does."""
        if (type(local_port) is int and 0 < local_port < 65536 and len(branch) > len(MAGIC_COOKIE)
                and branch.startswith(MAGIC_COOKIE) and _TOKEN_PAIR.fullmatch(f"{branch}\n{from_tag}")
                and call_id.isascii() and call_id and not _WHITESPACE.search(call_id)
                and request_uri.isascii() and request_uri and not _NOT_IN_URI.search(request_uri)):
            p = self._parts
            port, uri = b":%d" % local_port, request_uri.encode()
            data = b"".join((p[0], uri, p[1], port, p[2], branch.encode(), p[3], uri, p[4], from_tag.encode(), p[5],
                             call_id.encode(), p[6], port, p[7]))
            cseq, v, f = self._args["cseq"], self._via, self._from
            return data, Transaction(branch, call_id, f"{cseq} OPTIONS", (cseq, "OPTIONS"), from_tag,
                                     f"{v[0]}:{local_port}{v[1]}{branch}{v[2]}", f"{f[0]}{from_tag}{f[1]}")
        request = build_options(request_uri, local_port=local_port, branch=branch, call_id=call_id,
                                from_tag=from_tag, **self._args)
        return encode(request), Transaction.of(request)


#: branch and tag made of token characters (§25.1), one per line: header parameters read back as written (a Call-ID
#: is read verbatim whatever it holds)
_TOKEN_PAIR = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\n[A-Za-z0-9.!%*_+`'~-]+")


def _safe(parse: Callable[[str], _T], value: str | None) -> _T | None:
    """Apply ``parse`` to a header value, None if absent or malformed."""
    if value is None:
        return None
    try:
        return parse(value)
    except WireError:
        return None


def _top_branch(msg: SipMessage) -> str | None:
    vias = msg.header_values("Via")
    via = _safe(parse_via, vias[0] if vias else None)
    return None if via is None else via.branch


def _from_tag(msg: SipMessage) -> str | None:
    return _safe(lambda value: header_param(value, "tag"), msg.header("From"))


def _shown(value: str | None) -> str:
    return "nothing" if value is None else repr(value)


def _transaction(msg: SipMessage) -> tuple[str | None, str | None, str | None, tuple[int, str] | None, str | None]:
    """What matches a response to its request: top Via branch, Call-ID, CSeq (as written and parsed), From tag;
    each None if absent or malformed."""
    top_via, call_id, cseq, from_ = _written(msg)
    return (None if top_via is None else via_branch(top_via), call_id, cseq, _safe(parse_cseq, cseq),
            _safe(_tag, from_))


def _written(msg: SipMessage) -> tuple[str | None, str | None, str | None, str | None]:
    """The top via-parm, Call-ID, CSeq and From of ``msg`` as written, each None if absent. The header fields are
    gathered in one pass (a look-up per field would compare every field name of the message each time)."""
    fields: dict[str, str] = {}
    top_via: str | None = None
    known = _CANONICAL.get  # _canonical(name) without a call for a name seen before
    for name, value in msg.headers:
        key = known(name) or _canonical(name)
        if key == "via":
            if top_via is None:
                parts = _split_commas(value)  # header_values("Via")[0]: the first non-empty via-parm
                top_via = parts[0] if parts else None
        elif key not in fields:
            fields[key] = value
    return top_via, fields.get("call-id"), fields.get("cseq"), fields.get("from")


def _tag(value: str) -> str | None:
    return header_param(value, "tag")


def via_branch(value: str) -> str | None:
    """``parse_via(value).branch``, None where that raises, without building the Via."""
    match = _VIA.fullmatch(value)
    if (match is None or match["proto"].upper() != "SIP" or match["version"] != "2.0"
            or (match["port"] and int(match["port"]) > 65535)):
        return None
    try:
        return _parse_params(match["params"] or "").get("branch")
    except WireError:
        return None


def response_mismatches(request: SipRequest, response: SipResponse) -> list[str]:
    """What in ``response`` does not echo ``request`` (§8.1.3.3, §17.1.3); empty if it matches.

    Checked: top Via branch, Call-ID (compared byte by byte, §8.1.1.4), CSeq number and
    method (methods are case-sensitive, §7.1), From tag. Branch and tag compare
    case-insensitively like other parameter values (§7.3.1). ``Transaction.of(request).mismatches``
    is the same check with the request's side taken once (a probe takes it while the peer answers).
    """
    return Transaction.of(request).mismatches(response)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A request's side of matching a response to it (§8.1.3.3, §17.1.3): what ``response_mismatches`` compares,
    taken from the request once. Each field is None if absent or malformed in the request.

    ``via`` and ``from_value`` are the request's top via-parm and From as written, and ``branch``, ``from_tag``
    and ``number_method`` what they and ``cseq`` read as (``Transaction.of`` makes it so): a response that echoes
    them unchanged, as §8.2.6.2 requires of a UAS, reads the same without being parsed again."""

    branch: str | None
    call_id: str | None
    cseq: str | None  # as written
    number_method: tuple[int, str] | None
    from_tag: str | None
    via: str | None = None
    from_value: str | None = None

    @classmethod
    def of(cls, request: SipRequest) -> Transaction:
        top_via, call_id, cseq, from_ = _written(request)
        return cls(None if top_via is None else via_branch(top_via), call_id, cseq, _safe(parse_cseq, cseq),
                   _safe(_tag, from_), top_via, from_)

    def mismatches(self, response: SipResponse) -> list[str]:
        """``response_mismatches(request, response)`` for the request this was taken from."""
        problems: list[str] = []
        top_via, got_call_id, got_cseq, from_ = _written(response)
        # what the response echoes unchanged reads as it did in the request (the class's invariant): not parsed again
        got_branch = self.branch if top_via == self.via and top_via is not None else (
            None if top_via is None else via_branch(top_via))
        got_tag = self.from_tag if from_ == self.from_value and from_ is not None else _safe(_tag, from_)
        got_number_method = self.number_method if got_cseq == self.cseq and got_cseq is not None else _safe(
            parse_cseq, got_cseq)
        sent_branch, sent_tag = self.branch, self.from_tag
        if sent_branch is None or got_branch is None or sent_branch.lower() != got_branch.lower():
            problems.append(f"Via branch: sent {_shown(sent_branch)}, got {_shown(got_branch)}")
        if self.call_id is None or self.call_id != got_call_id:
            problems.append(f"Call-ID: sent {_shown(self.call_id)}, got {_shown(got_call_id)}")
        if self.number_method is None or self.number_method != got_number_method:
            problems.append(f"CSeq: sent {_shown(self.cseq)}, got {_shown(got_cseq)}")
        if sent_tag is None or got_tag is None or sent_tag.lower() != got_tag.lower():
            problems.append(f"From tag: sent {_shown(sent_tag)}, got {_shown(got_tag)}")
        return problems


def of_another_transaction_of_the_call(request: SipRequest, response: SipResponse) -> bool:
    """Whether ``response`` answers another request of ``request``'s call: the same Call-ID and From tag, another
    CSeq (e.g. a 2xx to the INVITE retransmitted while the BYE waits). Such a response matches no transaction
    the UAC waits on and goes to the UA core (RFC 3261 §17.1.3, §18.1.2; a 2xx is ACKed again, §13.2.2.4): it is
    not the waited transaction's answer, nor a sign of another protocol."""
    _b1, sent_call_id, _c1, sent_number_method, sent_tag = _transaction(request)
    _b2, got_call_id, _c2, got_number_method, got_tag = _transaction(response)
    return (sent_call_id is not None and sent_call_id == got_call_id and sent_tag is not None
            and got_tag is not None and sent_tag.lower() == got_tag.lower()
            and got_number_method is not None and got_number_method != sent_number_method)


# ---------------------------------------------------------------- dialogs: INVITE, ACK, BYE, CANCEL


def _check_ids(branch: str, call_id: str, from_tag: str, transport: str, local_port: int, cseq: int,
               max_forwards: int = 70) -> None:
    if not branch.startswith(MAGIC_COOKIE) or len(branch) == len(MAGIC_COOKIE):
        raise WireError(f"branch must start with the magic cookie {MAGIC_COOKIE}: {branch!r}")
    if not _TOKEN.fullmatch(transport):
        raise WireError(f"transport is not a token: {transport!r}")
    if not 0 < local_port < 65536 or not 0 <= cseq < 2**31 or not 0 <= max_forwards <= 255:
        raise WireError(f"out of range: local_port={local_port}, cseq={cseq}, max_forwards={max_forwards}")
    for what, text in (("branch", branch), ("Call-ID", call_id), ("tag", from_tag)):
        if not text or _WHITESPACE.search(text):
            raise WireError(f"{what} must be non-empty without whitespace: {text!r}")


def build_invite(
    request_uri: str,
    *,
    local_host: str,
    local_port: int,
    transport: str,
    branch: str,
    call_id: str,
    from_tag: str,
    sdp: bytes,
    cseq: int = 1,
    from_uri: str | None = None,
    user_agent: str = "gvpconf",
    max_forwards: int = 70,
) -> SipRequest:
    """An INVITE (§13.2.1) carrying an SDP offer, with the headers §8.1.1 requires and a Contact."""
    tail = (("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"), ("User-Agent", user_agent),
            ("Content-Type", "application/sdp"))
    return _new_request("INVITE", request_uri, local_host, local_port, transport, branch, call_id, from_tag,
                        cseq, from_uri, max_forwards, tail, sdp)


def _new_request(method: str, request_uri: str, local_host: str, local_port: int, transport: str, branch: str,
                 call_id: str, from_tag: str, cseq: int, from_uri: str | None, max_forwards: int, tail: Headers,
                 body: bytes = b"") -> SipRequest:
    """A dialog-less request with the headers §8.1.1 requires (Via with rport, Max-Forwards, To, From with
    our tag, Call-ID, CSeq) and a Contact, then ``tail``."""
    _check_ids(branch, call_id, from_tag, transport, local_port, cseq, max_forwards)
    sent_by = _hostport(local_host, local_port)
    from_uri = from_uri or f"sip:gvpconf@{_hostport(local_host)}"
    headers = (
        ("Via", f"SIP/2.0/{transport.upper()} {sent_by};branch={branch};rport"),
        ("Max-Forwards", str(max_forwards)),
        ("To", f"<{request_uri}>"),
        ("From", f"<{from_uri}>;tag={from_tag}"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Contact", f"<sip:gvpconf@{sent_by};transport={transport.lower()}>"),
        *tail,
    )
    return SipRequest(method, request_uri, headers, body)


def to_tag(msg: SipMessage) -> str | None:
    """The tag of the To header (the far end's dialog tag), None if absent or malformed."""
    return _safe(lambda value: header_param(value, "tag"), msg.header("To"))


def _in_dialog(invite: SipRequest, method: str, cseq: int, branch: str, to_value: str,
               uri: str | None = None, body: bytes = b"") -> SipRequest:
    via = parse_via(invite.header_values("Via")[0])
    host = f"{via.host}:{via.port}" if via.port is not None else via.host
    _check_ids(branch, invite.header("Call-ID") or "", _from_tag(invite) or "", via.transport, via.port or 5060,
               cseq)
    headers = (
        ("Via", f"SIP/2.0/{via.transport} {host};branch={branch};rport"),
        ("Max-Forwards", "70"),
        ("To", to_value),
        ("From", invite.header("From") or ""),
        ("Call-ID", invite.header("Call-ID") or ""),
        ("CSeq", f"{cseq} {method}"),
        ("User-Agent", invite.header("User-Agent") or "gvpconf"),
    )
    return SipRequest(method, uri or invite.uri, headers, body)


def _remote_target(response: SipResponse, fallback: str) -> str:
    """The Contact URI of a 2xx (§12.1.2): where in-dialog requests go."""
    contact = response.header("Contact")
    if contact is None:
        return fallback
    contact = contact.strip()
    if "<" in contact and ">" in contact:
        contact = contact[contact.index("<") + 1 : contact.index(">")]
    else:
        contact = contact.split(";")[0].strip()
    return contact if contact and not any(c.isspace() for c in contact) else fallback


def build_ack(invite: SipRequest, response: SipResponse, branch: str | None = None) -> SipRequest:
    """The ACK for a final response to ``invite``.

    For a non-2xx (§17.1.1.3) the ACK belongs to the INVITE transaction: same branch and
    Request-URI, To copied from the response. For a 2xx (§13.2.2.4) it is a new transaction
    (``branch`` required) sent to the Contact of the 2xx.
    """
    number, _method = parse_cseq(invite.header("CSeq") or "")
    to_value = response.header("To") or invite.header("To") or ""
    if response.status < 300:
        if branch is None:
            raise WireError("the ACK of a 2xx is a new transaction: pass a fresh branch")
        return _in_dialog(invite, "ACK", number, branch, to_value, _remote_target(response, invite.uri))
    return _in_dialog(invite, "ACK", number, _top_branch(invite) or "", to_value)


def build_bye(invite: SipRequest, response: SipResponse, *, branch: str, cseq: int) -> SipRequest:
    """A BYE in the dialog the 2xx ``response`` to ``invite`` established (§15.1.1)."""
    to_value = response.header("To") or invite.header("To") or ""
    return _in_dialog(invite, "BYE", cseq, branch, to_value, _remote_target(response, invite.uri))


def build_cancel(invite: SipRequest) -> SipRequest:
    """A CANCEL of ``invite`` (§9.1): same branch, Request-URI, Call-ID, From, To and CSeq number."""
    number, _method = parse_cseq(invite.header("CSeq") or "")
    return _in_dialog(invite, "CANCEL", number, _top_branch(invite) or "", invite.header("To") or "")


#: name stem of the padding header fields ``pad_request`` adds (``X-GVPConf-Pad-01``...): extension headers, which
#: a UAS that does not understand them MUST ignore (§8.2.2)
PAD_HEADER = "X-GVPConf-Pad"
_PAD_LINE_VALUE = 64  # at most this many value characters per padding header field
_PAD_FILL = "gvpconf-path-mtu-padding-"


def pad_request(msg: SipRequest, size: int) -> SipRequest:
    """``msg`` with extension header fields added so that ``encode()`` gives exactly ``size`` bytes.

    The padding is in the header section, not the body: an OPTIONS with a body could draw 415 from a
    stack that accepts no body there, while unknown header fields must be ignored (§8.2.2). Each padding
    field has its own name (``X-GVPConf-Pad-01``, ``-02``...; a header field may only repeat if it is a
    comma list, §7.3.1) and a value of at most 64 token characters, so no stack's line limit is reached.
    Raises WireError when ``size`` is smaller than the message, or so close to it that not even one
    padding field fits.
    """
    base = len(encode(msg))
    missing = size - base
    if missing == 0:
        return msg
    fields: list[tuple[str, str]] = []
    while missing > 0:
        name = f"{PAD_HEADER}-{len(fields) + 1:02d}"
        overhead = len(name) + 4  # ": " and CRLF
        if missing < overhead + 1:
            break
        value_len = min(_PAD_LINE_VALUE, missing - overhead)
        left = missing - overhead - value_len
        smallest_next = len(f"{PAD_HEADER}-{len(fields) + 2:02d}") + 5  # one more field, with a 1-byte value
        if 0 < left < smallest_next:  # the rest would not fit a field of its own: leave room for one
            value_len -= smallest_next - left
        fill = (_PAD_FILL * (value_len // len(_PAD_FILL) + 1))[:value_len]
        fields.append((name, fill))
        missing -= overhead + value_len
    if missing != 0:
        raise WireError(f"cannot pad a {base}-byte {msg.method} to {size} bytes: "
                        + ("it is larger already" if size < base else "too close to its size for a header field"))
    headers = tuple(msg.headers)
    cut = next((i for i, (n, _v) in enumerate(headers) if _canonical(n) == "content-length"), len(headers))
    return SipRequest(msg.method, msg.uri, (*headers[:cut], *fields, *headers[cut:]), msg.body)
