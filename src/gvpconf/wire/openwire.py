"""ActiveMQ OpenWire: just enough for the WireFormatInfo handshake.

Sources: apache/activemq ``OpenWireFormat.marshal`` (size prefix, then the data type
byte, then the command), ``WireFormatInfoMarshaller.looseMarshal`` and
``MarshallingSupport.marshalPrimitiveMap``. Both peers send a WireFormatInfo as soon as
the connection is up, always in the loose encoding (tight encoding, if both ask for it,
is only switched on after the exchange)::

    frame          = size:int32 data-type:int8 body         ; size counts data-type + body
    WireFormatInfo = magic:"ActiveMQ" version:int32 marshalled-properties
    marshalled-properties = present:bool [ length:int32 primitive-map ]
    primitive-map  = count:int32 *( key:java-utf value:typed-primitive )

WireFormatInfoMarshaller extends BaseDataStreamMarshaller, not BaseCommandMarshaller:
WireFormatInfo has no commandId / responseRequired fields on the wire, the magic follows
the data type byte directly. All integers are big-endian (java.io.DataOutput).
"""

from __future__ import annotations

import struct
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from gvpconf.wire import BufferedDecoder, WireError
from gvpconf.wire.banner import describe

__all__ = [
    "MAGIC",
    "MAX_FRAME_SIZE",
    "WIREFORMAT_INFO",
    "OpenWireDecoder",
    "OpenWireFrame",
    "Primitive",
    "WireFormatInfo",
    "client_wireformat_info",
    "encode_wireformat_info",
    "parse_wireformat_info",
]

Primitive: TypeAlias = "bool | int | float | str | bytes | dict[str, Primitive] | list[Primitive] | None"

WIREFORMAT_INFO = 1  # CommandTypes.WIREFORMAT_INFO
MAGIC = b"ActiveMQ"
MAX_FRAME_SIZE = 1024 * 1024
_MAX_DEPTH = 16

# MarshallingSupport type bytes.
(NULL, BOOLEAN, BYTE, CHAR, SHORT, INTEGER, LONG, DOUBLE, FLOAT, STRING, BYTE_ARRAY, MAP, LIST,
 BIG_STRING) = range(14)

# WireFormatInfo reads these with a (Long) cast and CacheSize with an (Integer) cast, so the
# Java type matters: a Python int under one of these keys is always written as LONG.
LONG_PROPERTIES = frozenset({"MaxInactivityDuration", "MaxInactivityDurationInitalDelay", "MaxFrameSize"})
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _java_utf(text: str) -> bytes:
    """Java "modified UTF-8" (DataOutput.writeUTF): NUL as C0 80, non-BMP as two surrogates."""
    units = text.encode("utf-16-be", "surrogatepass")
    cesu = "".join(chr(int.from_bytes(units[i : i + 2], "big")) for i in range(0, len(units), 2))
    return cesu.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


def _from_java_utf(data: bytes) -> str:
    try:
        cesu = data.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
        return cesu.encode("utf-16-be", "surrogatepass").decode("utf-16-be")
    except UnicodeError as exc:
        raise WireError(f"invalid Java modified UTF-8 string: {describe(data)}") from exc


def _check_primitive(value: object, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise WireError(f"primitive map nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | float | bytes):
        return
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise WireError(f"integer {value} does not fit a Java long")
    elif isinstance(value, str):
        _java_utf(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or len(_java_utf(key)) > 0xFFFF:
                raise WireError(f"primitive map keys must be str of at most 65535 bytes, got {key!r:.60}")
            _check_primitive(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_primitive(item, depth + 1)
    else:
        raise WireError(f"not an OpenWire primitive: {value!r}")


@dataclass(frozen=True, slots=True)
class WireFormatInfo:
    """A WireFormatInfo command: protocol version and negotiation properties."""

    version: int
    properties: Mapping[str, Primitive]

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not _INT32[0] <= self.version <= _INT32[1]:
            raise WireError(f"OpenWire version must be a 32-bit int, got {self.version!r}")
        _check_primitive(dict(self.properties))
        object.__setattr__(self, "properties", types.MappingProxyType(dict(self.properties)))


@dataclass(frozen=True, slots=True)
class OpenWireFrame:
    """One size-prefixed OpenWire frame: the data type byte and the command bytes after it."""

    data_type: int
    body: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.data_type <= 255:
            raise WireError(f"OpenWire data type must be a byte, got {self.data_type}")


# ---------------------------------------------------------------- encoding


def _string(text: str) -> bytes:
    """MarshallingSupport.marshalString: STRING (2-byte length) below 8191 chars, else BIG_STRING."""
    data = _java_utf(text)
    if len(text.encode("utf-16-be", "surrogatepass")) // 2 < 32767 // 4:
        return struct.pack("!BH", STRING, len(data)) + data
    return struct.pack("!Bi", BIG_STRING, len(data)) + data


def _primitive(value: Primitive, *, long: bool = False) -> bytes:
    """MarshallingSupport.marshalPrimitive for the Python types of ``Primitive``."""
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, value])
    if isinstance(value, int):
        if long or not _INT32[0] <= value <= _INT32[1]:
            return struct.pack("!Bq", LONG, value)
        return struct.pack("!Bi", INTEGER, value)
    if isinstance(value, float):
        return struct.pack("!Bd", DOUBLE, value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes):
        return struct.pack("!Bi", BYTE_ARRAY, len(value)) + value
    if isinstance(value, dict):
        return bytes([MAP]) + _primitive_map(value)
    return struct.pack("!Bi", LIST, len(value)) + b"".join(_primitive(item) for item in value)


def _primitive_map(properties: Mapping[str, Primitive], *, longs: frozenset[str] = frozenset()) -> bytes:
    parts = [struct.pack("!i", len(properties))]
    for key, value in properties.items():
        name = _java_utf(key)
        parts.append(struct.pack("!H", len(name)) + name + _primitive(value, long=key in longs))
    return b"".join(parts)


def encode_wireformat_info(info: WireFormatInfo) -> bytes:
    """The full size-prefixed frame of ``info``, loose encoding, as OpenWireFormat.marshal writes it."""
    props = _primitive_map(info.properties, longs=LONG_PROPERTIES)
    body = MAGIC + struct.pack("!i?i", info.version, True, len(props)) + props
    return struct.pack("!iB", 1 + len(body), WIREFORMAT_INFO) + body


def client_wireformat_info(version: int = 12) -> WireFormatInfo:
    """What an ActiveMQ Java client sends (OpenWireFormatFactory defaults), minus tight encoding.

    TightEncodingEnabled and CacheEnabled are False: the broker ANDs both sides'
    preferences (OpenWireFormat.renegotiateWireFormat), so it keeps the loose encoding
    and no marshalling cache for this connection, which is only handshaken and closed.
    PlatformDetails is "Java", what clients send unless told to include JVM details.
    """
    return WireFormatInfo(
        version,
        {
            "TcpNoDelayEnabled": True,
            "SizePrefixDisabled": False,
            "CacheSize": 1024,
            "ProviderName": "ActiveMQ",
            "StackTraceEnabled": False,
            "PlatformDetails": "Java",
            "CacheEnabled": False,
            "TightEncodingEnabled": False,
            "MaxFrameSize": MAX_FRAME_SIZE,
            "MaxInactivityDuration": 30000,
            "MaxInactivityDurationInitalDelay": 10000,
            "ProviderVersion": "gvpconf",
        },
    )


# ---------------------------------------------------------------- decoding


class _Reader:
    """Bounds-checked big-endian reads; running out of bytes is a WireError."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, count: int) -> bytes:
        if count < 0 or count > self.remaining:
            raise WireError(f"{self._what} truncated: needed {count} bytes at offset {self._pos}, "
                            f"{self.remaining} left")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def unpack(self, fmt: str) -> int | float:
        value: int | float = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def int32(self) -> int:
        return int(self.unpack("!i"))

    def java_utf(self, length: int) -> str:
        return _from_java_utf(self.take(length))


def _read_map(reader: _Reader, depth: int) -> dict[str, Primitive] | None:
    count = reader.int32()
    if count < 0:
        return None  # marshalPrimitiveMap writes -1 for a null map
    if count > reader.remaining // 3:  # every entry takes at least 3 bytes
        raise WireError(f"primitive map claims {count} entries in {reader.remaining} bytes")
    result: dict[str, Primitive] = {}
    for _ in range(count):
        key = reader.java_utf(int(reader.unpack("!H")))
        result[key] = _read_primitive(reader, depth)
    return result


def _read_primitive(reader: _Reader, depth: int) -> Primitive:
    if depth > _MAX_DEPTH:
        raise WireError(f"primitive map nested deeper than {_MAX_DEPTH} levels")
    kind = reader.take(1)[0]
    fixed = {BOOLEAN: "!?", BYTE: "!b", SHORT: "!h", INTEGER: "!i", LONG: "!q", DOUBLE: "!d", FLOAT: "!f"}
    if kind == NULL:
        return None
    if kind in fixed:
        value = reader.unpack(fixed[kind])
        return bool(value) if kind == BOOLEAN else value
    if kind == CHAR:
        return chr(int(reader.unpack("!H")))
    if kind == STRING:
        return reader.java_utf(int(reader.unpack("!H")))
    if kind in (BIG_STRING, BYTE_ARRAY):
        length = reader.int32()
        if length < 0:
            raise WireError(f"negative length {length} for a primitive of type {kind}")
        return reader.java_utf(length) if kind == BIG_STRING else reader.take(length)
    if kind == MAP:
        return _read_map(reader, depth + 1)
    if kind == LIST:
        count = reader.int32()
        if count < 0 or count > reader.remaining:
            raise WireError(f"primitive list claims {count} items in {reader.remaining} bytes")
        return [_read_primitive(reader, depth + 1) for _ in range(count)]
    raise WireError(f"unknown primitive type byte {kind}")


def parse_wireformat_info(frame: OpenWireFrame) -> WireFormatInfo:
    """Decode a WireFormatInfo frame (WireFormatInfoMarshaller.looseUnmarshal)."""
    if frame.data_type != WIREFORMAT_INFO:
        raise WireError(f"expected a WireFormatInfo (data type {WIREFORMAT_INFO}), got data type "
                        f"{frame.data_type}: {describe(frame.body)}")
    reader = _Reader(frame.body, "WireFormatInfo")
    magic = reader.take(min(len(MAGIC), reader.remaining))
    if magic != MAGIC:
        raise WireError(f"WireFormatInfo magic is not 'ActiveMQ': got {describe(magic)}")
    version = reader.int32()
    properties: dict[str, Primitive] = {}
    if reader.take(1) != b"\x00":
        props = _Reader(reader.take(reader.int32()), "WireFormatInfo properties")
        properties = _read_map(props, 0) or {}
        if props.remaining:
            raise WireError(f"{props.remaining} stray bytes after the WireFormatInfo properties")
    if reader.remaining:
        raise WireError(f"{reader.remaining} stray bytes after the WireFormatInfo")
    return WireFormatInfo(version, properties)


class OpenWireDecoder(BufferedDecoder[OpenWireFrame]):
    """Incremental splitter of size-prefixed OpenWire frames: ``feed``, then ``next_message``.

    A frame may be at most ``max_message_size`` bytes after its 4-byte size (``MAX_FRAME_SIZE``, 1 MB,
    the MaxFrameSize we announce): a larger size is a WireError before any of it is buffered. After a
    WireError the decoder stays broken and raises the same error again.
    """

    def __init__(self, *, max_message_size: int = MAX_FRAME_SIZE) -> None:
        super().__init__(max_message_size=max_message_size)

    def _next(self) -> OpenWireFrame | None:
        buf = self._buffer
        if len(buf) < 4:
            return None
        size = int.from_bytes(buf[:4], "big", signed=True)
        if not 1 <= size <= self.max_message_size:
            raise WireError(f"OpenWire frame size {size} is outside 1..{self.max_message_size}; the peer sent "
                            f"{describe(bytes(buf))}")
        if len(buf) < 4 + size:
            return None
        frame = OpenWireFrame(buf[4], bytes(buf[5 : 4 + size]))
        del buf[: 4 + size]
        return frame
