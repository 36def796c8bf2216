"""Every incremental decoder in ``gvpconf.wire`` is linear in its input and bounded.

A peer that drips its bytes one at a time must not burn the prober's CPU: 64 KB fed one byte per ``feed``,
with ``next_message`` after each, stays under a generous bound of CPU time (a quadratic decoder takes
seconds to minutes here: the RTSP decoder once took 5 s for a 32 KB header). Every decoder states its
``max_message_size`` and raises WireError, not grows, past it. The decoders are found by inspection, so a new
one without a row here fails ``test_every_decoder_has_rows``.

This is a bound to catch a blow-up, not a speed target (those are measured by ``bench/``): CPU time of this
process, so that the other work on a shared machine does not count.
"""

from __future__ import annotations

import inspect
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gvpconf import wire
from gvpconf.wire import BufferedDecoder, WireError, grpc, http2, openwire, rtsp, sip, stomp, tds
from selftests.wire.wirehelp import WIRE_SETTINGS

SIZE = 64 * 1024
# CPU seconds for 64 KB; linear decoders take a quarter of it at most. `make mutants` raises it: mutmut's
# trampolines make every call slower, and a quadratic decoder still takes far longer.
BOUND_S = float(os.environ.get("GVPCONF_LINEAR_BOUND_S", "1.0"))


def _text_message(start: bytes, header_bytes: int, body_bytes: int) -> bytes:
    """A SIP/RTSP message with about ``header_bytes`` of headers (1000-byte lines) and a body."""
    lines = [b"X-Pad-%05d: %s" % (n, b"p" * 986) for n in range(header_bytes // 1000)]
    head = start + b"\r\nCSeq: 1\r\n" + b"\r\n".join(lines) + b"\r\nContent-Length: %d\r\n\r\n" % body_bytes
    return head + b"b" * body_bytes


def _long_value(start: bytes, total: int) -> bytes:
    """One header line of ``total`` bytes, never ended: the header section that never ends."""
    return start + b"\r\nX-Long: " + b"v" * total


def _sip(n: int) -> bytes:
    return _text_message(b"INVITE sip:ivr@gvp SIP/2.0", n, 0)


def _tds_empty_packets(total: int) -> bytes:
    """Header-only packets without the end-of-message bit: a message that never ends and never grows."""
    packet = tds.encode_packet(tds.Packet(tds.PacketType.RESPONSE, b"", 0))
    return packet * (total // len(packet))


def _openwire(total: int) -> bytes:
    return struct.pack(">iB", total - 4, 1) + b"o" * (total - 5)


@dataclass(frozen=True)
class Row:
    decoder: Callable[[], wire.Decoder[object]]
    data: bytes
    messages: int  # how many messages the input holds, or 0 when it must raise WireError
    error: str = ""


def _stomp_frame(header_bytes: int, body_bytes: int) -> bytes:
    headers = tuple((f"x-pad-{n:05d}", "p" * 987) for n in range(header_bytes // 1000))
    # no content-length: the decoder searches the body for the NUL (the slower of its two paths)
    head = ("MESSAGE\n" + "".join(f"{k}:{v}\n" for k, v in headers) + "\n").encode()
    return head + b"b" * body_bytes + b"\x00"


ROWS = {
    # a 32 KB header and a 31 KB body: the case that took seconds when the search restarted at byte 0
    "sip-header-and-body": Row(sip.SipStreamDecoder, _text_message(b"SIP/2.0 200 OK", 32 * 1024, 31 * 1024), 1),
    "sip-header-64k": Row(sip.SipStreamDecoder, _sip(SIZE - 1000), 1),
    "sip-endless-header": Row(sip.SipStreamDecoder, _long_value(b"SIP/2.0 200 OK", SIZE + 1), 0, "no end"),
    "rtsp-header-and-body": Row(rtsp.RtspStreamDecoder, _text_message(b"RTSP/1.0 200 OK", 26 * 1024, 32 * 1024), 1),
    "rtsp-header-64k": Row(rtsp.RtspStreamDecoder, _text_message(b"RTSP/1.0 200 OK", SIZE - 1000, 0), 1),
    "rtsp-endless-header": Row(rtsp.RtspStreamDecoder, _long_value(b"RTSP/1.0 200 OK", SIZE + 1), 0, "no end"),
    "rtsp-interleaved": Row(rtsp.RtspStreamDecoder, b"$\x00" + struct.pack(">H", SIZE - 4) + b"r" * (SIZE - 4), 1),
    "stomp-header-and-body": Row(stomp.StompDecoder, _stomp_frame(32 * 1024, 32 * 1024), 1),
    "openwire-frame": Row(openwire.OpenWireDecoder, _openwire(SIZE), 1),
    "tds-message": Row(tds.MessageDecoder, tds.encode_message(tds.PacketType.RESPONSE, b"t" * (SIZE - 1024), 512), 1),
    "tds-endless-empty-packets": Row(tds.MessageDecoder, _tds_empty_packets(SIZE), 0, "TDS message"),
    "grpc-message": Row(grpc.MessageDecoder, grpc.encode_message(b"g" * (SIZE - 5)), 1),
    "http2-frames": Row(http2.FrameDecoder, http2.Frame(http2.FrameType.DATA, 0, 1, b"h" * 16384).encode() * 4, 4),
}


def decoders() -> set[type]:
    """Every incremental decoder class the wire package defines."""
    import importlib
    import pkgutil

    found: set[type] = set()
    for info in pkgutil.iter_modules(wire.__path__):
        if info.name.startswith("_"):  # _text: the shared base of the SIP and RTSP decoders
            continue
        module = importlib.import_module(f"gvpconf.wire.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BufferedDecoder) and cls.__module__ == module.__name__:
                found.add(cls)
    return found


def feed_bytewise(decoder: wire.Decoder[object], data: bytes) -> tuple[int, WireError | None, float]:
    """Messages decoded, the WireError raised (if any) and the CPU seconds spent, one byte per ``feed``."""
    count, error = 0, None
    started = time.process_time()
    try:
        for i in range(len(data)):
            decoder.feed(data[i : i + 1])
            while decoder.next_message() is not None:
                count += 1
    except WireError as exc:
        error = exc
    return count, error, time.process_time() - started


def test_every_decoder_has_rows() -> None:
    found = decoders()
    assert found == {sip.SipStreamDecoder, rtsp.RtspStreamDecoder, stomp.StompDecoder, openwire.OpenWireDecoder,
                     tds.MessageDecoder, grpc.MessageDecoder, http2.FrameDecoder}
    assert {type(r.decoder()) for r in ROWS.values()} == found


@pytest.mark.parametrize("name", ROWS)
def test_64k_byte_by_byte_is_linear(name: str) -> None:
    row = ROWS[name]
    assert len(row.data) >= 56 * 1024, len(row.data)
    count, error, spent = feed_bytewise(row.decoder(), row.data)
    if row.messages:
        assert error is None and count == row.messages
    else:
        assert error is not None and row.error in str(error), error
    assert spent < BOUND_S, f"{name}: {len(row.data)} bytes fed one at a time took {spent:.2f} s of CPU"


@pytest.mark.parametrize("cls", sorted(decoders(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_maximum_message_size_is_documented_and_held(cls: type) -> None:
    """``max_message_size`` is public and in the docstring; one byte past it is a WireError, whatever the shape."""
    decoder = cls()
    limit = decoder.max_message_size
    assert isinstance(limit, int) and 1024 <= limit <= 4 * 1024 * 1024
    assert "max_message_size" in (cls.__doc__ or ""), f"{cls.__name__} does not document its maximum message size"
    small = cls(max_message_size=4096)
    assert small.max_message_size == 4096
    over = {
        sip.SipStreamDecoder: _long_value(b"SIP/2.0 200 OK", 4097),
        rtsp.RtspStreamDecoder: _long_value(b"RTSP/1.0 200 OK", 4097),
        stomp.StompDecoder: b"MESSAGE\nx:" + b"v" * 4097,
        openwire.OpenWireDecoder: struct.pack(">i", 4097),
        tds.MessageDecoder: tds.encode_message(tds.PacketType.RESPONSE, b"t" * 8192, 512)[:-1],
        grpc.MessageDecoder: struct.pack(">BI", 0, 4092),
        http2.FrameDecoder: struct.pack(">I", 4088)[1:] + b"\x00\x00\x00\x00\x00\x01",
    }[cls]
    small.feed(over)
    with pytest.raises(WireError):
        while small.next_message() is not None:
            pass


DECODERS = sorted(decoders(), key=lambda c: c.__name__)
PREFIXES = [b"", b"SIP/2.0 200 OK\r\n", b"RTSP/1.0 200 OK\r\n", b"MESSAGE\n", b"$\x00\xff\xff",
            tds.encode_packet(tds.Packet(tds.PacketType.RESPONSE, b"x" * 8, 0)), struct.pack(">i", 60000),
            grpc.encode_message(b""), http2.Frame(http2.FrameType.SETTINGS, 0, 0).encode()]


# The CPU-time bound below is this test's check: hypothesis's deadline is wall-clock time, which a loaded
# machine stretches (1313 ms, then 204 ms on the re-run, at load 19 on two cores).
@settings(parent=WIRE_SETTINGS, deadline=None)
@given(cls=st.sampled_from(DECODERS), prefix=st.sampled_from(PREFIXES), chunk=st.binary(min_size=1, max_size=48),
       times=st.integers(1, 400))
def test_repeated_patterns_fed_byte_by_byte_stay_linear(cls: type, prefix: bytes, chunk: bytes, times: int) -> None:
    """What a dripping peer may repeat (an endless header line, CRLFs, empty packets), up to 19 KB one byte at
    a time: messages or a WireError, in CPU time proportional to the bytes. The long fuzz profile (``make
    fuzz``) adds a per-example deadline; a decoder that rescans its buffer fails either way."""
    data = prefix + chunk * times
    _count, _error, spent = feed_bytewise(cls(), data)
    assert spent < 0.05 + BOUND_S * len(data) / SIZE, f"{cls.__name__}: {len(data)} bytes took {spent:.3f} s"
