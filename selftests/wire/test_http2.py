"""The HTTP/2 client codec (``gvpconf.wire.http2``): frames, HPACK integers and our header blocks (RFC 7541's own
examples), the client connection against an ``h2`` server connection (what ours writes h2 accepts, what h2 writes
ours decodes: SETTINGS and its acknowledgement, PING, flow control both ways, CONTINUATION, padding, trailers,
RST_STREAM, GOAWAY), every RFC 9113 rule the codec enforces, and fuzzing (garbage is a WireError or nothing)."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire import http2 as w
from selftests.wire.wirehelp import WIRE_SETTINGS, check_broken, check_table, chunks, parse_or_wire_error

REQUEST = [(":method", "POST"), (":scheme", "https"),
           (":path", "/google.cloud.texttospeech.v1.TextToSpeech/ListVoices"),
           (":authority", "texttospeech.googleapis.com"), ("grpc-timeout", "5000000u"), ("te", "trailers"),
           ("content-type", "application/grpc"), ("user-agent", "gvpconf-probe grpc-python"),
           ("authorization", "Bearer " + "eyJ0" * 200)]
OK = [(":status", "200"), ("content-type", "application/grpc")]


# -- frames -------------------------------------------------------------------------------------------------------

FRAMES = [
    w.Frame(w.FrameType.SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 20)),
    w.Frame(w.FrameType.SETTINGS, w.ACK, 0),
    w.Frame(w.FrameType.DATA, w.END_STREAM, 1, b"x" * 300),
    w.Frame(w.FrameType.PING, 0, 0, b"12345678"),
    w.Frame(0xFA, 0xFF, 0x7FFFFFFF, b"an unknown type"),
    w.Frame(w.FrameType.DATA, 0, 3, b"y" * w.DEFAULT_MAX_FRAME_SIZE),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f"type{f.type}-{len(f.payload)}")
@pytest.mark.parametrize("cut", [1, 8, 9])
def test_frames_whole_bytewise_and_followed(frame: w.Frame, cut: int) -> None:
    follower = w.Frame(w.FrameType.WINDOW_UPDATE, 0, 0, b"\x00\x00\x01\x00")
    check_table(w.FrameDecoder, frame.encode(), frame, follower.encode(), follower, cut)


def test_frame_header_layout_and_reserved_bit_ignored() -> None:
    assert w.Frame(w.FrameType.HEADERS, w.END_HEADERS, 1, b"ab").encode() == bytes.fromhex("000002010400000001") + b"ab"
    decoder = w.FrameDecoder()
    decoder.feed(bytes.fromhex("000000040080000000"))  # R bit set on stream 0: ignored (4.1)
    assert decoder.next_message() == w.Frame(w.FrameType.SETTINGS, 0, 0)


def test_a_frame_larger_than_our_max_frame_size_is_refused_from_its_header() -> None:
    check_broken(w.FrameDecoder(), struct.pack(">I", w.DEFAULT_MAX_FRAME_SIZE + 1)[1:] + b"\x00\x00\x00\x00\x00\x01",
                 "FRAME_SIZE_ERROR")


@pytest.mark.parametrize("frame", [w.Frame(256, 0, 0), w.Frame(0, -1, 0), w.Frame(0, 0, 1 << 31),
                                   w.Frame(0, 0, 1, b"x" * (1 << 24))])
def test_frames_that_do_not_fit_the_header_cannot_be_encoded(frame: w.Frame) -> None:
    with pytest.raises(WireError):
        frame.encode()


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, w.MAX_WINDOW), st.binary(max_size=2000))
@WIRE_SETTINGS
def test_frames_round_trip(type_: int, flags: int, stream: int, payload: bytes) -> None:
    frame = w.Frame(type_, flags, stream, payload)
    decoder = w.FrameDecoder()
    decoder.feed(frame.encode())
    assert decoder.next_message() == frame and decoder.next_message() is None


@given(st.binary(max_size=3000))
@WIRE_SETTINGS
def test_frame_decoder_parses_or_raises_wire_error(data: bytes) -> None:
    parse_or_wire_error(w.FrameDecoder(), data)


# -- HPACK --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "prefix", "encoded"), [
    (10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a"),  # RFC 7541 C.1.1 to C.1.3
    (30, 5, "1e"), (31, 5, "1f00"), (127, 7, "7f00"), (128, 7, "7f01"),
])
def test_integers_as_rfc7541_writes_them(value: int, prefix: int, encoded: str) -> None:
    assert w.encode_integer(value, prefix) == bytes.fromhex(encoded)


@given(st.integers(0, 1 << 20), st.integers(1, 8))
@WIRE_SETTINGS
def test_integers_round_trip_through_hpack(value: int, prefix: int) -> None:
    assert hpack.hpack.decode_integer(w.encode_integer(value, prefix), prefix) == (value, len(
        w.encode_integer(value, prefix)))


def test_our_block_is_static_indexes_and_plain_literals_that_leave_the_table_empty() -> None:
    block = w.encode_header_block(REQUEST)
    assert block[:2] == b"\x83\x87"  # :method POST and :scheme https: static entries 3 and 7, indexed (6.1)
    assert block[2:4] == b"\x04\x35"  # :path: name index 4, a literal without indexing, 53 octets, no Huffman
    assert b"/google.cloud.texttospeech.v1.TextToSpeech/ListVoices" in block
    assert b"\x1f\x08" + w.encode_integer(len(REQUEST[-1][1]), 7) + REQUEST[-1][1].encode() in block  # never indexed
    decoder = hpack.Decoder()
    decoded = decoder.decode(block)
    assert decoded == REQUEST
    assert isinstance(decoded[-1], hpack.NeverIndexedHeaderTuple)
    assert len(decoder.header_table.dynamic_entries) == 0


@pytest.mark.parametrize(("name", "value"), [("Content-Type", "x"), ("a b", "x"), ("x:y", "x"), ("", "x"),
                                             ("x", "a\r\nb"), ("x", " padded"), ("x", "nul\0"), ("connection", "close"),
                                             ("te", "gzip"), (":", "x")])
def test_fields_http2_forbids_are_not_encoded(name: str, value: str) -> None:
    with pytest.raises(WireError, match="RFC 9113"):
        w.encode_header_block([(name, value)])


header_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20).filter(
    lambda n: n not in ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"))
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=100)


@given(st.lists(st.tuples(header_names, header_values), max_size=12))
@WIRE_SETTINGS
def test_header_blocks_round_trip_through_hpack(headers: list[tuple[str, str]]) -> None:
    assert hpack.Decoder().decode(w.encode_header_block(headers)) == headers


# -- the connection against an h2 server --------------------------------------------------------------------------

class Server:
    """An h2 server connection wired to our client: ``pump`` moves bytes both ways until both are quiet."""

    def __init__(self, **settings: int) -> None:
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            getattr(h2.settings.SettingCodes, k.upper()): v for k, v in settings.items()} or None)
        self.h2.initiate_connection()
        self.client = w.ClientConnection()
        self.server_events: list[h2.events.Event] = []
        self.client_events: list[w.Event] = []

    def pump(self, bytewise: bool = False) -> None:
        for _ in range(100):
            to_server, to_client = self.client.data_to_send(), self.h2.data_to_send()
            if not to_server and not to_client:
                return
            if to_server:
                self.server_events += self.h2.receive_data(to_server)
            for part in chunks(to_client, "bytewise" if bytewise else "whole") if to_client else []:
                self.client_events += self.client.receive(part)
        raise AssertionError("the two sides never went quiet")

    def request(self, body: bytes = b"grpc", headers: list[tuple[str, str]] | None = None) -> int:
        stream = self.client.send_request(headers or REQUEST, body)
        self.pump()
        return stream

    def of(self, kind: type) -> list[h2.events.Event]:
        return [e for e in self.server_events if isinstance(e, kind)]


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_unary_call_with_trailers(bytewise: bool) -> None:
    s = Server()
    stream = s.request(b"\x00\x00\x00\x00\x07\x0a\x05en-US")
    (received,) = s.of(h2.events.RequestReceived)
    assert [(n.decode(), v.decode()) for n, v in received.headers] == REQUEST
    assert b"".join(e.data for e in s.of(h2.events.DataReceived)) == b"\x00\x00\x00\x00\x07\x0a\x05en-US"
    assert s.of(h2.events.StreamEnded) and s.of(h2.events.SettingsAcknowledged)  # h2 got our SETTINGS ACK
    s.h2.send_headers(stream, OK)
    s.h2.send_data(stream, b"answer")
    s.h2.send_headers(stream, [("grpc-status", "0")], end_stream=True)
    s.pump(bytewise)
    assert s.client_events == [w.Response(1, tuple(OK)), w.Data(1, b"answer"), w.Trailers(1, (("grpc-status", "0"),))]


def test_trailers_only() -> None:
    s = Server()
    s.h2.send_headers(s.request(), [*OK, ("grpc-status", "16")], end_stream=True)
    s.pump()
    assert s.client_events == [w.Response(1, (*OK, ("grpc-status", "16")), end_stream=True)]


def test_a_request_without_body_ends_with_its_headers() -> None:
    s = Server()
    s.request(b"")
    assert s.of(h2.events.StreamEnded) and not s.of(h2.events.DataReceived)


def test_ping_is_acknowledged_with_its_data_and_a_ping_ack_is_not() -> None:
    s = Server()
    s.request()
    s.h2.ping(b"pingpong")
    s.pump()
    assert [e.ping_data for e in s.of(h2.events.PingAckReceived)] == [b"pingpong"]
    s.client.receive(w.Frame(w.FrameType.PING, w.ACK, 0, b"12345678").encode())
    assert s.client.data_to_send() == b""


def test_server_settings_are_honoured_window_and_frame_size() -> None:
    """SETTINGS_INITIAL_WINDOW_SIZE of 100: our 300-octet body waits for WINDOW_UPDATE (h2 would raise on a
    flow-control violation); a header block larger than SETTINGS_MAX_FRAME_SIZE goes out in CONTINUATION."""
    s = Server(initial_window_size=100)
    s.pump()  # the server's SETTINGS first, this time
    big = [*REQUEST, ("x-big", "v" * 40_000)]
    stream = s.request(b"b" * 300, big)
    assert sum(len(e.data) for e in s.of(h2.events.DataReceived)) == 100 and not s.of(h2.events.StreamEnded)
    (received,) = s.of(h2.events.RequestReceived)
    assert dict(received.headers)[b"x-big"] == b"v" * 40_000  # reassembled by h2 from HEADERS + CONTINUATION
    s.h2.increment_flow_control_window(1000, stream)
    s.pump()
    assert sum(len(e.data) for e in s.of(h2.events.DataReceived)) == 300 and s.of(h2.events.StreamEnded)


def test_a_large_answer_is_read_returning_credit_both_levels() -> None:
    """h2 may send 65,535 octets before our WINDOW_UPDATE: 200 kB only arrive if we give credit back."""
    s = Server()
    stream = s.request()
    s.h2.send_headers(stream, OK)
    body = bytes(range(256)) * 800
    sent = 0
    for _ in range(100):
        room = min(s.h2.local_flow_control_window(stream), s.h2.max_outbound_frame_size, len(body) - sent)
        if room:
            s.h2.send_data(stream, body[sent : sent + room])
            sent += room
        s.pump()
        if sent == len(body):
            break
    s.h2.send_headers(stream, [("grpc-status", "0")], end_stream=True)
    s.pump()
    assert b"".join(e.data for e in s.client_events if isinstance(e, w.Data)) == body
    assert s.of(h2.events.WindowUpdated)


def test_padding_on_data_and_headers_and_the_priority_flag_are_skipped() -> None:
    s = Server()
    stream = s.request()
    s.h2.send_headers(stream, OK)
    s.h2.send_data(stream, b"padded", pad_length=20)
    s.pump()
    block = hpack.Encoder().encode([("grpc-status", "0")])
    payload = bytes([3]) + b"\x00\x00\x00\x00\x10" + block + b"\x00" * 3  # Pad Length, E+dependency, weight
    s.client_events += s.client.receive(w.Frame(w.FrameType.HEADERS, w.END_STREAM | w.END_HEADERS | w.PADDED
                                                | w.PRIORITY, 1, payload).encode())
    assert s.client_events[1:] == [w.Data(1, b"padded"), w.Trailers(1, (("grpc-status", "0"),))]


def test_the_servers_field_blocks_may_use_huffman_and_its_dynamic_table() -> None:
    """h2's encoder indexes what it sends: the second block refers to the first one's entries."""
    s = Server()
    stream = s.request()
    s.h2.send_headers(stream, [*OK, ("x-same", "repeated value")])
    s.h2.send_headers(stream, [("x-same", "repeated value"), ("grpc-status", "0")], end_stream=True)
    s.pump()
    assert s.client_events[-1] == w.Trailers(1, (("x-same", "repeated value"), ("grpc-status", "0")))


def test_unknown_frames_are_ignored_and_informational_responses_skipped() -> None:
    s = Server()
    stream = s.request()
    s.client.receive(w.Frame(0xBB, 0xFF, 0, b"extension").encode() + w.Frame(0xBB, 0, 7, b"x").encode())
    s.h2.send_headers(stream, [(":status", "103"), ("link", "</x>")])
    s.h2.send_headers(stream, OK)
    s.pump()
    assert s.client_events == [w.Response(1, tuple(OK))]


def test_rst_stream_and_goaway_are_events() -> None:
    s = Server()
    s.h2.reset_stream(s.request(), h2.errors.ErrorCodes.REFUSED_STREAM)
    s.pump()
    assert s.client_events == [w.StreamReset(1, w.ErrorCode.REFUSED_STREAM)]
    s = Server()
    s.request()
    s.h2.close_connection(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, b"bye", last_stream_id=0)
    s.pump()
    assert s.client_events == [w.GoAway(0, w.ErrorCode.ENHANCE_YOUR_CALM, b"bye")]
    assert w.error_name(0xB) == "ENHANCE_YOUR_CALM" and w.error_name(99) == "error code 99"


def test_frames_on_our_stream_after_it_ended_are_discarded() -> None:
    s = Server()
    stream = s.request()
    s.h2.send_headers(stream, [*OK, ("grpc-status", "0")], end_stream=True)
    s.pump()
    late = w.Frame(w.FrameType.RST_STREAM, 0, 1, b"\x00\x00\x00\x00").encode() + \
        w.Frame(w.FrameType.DATA, 0, 1, b"late").encode()
    assert s.client.receive(late) == []


def test_close_writes_goaway_that_h2_reads() -> None:
    s = Server()
    s.request()
    s.client.close()
    s.pump()
    (ended,) = s.of(h2.events.ConnectionTerminated)
    assert ended.error_code == 0 and ended.last_stream_id == 0


# -- what breaks RFC 9113 -----------------------------------------------------------------------------------------

def settings(*pairs: int) -> bytes:
    return w.Frame(w.FrameType.SETTINGS, 0, 0, struct.pack(f">{'HI' * (len(pairs) // 2)}", *pairs)).encode()


def headers(stream: int, fields: list[tuple[str, str]], flags: int = w.END_HEADERS) -> bytes:
    return w.Frame(w.FrameType.HEADERS, flags, stream, hpack.Encoder().encode(fields)).encode()


def frame(type_: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return w.Frame(type_, flags, stream, payload).encode()


OK_BLOCK = headers(1, OK)
BROKEN: dict[str, tuple[bytes, str]] = {
    "HTTP/1.1 instead of the preface": (b"HTTP/1.1 400 Bad Request\r\n\r\n", "SETTINGS|FRAME_SIZE"),
    "PING before SETTINGS": (frame(6, 0, 0, b"12345678"), "connection preface"),
    "SETTINGS ACK first": (frame(4, 1, 0), "connection preface"),
    "SETTINGS on a stream": (frame(4, 0, 1), "SETTINGS on a stream"),
    "SETTINGS ACK with payload": (settings() + frame(4, 1, 0, b"\x00" * 6), "FRAME_SIZE_ERROR"),
    "SETTINGS of 5 octets": (frame(4, 0, 0, b"\x00" * 5), "FRAME_SIZE_ERROR"),
    "ENABLE_PUSH 1": (settings(2, 1), "ENABLE_PUSH"),
    "INITIAL_WINDOW_SIZE 2^31": (settings(4, 1 << 31), "FLOW_CONTROL_ERROR"),
    "MAX_FRAME_SIZE too small": (settings(5, 16383), "MAX_FRAME_SIZE"),
    "MAX_FRAME_SIZE too large": (settings(5, 1 << 24), "MAX_FRAME_SIZE"),
    "DATA on stream 0": (settings() + frame(0, 0, 0, b"x"), "DATA on stream 0"),
    "DATA on a stream never opened": (settings() + frame(0, 0, 3, b"x"), "never opened"),
    "DATA before the response headers": (settings() + frame(0, 0, 1, b"x"), "before the response headers"),
    "padding as long as the payload": (settings() + OK_BLOCK + frame(0, w.PADDED, 1, b"\x06abcde"), "padding"),
    "PADDED without Pad Length": (settings() + OK_BLOCK + frame(0, w.PADDED, 1), "Pad Length"),
    "HEADERS on stream 0": (settings() + frame(1, 4, 0, b"\x88"), "HEADERS on stream 0"),
    "HEADERS on a server stream": (settings() + headers(2, OK), "never opened"),
    "PRIORITY flag without its fields": (settings() + frame(1, w.END_HEADERS | w.PRIORITY, 1, b"\x88"), "PRIORITY"),
    "another frame inside a field block": (settings() + headers(1, OK, 0) + frame(6, 0, 0, b"12345678"),
                                           "CONTINUATION"),
    "CONTINUATION on another stream": (settings() + headers(1, OK, 0) + frame(9, 4, 3, b""), "CONTINUATION"),
    "CONTINUATION alone": (settings() + frame(9, 4, 1, b"\x88"), "CONTINUATION without"),
    "PUSH_PROMISE": (settings() + frame(5, 4, 1, b"\x00\x00\x00\x02\x88"), "PUSH_PROMISE"),
    "PING of 7 octets": (settings() + frame(6, 0, 0, b"1234567"), "FRAME_SIZE_ERROR"),
    "PING on a stream": (settings() + frame(6, 0, 1, b"12345678"), "PING on a stream"),
    "RST_STREAM on stream 0": (settings() + frame(3, 0, 0, b"\x00" * 4), "RST_STREAM on stream 0"),
    "RST_STREAM of 3 octets": (settings() + frame(3, 0, 1, b"\x00" * 3), "FRAME_SIZE_ERROR"),
    "GOAWAY on a stream": (settings() + frame(7, 0, 1, b"\x00" * 8), "GOAWAY on a stream"),
    "GOAWAY of 7 octets": (settings() + frame(7, 0, 0, b"\x00" * 7), "FRAME_SIZE_ERROR"),
    "PRIORITY on stream 0": (settings() + frame(2, 0, 0, b"\x00" * 5), "PRIORITY on stream 0"),
    "PRIORITY of 4 octets": (settings() + frame(2, 0, 1, b"\x00" * 4), "FRAME_SIZE_ERROR"),
    "WINDOW_UPDATE of 0": (settings() + frame(8, 0, 0, b"\x00" * 4), "WINDOW_UPDATE of 0"),
    "WINDOW_UPDATE overflow": (settings() + frame(8, 0, 0, struct.pack(">I", w.MAX_WINDOW)), "FLOW_CONTROL_ERROR"),
    "WINDOW_UPDATE of 3 octets": (settings() + frame(8, 0, 0, b"\x00" * 3), "FRAME_SIZE_ERROR"),
    "a block HPACK cannot decode": (settings() + frame(1, 4, 1, b"\xff\xff\xff\xff\xff\xff"), "COMPRESSION_ERROR"),
    "no :status": (settings() + headers(1, [("content-type", "application/grpc")]), ":status"),
    ":status of two digits": (settings() + headers(1, [(":status", "20")]), "three-digit"),
    "two :status": (settings() + headers(1, [(":status", "200"), (":status", "200")]), "one :status"),
    "a request pseudo-header": (settings() + headers(1, [(":status", "200"), (":path", "/")]), "one :status"),
    "uppercase name": (settings() + headers(1, [(":status", "200"), ("Content-Type", "x")]), "lowercase"),
    "CR in a value": (settings() + headers(1, [(":status", "200"), ("x", "a\rb")]), "NUL, CR or LF"),
    "connection header": (settings() + headers(1, [(":status", "200"), ("connection", "close")]),
                          "connection-specific"),
    "pseudo-header in trailers": (settings() + OK_BLOCK + headers(1, [(":status", "200")], 5), "in trailers"),
    "trailers without END_STREAM": (settings() + OK_BLOCK + headers(1, [("grpc-status", "0")]), "END_STREAM"),
    "1xx with END_STREAM": (settings() + headers(1, [(":status", "100")], 5), "informational"),
    "content-length not met": (settings() + headers(1, [*OK, ("content-length", "10")])
                               + frame(0, 1, 1, b"short"), "content-length"),
    "content-length not a number": (settings() + headers(1, [*OK, ("content-length", "ten")]), "content-length"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_what_breaks_rfc9113_is_a_wire_error(case: str) -> None:
    data, message = BROKEN[case]
    for how in ("whole", "bytewise"):
        client = w.ClientConnection()
        client.send_request(REQUEST, b"body")
        with pytest.raises(WireError, match=message):
            for part in chunks(data, how):
                client.receive(part)


def test_one_request_per_connection() -> None:
    client = w.ClientConnection()
    client.send_request(REQUEST)
    with pytest.raises(WireError, match="one request"):
        client.send_request(REQUEST)


def test_a_field_block_beyond_our_header_list_size_is_refused_before_it_is_whole() -> None:
    client = w.ClientConnection(max_header_list_size=100)
    client.send_request(REQUEST)
    client.receive(settings() + frame(1, 0, 1, b"\x00" * 3000))
    with pytest.raises(WireError, match="ENHANCE_YOUR_CALM"):
        client.receive(frame(9, 0, 1, b"\x00" * 3000))


# -- fuzzing ------------------------------------------------------------------------------------------------------

def fuzz(feed: Callable[[w.ClientConnection], None]) -> None:
    client = w.ClientConnection()
    client.send_request(REQUEST, b"body")
    with contextlib.suppress(WireError):
        feed(client)
    client.data_to_send()


@given(st.binary(max_size=2000))
@WIRE_SETTINGS
def test_the_connection_takes_garbage_as_wire_error_or_events(data: bytes) -> None:
    fuzz(lambda c: c.receive(data))
    fuzz(lambda c: c.receive(settings() + data))


frames = st.lists(st.tuples(st.sampled_from([*range(11), 0xFA]), st.integers(0, 255), st.sampled_from([0, 1, 1, 2, 3]),
                            st.one_of(st.binary(max_size=40), st.sampled_from([
                                hpack.Encoder().encode(OK), hpack.Encoder().encode([("grpc-status", "0")]),
                                b"\x00\x00\x00\x01", b"12345678", struct.pack(">HI", 4, 10)]))), max_size=12)


@given(frames)
@WIRE_SETTINGS
def test_the_connection_takes_well_framed_nonsense_as_wire_error_or_events(items: list[tuple[int, int, int, bytes]]
                                                                          ) -> None:
    data = settings() + b"".join(frame(t, f, s, p) for t, f, s, p in items)
    fuzz(lambda c: c.receive(data))
