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

Commands after the handshake (``Structure``, ``encode_command``, ``decode_command``): the loose
encoding of the ``v12`` marshallers (``openwire/v12/*Marshaller.looseMarshal``), with the
marshalling cache off, for the commands a client session uses (ConnectionInfo, SessionInfo,
ProducerInfo, ConsumerInfo, DestinationInfo, a message, MessageAck, RemoveInfo, ShutdownInfo) and
those a broker sends back (Response, ExceptionResponse, MessageDispatch, BrokerInfo, KeepAliveInfo,
ConnectionControl, ConsumerControl, ConnectionError, ProducerAck)::

    command      = command-id:int32 response-required:bool fields   ; BaseCommandMarshaller
    string       = present:bool [ java-utf ]                        ; looseMarshalString
    nested       = present:bool [ data-type:int8 structure ]        ; looseMarshalNestedObject
    array        = present:bool [ count:int16 *nested ]             ; looseMarshalObjectArray
    byte-seq     = present:bool [ length:int32 bytes ]              ; looseMarshalByteSequence
    throwable    = present:bool [ class:string message:string       ; looseMarshalThrowable
                   [ count:int16 *(class method file line:int32) throwable ] ]  ; only with stack traces

The layout of these commands is the same in protocol versions 10, 11 and 12 (version 9 lacks
ConsumerInfo.clientId, Message.JMSXGroupFirstForConsumer and MessageId.textView): ``VERSIONS``.
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
    "COMMAND_TYPES",
    "MAGIC",
    "MAX_FRAME_SIZE",
    "VERSIONS",
    "WIREFORMAT_INFO",
    "JavaThrowable",
    "OpenWireDecoder",
    "OpenWireFrame",
    "Primitive",
    "Structure",
    "WireFormatInfo",
    "client_wireformat_info",
    "decode_command",
    "encode_command",
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


# ---------------------------------------------------------------- commands (loose encoding, no cache)

#: the protocol versions whose marshallers lay out every command here alike
VERSIONS = range(10, 13)

Kind: TypeAlias = str  # "bool" "byte" "int" "long" "string" "nested" "array" "bytes" "throwable"


@dataclass(frozen=True, slots=True)
class JavaThrowable:
    """A marshalled java.lang.Throwable: class name, message, stack (only with stack traces on), cause."""

    class_name: str | None
    message: str | None
    stack: tuple[tuple[str | None, str | None, str | None, int], ...] = ()
    cause: JavaThrowable | None = None

    def __post_init__(self) -> None:
        for text in (self.class_name, self.message, *(part for frame in self.stack for part in frame[:3])):
            if text is not None and not isinstance(text, str):
                raise WireError(f"a throwable's strings must be str or None, got {text!r:.60}")
        if any(isinstance(f[3], bool) or not isinstance(f[3], int) or not _INT32[0] <= f[3] <= _INT32[1]
               for f in self.stack):
            raise WireError("a stack frame's line number must be a 32-bit int")
        if len(self.stack) > 0x7FFF:
            raise WireError("too many stack frames for a 16-bit count")

    def depth(self) -> int:
        return 1 + (self.cause.depth() if self.cause is not None else 0)

    def describe(self) -> str:
        """``class: message`` of this throwable and its causes."""
        text = f"{self.class_name or '?'}: {self.message or ''}".rstrip(": ")
        return text if self.cause is None else f"{text} (caused by {self.cause.describe()})"


_BASE = (("command_id", "int"), ("response_required", "bool"))
_MESSAGE = (*_BASE,
    ("producer_id", "nested"), ("destination", "nested"), ("transaction_id", "nested"),
    ("original_destination", "nested"), ("message_id", "nested"), ("original_transaction_id", "nested"),
    ("group_id", "string"), ("group_sequence", "int"), ("correlation_id", "string"), ("persistent", "bool"),
    ("expiration", "long"), ("priority", "byte"), ("reply_to", "nested"), ("timestamp", "long"), ("type", "string"),
    ("content", "bytes"), ("marshalled_properties", "bytes"), ("data_structure", "nested"),
    ("target_consumer_id", "nested"), ("compressed", "bool"), ("redelivery_counter", "int"), ("broker_path", "array"),
    ("arrival", "long"), ("user_id", "string"), ("received_by_df_bridge", "bool"), ("droppable", "bool"),
    ("cluster", "array"), ("broker_in_time", "long"), ("broker_out_time", "long"),
    ("jmsx_group_first_for_consumer", "bool"))
_DESTINATION = (("physical_name", "string"),)

#: data type -> (name, fields in wire order): CommandTypes and the v12 marshallers' looseMarshal
SCHEMAS: dict[int, tuple[str, tuple[tuple[str, Kind], ...]]] = {
    2: ("BrokerInfo", (*_BASE, ("broker_id", "nested"), ("broker_url", "string"), ("peer_broker_infos", "array"),
        ("broker_name", "string"), ("slave_broker", "bool"), ("master_broker", "bool"),
        ("fault_tolerant_configuration", "bool"), ("duplex_connection", "bool"), ("network_connection", "bool"),
        ("connection_id", "long"), ("broker_upload_url", "string"), ("network_properties", "string"))),
    3: ("ConnectionInfo", (*_BASE, ("connection_id", "nested"), ("client_id", "string"), ("password", "string"),
        ("user_name", "string"), ("broker_path", "array"), ("broker_master_connector", "bool"), ("manageable", "bool"),
        ("client_master", "bool"), ("fault_tolerant", "bool"), ("failover_reconnect", "bool"),
        ("client_ip", "string"))),
    4: ("SessionInfo", (*_BASE, ("session_id", "nested"),)),
    5: ("ConsumerInfo", (*_BASE, ("consumer_id", "nested"), ("browser", "bool"), ("destination", "nested"),
        ("prefetch_size", "int"), ("maximum_pending_message_limit", "int"), ("dispatch_async", "bool"),
        ("selector", "string"), ("client_id", "string"), ("subscription_name", "string"), ("no_local", "bool"),
        ("exclusive", "bool"), ("retroactive", "bool"), ("priority", "byte"), ("broker_path", "array"),
        ("additional_predicate", "nested"), ("network_subscription", "bool"), ("optimized_acknowledge", "bool"),
        ("no_range_acks", "bool"), ("network_consumer_path", "array"))),
    6: ("ProducerInfo", (*_BASE, ("producer_id", "nested"), ("destination", "nested"), ("broker_path", "array"),
        ("dispatch_async", "bool"), ("window_size", "int"))),
    8: ("DestinationInfo", (*_BASE, ("connection_id", "nested"), ("destination", "nested"), ("operation_type", "byte"),
        ("timeout", "long"), ("broker_path", "array"))),
    10: ("KeepAliveInfo", _BASE),
    11: ("ShutdownInfo", _BASE),
    12: ("RemoveInfo", (*_BASE, ("object_id", "nested"), ("last_delivered_sequence_id", "long"))),
    14: ("ControlCommand", (*_BASE, ("command", "string"),)),
    16: ("ConnectionError", (*_BASE, ("exception", "throwable"), ("connection_id", "nested"))),
    17: ("ConsumerControl", (*_BASE, ("destination", "nested"), ("close", "bool"), ("consumer_id", "nested"),
        ("prefetch", "int"), ("flush", "bool"), ("start", "bool"), ("stop", "bool"))),
    18: ("ConnectionControl", (*_BASE, ("close", "bool"), ("exit", "bool"), ("fault_tolerant", "bool"),
        ("resume", "bool"), ("suspend", "bool"), ("connected_brokers", "string"), ("reconnect_to", "string"),
        ("rebalance_connection", "bool"), ("token", "bytes"))),
    19: ("ProducerAck", (*_BASE, ("producer_id", "nested"), ("size", "int"))),
    21: ("MessageDispatch", (*_BASE, ("consumer_id", "nested"), ("destination", "nested"), ("message", "nested"),
        ("redelivery_counter", "int"))),
    22: ("MessageAck", (*_BASE, ("destination", "nested"), ("transaction_id", "nested"), ("consumer_id", "nested"),
        ("ack_type", "byte"), ("first_message_id", "nested"), ("last_message_id", "nested"), ("message_count", "int"),
        ("poison_cause", "throwable"))),
    23: ("ActiveMQMessage", _MESSAGE),
    24: ("ActiveMQBytesMessage", _MESSAGE),
    28: ("ActiveMQTextMessage", _MESSAGE),
    30: ("Response", (*_BASE, ("correlation_id", "int"),)),
    31: ("ExceptionResponse", (*_BASE, ("correlation_id", "int"), ("exception", "throwable"))),
    100: ("ActiveMQQueue", _DESTINATION),
    101: ("ActiveMQTopic", _DESTINATION),
    102: ("ActiveMQTempQueue", _DESTINATION),
    103: ("ActiveMQTempTopic", _DESTINATION),
    110: ("MessageId", (("text_view", "string"), ("producer_id", "nested"), ("producer_sequence_id", "long"),
        ("broker_sequence_id", "long"))),
    120: ("ConnectionId", (("value", "string"),)),
    121: ("SessionId", (("connection_id", "string"), ("value", "long"))),
    122: ("ConsumerId", (("connection_id", "string"), ("session_id", "long"), ("value", "long"))),
    123: ("ProducerId", (("connection_id", "string"), ("value", "long"), ("session_id", "long"))),
    124: ("BrokerId", (("value", "string"),)),
}
#: name -> data type, for the commands and structures above
COMMAND_TYPES: dict[str, int] = {name: data_type for data_type, (name, _fields) in SCHEMAS.items()}

Value: TypeAlias = "bool | int | str | bytes | Structure | JavaThrowable | tuple[Structure | None, ...] | None"
_DEFAULTS: dict[Kind, Value] = {"bool": False, "byte": 0, "int": 0, "long": 0, "string": None, "nested": None,
                                "array": None, "bytes": None, "throwable": None}
_RANGES = {"byte": (-128, 127), "int": _INT32, "long": _INT64}


def _check_value(name: str, kind: Kind, value: object) -> None:
    ok: bool
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind in _RANGES:
        low, high = _RANGES[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif kind == "string":
        ok = value is None or (isinstance(value, str) and len(_java_utf(value)) <= 0xFFFF)
    elif kind == "nested":
        ok = value is None or isinstance(value, Structure)
    elif kind == "array":
        ok = value is None or (isinstance(value, tuple) and len(value) <= 0x7FFF
                               and all(v is None or isinstance(v, Structure) for v in value))
    elif kind == "bytes":
        ok = value is None or isinstance(value, bytes)
    else:
        ok = value is None or isinstance(value, JavaThrowable)
    if not ok:
        raise WireError(f"field {name} ({kind}) cannot hold {value!r:.80}")


@dataclass(frozen=True, slots=True)
class Structure:
    """One OpenWire command or data structure: its data type and every field of its marshaller, by name.

    Build one with ``Structure.of("ConnectionInfo", command_id=1, ...)``: fields not given take the
    marshaller's zero value (False, 0, null).
    """

    data_type: int
    fields: Mapping[str, Value]

    def __post_init__(self) -> None:
        if self.data_type not in SCHEMAS:
            raise WireError(f"no OpenWire structure of data type {self.data_type} is known here")
        name, schema = SCHEMAS[self.data_type]
        if set(self.fields) != {field for field, _kind in schema}:
            raise WireError(f"{name} has fields {sorted(f for f, _k in schema)}, got {sorted(self.fields)}")
        for field, kind in schema:
            _check_value(field, kind, self.fields[field])
        object.__setattr__(self, "fields", types.MappingProxyType(dict(self.fields)))

    @classmethod
    def of(cls, name: str, **values: Value) -> Structure:
        if name not in COMMAND_TYPES:
            raise WireError(f"unknown OpenWire structure {name!r}")
        data_type = COMMAND_TYPES[name]
        schema = SCHEMAS[data_type][1]
        unknown = set(values) - {field for field, _kind in schema}
        if unknown:
            raise WireError(f"{name} has no field {sorted(unknown)[0]!r}")
        return cls(data_type, {field: values.get(field, _DEFAULTS[kind]) for field, kind in schema})

    @property
    def name(self) -> str:
        return SCHEMAS[self.data_type][0]

    def __getitem__(self, field: str) -> Value:
        return self.fields[field]

    def get(self, field: str) -> Value:
        """A field's value, None when this structure has no such field."""
        return self.fields.get(field)

    def text(self, field: str) -> str | None:
        value = self.fields.get(field)
        return value if isinstance(value, str) else None

    def number(self, field: str) -> int:
        value = self.fields.get(field)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def nested(self, field: str) -> Structure | None:
        value = self.fields.get(field)
        return value if isinstance(value, Structure) else None

    def throwable(self, field: str) -> JavaThrowable | None:
        value = self.fields.get(field)
        return value if isinstance(value, JavaThrowable) else None


def _write_string(out: list[bytes], value: str | None) -> None:
    if value is None:
        out.append(b"\x00")
        return
    data = _java_utf(value)
    if len(data) > 0xFFFF:
        raise WireError(f"string of {len(data)} bytes does not fit DataOutput.writeUTF")
    out.append(struct.pack("!?H", True, len(data)) + data)


def _write_nested(out: list[bytes], value: Structure | None, stack_traces: bool, depth: int) -> None:
    if value is None:
        out.append(b"\x00")
        return
    out.append(struct.pack("!?B", True, value.data_type))
    _write_fields(out, value, stack_traces, depth + 1)


def _write_throwable(out: list[bytes], value: JavaThrowable | None, stack_traces: bool) -> None:
    if value is None:
        out.append(b"\x00")
        return
    if value.depth() > _MAX_DEPTH:
        raise WireError(f"throwable causes nested deeper than {_MAX_DEPTH} levels")
    out.append(b"\x01")
    _write_string(out, value.class_name)
    _write_string(out, value.message)
    if stack_traces:
        out.append(struct.pack("!h", len(value.stack)))
        for cls, method, file, line in value.stack:
            for text in (cls, method, file):
                _write_string(out, text)
            out.append(struct.pack("!i", line))
        _write_throwable(out, value.cause, stack_traces)


def _write_fields(out: list[bytes], structure: Structure, stack_traces: bool, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise WireError(f"OpenWire structures nested deeper than {_MAX_DEPTH} levels")
    for field, kind in SCHEMAS[structure.data_type][1]:
        value = structure.fields[field]
        if kind == "bool":
            out.append(b"\x01" if value else b"\x00")
        elif kind == "byte":
            out.append(struct.pack("!b", value))
        elif kind == "int":
            out.append(struct.pack("!i", value))
        elif kind == "long":
            out.append(struct.pack("!q", value))
        elif kind == "string":
            _write_string(out, value if isinstance(value, str) else None)
        elif kind == "nested":
            _write_nested(out, value if isinstance(value, Structure) else None, stack_traces, depth)
        elif kind == "array":
            if not isinstance(value, tuple):
                out.append(b"\x00")
                continue
            out.append(struct.pack("!?h", True, len(value)))
            for item in value:
                _write_nested(out, item, stack_traces, depth)
        elif kind == "bytes":
            if not isinstance(value, bytes):
                out.append(b"\x00")
                continue
            out.append(struct.pack("!?i", True, len(value)) + value)
        else:
            _write_throwable(out, value if isinstance(value, JavaThrowable) else None, stack_traces)


def encode_command(command: Structure, *, stack_traces: bool = False) -> bytes:
    """The size-prefixed frame of ``command`` in the loose encoding (OpenWireFormat.marshal, cache off).

    ``stack_traces``: the negotiated StackTraceEnabled (it decides how a throwable is written).
    """
    out = [struct.pack("!iB", 0, command.data_type)]
    _write_fields(out, command, stack_traces, 0)
    data = b"".join(out)
    return struct.pack("!i", len(data) - 4) + data[4:]


class _FieldReader(_Reader):
    def __init__(self, data: bytes, what: str, stack_traces: bool) -> None:
        super().__init__(data, what)
        self.stack_traces = stack_traces

    def flag(self) -> bool:
        return self.take(1) != b"\x00"  # DataInput.readBoolean: any non-zero byte is true

    def string(self) -> str | None:
        if not self.flag():
            return None
        return self.java_utf(int(self.unpack("!H")))

    def nested(self, depth: int) -> Structure | None:
        if not self.flag():
            return None
        data_type = self.take(1)[0]
        if data_type not in SCHEMAS:
            raise WireError(f"unknown nested OpenWire data type {data_type}")
        return self.structure(data_type, depth + 1)

    def throwable(self, depth: int) -> JavaThrowable | None:
        if depth > _MAX_DEPTH:
            raise WireError(f"throwable causes nested deeper than {_MAX_DEPTH} levels")
        if not self.flag():
            return None
        class_name, message = self.string(), self.string()
        if not self.stack_traces:
            return JavaThrowable(class_name, message)
        count = int(self.unpack("!h"))
        if count < 0 or count > self.remaining // 7:  # every frame takes at least 7 bytes
            raise WireError(f"stack trace claims {count} frames in {self.remaining} bytes")
        stack = tuple((self.string(), self.string(), self.string(), self.int32()) for _ in range(count))
        return JavaThrowable(class_name, message, stack, self.throwable(depth + 1))

    def structure(self, data_type: int, depth: int) -> Structure:
        if depth > _MAX_DEPTH:
            raise WireError(f"OpenWire structures nested deeper than {_MAX_DEPTH} levels")
        values: dict[str, Value] = {}
        for field, kind in SCHEMAS[data_type][1]:
            if kind == "bool":
                values[field] = self.flag()
            elif kind == "byte":
                values[field] = int(self.unpack("!b"))
            elif kind == "int":
                values[field] = self.int32()
            elif kind == "long":
                values[field] = int(self.unpack("!q"))
            elif kind == "string":
                values[field] = self.string()
            elif kind == "nested":
                values[field] = self.nested(depth)
            elif kind == "array":
                if not self.flag():
                    values[field] = None
                    continue
                count = int(self.unpack("!h"))
                if count < 0 or count > self.remaining:
                    raise WireError(f"array {field} claims {count} items in {self.remaining} bytes")
                values[field] = tuple(self.nested(depth) for _ in range(count))
            elif kind == "bytes":
                if not self.flag():
                    values[field] = None
                    continue
                length = self.int32()
                if length < 0:
                    raise WireError(f"negative length {length} for {field}")
                values[field] = self.take(length)
            else:
                values[field] = self.throwable(0)
        return Structure(data_type, values)


def decode_command(frame: OpenWireFrame, *, stack_traces: bool = False) -> Structure:
    """Decode a command frame (loose encoding, cache off). WireFormatInfo has its own ``parse_wireformat_info``."""
    if frame.data_type not in SCHEMAS or frame.data_type >= 100:
        raise WireError(f"OpenWire command of data type {frame.data_type} is not known here: "
                        f"{describe(frame.body)}")
    reader = _FieldReader(frame.body, SCHEMAS[frame.data_type][0], stack_traces)
    command = reader.structure(frame.data_type, 0)
    if reader.remaining:
        raise WireError(f"{reader.remaining} stray bytes after the {command.name}")
    return command
