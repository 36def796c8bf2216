"""SDP session descriptions (RFC 4566, offer/answer of RFC 3264): build, encode and parse.

Only what a media probe needs is modelled: the origin, the session and media-level connection
addresses, each media line (type, port, transport, formats) and its attributes, with
``rtpmap``, ``ptime`` and the direction attributes understood. Every other line is kept as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gvpconf.wire import WireError
from gvpconf.wire.banner import describe

__all__ = [
    "DIRECTIONS",
    "MAX_SDP_SIZE",
    "STATIC_PAYLOAD_TYPES",
    "Media",
    "SessionDescription",
    "build_audio",
    "encode",
    "parse",
]

MAX_SDP_SIZE = 64 * 1024
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: RFC 3551 static audio payload types a probe may offer
STATIC_PAYLOAD_TYPES = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000", 18: "G729/8000"}

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+")  # RFC 4566 §9 token
_ADDRESS = re.compile(r"[A-Za-z0-9.:_%\[\]-]+")
_TYPE_LINE = re.compile(r"[a-z]=.*")

Attribute = tuple[str, str | None]


def _check_token(what: str, value: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise WireError(f"SDP {what} is not a token: {value!r}")


def _check_text(what: str, value: str) -> None:
    if any(c in "\r\n\0" for c in value):
        raise WireError(f"SDP {what} must not contain CR, LF or NUL: {value!r}")


def _check_attributes(attributes: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    checked = tuple((str(name), None if value is None else str(value)) for name, value in attributes)
    for name, value in checked:
        _check_token("attribute name", name)
        if value is not None:
            _check_text(f"attribute {name}", value)
    return checked


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=`` section: ``m=audio 49170 RTP/AVP 0 8`` plus its ``c=`` and ``a=`` lines."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None  # media-level c= address, overrides the session's
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        _check_token("media type", self.kind)
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise WireError(f"SDP media port must be 0-65535, got {self.port!r}")
        if not self.proto or not all(_TOKEN.fullmatch(p) for p in self.proto.split("/")):
            raise WireError(f"SDP media transport is not token/token: {self.proto!r}")
        object.__setattr__(self, "formats", tuple(str(f) for f in self.formats))
        if not self.formats:
            raise WireError("SDP media line needs at least one format")
        for fmt in self.formats:
            _check_token("media format", fmt)
        if self.connection is not None and not _ADDRESS.fullmatch(self.connection):
            raise WireError(f"SDP connection address is not an address: {self.connection!r}")
        object.__setattr__(self, "attributes", _check_attributes(self.attributes))

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name:value`` ("" for a flag), None if absent."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload types (RTP/AVP and RTP/AVPF media)."""
        return tuple(int(f) for f in self.formats if f.isdigit() and int(f) <= 127)

    @property
    def rtpmap(self) -> dict[int, str]:
        """payload type -> ``encoding/clock[/channels]``, with the RFC 3551 static defaults."""
        found: dict[int, str] = {}
        for key, value in self.attributes:
            if key == "rtpmap" and value:
                pt, _, encoding = value.partition(" ")
                if pt.isdigit() and encoding.strip():
                    found.setdefault(int(pt), encoding.strip())
        for number in self.payload_types:
            if number not in found and number in STATIC_PAYLOAD_TYPES:
                found[number] = STATIC_PAYLOAD_TYPES[number]
        return found

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds, None when absent or not a number."""
        value = self.attribute("ptime")
        if value is None:
            return None
        number = value.strip().split(".")[0]
        return int(number) if number.isdigit() and 0 < int(number) < 10000 else None

    @property
    def direction(self) -> str:
        """sendrecv (the default), sendonly, recvonly or inactive."""
        return next((key for key, _v in self.attributes if key in DIRECTIONS), "sendrecv")


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body. ``extra`` keeps lines this model does not interpret (b=, i=, ...)."""

    origin_address: str
    session_id: int = 0
    session_version: int = 0
    origin_user: str = "-"
    session_name: str = "-"
    connection: str | None = None
    media: tuple[Media, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.origin_address):
            raise WireError(f"SDP origin address is not an address: {self.origin_address!r}")
        for what, number in (("session id", self.session_id), ("session version", self.session_version)):
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 2**64:
                raise WireError(f"SDP {what} must be 0-2^64, got {number!r}")
        if not self.origin_user or any(c.isspace() for c in self.origin_user):
            raise WireError(f"SDP origin user must be non-empty without whitespace: {self.origin_user!r}")
        _check_text("o= user", self.origin_user)
        if not self.session_name:
            raise WireError("SDP session name must be non-empty (RFC 4566 §5.3: use '-')")
        _check_text("session name", self.session_name)
        if self.connection is not None and not _ADDRESS.fullmatch(self.connection):
            raise WireError(f"SDP connection address is not an address: {self.connection!r}")
        object.__setattr__(self, "media", tuple(self.media))
        for m in self.media:
            if not isinstance(m, Media):
                raise WireError(f"SDP media must be Media objects, got {type(m).__name__}")
        object.__setattr__(self, "attributes", _check_attributes(self.attributes))
        object.__setattr__(self, "extra", tuple(self.extra))
        for line in self.extra:
            _check_text("line", line)
            if not _TYPE_LINE.fullmatch(line) or line[0] in "vosctmazr":
                raise WireError(f"SDP extra line must be x=... of a type not modelled: {line!r}")

    def media_address(self, index: int = 0) -> str | None:
        """Where media ``index`` is to be sent: its own c= address, else the session's."""
        media = self.media[index]
        return media.connection or self.connection

    def audio(self) -> Media | None:
        """The first audio stream with a non-zero port (port 0 = rejected, RFC 3264 §6)."""
        return next((m for m in self.media if m.kind == "audio" and m.port != 0), None)


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _attribute_lines(attributes: tuple[Attribute, ...]) -> list[str]:
    return [f"a={name}" if value is None else f"a={name}:{value}" for name, value in attributes]


def encode(sdp: SessionDescription) -> bytes:
    """The wire form: CRLF lines in the RFC 4566 §5 order."""
    lines = ["v=0",
             f"o={sdp.origin_user} {sdp.session_id} {sdp.session_version} IN {_addrtype(sdp.origin_address)} "
             f"{sdp.origin_address}",
             f"s={sdp.session_name}"]
    lines += [line for line in sdp.extra if line[0] in "iuep"]
    if sdp.connection is not None:
        lines.append(f"c=IN {_addrtype(sdp.connection)} {sdp.connection}")
    lines += [line for line in sdp.extra if line[0] == "b"]
    lines.append("t=0 0")
    lines += [line for line in sdp.extra if line[0] not in "iuepb"]
    lines += _attribute_lines(sdp.attributes)
    for m in sdp.media:
        lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
        if m.connection is not None:
            lines.append(f"c=IN {_addrtype(m.connection)} {m.connection}")
        lines += _attribute_lines(m.attributes)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def build_audio(address: str, port: int, payload_types: tuple[int, ...] = (0, 8), *, ptime: int | None = 20,
                session_id: int = 0, direction: str = "sendrecv", user: str = "gvpconf") -> SessionDescription:
    """An audio offer or answer: ``m=audio PORT RTP/AVP PTs`` with rtpmap (and ptime) attributes."""
    if direction not in DIRECTIONS:
        raise WireError(f"SDP direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    attributes: list[Attribute] = []
    for pt in payload_types:
        if pt in STATIC_PAYLOAD_TYPES:
            attributes.append(("rtpmap", f"{pt} {STATIC_PAYLOAD_TYPES[pt]}"))
    if ptime is not None:
        attributes.append(("ptime", str(ptime)))
    attributes.append((direction, None))
    media = Media("audio", port, "RTP/AVP", tuple(str(pt) for pt in payload_types), None, tuple(attributes))
    return SessionDescription(address, session_id, session_id, user, "gvpconf", address, (media,))


# ---------------------------------------------------------------- parsing


def _parse_connection(value: str) -> str:
    """``IN IP4 192.0.2.1`` (a multicast ``/ttl`` suffix is dropped) -> the address."""
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise WireError(f"bad SDP c= line: {value!r}")
    address = parts[2].split("/")[0]
    if not _ADDRESS.fullmatch(address):
        raise WireError(f"bad SDP c= address: {value!r}")
    return address


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not _TOKEN.fullmatch(name):
        raise WireError(f"bad SDP attribute name: {value!r}")
    return (name, rest if colon else None)


def _parse_media(value: str) -> tuple[str, int, str, tuple[str, ...]]:
    parts = value.split()
    if len(parts) < 4:
        raise WireError(f"bad SDP m= line (want 'type port proto fmt...'): {value!r}")
    port_text = parts[1].split("/")[0]  # port/number-of-ports
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise WireError(f"bad SDP media port: {value!r}")
    return parts[0], int(port_text), parts[2], tuple(parts[3:])


def parse(data: bytes) -> SessionDescription:
    """Decode a whole SDP body (CRLF or LF lines). Raises WireError on anything malformed."""
    if len(data) > MAX_SDP_SIZE:
        raise WireError(f"SDP body of {len(data)} bytes exceeds {MAX_SDP_SIZE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"SDP is not UTF-8: {describe(data)}") from exc
    lines = [line for line in re.split(r"\r?\n", text) if line]
    if not lines or lines[0] != "v=0":
        raise WireError(f"SDP must start with v=0: {describe(data)}")
    origin: tuple[str, int, int, str] | None = None
    name: str | None = None
    connection: str | None = None
    attributes: list[Attribute] = []
    extra: list[str] = []
    media: list[Media] = []
    current: tuple[str, int, str, tuple[str, ...]] | None = None
    m_conn: str | None = None
    m_attrs: list[Attribute] = []

    def close_media() -> None:
        if current is not None:
            media.append(Media(current[0], current[1], current[2], current[3], m_conn, tuple(m_attrs)))

    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise WireError(f"bad SDP line (want x=value): {line!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            close_media()
            current, m_conn, m_attrs = _parse_media(value), None, []
        elif kind == "c":
            if current is None:
                connection = _parse_connection(value)
            else:
                m_conn = _parse_connection(value)
        elif kind == "a":
            (m_attrs if current is not None else attributes).append(_parse_attribute(value))
        elif current is not None:
            continue  # i=, b=, k= inside a media section: not modelled
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6 or not all(p.isascii() and p.isdigit() for p in parts[1:3]):
                raise WireError(f"bad SDP o= line: {value!r}")
            if len(parts[1]) > 20 or len(parts[2]) > 20 or max(int(parts[1]), int(parts[2])) >= 2**64:
                raise WireError(f"SDP o= session id or version too large: {value!r}")
            origin = (parts[0], int(parts[1]), int(parts[2]), parts[5])
        elif kind == "s":
            name = value or "-"
        elif kind in "tzrv":
            continue
        else:
            extra.append(line)
    close_media()
    if origin is None:
        raise WireError("SDP without an o= line")
    return SessionDescription(origin[3], origin[1], origin[2], origin[0], name or "-", connection, tuple(media),
                              tuple(attributes), tuple(extra))
