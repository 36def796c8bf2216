"""Our HTTP/2 client codec (RFC 9113, RFC 7541) at its edges, found by mutation testing (``make mutants``): the exact
bytes we send (preface, SETTINGS, DATA within both windows and the peer's frame size, WINDOW_UPDATE increments),
a server's field block split over CONTINUATION frames, frame lengths at their limits, and the whole message of
each refusal."""

from __future__ import annotations

import struct

import hpack
import pytest

from gvpconf.wire import WireError
from gvpconf.wire import http2 as w
from selftests.wire.test_http2 import OK, REQUEST, frame, headers, settings


def refused(client: w.ClientConnection, data: bytes, message: str) -> None:
    with pytest.raises(WireError) as caught:
        client.receive(data)
    assert str(caught.value) == message


def opened(body: bytes = b"", **kwargs: int) -> w.ClientConnection:
    client = w.ClientConnection(**kwargs)
    client.send_request(REQUEST, body)
    client.data_to_send()
    return client


def frames(data: bytes) -> list[w.Frame]:
    decoder = w.FrameDecoder(max_message_size=(1 << 24) + 9)
    decoder.feed(data)
    out = []
    while (f := decoder.next_message()) is not None:
        out.append(f)
    return out


def test_our_preface_and_settings_exactly() -> None:
    """3.4: the preface, then our SETTINGS: ENABLE_PUSH 0 and our MAX_HEADER_LIST_SIZE, nothing else."""
    out = w.ClientConnection(max_header_list_size=1000).data_to_send()
    assert out == w.PREFACE + b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00" + struct.pack(">HIHI", 2, 0, 6, 1000)


def test_frame_lengths_use_all_24_bits() -> None:
    big = w.Frame(0, 0, 1, bytes(70_000)).encode()
    assert big[:3] == (70_000).to_bytes(3, "big")
    assert frames(big) == [w.Frame(0, 0, 1, bytes(70_000))]


def test_data_goes_out_within_both_windows_and_the_peers_frame_size() -> None:
    """6.9.1: never more than the connection's and the stream's window, in frames of at most
    SETTINGS_MAX_FRAME_SIZE; the rest waits for WINDOW_UPDATE, each level counted on its own."""
    client = w.ClientConnection()
    client.send_request(REQUEST, bytes(70_000))
    sent = [f for f in frames(client.data_to_send()[len(w.PREFACE):]) if f.type == w.FrameType.DATA]
    assert [len(f.payload) for f in sent] == [16_384, 16_384, 16_384, 16_383] and not any(f.flags for f in sent)
    client.receive(settings() + frame(8, 0, 0, struct.pack(">I", 100)))  # the connection's credit only
    assert [f for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == []
    client.receive(frame(8, 0, 1, struct.pack(">I", 60)))  # and 60 on the stream: 60 go
    assert [len(f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == [60]
    client.receive(frame(8, 0, 1, struct.pack(">I", 10_000)))  # 40 left on the connection
    assert [len(f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == [40]
    client.receive(frame(8, 0, 0, struct.pack(">I", 10_000)))  # the last 4,365 octets end the stream
    last = [f for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA]
    assert [(len(f.payload), f.flags) for f in last] == [(4_365, w.END_STREAM)]


def test_a_window_of_one_octet_sends_one_octet() -> None:
    client = w.ClientConnection()
    client.receive(settings(4, 1))
    client.send_request(REQUEST, b"abc")
    data = [f for f in frames(client.data_to_send()[len(w.PREFACE):]) if f.type == w.FrameType.DATA]
    assert [f.payload for f in data] == [b"a"]
    client.receive(frame(8, 0, 1, struct.pack(">I", 2)))
    assert [(f.payload, f.flags) for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == [
        (b"bc", w.END_STREAM)]


def test_credit_is_returned_once_half_a_window_was_received() -> None:
    """6.9.1: WINDOW_UPDATE for the connection and the stream once half a window (32,767 octets) arrived, each with
    exactly what was received since the last one (padding included); not for every frame."""
    client = opened()
    client.receive(settings() + headers(1, OK))
    client.data_to_send()
    client.receive(frame(0, 0, 1, bytes(16_384)) + frame(0, 0, 1, bytes(16_382)))
    assert [f for f in frames(client.data_to_send()) if f.type == w.FrameType.WINDOW_UPDATE] == []
    events = client.receive(frame(0, w.PADDED, 1, b"\x02a\x00\x00"))  # 4 octets of flow, 1 of content
    assert events == [w.Data(1, b"a")]
    updates = [(f.stream_id, f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.WINDOW_UPDATE]
    assert updates == [(0, struct.pack(">I", 32_770)), (1, struct.pack(">I", 32_770))]
    client.receive(frame(0, 0, 1, bytes(16_384)) + frame(0, 0, 1, bytes(16_382)))
    assert [f for f in frames(client.data_to_send()) if f.type == w.FrameType.WINDOW_UPDATE] == []
    client.receive(frame(0, 0, 1, bytes(1)))
    updates = [(f.stream_id, f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.WINDOW_UPDATE]
    assert updates == [(0, struct.pack(">I", 32_767)), (1, struct.pack(">I", 32_767))]
    assert client.receive(frame(0, w.END_STREAM, 1, b"z")) == [w.Data(1, b"z", True)]


def test_a_field_block_over_continuation_frames() -> None:
    """6.10: HEADERS without END_HEADERS, then CONTINUATION frames on the same stream until END_HEADERS; END_STREAM
    of the HEADERS frame applies to the whole block."""
    block = hpack.Encoder().encode([*OK, ("grpc-status", "0")])
    client = opened()
    client.receive(settings())
    assert client.receive(frame(1, w.END_STREAM, 1, block[:2])) == []
    assert client.receive(frame(9, 0, 1, block[2:4])) == []
    assert client.receive(frame(9, w.END_HEADERS, 1, block[4:])) == [
        w.Response(1, (*OK, ("grpc-status", "0")), True)]
    trailers = opened()
    trailers.receive(settings() + headers(1, OK))
    tail = hpack.Encoder().encode([("grpc-status", "0")])
    assert trailers.receive(frame(1, w.END_STREAM, 1, tail[:1]) + frame(9, w.END_HEADERS, 1, tail[1:])) == [
        w.Trailers(1, (("grpc-status", "0"),))]
    other = opened()
    other.receive(settings() + frame(1, 0, 1, block[:2]))
    refused(other, frame(0, 0, 1, b"x"), "a field block is open on stream 1: expected CONTINUATION on it, got a DATA "
            "frame on stream 1 (6.10) (RFC 9113: PROTOCOL_ERROR)")


def test_a_field_block_of_exactly_our_limit_is_taken_and_one_octet_more_refused() -> None:
    """A compressed block cannot decode to less than itself minus the 4,096 octets of the dynamic table."""
    client = opened(max_header_list_size=100)
    client.receive(settings() + frame(1, 0, 1, bytes(4_100)) + frame(9, 0, 1, bytes(96)))  # 4,196: taken
    refused(client, frame(9, 0, 1, b"\x00"), "a field block of more than 4196 octets, beyond our "
            "SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113: ENHANCE_YOUR_CALM)")


@pytest.mark.parametrize(("data", "message"), [
    (frame(0, 0, 0, b"x"), "DATA on stream 0 (6.1) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(0, 0, 3, b"x"), "DATA on stream 3, which we never opened (5.1, 5.1.1) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(0, 0, 1, b"x"), "DATA before the response headers: a malformed response (8.1, 8.1.1) (RFC 9113: "
                           "PROTOCOL_ERROR)"),
    (headers(3, OK), "HEADERS on stream 3, which we never opened (5.1, 5.1.1) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(3, 0, 3, b"\x00" * 4), "RST_STREAM on stream 3, which we never opened (5.1, 5.1.1) (RFC 9113: "
                                  "PROTOCOL_ERROR)"),
    (frame(7, 0, 1, b"\x00" * 8), "GOAWAY on a stream (6.8) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(7, 0, 0, b"\x00" * 7), "GOAWAY of 7 octets (6.8) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(2, 0, 0, b"\x00" * 5), "PRIORITY on stream 0 (6.3) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(2, 0, 1, b"\x00" * 6), "PRIORITY of 6 octets (6.3) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(5, 4, 1, b"\x00\x00\x00\x02\x88"), "PUSH_PROMISE although our SETTINGS_ENABLE_PUSH is 0 (6.6, 8.4) "
                                              "(RFC 9113: PROTOCOL_ERROR)"),
    (frame(9, 4, 1, b"\x88"), "CONTINUATION without an open field block (6.10) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(0, w.PADDED, 1), "DATA with the PADDED flag and no Pad Length (RFC 9113: FRAME_SIZE_ERROR)"),
    (headers(1, [(":status", "200"), ("content-length", "1x")]),
     "content-length '1x' is not a number (8.1.1) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(1, w.END_HEADERS, 1, hpack.Encoder().encode([(b":status", b"200"), (b"content-length", b"\xb2")])),
     "content-length '\u00b2' is not a number (8.1.1) (RFC 9113: PROTOCOL_ERROR)"),  # a superscript digit
    (headers(1, [("x", "1")]), "a response without :status: malformed (8.3.2) (RFC 9113: PROTOCOL_ERROR)"),
    (headers(1, [(":status", "2000")]), ":status b'2000' is not a three-digit code (8.3.2) (RFC 9113: PROTOCOL_ERROR)"),
    (headers(1, [(":status", "200"), (":path", "/")]), "pseudo-header b':path': a response has one :status, before "
                                                       "every other field (8.3) (RFC 9113: PROTOCOL_ERROR)"),
    (headers(1, [(":status", "200"), ("te", "gzip")]),
     "connection-specific header field 'te' (RFC 9113 8.2.2) (RFC 9113: PROTOCOL_ERROR)"),
])
def test_each_refusal_says_what_broke(data: bytes, message: str) -> None:
    refused(opened(), settings() + data, message)


def test_refusals_after_the_response_headers() -> None:
    second = opened()
    second.receive(settings() + headers(1, OK))
    refused(second, headers(1, [("grpc-status", "0")]), "a second field block without END_STREAM: a malformed "
            "response (8.1) (RFC 9113: PROTOCOL_ERROR)")
    pseudo = opened()
    pseudo.receive(settings() + headers(1, OK))
    long_name = ":" + "p" * 50
    refused(pseudo, headers(1, [(long_name, "1")], w.END_HEADERS | w.END_STREAM),
            f"pseudo-header {long_name[:40].encode()!r} in trailers: a malformed response (8.1) (RFC 9113: "
            "PROTOCOL_ERROR)")
    bad = opened()
    broken = b"\xff\xff\xff\xff\xff\xff"
    refused(bad, settings() + frame(1, 4, 1, broken),
            f"a field block HPACK cannot decode: {_hpack_error(broken)} (RFC 9113: COMPRESSION_ERROR)")


def _hpack_error(block: bytes) -> str:
    try:
        hpack.Decoder().decode(block, raw=True)
    except Exception as exc:  # whatever hpack raises, as the codec reports it
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    raise AssertionError("hpack decoded the broken block")


def test_goaway_rst_stream_and_priority_at_their_sizes() -> None:
    """6.8: the last stream id without its reserved bit, the error code unsigned, debug data kept; 6.4: the error
    code of RST_STREAM; 6.3: PRIORITY of five octets is taken and ignored."""
    client = opened()
    events = client.receive(settings() + frame(2, 0, 1, b"\x00" * 5)
                            + frame(7, 0, 0, struct.pack(">II", 0x8000_0001, 0xFFFF_FFFF)))
    assert events == [w.GoAway(1, 0xFFFF_FFFF, b"")]
    assert client.goaway == w.GoAway(1, 0xFFFF_FFFF, b"")
    reset = opened()
    assert reset.receive(settings() + frame(3, 0, 1, struct.pack(">I", 0x0102_0304))) == [w.StreamReset(1, 0x0102_0304)]
    assert reset.receive(frame(3, 0, 1, struct.pack(">I", 8))) == []  # the stream has ended: once


@pytest.mark.parametrize(("name", "value", "message"), [
    ("x", "a\nb", "field b'x': a value holds no NUL, CR or LF and no surrounding whitespace"),
    ("x", "\tb", "field b'x': a value holds no NUL, CR or LF and no surrounding whitespace"),
    ("x", "b\t", "field b'x': a value holds no NUL, CR or LF and no surrounding whitespace"),
    ("x", "b ", "field b'x': a value holds no NUL, CR or LF and no surrounding whitespace"),
    ("y" * 50, "b ", f"field {('y' * 40).encode()!r}: a value holds no NUL, CR or LF and no surrounding whitespace"),
    ("Y" * 50, "b", f"a field name must be lowercase visible ASCII without a colon, got {('Y' * 40).encode()!r}"),
    ("::a", "b", "a field name must be lowercase visible ASCII without a colon, got b'::a'"),
    ("te", "TRAILERS", "connection-specific header field 'te' (RFC 9113 8.2.2)"),
])
def test_fields_we_refuse_to_send(name: str, value: str, message: str) -> None:
    with pytest.raises(WireError) as caught:
        w.encode_header_block([(name, value)])
    assert str(caught.value) == f"{message} (RFC 9113: PROTOCOL_ERROR)"


def test_fields_we_send() -> None:
    """te: trailers is the one te a request may carry (8.2.2); whitespace inside a value is fine (8.2.1)."""
    block = w.encode_header_block([("te", "trailers"), ("x", "a b")])
    assert hpack.Decoder().decode(block) == [("te", "trailers"), ("x", "a b")]


def test_hpack_integers_and_long_strings() -> None:
    """RFC 7541 5.1: 255 with a 7-bit prefix is 127 then 128 (one continuation octet, 0x80, then 0x01); 5.2: a
    string of 200 octets has its length as a 7-bit-prefix integer behind H = 0."""
    assert w.encode_integer(255, 7) == b"\x7f\x80\x01"
    with pytest.raises(WireError, match=r"^an HPACK integer is not negative, got -1$"):
        w.encode_integer(-1, 7)
    assert w.encode_integer(127 + 127, 7) == b"\x7f\x7f"
    value = "v" * 200
    block = w.encode_header_block([("x-long", value)])
    assert b"\x7f\x49" + value.encode() in block  # 200 = 127 + 73
    assert hpack.Decoder().decode(block) == [("x-long", value)]


@pytest.mark.parametrize(("data", "message"), [
    (frame(6, 0, 1, bytes(8)), "PING on a stream (6.7) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(6, 0, 0, bytes(7)), "PING of 7 octets (6.7) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(3, 0, 0, bytes(4)), "RST_STREAM on stream 0 (6.4) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(3, 0, 1, bytes(3)), "RST_STREAM of 3 octets (6.4) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(1, 4, 0, b"\x88"), "HEADERS on stream 0 (6.2) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(1, w.END_HEADERS | w.PRIORITY, 1, bytes(4)),
     "HEADERS with the PRIORITY flag and no room for its fields (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(1, w.END_HEADERS | w.PADDED, 1), "HEADERS with the PADDED flag and no Pad Length (RFC 9113: "
                                            "FRAME_SIZE_ERROR)"),
    (frame(4, w.ACK, 0, bytes(6)), "SETTINGS acknowledgement with a payload (6.5) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(4, 0, 0, bytes(5)), "SETTINGS of 5 octets, not a multiple of 6 (6.5) (RFC 9113: FRAME_SIZE_ERROR)"),
    (frame(4, 0, 1), "SETTINGS on a stream (6.5) (RFC 9113: PROTOCOL_ERROR)"),
    (settings(4, 1 << 31), "SETTINGS_INITIAL_WINDOW_SIZE of 2147483648 (6.5.2) (RFC 9113: FLOW_CONTROL_ERROR)"),
    (settings(5, (1 << 24)), "SETTINGS_MAX_FRAME_SIZE of 16777216 (6.5.2) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(8, 0, 0, bytes(4)), "WINDOW_UPDATE of 0 on the connection (6.9) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(8, 0, 1, bytes(4)), "WINDOW_UPDATE of 0 on stream 1 (6.9) (RFC 9113: PROTOCOL_ERROR)"),
    (frame(8, 0, 3, b"\x00\x00\x00\x01"), "WINDOW_UPDATE on stream 3, which we never opened (5.1) (RFC 9113: "
                                          "PROTOCOL_ERROR)"),
])
def test_each_control_frame_refusal_says_what_broke(data: bytes, message: str) -> None:
    client = w.ClientConnection()
    client.send_request(REQUEST, bytes(70_000))  # a body still waiting: stream 1 can still take credit
    refused(client, settings() + data, message)


def test_windows_up_to_2_31_minus_1_and_not_one_more() -> None:
    """6.9.1: a WINDOW_UPDATE may take a window to 2^31-1 exactly, not beyond, on the connection and the stream."""
    conn = w.ClientConnection()
    conn.receive(settings() + frame(8, 0, 0, struct.pack(">I", w.MAX_WINDOW - w.DEFAULT_WINDOW)))
    refused(conn, frame(8, 0, 0, b"\x00\x00\x00\x01"),
            "WINDOW_UPDATE takes the connection window beyond 2^31-1 (6.9.1) (RFC 9113: FLOW_CONTROL_ERROR)")
    stream = w.ClientConnection()
    stream.receive(settings(4, 0))
    stream.send_request(REQUEST, b"body")  # no credit on the stream: the body waits, the stream stays open
    stream.receive(frame(8, 0, 1, struct.pack(">I", w.MAX_WINDOW)))
    assert [f.payload for f in frames(stream.data_to_send()[len(w.PREFACE):]) if f.type == w.FrameType.DATA] == [
        b"body"]
    overflow = w.ClientConnection()
    overflow.send_request(REQUEST, bytes(70_000))  # 65,535 out: both windows at 0, the rest waits
    overflow.receive(settings(4, w.DEFAULT_WINDOW + 5))  # the stream's window 5, the connection's still 0
    overflow.receive(frame(8, 0, 1, struct.pack(">I", w.MAX_WINDOW - 5)))  # exactly 2^31-1: taken
    refused(overflow, frame(8, 0, 1, b"\x00\x00\x00\x01"),
            "WINDOW_UPDATE takes stream 1's window beyond 2^31-1 (6.9.1) (RFC 9113: FLOW_CONTROL_ERROR)")


def test_windows_and_frame_sizes_at_their_largest() -> None:
    """6.5.2 and 6.9.1: a window of exactly 2^31-1 and a SETTINGS_MAX_FRAME_SIZE of 2^24-1 are allowed; with the
    latter our DATA frames may pass 65,535 octets (a 24-bit length)."""
    client = w.ClientConnection()
    client.receive(settings(5, (1 << 24) - 1, 4, w.MAX_WINDOW)
                   + frame(8, 0, 0, struct.pack(">I", w.MAX_WINDOW - w.DEFAULT_WINDOW)))
    client.send_request(REQUEST, bytes(100_000))
    data = [f for f in frames(client.data_to_send()[len(w.PREFACE):]) if f.type == w.FrameType.DATA]
    assert [(len(f.payload), f.flags) for f in data] == [(100_000, w.END_STREAM)]


def test_a_new_initial_window_moves_the_open_streams_window_by_the_difference() -> None:
    """6.9.2: SETTINGS_INITIAL_WINDOW_SIZE changes an open stream's window by new - old, which may take it below
    zero; DATA waits until both windows are positive again."""
    client = w.ClientConnection()
    client.send_request(REQUEST, bytes(70_000))
    client.data_to_send()  # 65,535 octets out: both windows at 0
    client.receive(settings(4, w.DEFAULT_WINDOW + 100) + frame(8, 0, 0, struct.pack(">I", 1_000)))
    assert [len(f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == [100]
    client.receive(settings(4, w.DEFAULT_WINDOW + 90))  # the stream's window: 0 - 10
    client.receive(frame(8, 0, 1, struct.pack(">I", 15)))
    assert [len(f.payload) for f in frames(client.data_to_send()) if f.type == w.FrameType.DATA] == [5]
    big = w.ClientConnection()
    big.send_request(REQUEST, bytes(70_000))
    big.receive(settings() + frame(8, 0, 1, struct.pack(">I", 70_000)))  # the stream's 70,000, the connection's 0
    refused(big, settings(4, w.MAX_WINDOW), "SETTINGS_INITIAL_WINDOW_SIZE takes a window beyond 2^31-1 (6.9.2) "
            "(RFC 9113: FLOW_CONTROL_ERROR)")


def test_received_content_and_the_end_of_our_stream() -> None:
    """8.1.1: content-length counts every DATA frame's content; 5.1: once our stream has ended, frames on it are
    discarded (HPACK state kept), not reported again."""
    client = w.ClientConnection()
    client.send_request(REQUEST)
    client.receive(settings() + headers(1, [*OK, ("content-length", "3")]))
    assert client.receive(frame(0, 0, 1, b"a") + frame(0, 0, 1, b"bc") + frame(0, w.END_STREAM, 1, b"")) == [
        w.Data(1, b"a"), w.Data(1, b"bc"), w.Data(1, b"", True)]
    assert client.receive(frame(0, 0, 1, b"late") + headers(1, [("grpc-status", "0")], 5)) == []
    only = w.ClientConnection()
    only.send_request(REQUEST)
    assert only.receive(settings() + headers(1, [*OK, ("grpc-status", "0")], 5)) == [
        w.Response(1, (*OK, ("grpc-status", "0")), True)]
    assert only.receive(frame(0, w.END_STREAM, 1, b"x") + frame(3, 0, 1, bytes(4))) == []
    trailed = w.ClientConnection()
    trailed.send_request(REQUEST)
    trailed.receive(settings() + headers(1, OK))
    assert trailed.receive(headers(1, [("grpc-status", "0")], 5)) == [w.Trailers(1, (("grpc-status", "0"),))]
    assert trailed.receive(frame(0, 0, 1, b"x")) == []
    open_block = w.ClientConnection()
    open_block.send_request(REQUEST)
    block = hpack.Encoder().encode(OK)
    assert open_block.receive(settings() + frame(1, 0, 1, block[:1]) + frame(9, w.END_HEADERS, 1, block[1:])) == [
        w.Response(1, tuple(OK), False)]  # no END_STREAM on the HEADERS frame: the stream stays open
    small = w.ClientConnection()
    small.send_request(REQUEST)
    small.receive(settings() + headers(1, OK))
    assert small.receive(frame(0, 0, 1, b"a") + frame(0, 0, 1, b"bc")) == [w.Data(1, b"a"), w.Data(1, b"bc")]
