"""gRPC above HTTP/2, and the protobuf messages of ``google.cloud.texttospeech.v1.TextToSpeech/ListVoices``.

What connection 22 needs of gRPC, after HTTP/2 (``gvpconf.wire.http2``), from the gRPC over HTTP/2 specification
(grpc/grpc ``doc/PROTOCOL-HTTP2.md``) and the status code list (``doc/statuscodes.md``):

* **Length-Prefixed-Message**: Compressed-Flag (1 byte, 0 or 1), Message-Length (4 bytes, big endian), Message.
  ``encode_message`` writes one (never compressed: we send no ``grpc-encoding``); ``MessageDecoder`` reads them
  from the DATA frames' bytes, whose boundaries have nothing to do with the messages';
* **Timeout**: ``grpc-timeout``, a positive integer of at most 8 digits and a unit (``encode_timeout``);
* **Status**: ``grpc-status`` (``1*DIGIT``, no leading zero; ``parse_status``) and ``grpc-message``,
  percent-encoded UTF-8 that must be decoded leniently (``decode_status_message``); ``StatusCode`` names the
  codes; ``status_from_http`` is the status a client synthesizes for a response that is not gRPC
  (``doc/http-grpc-status-mapping.md``).

The messages, in the protobuf wire format (varints and length-delimited fields; unknown fields are skipped,
as protobuf does), with the field numbers of ``google/cloud/texttospeech/v1/cloud_tts.proto``::

    message ListVoicesRequest  { string language_code = 1; }
    message ListVoicesResponse { repeated Voice voices = 1; }
    message Voice { repeated string language_codes = 1; string name = 2; SsmlVoiceGender ssml_gender = 3;
                    int32 natural_sample_rate_hertz = 4; }

Pure: bytes in, frozen values out (and back); every malformed input is a ``WireError``.
"""

from __future__ import annotations

import enum
import struct
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from gvpconf.wire import BufferedDecoder, WireError

__all__ = ["ListVoicesRequest", "ListVoicesResponse", "Message", "MessageDecoder", "StatusCode", "Voice",
           "decode_list_voices_request", "decode_list_voices_response", "decode_status_message", "encode_message",
           "encode_timeout", "parse_status", "status_from_http"]

CONTENT_TYPE = "application/grpc"
#: gRPC's default limit on a received message (4 MiB), framing included here
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_PREFIX = struct.Struct(">BI")


class StatusCode(enum.IntEnum):
    """The gRPC status codes (``doc/statuscodes.md``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# -- gRPC framing and headers -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Message:
    """One Length-Prefixed-Message: its payload, and whether the Compressed-Flag was set."""

    data: bytes
    compressed: bool = False


def encode_message(data: bytes) -> bytes:
    """``data`` as one uncompressed Length-Prefixed-Message."""
    if len(data) > 0xFFFFFFFF:
        raise WireError(f"a gRPC message holds at most 4 GiB, got {len(data)} bytes")
    return _PREFIX.pack(0, len(data)) + data


class MessageDecoder(BufferedDecoder[Message]):
    """Length-Prefixed-Messages from the bytes of a response's DATA frames.

    ``max_message_size`` (default 4 MiB, gRPC's own default receive limit; prefix included): a message that
    announces more is a WireError before its bytes arrive. A Compressed-Flag other than 0 or 1 is a WireError.
    """

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        super().__init__(max_message_size=max_message_size)

    def _next(self) -> Message | None:
        buf = self._buffer
        if len(buf) < _PREFIX.size:
            return None
        flag, length = _PREFIX.unpack_from(buf)
        if flag > 1:
            raise WireError(f"expected a gRPC Compressed-Flag of 0 or 1, got {flag} (not a Length-Prefixed-Message)")
        if length + _PREFIX.size > self.max_message_size:
            raise WireError(f"a gRPC message of {length} bytes announced, more than the {self.max_message_size} "
                            "accepted")
        end = _PREFIX.size + length
        if len(buf) < end:
            return None
        data = bytes(buf[_PREFIX.size : end])
        del buf[:end]
        return Message(data, compressed=flag == 1)

    def pending(self) -> int:
        """Bytes received that do not make a whole message (a response cut short leaves some)."""
        return len(self._buffer)


_UNITS = (("n", 1e9), ("u", 1e6), ("m", 1e3), ("S", 1.0), ("M", 1 / 60), ("H", 1 / 3600))


def encode_timeout(seconds: float) -> str:
    """The ``grpc-timeout`` value for ``seconds``: the finest unit whose value fits in 8 digits, rounded up
    (a server must not see a shorter deadline than ours), at least 1."""
    if not seconds > 0:
        raise WireError(f"a grpc-timeout is positive, got {seconds!r} s")
    for unit, per_second in _UNITS:
        value = seconds * per_second
        whole = int(value)
        whole += whole < value
        if whole <= 99_999_999:
            return f"{max(whole, 1)}{unit}"
    raise WireError(f"a grpc-timeout of {seconds!r} s does not fit in 8 digits of hours")


def parse_status(value: str) -> int:
    """The code of a ``grpc-status`` value (``1*DIGIT``, decimal, no leading zero); a code outside the known
    ones is kept (a client treats it as UNKNOWN)."""
    if not value.isascii() or not value.isdigit() or (len(value) > 1 and value[0] == "0") or len(value) > 9:
        raise WireError(f"expected grpc-status as a decimal number, got {value[:40]!r}")
    return int(value)


def status_name(code: int) -> str:
    try:
        return StatusCode(code).name
    except ValueError:
        return f"UNKNOWN ({code})"


def decode_status_message(value: str) -> str:
    """A ``grpc-message``: percent-encoded UTF-8, decoded leniently (the specification forbids failing on a
    broken encoding: a bad ``%`` sequence stays as it is, bad UTF-8 becomes U+FFFD)."""
    return urllib.parse.unquote(value, errors="replace")


_HTTP_TO_GRPC = {400: StatusCode.INTERNAL, 401: StatusCode.UNAUTHENTICATED, 403: StatusCode.PERMISSION_DENIED,
                 404: StatusCode.UNIMPLEMENTED, 429: StatusCode.UNAVAILABLE, 502: StatusCode.UNAVAILABLE,
                 503: StatusCode.UNAVAILABLE, 504: StatusCode.UNAVAILABLE}


def status_from_http(http_status: int) -> StatusCode:
    """The status a gRPC client synthesizes for an HTTP status that is not 200 (``http-grpc-status-mapping``)."""
    return _HTTP_TO_GRPC.get(http_status, StatusCode.UNKNOWN)


# -- protobuf -----------------------------------------------------------------------------------------------------

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5


def encode_varint(value: int) -> bytes:
    """A protobuf varint (negative values as their 64-bit two's complement, as int32/int64 fields are sent)."""
    if value < 0:
        value += 1 << 64
    if not 0 <= value < 1 << 64:
        raise WireError(f"a varint holds 64 bits, got {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("a protobuf varint is cut short")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise WireError("a protobuf varint of more than 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("a protobuf varint of more than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a protobuf message: an int for varints and fixed-size
    fields, bytes for length-delimited ones. Groups (deprecated; no message here has them) are a WireError."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise WireError(f"a protobuf field number of {number}")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type in (_I64, _I32):
            size = 8 if wire_type == _I64 else 4
            if pos + size > end:
                raise WireError(f"a protobuf fixed-size field {number} is cut short")
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        elif wire_type == _LEN:
            length, pos = _read_varint(data, pos)
            if pos + length > end:
                raise WireError(f"protobuf field {number} announces {length} bytes, {end - pos} remain")
            value = data[pos : pos + length]
            pos += length
        else:
            raise WireError(f"protobuf wire type {wire_type} (field {number}) is not used by these messages")
        yield number, wire_type, value


def _field(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def _string_field(number: int, value: str) -> bytes:
    raw = value.encode()
    return _field(number, _LEN) + encode_varint(len(raw)) + raw


def _expect(number: int, wire_type: int, want: int, message: str) -> None:
    if wire_type != want:
        raise WireError(f"{message} field {number}: expected wire type {want}, got {wire_type}")


def _text(value: int | bytes, what: str) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise WireError(f"{what} is not UTF-8 (a protobuf string must be)") from None


def _int32(value: int | bytes) -> int:
    assert isinstance(value, int)
    value &= 0xFFFFFFFF  # int32: the low 32 bits of the varint, signed
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True, slots=True)
class ListVoicesRequest:
    """``ListVoicesRequest``: the language whose voices to list ("" for all)."""

    language_code: str = ""

    def encode(self) -> bytes:
        return _string_field(1, self.language_code) if self.language_code else b""


def decode_list_voices_request(data: bytes) -> ListVoicesRequest:
    language = ""
    for number, wire_type, value in fields(data):
        if number == 1:
            _expect(number, wire_type, _LEN, "ListVoicesRequest")
            language = _text(value, "ListVoicesRequest.language_code")
    return ListVoicesRequest(language)


@dataclass(frozen=True, slots=True)
class Voice:
    """``Voice``: ``ssml_gender`` is the enum's number (0 unspecified, 1 male, 2 female, 3 neutral)."""

    language_codes: tuple[str, ...] = ()
    name: str = ""
    ssml_gender: int = 0
    natural_sample_rate_hertz: int = 0

    def encode(self) -> bytes:
        out = b"".join(_string_field(1, code) for code in self.language_codes)
        if self.name:
            out += _string_field(2, self.name)
        if self.ssml_gender:
            out += _field(3, _VARINT) + encode_varint(self.ssml_gender)
        if self.natural_sample_rate_hertz:
            out += _field(4, _VARINT) + encode_varint(self.natural_sample_rate_hertz)
        return out


def _decode_voice(data: bytes) -> Voice:
    codes: list[str] = []
    name, gender, rate = "", 0, 0
    for number, wire_type, value in fields(data):
        if number == 1:
            _expect(number, wire_type, _LEN, "Voice")
            codes.append(_text(value, "Voice.language_codes"))
        elif number == 2:
            _expect(number, wire_type, _LEN, "Voice")
            name = _text(value, "Voice.name")
        elif number in (3, 4):
            _expect(number, wire_type, _VARINT, "Voice")
            if number == 3:
                gender = _int32(value)
            else:
                rate = _int32(value)
    return Voice(tuple(codes), name, gender, rate)


@dataclass(frozen=True, slots=True)
class ListVoicesResponse:
    """``ListVoicesResponse``: the voices, in the order received."""

    voices: tuple[Voice, ...] = ()

    def encode(self) -> bytes:
        out = bytearray()
        for voice in self.voices:
            raw = voice.encode()
            out += _field(1, _LEN) + encode_varint(len(raw)) + raw
        return bytes(out)


def decode_list_voices_response(data: bytes) -> ListVoicesResponse:
    voices: list[Voice] = []
    for number, wire_type, value in fields(data):
        if number == 1:
            _expect(number, wire_type, _LEN, "ListVoicesResponse")
            assert isinstance(value, bytes)
            voices.append(_decode_voice(value))
    return ListVoicesResponse(tuple(voices))
