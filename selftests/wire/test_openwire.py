"""OpenWire codec: a broker's real handshake frame, the commands of a client session, malformed input, properties."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire.openwire import (
    COMMAND_TYPES,
    MAX_FRAME_SIZE,
    SCHEMAS,
    VERSIONS,
    JavaThrowable,
    OpenWireDecoder,
    OpenWireFrame,
    Primitive,
    Structure,
    WireFormatInfo,
    client_wireformat_info,
    decode_command,
    encode_command,
    encode_wireformat_info,
    parse_wireformat_info,
)
from selftests.wire.wirehelp import (
    FEEDS,
    WIRE_SETTINGS,
    check_broken,
    check_table,
    chunks,
    decode_chunks,
    parse_or_wire_error,
)


def utf(text: str) -> bytes:
    """DataOutput.writeUTF for ASCII text: 2-byte length, then the bytes."""
    return struct.pack("!H", len(text)) + text.encode("ascii")


def entry(name: str, type_byte: int, payload: bytes) -> bytes:
    return utf(name) + bytes([type_byte]) + payload


def wireformat_frame(version: int, entries: list[bytes]) -> bytes:
    """Size prefix, data type 1, magic, version, present flag, length, primitive map."""
    props = struct.pack("!i", len(entries)) + b"".join(entries)
    body = b"ActiveMQ" + struct.pack("!i", version) + b"\x01" + struct.pack("!i", len(props)) + props
    return struct.pack("!i", 1 + len(body)) + b"\x01" + body


# The WireFormatInfo an ActiveMQ 5.17.6 broker sends first on a default transport connector
# (activemq.xml sets wireFormat.maxFrameSize=104857600), rebuilt from OpenWireFormatFactory,
# WireFormatInfoMarshaller.looseMarshal and MarshallingSupport.marshalPrimitiveMap. The entry
# order is java.util.HashMap's iteration order for these twelve keys (16 buckets).
BROKER_WFI = wireformat_frame(
    12,
    [
        entry("TcpNoDelayEnabled", 1, b"\x01"),
        entry("SizePrefixDisabled", 1, b"\x00"),
        entry("CacheSize", 5, struct.pack("!i", 1024)),
        entry("ProviderName", 9, utf("ActiveMQ")),
        entry("StackTraceEnabled", 1, b"\x01"),
        entry("PlatformDetails", 9, utf("Java")),
        entry("CacheEnabled", 1, b"\x01"),
        entry("TightEncodingEnabled", 1, b"\x01"),
        entry("MaxFrameSize", 6, struct.pack("!q", 104857600)),
        entry("MaxInactivityDuration", 6, struct.pack("!q", 30000)),
        entry("MaxInactivityDurationInitalDelay", 6, struct.pack("!q", 10000)),
        entry("ProviderVersion", 9, utf("5.17.6")),
    ],
)
BROKER_INFO = WireFormatInfo(
    12,
    {
        "TcpNoDelayEnabled": True,
        "SizePrefixDisabled": False,
        "CacheSize": 1024,
        "ProviderName": "ActiveMQ",
        "StackTraceEnabled": True,
        "PlatformDetails": "Java",
        "CacheEnabled": True,
        "TightEncodingEnabled": True,
        "MaxFrameSize": 104857600,
        "MaxInactivityDuration": 30000,
        "MaxInactivityDurationInitalDelay": 10000,
        "ProviderVersion": "5.17.6",
    },
)
KEEP_ALIVE = b"\x00\x00\x00\x01\x0a"  # KeepAliveInfo (type 10), empty loose body

VALID = [
    pytest.param(BROKER_WFI, OpenWireFrame(1, BROKER_WFI[5:]), id="activemq-5.17-broker"),
    pytest.param(encode_wireformat_info(client_wireformat_info()),
                 OpenWireFrame(1, encode_wireformat_info(client_wireformat_info())[5:]), id="our-client"),
    pytest.param(KEEP_ALIVE, OpenWireFrame(10, b""), id="keep-alive"),
]


def decode(parts: list[bytes]) -> list[OpenWireFrame]:
    return decode_chunks(OpenWireDecoder(), parts)


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_valid_whole_bytewise_and_trailing(data: bytes, expected: OpenWireFrame) -> None:
    check_table(OpenWireDecoder, data, expected, BROKER_WFI, OpenWireFrame(1, BROKER_WFI[5:]), 30)


def test_broker_wireformat_info() -> None:
    info = parse_wireformat_info(OpenWireFrame(1, BROKER_WFI[5:]))
    assert info == BROKER_INFO
    assert list(info.properties) == list(BROKER_INFO.properties)
    assert encode_wireformat_info(BROKER_INFO) == BROKER_WFI  # same bytes, same Java types


def test_client_wireformat_info() -> None:
    info = client_wireformat_info()
    assert info.version == 12
    assert set(info.properties) == set(BROKER_INFO.properties)
    assert info.properties["TightEncodingEnabled"] is False  # the broker ANDs both sides
    assert info.properties["SizePrefixDisabled"] is False
    assert info.properties["ProviderName"] == "ActiveMQ"
    data = encode_wireformat_info(info)
    assert data[4:13] == b"\x01ActiveMQ" and data[13:17] == b"\x00\x00\x00\x0c"
    # WireFormatInfo casts these to Long and CacheSize to Integer: the type bytes matter.
    for name in ("MaxInactivityDuration", "MaxInactivityDurationInitalDelay", "MaxFrameSize"):
        assert utf(name) + b"\x06" in data
    assert utf("CacheSize") + b"\x05\x00\x00\x04\x00" in data
    assert parse_wireformat_info(decode([data])[0]) == info
    assert client_wireformat_info(version=9).version == 9


def test_all_primitive_types() -> None:
    nested = struct.pack("!i", 1) + entry("k", 0, b"")
    frame = wireformat_frame(1, [
        entry("null", 0, b""),
        entry("bool", 1, b"\x02"),  # DataInput.readBoolean: any non-zero byte is true
        entry("byte", 2, b"\xfb"),
        entry("char", 3, b"\x00x"),
        entry("short", 4, b"\xff\xfe"),
        entry("int", 5, struct.pack("!i", -7)),
        entry("long", 6, struct.pack("!q", 2**40)),
        entry("double", 7, struct.pack("!d", 0.25)),
        entry("float", 8, struct.pack("!f", 1.5)),
        entry("string", 9, utf("abc")),
        entry("bytes", 10, struct.pack("!i", 3) + b"\x00\x01\x02"),
        entry("map", 11, nested),
        entry("null-map", 11, struct.pack("!i", -1)),
        entry("list", 12, struct.pack("!i", 2) + b"\x05\x00\x00\x00\x01" + b"\x09" + utf("x")),
        entry("big", 13, struct.pack("!i", 3) + b"big"),
    ])
    info = parse_wireformat_info(decode([frame])[0])
    assert info == WireFormatInfo(1, {
        "null": None, "bool": True, "byte": -5, "char": "x", "short": -2, "int": -7, "long": 2**40,
        "double": 0.25, "float": 1.5, "string": "abc", "bytes": b"\x00\x01\x02", "map": {"k": None},
        "null-map": None, "list": [1, "x"], "big": "big",
    })


def test_java_modified_utf8() -> None:
    info = WireFormatInfo(1, {"nul\x00": "\x00", "emoji": "\U0001f600", "big": "é" * 9000, "long": 2**40})
    data = encode_wireformat_info(info)
    assert b"\x00\x05nul\xc0\x80\x09\x00\x02\xc0\x80" in data  # NUL as C0 80, in keys and values
    assert b"\x09\x00\x06\xed\xa0\xbd\xed\xb8\x80" in data  # U+1F600 as two 3-byte surrogates
    assert b"\x0d\x00\x00\x46\x50" in data  # 9000 chars >= 8191: BIG_STRING, 18000 bytes
    assert parse_wireformat_info(decode([data])[0]) == info


def test_properties_absent_or_null() -> None:
    absent = b"ActiveMQ\x00\x00\x00\x05\x00"
    assert parse_wireformat_info(OpenWireFrame(1, absent)) == WireFormatInfo(5, {})
    null_map = b"ActiveMQ\x00\x00\x00\x05\x01\x00\x00\x00\x04\xff\xff\xff\xff"
    assert parse_wireformat_info(OpenWireFrame(1, null_map)) == WireFormatInfo(5, {})


DECODER_ERRORS = [
    pytest.param(b"\x00\x00\x00\x00\x01", "size 0", id="size-0"),
    pytest.param(b"\xff\xff\xff\xff\x01", "size -1", id="negative"),
    pytest.param(struct.pack("!i", MAX_FRAME_SIZE + 1) + b"\x01", "outside", id="oversize"),
    pytest.param(b"HTTP/1.1 400 Bad Request\r\n\r\n", "HTTP/1.1 400", id="http-peer"),
]


@pytest.mark.parametrize(("data", "message"), DECODER_ERRORS)
def test_decoder_errors(data: bytes, message: str) -> None:
    check_broken(OpenWireDecoder(), data, message)


BODY = BROKER_WFI[5:]
PARSE_ERRORS = [
    pytest.param(OpenWireFrame(2, BODY), "data type 2", id="broker-info-type"),
    pytest.param(OpenWireFrame(1, b"ActiveMX" + BODY[8:]), "magic.*ActiveMX", id="bad-magic"),
    pytest.param(OpenWireFrame(1, b"Active"), "magic.*Active", id="short-magic"),
    pytest.param(OpenWireFrame(1, BODY[:40]), "truncated", id="truncated"),
    pytest.param(OpenWireFrame(1, BODY + b"\x00"), "stray", id="stray-bytes"),
    pytest.param(OpenWireFrame(1, BODY[:13] + b"\x7f\xff\xff\xff" + BODY[17:]), "truncated",
                 id="props-length"),
    pytest.param(OpenWireFrame(1, BODY[:13] + struct.pack("!i", 4 + 2 + 1 + 1) + b"\x00\x00\x00\x01"
                               + b"\x00\x01k\x63"), "unknown primitive type", id="unknown-type"),
    pytest.param(OpenWireFrame(1, BODY[:13] + struct.pack("!i", 4 + 3 + 1) + b"\x00\x00\x00\x01"
                               + b"\x00\x01\xff\x00"), "modified UTF-8", id="bad-utf"),
    pytest.param(OpenWireFrame(1, BODY[:13] + struct.pack("!i", 4) + b"\x00\x10\x00\x00"), "claims",
                 id="absurd-count"),
    pytest.param(OpenWireFrame(1, BODY[:13] + struct.pack("!i", 4 + 3 + 1 + 4) + b"\x00\x00\x00\x01"
                               + b"\x00\x01k\x0a\xff\xff\xff\xff"), "negative", id="negative-length"),
]


@pytest.mark.parametrize(("frame", "message"), PARSE_ERRORS)
def test_parse_errors(frame: OpenWireFrame, message: str) -> None:
    with pytest.raises(WireError, match=message):
        parse_wireformat_info(frame)


@pytest.mark.parametrize(
    ("version", "properties"),
    [(2**31, {}), (1, {"x": object()}), (1, {"x": 2**63}), (1, {1: "x"}), (True, {})],
)
def test_invalid_construction(version: int, properties: dict[object, object]) -> None:
    with pytest.raises(WireError):
        WireFormatInfo(version, properties)  # type: ignore[arg-type]
    with pytest.raises(WireError):
        OpenWireFrame(256, b"")


# ---------------------------------------------------------------- properties

chars = st.characters(exclude_categories=["Cs"])
keys = st.text(chars, max_size=8)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(chars, max_size=12) | st.binary(max_size=12)
)


def containers(inner: st.SearchStrategy[Primitive]) -> st.SearchStrategy[Primitive]:
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


primitives: st.SearchStrategy[Primitive] = st.recursive(scalars, containers, max_leaves=5)
versions = st.integers(-(2**31), 2**31 - 1)
infos = st.builds(WireFormatInfo, versions, st.dictionaries(keys, primitives, max_size=4))


@WIRE_SETTINGS
@given(st.lists(infos, min_size=1, max_size=2), st.sampled_from(FEEDS))
def test_round_trip(original: list[WireFormatInfo], how: str) -> None:
    data = b"".join(encode_wireformat_info(info) for info in original)
    assert [parse_wireformat_info(frame) for frame in decode(chunks(data, how))] == original


@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_wire_error(data: bytes) -> None:
    parse_or_wire_error(OpenWireDecoder(), data)
    for body in (data, b"ActiveMQ" + data):
        with contextlib.suppress(WireError):
            parse_wireformat_info(OpenWireFrame(1, body))


@WIRE_SETTINGS
@given(st.integers(0, len(BROKER_WFI)), st.binary(max_size=100))
def test_arbitrary_bytes_after_valid_prefix(cut: int, tail: bytes) -> None:
    parse_or_wire_error(OpenWireDecoder(), BROKER_WFI[:cut] + tail)
    with contextlib.suppress(WireError):
        parse_wireformat_info(OpenWireFrame(1, BODY[:cut] + tail))


# ---------------------------------------------------------------- commands (loose encoding)

def ostr(text: str) -> bytes:
    """looseMarshalString: present flag, then writeUTF."""
    return b"\x01" + utf(text)


def frame_of(data_type: int, body: bytes) -> bytes:
    return struct.pack("!iB", 1 + len(body), data_type) + body


# ConnectionInfo as ConnectionInfoMarshaller.looseMarshal writes it (cache off): command id 7, response required,
# nested ConnectionId, clientId, password, userName, no brokerPath, five booleans, no clientIp.
CONNECTION_INFO_BYTES = frame_of(3, struct.pack("!i?", 7, True) + b"\x01\x78" + ostr("ID:c-1") + ostr("cid")
                                 + ostr("pw") + ostr("user") + b"\x00" + b"\x00\x00\x00\x00\x00" + b"\x00")
CONNECTION_INFO = Structure.of("ConnectionInfo", command_id=7, response_required=True,
                               connection_id=Structure.of("ConnectionId", value="ID:c-1"), client_id="cid",
                               password="pw", user_name="user")

# ExceptionResponse for a refused login as a 5.17 broker sends it with StackTraceEnabled negotiated on:
# correlation id, throwable (class, message, stack frames, cause absent).
EXCEPTION_WITH_STACK = frame_of(31, struct.pack("!i?i", 12, False, 7) + b"\x01"
                                + ostr("java.lang.SecurityException")
                                + ostr("User name [u] or password is invalid.")
                                + struct.pack("!h", 1) + ostr("org.apache.activemq.security.SimpleAuthenticationBroker")
                                + ostr("addConnection") + ostr("SimpleAuthenticationBroker.java")
                                + struct.pack("!i", 108) + b"\x00")
EXCEPTION_NO_STACK = frame_of(31, struct.pack("!i?i", 12, False, 7) + b"\x01" + ostr("java.lang.SecurityException")
                              + ostr("User name [u] or password is invalid."))


def test_connection_info_known_bytes() -> None:
    assert encode_command(CONNECTION_INFO) == CONNECTION_INFO_BYTES
    assert decode_command(decode([CONNECTION_INFO_BYTES])[0]) == CONNECTION_INFO


@pytest.mark.parametrize(("data", "stack_traces", "stack"), [
    pytest.param(EXCEPTION_WITH_STACK, True, (("org.apache.activemq.security.SimpleAuthenticationBroker",
                                               "addConnection", "SimpleAuthenticationBroker.java", 108),), id="stack"),
    pytest.param(EXCEPTION_NO_STACK, False, (), id="no-stack"),
])
def test_exception_response(data: bytes, stack_traces: bool, stack: tuple[tuple[str, str, str, int], ...]) -> None:
    for how in FEEDS:
        [frame] = decode(chunks(data, how))
        response = decode_command(frame, stack_traces=stack_traces)
        assert response.name == "ExceptionResponse" and response["correlation_id"] == 7
        error = response.throwable("exception")
        assert error == JavaThrowable("java.lang.SecurityException", "User name [u] or password is invalid.", stack)
        assert error.describe() == "java.lang.SecurityException: User name [u] or password is invalid."
        assert encode_command(response, stack_traces=stack_traces) == data


def test_message_dispatch_round_trip() -> None:
    producer = Structure.of("ProducerId", connection_id="ID:c-1", value=1, session_id=1)
    queue = Structure.of("ActiveMQTempQueue", physical_name="ID:c-1:1")
    message = Structure.of("ActiveMQBytesMessage", command_id=3, producer_id=producer, destination=queue,
                           message_id=Structure.of("MessageId", producer_id=producer, producer_sequence_id=1,
                                                   broker_sequence_id=42),
                           expiration=2**41, priority=4, content=b"\x00body", broker_path=(
                               Structure.of("BrokerId", value="ID:broker"), None))
    dispatch = Structure.of("MessageDispatch", consumer_id=Structure.of("ConsumerId", connection_id="ID:c-1",
                                                                         session_id=1, value=1),
                            destination=queue, message=message, redelivery_counter=0)
    data = encode_command(dispatch)
    assert decode_command(decode(chunks(data, "bytewise"))[0]) == dispatch
    assert decode_command(decode([data])[0]).nested("message") == message


COMMAND_ERRORS = [
    pytest.param(OpenWireFrame(1, BODY), "data type 1", id="wireformat-is-not-a-command"),
    pytest.param(OpenWireFrame(99, b""), "data type 99", id="unknown-type"),
    pytest.param(OpenWireFrame(100, b"\x00"), "data type 100", id="a-structure-not-a-command"),
    pytest.param(OpenWireFrame(30, b"\x00\x00\x00\x01\x00"), "truncated", id="truncated-response"),
    pytest.param(OpenWireFrame(30, b"\x00\x00\x00\x01\x00\x00\x00\x00\x02\x00"), "stray", id="stray"),
    pytest.param(OpenWireFrame(4, b"\x00\x00\x00\x01\x00\x01\x63"), "unknown nested", id="bad-nested-type"),
    pytest.param(OpenWireFrame(6, b"\x00\x00\x00\x01\x00" + b"\x00\x00" + b"\x01\x7f\xff"), "claims",
                 id="absurd-array"),
    pytest.param(OpenWireFrame(31, b"\x00\x00\x00\x01\x00\x00\x00\x00\x02" + b"\x01\x00\x00" + b"\x7f\xff"),
                 "claims", id="absurd-stack"),
]


@pytest.mark.parametrize(("frame", "message"), COMMAND_ERRORS)
def test_command_errors(frame: OpenWireFrame, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_command(frame, stack_traces=True)


@pytest.mark.parametrize(("build", "message"), [
    pytest.param(lambda: Structure.of("Nope"), "unknown", id="unknown-name"),
    pytest.param(lambda: Structure.of("SessionInfo", nope=1), "no field", id="unknown-field"),
    pytest.param(lambda: Structure.of("Response", correlation_id=2**31), "cannot hold", id="int-range"),
    pytest.param(lambda: Structure.of("Response", response_required=1), "cannot hold", id="not-bool"),
    pytest.param(lambda: Structure.of("ConnectionId", value=b"x"), "cannot hold", id="not-str"),
    pytest.param(lambda: Structure(200, {}), "no OpenWire structure", id="unknown-type"),
    pytest.param(lambda: Structure(30, {"command_id": 1}), "has fields", id="missing-fields"),
    pytest.param(lambda: JavaThrowable("x", None, (("a", "b", "c", 2**31),)), "32-bit", id="line-range"),
])
def test_invalid_structures(build: Callable[[], object], message: str) -> None:
    with pytest.raises(WireError, match=message):
        build()


def test_every_schema_type_has_a_name_and_back() -> None:
    assert {COMMAND_TYPES[name] for name in COMMAND_TYPES} == set(SCHEMAS)
    assert list(VERSIONS) == [10, 11, 12]


# ---------------------------------------------------------------- command properties

texts = st.none() | st.text(chars, max_size=6)
throwables: st.SearchStrategy[JavaThrowable | None] = st.recursive(
    st.none() | st.builds(JavaThrowable, texts, texts),
    lambda inner: st.builds(JavaThrowable, texts, texts,
                            st.lists(st.tuples(texts, texts, texts, st.integers(-(2**31), 2**31 - 1)),
                                     max_size=2).map(tuple), inner),
    max_leaves=3)


def structures(data_type: int, depth: int = 0) -> st.SearchStrategy[Structure]:
    """Any structure of ``data_type``, its nested fields filled from identifier and destination types."""
    leaves = [t for t in SCHEMAS if t >= 100]

    def value(kind: str) -> st.SearchStrategy[object]:
        nested = st.none() if depth >= 2 else st.none() | st.sampled_from(leaves).flatmap(
            lambda t: structures(t, depth + 1))
        return {
            "bool": st.booleans(), "byte": st.integers(-128, 127), "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1), "string": texts, "nested": nested,
            "array": st.none() | st.lists(nested, max_size=2).map(tuple), "bytes": st.none() | st.binary(max_size=8),
            "throwable": throwables,
        }[kind]

    fields = SCHEMAS[data_type][1]
    return st.fixed_dictionaries({name: value(kind) for name, kind in fields}).map(
        lambda values: Structure(data_type, values))


commands = st.sampled_from([t for t in SCHEMAS if t < 100]).flatmap(structures)


@WIRE_SETTINGS
@given(st.lists(commands, min_size=1, max_size=2), st.booleans(), st.sampled_from(FEEDS))
def test_command_round_trip(original: list[Structure], stack_traces: bool, how: str) -> None:
    data = b"".join(encode_command(c, stack_traces=stack_traces) for c in original)
    decoded = [decode_command(f, stack_traces=stack_traces) for f in decode(chunks(data, how))]
    if stack_traces:
        assert decoded == original
    else:  # without stack traces a throwable is its class and message only
        assert [encode_command(c) for c in decoded] == [encode_command(c) for c in original]


@WIRE_SETTINGS
@given(st.sampled_from([t for t in SCHEMAS if t < 100]), st.binary(max_size=200), st.booleans())
def test_arbitrary_command_bytes_parse_or_wire_error(data_type: int, body: bytes, stack_traces: bool) -> None:
    with contextlib.suppress(WireError):
        decode_command(OpenWireFrame(data_type, body), stack_traces=stack_traces)
