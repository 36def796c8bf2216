"""HTTP/2 (RFC 9113), client side, as much as one request on one connection needs (connection 22's unary gRPC
call), sans-I/O.

* ``FrameDecoder``: frames (RFC 9113 4.1) from the server's bytes, each at most our SETTINGS_MAX_FRAME_SIZE;
  ``Frame.encode`` writes one.
* ``encode_header_block``: HPACK (RFC 7541) for our requests: a field that is in the static table whole is
  indexed (6.1), every other one is a literal *without indexing* (6.2.2), or *never indexed* (6.2.3) for
  ``authorization``, without Huffman coding (5.2: the encoder's choice). So our dynamic table stays empty and
  nothing we send depends on the server's HPACK settings.
* The server's field blocks are decoded whole, Huffman coding and dynamic table included, by ``hpack.Decoder``
  (the server chooses its representations); this module only turns its errors into ``WireError``.
* ``ClientConnection``: the client connection preface and our SETTINGS; one stream (``send_request``: HEADERS,
  CONTINUATION when the block is larger than the server's SETTINGS_MAX_FRAME_SIZE, DATA within the flow-control
  windows the server grants, SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATE included); ``receive`` checks the
  frames and the response and returns ``Event``s: ``Response`` (final headers; ``end_stream`` on a Trailers-Only
  answer), ``Data``, ``Trailers``, ``StreamReset``, ``GoAway``. It answers what the protocol asks on its own,
  into ``data_to_send``: the SETTINGS acknowledgement, PING acknowledgements, WINDOW_UPDATE for the data
  received. Padding and the PRIORITY flag are understood and skipped; frames of unknown types are ignored
  (4.1); informational (1xx) responses are skipped (8.1).

Whatever breaks RFC 9113, as a connection error or as a malformed response (8.1.1; for a client that reads one
response both end the exchange), is a ``WireError`` naming the rule and the RFC 9113 error code. Pure: no I/O.
"""

from __future__ import annotations

import enum
import functools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import hpack

from gvpconf.wire import BufferedDecoder, WireError

__all__ = ["PREFACE", "ClientConnection", "Data", "ErrorCode", "Event", "Frame", "FrameDecoder", "FrameType",
           "GoAway", "Response", "Setting", "StreamReset", "Trailers", "encode_header_block", "encode_integer",
           "error_name"]

#: the client connection preface (3.4), followed by our SETTINGS frame
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: SETTINGS_MAX_FRAME_SIZE's initial value and its largest legal value (4.2, 6.5.2)
DEFAULT_MAX_FRAME_SIZE = 1 << 14
LARGEST_FRAME_SIZE = (1 << 24) - 1
#: the initial flow-control windows (6.9.2) and the largest window (6.9.1)
DEFAULT_WINDOW = 65_535
MAX_WINDOW = (1 << 31) - 1
#: what we announce as SETTINGS_MAX_HEADER_LIST_SIZE, and enforce when decoding
MAX_HEADER_LIST_SIZE = 64 * 1024
_HEADER = struct.Struct(">BHBBI")  # length as one byte + two bytes, type, flags, stream id (R bit included)


class FrameType(enum.IntEnum):
    DATA = 0x0
    HEADERS = 0x1
    PRIORITY = 0x2
    RST_STREAM = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    PING = 0x6
    GOAWAY = 0x7
    WINDOW_UPDATE = 0x8
    CONTINUATION = 0x9


class ErrorCode(enum.IntEnum):
    """The error codes of RST_STREAM and GOAWAY (7)."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class Setting(enum.IntEnum):
    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6


END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY = 0x20


def error_name(code: int) -> str:
    """An error code's name; an unknown code as its number (7: it means no more than INTERNAL_ERROR)."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"error code {code}"


def _error(rule: str, code: ErrorCode = ErrorCode.PROTOCOL_ERROR) -> WireError:
    return WireError(f"{rule} (RFC 9113: {code.name})")


# -- frames -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its type (unknown types kept as numbers), flags, stream and payload."""

    type: int
    flags: int
    stream_id: int
    payload: bytes = b""

    def encode(self) -> bytes:
        """The frame on the wire; fields that do not fit the frame header are a WireError (checked here, not when
        built: a decoded frame always fits, and a probe decodes many more frames than it builds)."""
        if not 0 <= self.type <= 0xFF or not 0 <= self.flags <= 0xFF:
            raise WireError(f"a frame type and flags are one octet each, got {self.type} and {self.flags}")
        if not 0 <= self.stream_id <= MAX_WINDOW:
            raise WireError(f"a stream identifier has 31 bits, got {self.stream_id}")
        n = len(self.payload)
        if n > LARGEST_FRAME_SIZE:
            raise WireError(f"a frame payload has at most {LARGEST_FRAME_SIZE} octets, got {n}")
        return _HEADER.pack(n >> 16, n & 0xFFFF, self.type, self.flags, self.stream_id) + self.payload


def _frame(type_: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Frame(...).encode() without building the object (for the frames we write ourselves)."""
    n = len(payload)
    return _HEADER.pack(n >> 16, n & 0xFFFF, type_, flags, stream_id) + payload


class FrameDecoder(BufferedDecoder[Frame]):
    """Frames from a byte stream. ``max_message_size``: the largest frame, its 9-octet header included (default:
    SETTINGS_MAX_FRAME_SIZE's initial value, 16,384 octets of payload, which we never raise); a frame that
    announces a longer payload is a FRAME_SIZE_ERROR as soon as its header arrives. The reserved bit of the stream
    identifier is ignored (4.1)."""

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_FRAME_SIZE + 9) -> None:
        super().__init__(max_message_size=max_message_size)
        self.max_frame_size = max_message_size - 9

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 9:
            return None
        high, low, type_, flags, stream = _HEADER.unpack_from(buf)
        length = high << 16 | low
        if length > self.max_frame_size:
            raise _error(f"a frame of {length} octets (type {type_}) exceeds our SETTINGS_MAX_FRAME_SIZE of "
                         f"{self.max_frame_size}", ErrorCode.FRAME_SIZE_ERROR)
        end = 9 + length
        if len(buf) < end:
            return None
        payload = bytes(buf[9:end])
        del buf[:end]
        return Frame(type_, flags, stream & MAX_WINDOW, payload)


# -- HPACK, our side ----------------------------------------------------------------------------------------------

def encode_integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An HPACK integer (RFC 7541 5.1) with an N-bit prefix; ``first`` holds the bits above the prefix."""
    if value < 0:
        raise WireError(f"an HPACK integer is not negative, got {value}")
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


#: RFC 7541 Appendix A: the fields we send that are in the static table whole, and the names that are
_STATIC_FIELDS = {(":method", "GET"): 2, (":method", "POST"): 3, (":path", "/"): 4, (":scheme", "http"): 6,
                  (":scheme", "https"): 7}
_STATIC_NAMES = {":authority": 1, ":method": 2, ":path": 4, ":scheme": 6, "accept": 19, "authorization": 23,
                 "content-type": 31, "host": 38, "user-agent": 58}
#: fields an intermediary must not add to its tables either (RFC 7541 7.1.3)
_NEVER_INDEXED = frozenset({"authorization", "proxy-authorization", "cookie"})


def _string(raw: bytes) -> bytes:
    return encode_integer(len(raw), 7) + raw  # H = 0: no Huffman coding


def encode_header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """The field block of ``headers`` (names lowercase, as HTTP/2 wants them; RFC 9113 8.2), leaving the
    decoder's dynamic table alone: indexed static fields, literals without indexing, never indexed for
    credentials. A name or value HTTP/2 forbids (8.2.1) is a WireError.

    The same headers give the same block whatever the connection (no state is involved), so the last few blocks
    are kept: a probe sends the same request again and again."""
    return _encode_header_block(tuple(headers))


@functools.lru_cache(maxsize=16)
def _encode_header_block(headers: tuple[tuple[str, str], ...]) -> bytes:
    out = bytearray()
    for name, value in headers:
        _check_field(name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
        index = _STATIC_FIELDS.get((name, value))
        if index is not None:
            out += encode_integer(index, 7, 0x80)
            continue
        first = 0x10 if name in _NEVER_INDEXED else 0x00
        index = _STATIC_NAMES.get(name)
        out += encode_integer(index, 4, first) if index else bytes((first,)) + _string(name.encode("ascii"))
        out += _string(value.encode("latin-1"))
    return bytes(out)


#: octets a field name must not hold (8.2.1): controls, space, uppercase, DEL and above
_BAD_NAME = frozenset(range(0x21)) | frozenset(range(0x41, 0x5B)) | frozenset(range(0x7F, 0x100))
_CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                                  b"upgrade"})


def _check_field(name: bytes, value: bytes) -> None:
    """RFC 9113 8.2.1's minimal validation of one field (a malformed message when it fails)."""
    body = name[1:] if name[:1] == b":" else name
    if not body or not _BAD_NAME.isdisjoint(body) or b":" in body:
        raise _error(f"a field name must be lowercase visible ASCII without a colon, got {name[:40]!r}")
    if b"\0" in value or b"\r" in value or b"\n" in value or value[:1] in (b" ", b"\t") \
            or value[-1:] in (b" ", b"\t"):
        raise _error(f"field {name[:40]!r}: a value holds no NUL, CR or LF and no surrounding whitespace")
    if name in _CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
        raise _error(f"connection-specific header field {name.decode('ascii')!r} (RFC 9113 8.2.2)")


# -- events -------------------------------------------------------------------------------------------------------

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Response:
    """The final response headers of a stream (``:status`` first); ``end_stream``: nothing follows (gRPC's
    Trailers-Only)."""

    stream_id: int
    headers: Headers
    end_stream: bool = False


@dataclass(frozen=True, slots=True)
class Data:
    """Content of a stream (padding removed); ``end_stream``: the last of it, without trailers."""

    stream_id: int
    data: bytes
    end_stream: bool = False


@dataclass(frozen=True, slots=True)
class Trailers:
    """The trailer section that ends a stream."""

    stream_id: int
    headers: Headers


@dataclass(frozen=True, slots=True)
class StreamReset:
    """RST_STREAM on our stream."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class GoAway:
    """GOAWAY: streams above ``last_stream_id`` will not be processed."""

    last_stream_id: int
    error_code: int
    debug: bytes = b""


Event = Response | Data | Trailers | StreamReset | GoAway


# -- the connection -----------------------------------------------------------------------------------------------

class _Stream:
    """Our side's view of our one stream."""

    __slots__ = ("content", "content_length", "final", "id", "pending", "received_end", "recv_window",
                 "send_window", "sent_end")

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.send_window = send_window
        self.recv_window = DEFAULT_WINDOW
        self.pending = b""  # request content waiting for flow-control credit
        self.sent_end = False
        self.received_end = False
        self.final = False  # the final (non-1xx) response headers arrived
        self.content = 0
        self.content_length: int | None = None


class ClientConnection:
    """The client side of one HTTP/2 connection carrying one request (our stream 1).

    ``__init__`` queues the connection preface and our SETTINGS (no server push; the largest header list we
    accept); ``send_request`` queues the request; ``receive`` takes the server's bytes and returns the events of
    our stream; ``data_to_send`` hands out what to write. The server's first frame must be its SETTINGS (3.4).
    """

    def __init__(self, *, max_header_list_size: int = MAX_HEADER_LIST_SIZE) -> None:
        self._out = bytearray(PREFACE)
        self._out += _frame(FrameType.SETTINGS, 0, 0, struct.pack(">HIHI", Setting.ENABLE_PUSH, 0,
                                                                  Setting.MAX_HEADER_LIST_SIZE, max_header_list_size))
        self._frames = FrameDecoder()
        self._hpack = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._max_block = max_header_list_size + 4096  # a compressed block larger than this cannot decode to less
        self._seen_settings = False
        self._block: bytearray | None = None  # a field block waiting for its CONTINUATION frames
        self._block_stream = 0
        self._block_end_stream = False
        self._stream: _Stream | None = None
        #: the server's settings as they apply to what we send
        self.peer_max_frame_size = DEFAULT_MAX_FRAME_SIZE
        self.peer_initial_window = DEFAULT_WINDOW
        self._send_window = DEFAULT_WINDOW  # the connection's, for what we send
        self._recv_window = DEFAULT_WINDOW  # the connection's, for what we receive
        self._recv_unacked = 0  # data received and not yet returned with WINDOW_UPDATE (connection)
        self._stream_unacked = 0
        self.goaway: GoAway | None = None

    # -- what we send --------------------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_request(self, headers: Sequence[tuple[str, str]], body: bytes = b"") -> int:
        """Queue a whole request on a new stream (the first: 1): HEADERS (+ CONTINUATION), then ``body`` as DATA
        as far as the flow-control windows allow (the rest, and END_STREAM, when the server grants more). Returns
        the stream id."""
        if self._stream is not None:
            raise WireError("this connection carries one request")
        stream = self._stream = _Stream(1, self.peer_initial_window)
        block = encode_header_block(headers)
        no_body = not body
        size = self.peer_max_frame_size
        flags = END_STREAM if no_body else 0
        if len(block) <= size:
            self._out += _frame(FrameType.HEADERS, flags | END_HEADERS, stream.id, block)
        else:
            self._out += _frame(FrameType.HEADERS, flags, stream.id, block[:size])
            for at in range(size, len(block), size):
                last = at + size >= len(block)
                self._out += _frame(FrameType.CONTINUATION, END_HEADERS if last else 0, stream.id,
                                    block[at : at + size])
        stream.sent_end = no_body
        if not no_body:
            stream.pending = body
            self._flush(stream)
        return stream.id

    def _flush(self, stream: _Stream) -> None:
        """DATA from ``stream.pending`` within both windows and the server's frame size (6.9.1)."""
        while not stream.sent_end:
            size = min(len(stream.pending), self._send_window, stream.send_window, self.peer_max_frame_size)
            if size <= 0 and stream.pending:
                return  # wait for WINDOW_UPDATE (or a SETTINGS that raises the stream window)
            chunk, stream.pending = stream.pending[:size], stream.pending[size:]
            last = not stream.pending
            self._out += _frame(FrameType.DATA, END_STREAM if last else 0, stream.id, chunk)
            self._send_window -= size
            stream.send_window -= size
            stream.sent_end = last

    def close(self, error_code: int = ErrorCode.NO_ERROR) -> None:
        """Queue GOAWAY: the end of the connection (we accept no stream from the server: last stream 0)."""
        self._out += _frame(FrameType.GOAWAY, 0, 0, struct.pack(">II", 0, error_code))

    # -- what we receive -----------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> list[Event]:
        """The events in ``data`` (and the bytes before it); raises WireError on anything RFC 9113 forbids."""
        self._frames.feed(data)
        events: list[Event] = []
        while (frame := self._frames.next_message()) is not None:
            self._on_frame(frame, events)
        return events

    def _on_frame(self, frame: Frame, events: list[Event]) -> None:
        type_, flags, sid, payload = frame.type, frame.flags, frame.stream_id, frame.payload
        if not self._seen_settings:
            if type_ != FrameType.SETTINGS or flags & ACK:
                raise _error(f"expected the server's connection preface, a SETTINGS frame, got {_type_name(type_)}"
                             " first")
            self._seen_settings = True
        if self._block is not None:
            if type_ != FrameType.CONTINUATION or sid != self._block_stream:
                raise _error(f"a field block is open on stream {self._block_stream}: expected CONTINUATION on it, "
                             f"got {_type_name(type_)} on stream {sid} (6.10)")
            self._block += payload
            self._check_block_size()
            if flags & END_HEADERS:
                block, self._block = bytes(self._block), None
                self._on_block(sid, block, self._block_end_stream, events)
            return
        if type_ == FrameType.DATA:
            self._on_data(sid, flags, payload, events)
        elif type_ == FrameType.HEADERS:
            self._on_headers(sid, flags, payload, events)
        elif type_ == FrameType.SETTINGS:
            self._on_settings(sid, flags, payload)
        elif type_ == FrameType.PING:
            if sid:
                raise _error("PING on a stream (6.7)")
            if len(payload) != 8:
                raise _error(f"PING of {len(payload)} octets (6.7)", ErrorCode.FRAME_SIZE_ERROR)
            if not flags & ACK:
                self._out += _frame(FrameType.PING, ACK, 0, payload)
        elif type_ == FrameType.WINDOW_UPDATE:
            self._on_window_update(sid, payload)
        elif type_ == FrameType.RST_STREAM:
            if not sid:
                raise _error("RST_STREAM on stream 0 (6.4)")
            if len(payload) != 4:
                raise _error(f"RST_STREAM of {len(payload)} octets (6.4)", ErrorCode.FRAME_SIZE_ERROR)
            stream = self._known(sid, "RST_STREAM")
            if stream is not None and not stream.received_end:
                stream.received_end = True
                events.append(StreamReset(sid, int.from_bytes(payload, "big")))
        elif type_ == FrameType.GOAWAY:
            if sid:
                raise _error("GOAWAY on a stream (6.8)")
            if len(payload) < 8:
                raise _error(f"GOAWAY of {len(payload)} octets (6.8)", ErrorCode.FRAME_SIZE_ERROR)
            last, code = struct.unpack_from(">II", payload)
            self.goaway = GoAway(last & MAX_WINDOW, code, payload[8:])
            events.append(self.goaway)
        elif type_ == FrameType.PRIORITY:
            if not sid:
                raise _error("PRIORITY on stream 0 (6.3)")
            if len(payload) != 5:
                raise _error(f"PRIORITY of {len(payload)} octets (6.3)", ErrorCode.FRAME_SIZE_ERROR)
        elif type_ == FrameType.PUSH_PROMISE:
            raise _error("PUSH_PROMISE although our SETTINGS_ENABLE_PUSH is 0 (6.6, 8.4)")
        elif type_ == FrameType.CONTINUATION:
            raise _error("CONTINUATION without an open field block (6.10)")
        # other types: ignored and discarded (4.1, 5.5)

    def _known(self, sid: int, what: str) -> _Stream | None:
        """Our stream for a frame on ``sid``; None when it is closed. A stream we never opened is an idle one, and
        a frame other than PRIORITY there is a PROTOCOL_ERROR (5.1)."""
        stream = self._stream
        if stream is None or sid != stream.id:
            raise _error(f"{what} on stream {sid}, which we never opened (5.1, 5.1.1)")
        return None if stream.received_end else stream

    def _unpad(self, flags: int, payload: bytes, what: str) -> bytes:
        if not flags & PADDED:
            return payload
        if not payload:
            raise _error(f"{what} with the PADDED flag and no Pad Length", ErrorCode.FRAME_SIZE_ERROR)
        pad = payload[0]
        if pad >= len(payload):
            raise _error(f"{what} padding of {pad} octets in a payload of {len(payload)} (6.1, 6.2)")
        return payload[1 : len(payload) - pad]

    def _on_data(self, sid: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if not sid:
            raise _error("DATA on stream 0 (6.1)")
        flow = len(payload)
        if flow > self._recv_window:
            raise _error(f"DATA of {flow} octets beyond the connection window of {self._recv_window} (6.9.1)",
                         ErrorCode.FLOW_CONTROL_ERROR)
        self._recv_window -= flow  # counted even when the frame is discarded (6.9)
        self._recv_unacked += flow
        stream = self._known(sid, "DATA")
        data = self._unpad(flags, payload, "DATA")
        if stream is not None:
            if flow > stream.recv_window:
                raise _error(f"DATA of {flow} octets beyond the stream window of {stream.recv_window} (6.9.1)",
                             ErrorCode.FLOW_CONTROL_ERROR)
            if not stream.final:
                raise _error("DATA before the response headers: a malformed response (8.1, 8.1.1)")
            stream.recv_window -= flow
            self._stream_unacked += flow
            stream.content += len(data)
            end = bool(flags & END_STREAM)
            if end:
                stream.received_end = True
                self._check_length(stream)
            events.append(Data(sid, data, end))
        self._replenish()

    def _replenish(self) -> None:
        """Return credit with WINDOW_UPDATE once half a window is used (not for every frame: RFC 9113 6.9.1
        advises against small increments); the stream's only while it can still receive."""
        if self._recv_unacked >= DEFAULT_WINDOW // 2:
            self._out += _frame(FrameType.WINDOW_UPDATE, 0, 0, struct.pack(">I", self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0
        stream = self._stream
        if stream is not None and self._stream_unacked >= DEFAULT_WINDOW // 2 and not stream.received_end:
            self._out += _frame(FrameType.WINDOW_UPDATE, 0, stream.id, struct.pack(">I", self._stream_unacked))
            stream.recv_window += self._stream_unacked
            self._stream_unacked = 0

    def _on_headers(self, sid: int, flags: int, payload: bytes, events: list[Event]) -> None:
        if not sid:
            raise _error("HEADERS on stream 0 (6.2)")
        block = self._unpad(flags, payload, "HEADERS")
        if flags & PRIORITY:
            if len(block) < 5:
                raise _error("HEADERS with the PRIORITY flag and no room for its fields", ErrorCode.FRAME_SIZE_ERROR)
            block = block[5:]
        if flags & END_HEADERS:
            self._on_block(sid, block, bool(flags & END_STREAM), events)
        else:
            self._block, self._block_stream, self._block_end_stream = bytearray(block), sid, bool(flags & END_STREAM)
            self._check_block_size()

    def _check_block_size(self) -> None:
        if self._block is not None and len(self._block) > self._max_block:
            raise _error(f"a field block of more than {self._max_block} octets, beyond our "
                         f"SETTINGS_MAX_HEADER_LIST_SIZE", ErrorCode.ENHANCE_YOUR_CALM)

    def _on_block(self, sid: int, block: bytes, end_stream: bool, events: list[Event]) -> None:
        # decoded first, whatever the stream: the HPACK state is the connection's (4.3)
        try:
            fields = self._hpack.decode(block, raw=True)
        except (hpack.HPACKError, ValueError, IndexError, TypeError) as exc:
            raise _error(f"a field block HPACK cannot decode: {type(exc).__name__}: {str(exc)[:120]}",
                         ErrorCode.COMPRESSION_ERROR) from None
        stream = self._known(sid, "HEADERS")
        if stream is None:
            return  # our stream has ended: minimally processed (the HPACK state) and discarded (5.1)
        headers = _response_fields(fields, trailers=stream.final)
        if not stream.final:
            status = headers[0][1]
            if status[0] == "1":  # an interim response (8.1)
                if end_stream:
                    raise _error(f"an informational {status} response that ends the stream (8.1)")
                return
            stream.final = True
            length = next((v for n, v in headers if n == "content-length"), None)
            if length is not None:
                if not length.isdigit() or not length.isascii():
                    raise _error(f"content-length {length[:20]!r} is not a number (8.1.1)")
                stream.content_length = int(length)
            if end_stream:
                stream.received_end = True
                self._check_length(stream)
            events.append(Response(sid, headers, end_stream))
            return
        if not end_stream:
            raise _error("a second field block without END_STREAM: a malformed response (8.1)")
        stream.received_end = True
        self._check_length(stream)
        events.append(Trailers(sid, headers))

    @staticmethod
    def _check_length(stream: _Stream) -> None:
        if stream.content_length is not None and stream.content != stream.content_length:
            raise _error(f"content-length {stream.content_length}, content of {stream.content} octets: a malformed "
                         "response (8.1.1)")

    def _on_settings(self, sid: int, flags: int, payload: bytes) -> None:
        if sid:
            raise _error("SETTINGS on a stream (6.5)")
        if flags & ACK:
            if payload:
                raise _error("SETTINGS acknowledgement with a payload (6.5)", ErrorCode.FRAME_SIZE_ERROR)
            return
        if len(payload) % 6:
            raise _error(f"SETTINGS of {len(payload)} octets, not a multiple of 6 (6.5)", ErrorCode.FRAME_SIZE_ERROR)
        for ident, value in struct.iter_unpack(">HI", payload):
            if ident == Setting.ENABLE_PUSH and value != 0:
                raise _error(f"a server's SETTINGS_ENABLE_PUSH must be 0, got {value} (6.5.2)")
            if ident == Setting.INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _error(f"SETTINGS_INITIAL_WINDOW_SIZE of {value} (6.5.2)", ErrorCode.FLOW_CONTROL_ERROR)
                delta, self.peer_initial_window = value - self.peer_initial_window, value
                stream = self._stream
                if stream is not None:  # 6.9.2: open streams' windows move by the difference, maybe below 0
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise _error("SETTINGS_INITIAL_WINDOW_SIZE takes a window beyond 2^31-1 (6.9.2)",
                                     ErrorCode.FLOW_CONTROL_ERROR)
            elif ident == Setting.MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME_SIZE <= value <= LARGEST_FRAME_SIZE:
                    raise _error(f"SETTINGS_MAX_FRAME_SIZE of {value} (6.5.2)")
                self.peer_max_frame_size = value
            # HEADER_TABLE_SIZE: our encoder never adds to its table, so any size suits it; the rest are advisory
            # or about streams the server would open; unknown identifiers are ignored (6.5.2)
        self._out += _frame(FrameType.SETTINGS, ACK, 0)  # applied: acknowledged at once (6.5.3)
        if self._stream is not None:
            self._flush(self._stream)

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _error(f"WINDOW_UPDATE of {len(payload)} octets (6.9)", ErrorCode.FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & MAX_WINDOW
        if not sid:
            if not increment:
                raise _error("WINDOW_UPDATE of 0 on the connection (6.9)")
            self._send_window += increment
            if self._send_window > MAX_WINDOW:
                raise _error("WINDOW_UPDATE takes the connection window beyond 2^31-1 (6.9.1)",
                             ErrorCode.FLOW_CONTROL_ERROR)
        else:
            stream = self._stream
            if stream is None or sid != stream.id:
                raise _error(f"WINDOW_UPDATE on stream {sid}, which we never opened (5.1)")
            if stream.sent_end:
                return  # may arrive after our END_STREAM; never an error (6.9)
            if not increment:
                raise _error(f"WINDOW_UPDATE of 0 on stream {sid} (6.9)")
            stream.send_window += increment
            if stream.send_window > MAX_WINDOW:
                raise _error(f"WINDOW_UPDATE takes stream {sid}'s window beyond 2^31-1 (6.9.1)",
                             ErrorCode.FLOW_CONTROL_ERROR)
        if self._stream is not None:
            self._flush(self._stream)


def _type_name(type_: int) -> str:
    try:
        return f"a {FrameType(type_).name} frame"
    except ValueError:
        return f"a frame of type {type_}"


def _response_fields(fields: Iterable[tuple[bytes, bytes]], *, trailers: bool) -> Headers:
    """A response's header (or trailer) section as text, checked as RFC 9113 8.2 and 8.3 ask: valid names and
    values, no connection-specific field, ``:status`` (three digits) once and first in a header section, no
    pseudo-header in trailers. Values are Latin-1 (the octets as they came; HTTP fields are ASCII)."""
    out: list[tuple[str, str]] = []
    for name, value in fields:
        _check_field(name, value)
        if name[:1] == b":":
            if trailers:
                raise _error(f"pseudo-header {name[:40]!r} in trailers: a malformed response (8.1)")
            if name != b":status" or out:
                raise _error(f"pseudo-header {name[:40]!r}: a response has one :status, before every other field "
                             "(8.3)")
            if len(value) != 3 or not value.isdigit():
                raise _error(f":status {value[:20]!r} is not a three-digit code (8.3.2)")
        out.append((name.decode("ascii"), value.decode("latin-1")))
    if not trailers and (not out or out[0][0] != ":status"):
        raise _error("a response without :status: malformed (8.3.2)")
    return tuple(out)
