"""SDP, RTSP, RTP/RTCP codecs and the SIP dialog builders: tables (whole, byte by byte, trailing bytes),
round trips, and the fuzz contract: arbitrary bytes parse or raise WireError, nothing else."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, rtp, rtsp, sdp, sip
from selftests.wire.wirehelp import FEEDS, WIRE_SETTINGS, check_broken, chunks, decode_chunks, parse_or_wire_error

# ---------------------------------------------------------------- SDP

# What GStreamer's RTSP server answers to DESCRIBE (a 19-digit session id, port 0, media-level c=).
GST_SDP = (b"v=0\r\no=- 3272910491121040482 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\n"
           b"i=rtsp-server\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=control:*\r\na=range:npt=now-\r\n"
           b"m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\nb=AS:64\r\na=rtpmap:0 PCMU/8000\r\na=control:stream=0\r\n")
# What sipp's lab scenario answers to an INVITE (LF line ends, no ptime).
SIPP_SDP = (b"v=0\no=sipp-lab 53655765 2353687637 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
            b"m=audio 6000 RTP/AVP 0 8\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=sendrecv\n")


def test_sdp_gstreamer_describe() -> None:
    desc = sdp.parse(GST_SDP)
    assert desc.session_id == 3272910491121040482
    assert desc.audio() is None  # port 0
    media = desc.media[0]
    assert (media.kind, media.port, media.payload_types, media.rtpmap) == ("audio", 0, (0,), {0: "PCMU/8000"})
    assert media.attribute("control") == "stream=0" and desc.media_address(0) == "0.0.0.0"


def test_sdp_sipp_answer() -> None:
    desc = sdp.parse(SIPP_SDP)
    audio = desc.audio()
    assert audio is not None and audio.port == 6000 and audio.payload_types == (0, 8)
    assert audio.ptime is None and audio.direction == "sendrecv" and desc.media_address(0) == "127.0.0.1"


@pytest.mark.parametrize("data", [b"", b"v=1\r\n", b"v=0\r\ns=x\r\n", b"v=0\r\no=- x 1 IN IP4 h\r\n",
                                  b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 70000 RTP/AVP 0\r\n",
                                  b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP9 h\r\n", b"v=0\r\nbad line\r\n",
                                  b"\xff\xfe"])
def test_sdp_malformed(data: bytes) -> None:
    with pytest.raises(WireError):
        sdp.parse(data)


def test_sdp_builder_validates() -> None:
    with pytest.raises(WireError):
        sdp.build_audio("192.0.2.1", 70000)
    with pytest.raises(WireError):
        sdp.build_audio("192.0.2.1 x", 4000)
    with pytest.raises(WireError):
        sdp.Media("audio", 4000, "RTP/AVP", ())


@WIRE_SETTINGS
@given(address=st.from_regex(r"\A(192\.0\.2\.[0-9]{1,3}|[a-z]{1,10}\.example|2001:db8::[0-9a-f]{1,4})\Z"),
       port=st.integers(0, 65535), pts=st.lists(st.sampled_from([0, 8, 9, 18, 96, 101]), min_size=1, max_size=4,
                                                unique=True),
       ptime=st.none() | st.integers(1, 200), session=st.integers(0, 2**64 - 1),
       direction=st.sampled_from(sdp.DIRECTIONS))
def test_sdp_round_trip(address: str, port: int, pts: list[int], ptime: int | None, session: int,
                        direction: str) -> None:
    built = sdp.build_audio(address, port, tuple(pts), ptime=ptime, session_id=session, direction=direction)
    assert sdp.parse(sdp.encode(built)) == built


@WIRE_SETTINGS
@given(st.binary(max_size=300) | st.builds(lambda a, b: a + b, st.just(SIPP_SDP), st.binary(max_size=40)))
def test_sdp_fuzz(data: bytes) -> None:
    with contextlib.suppress(WireError):
        sdp.parse(data)


# ---------------------------------------------------------------- RTSP

OPTIONS_200 = (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
               b"Server: GStreamer RTSP server\r\n\r\n")
DESCRIBE_200 = (b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
                b"Content-Base: rtsp://127.0.0.1:14000/nuance/\r\nContent-Length: " + str(len(GST_SDP)).encode()
                + b"\r\n\r\n" + GST_SDP)
SETUP_200 = (b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=20000-20001;"
             b"server_port=14002-14003;ssrc=7A2B\r\nSession: 4fZ3y;timeout=60\r\n\r\n")
INTERLEAVED = b"$\x00\x00\x04abcd"
VALID = [(OPTIONS_200, 200), (DESCRIBE_200, 200), (SETUP_200, 200), (INTERLEAVED, "interleaved")]


def _decode(parts: list[bytes]) -> list[object]:
    return decode_chunks(rtsp.RtspStreamDecoder(), parts)


@pytest.mark.parametrize("how", FEEDS)
@pytest.mark.parametrize(("data", "kind"), VALID)
def test_rtsp_valid_tables(data: bytes, kind: object, how: str) -> None:
    for parts in (chunks(data, how), [data + OPTIONS_200[:10]]):  # whole / byte by byte, and trailing bytes
        out = _decode(parts)
        assert len(out) == 1
        msg = out[0]
        if kind == "interleaved":
            assert msg == rtsp.Interleaved(0, b"abcd")
        else:
            assert isinstance(msg, rtsp.RtspResponse) and msg.status == kind


def test_rtsp_headers() -> None:
    (msg,) = _decode([SETUP_200])
    assert isinstance(msg, rtsp.RtspResponse) and msg.cseq == 3
    t = rtsp.parse_transport(msg.header("transport") or "")
    assert (t.client_port, t.server_port, t.ssrc) == ((20000, 20001), (14002, 14003), "7A2B")
    assert rtsp.parse_session(msg.header("Session") or "") == ("4fZ3y", 60)
    (opt,) = _decode([OPTIONS_200])
    assert isinstance(opt, rtsp.RtspResponse)
    assert rtsp.parse_public(opt.header("Public") or "") == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN"]
    (desc,) = _decode([DESCRIBE_200])
    assert isinstance(desc, rtsp.RtspResponse) and desc.body == GST_SDP


@pytest.mark.parametrize(("data", "message"), [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an RTSP request or status line"),
    (b"RTSP/1.0 2000 OK\r\n\r\n", "bad RTSP status line"),
    (b"RTSP/1.0 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length is not a number"),
    (b"RTSP/1.0 200 OK\r\nContent-Length: 1" + b"0" * 5000 + b"\r\n\r\n", "beyond any message size"),
    (b"RTSP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"),
    (b"\xff\xfe\xfd\r\n\r\n", "not UTF-8"),
    (b"RTSP/1.0 200 OK\r\nno colon\r\n\r\n", "without a colon"),
    (b"RTSP/1.0 200 OK\r\n folded first: x\r\n\r\n", "continuation"),
    (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 70000\r\n\r\n", "exceeds"),
    (b"SSH-2.0-OpenSSH_9.6p1_Debian-3\r\n" * 2, "not RTSP"),  # no start line has a 32-byte first word
], ids=["http", "status-4-digits", "bad-length", "huge-length", "two-lengths", "not-utf8", "no-colon",
        "fold-first", "oversize", "ssh"])
def test_rtsp_malformed(data: bytes, message: str) -> None:
    check_broken(rtsp.RtspStreamDecoder(), data, message)


@pytest.mark.parametrize("how", FEEDS)
def test_rtsp_folded_header_and_keepalive_lines(how: str) -> None:
    data = b"\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS,\r\n  DESCRIBE\r\n\r\n"
    (msg,) = _decode(chunks(data, how))
    assert msg == rtsp.RtspResponse(200, "OK", (("CSeq", "1"), ("Public", "OPTIONS, DESCRIBE")))


@pytest.mark.parametrize("status", [100, 204, 304])
def test_rtsp_bodyless_responses_end_at_the_empty_line(status: int) -> None:
    """RFC 2326 §4.4: 1xx, 204 and 304 responses have no body, whatever Content-Length says."""
    head = f"RTSP/1.0 {status} X\r\nCSeq: 1\r\nContent-Length: 5\r\n\r\n".encode()
    first, second = _decode([head + OPTIONS_200])
    assert isinstance(first, rtsp.RtspResponse) and first.status == status and first.body == b""
    assert isinstance(second, rtsp.RtspResponse) and second.header("Public")


@WIRE_SETTINGS
@given(method=st.sampled_from(["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN"]), cseq=st.integers(0, 2**31 - 1),
       port=st.integers(0, 65534).map(lambda p: p & ~1), session=st.none() | st.from_regex(r"\A[A-Za-z0-9]{1,16}\Z"))
def test_rtsp_round_trip(method: str, cseq: int, port: int, session: str | None) -> None:
    transport = rtsp.Transport("RTP/AVP", True, (port, port + 1))
    req = rtsp.build_request(method, "rtsp://h.example:14000/r", cseq, session=session,
                             transport=rtsp.encode_transport(transport))
    data = rtsp.encode(req)
    for how in FEEDS:
        (got,) = _decode(chunks(data, how))
        assert got == req
        assert isinstance(got, rtsp.RtspRequest)
        assert rtsp.parse_transport(got.header("Transport") or "") == transport


@WIRE_SETTINGS
@given(st.binary(max_size=300) | st.builds(lambda a, b: a + b, st.sampled_from([OPTIONS_200, SETUP_200]),
                                           st.binary(max_size=40)))
def test_rtsp_fuzz(data: bytes) -> None:
    parse_or_wire_error(rtsp.RtspStreamDecoder(), data)
    for header in (rtsp.parse_transport, rtsp.parse_session):
        with contextlib.suppress(WireError):
            header(data.decode("latin-1"))


# ---------------------------------------------------------------- RTP / RTCP

rtp_packets = st.builds(
    rtp.RtpPacket, payload_type=st.integers(0, 63) | st.integers(96, 127), sequence=st.integers(0, 65535),
    timestamp=st.integers(0, 2**32 - 1), ssrc=st.integers(0, 2**32 - 1), payload=st.binary(max_size=200),
    marker=st.booleans(), csrc=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 65535),
                                    st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))),
    padding=st.integers(0, 255))
blocks = st.builds(rtp.ReportBlock, st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(-(2**23), 2**23 - 1),
                   st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                   st.integers(0, 2**32 - 1))
rtcp_packets = st.one_of(
    st.builds(rtp.SenderReport, st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
              st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.lists(blocks, max_size=3).map(tuple)),
    st.builds(rtp.ReceiverReport, st.integers(0, 2**32 - 1), st.lists(blocks, max_size=3).map(tuple)),
    st.builds(rtp.RtcpBye, st.lists(st.integers(0, 2**32 - 1), max_size=4).map(tuple), st.binary(max_size=30)),
    st.builds(rtp.RtcpOther, st.sampled_from([202, 204, 205, 206]), st.integers(0, 31),
              st.binary(max_size=40).map(lambda b: b + bytes(-len(b) % 4))))


@WIRE_SETTINGS
@given(rtp_packets)
def test_rtp_round_trip(packet: rtp.RtpPacket) -> None:
    data = rtp.encode_rtp(packet)
    assert not rtp.is_rtcp(data)
    assert rtp.parse_rtp(data) == packet


@WIRE_SETTINGS
@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_rtcp_compound_is_well_framed(packets: list[rtp.RtcpPacket]) -> None:
    """The probe only sends RTCP (SR/RR on port + 1), so its encoder is checked against RFC 3550 §6.1 framing:
    every packet version 2, its length word (32-bit words minus one) walking exactly to the end, in order."""
    data = rtp.encode_rtcp(packets)
    assert rtp.is_rtcp(data)
    pos, types = 0, []
    while pos < len(data):
        first, ptype, words = struct.unpack_from("!BBH", data, pos)
        assert first >> 6 == 2
        types.append(ptype)
        pos += 4 + 4 * words
    assert pos == len(data)
    expected = {rtp.SenderReport: rtp.RTCP_SR, rtp.ReceiverReport: rtp.RTCP_RR, rtp.RtcpBye: rtp.RTCP_BYE}
    assert types == [expected.get(type(p)) or p.packet_type for p in packets]  # type: ignore[attr-defined]


def test_rtcp_sender_report_known_bytes() -> None:
    """An SR with one report block, field by field as RFC 3550 §6.4.1 lays it out (a negative cumulative loss is
    24-bit two's complement), then a BYE with a reason (§6.6) in the same compound packet."""
    block = rtp.ReportBlock(0x11111111, 0x20, -1, 0x00010064, 7, 0x12345678, 0x9ABCDEF0)
    sr = rtp.SenderReport(0x01020304, 0x0102030405060708, 0x0A0B0C0D, 5, 800, (block,))
    bye = rtp.RtcpBye((0x01020304,), b"done")
    data = rtp.encode_rtcp([sr, bye])
    assert data == bytes.fromhex(
        "81c8000c" "01020304" "0102030405060708" "0a0b0c0d" "00000005" "00000320"  # V=2 RC=1 PT=200 len=12
        "11111111" "20ffffff" "00010064" "00000007" "12345678" "9abcdef0"  # fraction 0x20, lost -1
        "81cb0003" "01020304" "04646f6e" "65000000")  # V=2 SC=1 PT=203 len=3; reason "done", padded to 32 bits


def test_rtp_known_packet() -> None:
    data = bytes.fromhex("80e0 1234 00000010 deadbeef") + b"\xff" * 4
    pkt = rtp.parse_rtp(data)
    assert (pkt.payload_type, pkt.marker, pkt.sequence, pkt.timestamp, pkt.ssrc) == (96, True, 0x1234, 16, 0xDEADBEEF)
    with pytest.raises(WireError):
        rtp.parse_rtp(data[:11])
    with pytest.raises(WireError):  # version 1
        rtp.parse_rtp(b"\x40" + data[1:])
    with pytest.raises(WireError):  # padding longer than the packet
        rtp.parse_rtp(b"\xa0" + data[1:-1] + b"\xff")
    with pytest.raises(WireError):  # marker + PT 72 reads as RTCP SR
        rtp.RtpPacket(72, 0, 0, 0, marker=True)


@WIRE_SETTINGS
@given(st.binary(max_size=200))
def test_rtp_rtcp_fuzz(data: bytes) -> None:
    with contextlib.suppress(WireError):
        rtp.parse_rtp(data)


# ---------------------------------------------------------------- SIP dialogs

def _invite() -> sip.SipRequest:
    offer = sdp.encode(sdp.build_audio("192.0.2.5", 40000))
    return sip.build_invite("sip:echo@192.0.2.10:5060", local_host="192.0.2.5", local_port=5062,
                            transport="UDP", branch="z9hG4bKabc", call_id="c1@192.0.2.5", from_tag="ft", sdp=offer)


def _answer(status: int) -> sip.SipResponse:
    inv = _invite()
    headers = (("Via", inv.header("Via") or ""), ("From", inv.header("From") or ""),
               ("To", "<sip:echo@192.0.2.10:5060>;tag=tt"), ("Call-ID", "c1@192.0.2.5"), ("CSeq", "1 INVITE"),
               ("Contact", "<sip:echo@192.0.2.10:5999;transport=udp>"))
    return sip.SipResponse(status, "X", headers)


def _same(a: sip.SipMessage, b: sip.SipMessage) -> bool:
    """Equal but for the Content-Length that encode() always writes."""
    def strip(m: sip.SipMessage) -> tuple[tuple[str, str], ...]:
        return tuple(h for h in m.headers if h[0].lower() != "content-length")
    return type(a) is type(b) and strip(a) == strip(b) and a.body == b.body and str(a)[:40] == str(b)[:40]


def test_invite_round_trips_with_sdp() -> None:
    inv = _invite()
    got = sip.parse_datagram(sip.encode(inv))
    assert _same(got, inv) and isinstance(got, sip.SipRequest)
    assert sdp.parse(got.body).audio() is not None


def test_ack_bye_cancel() -> None:
    inv = _invite()
    ok = _answer(200)
    ack = sip.build_ack(inv, ok, "z9hG4bKnew")
    assert ack.uri == "sip:echo@192.0.2.10:5999;transport=udp" and ack.header("CSeq") == "1 ACK"
    assert sip.to_tag(ack) == "tt"
    with pytest.raises(WireError):
        sip.build_ack(inv, ok)  # the ACK of a 2xx needs a new branch
    busy = sip.build_ack(inv, _answer(486))
    assert busy.uri == inv.uri and "branch=z9hG4bKabc" in (busy.header("Via") or "")
    bye = sip.build_bye(inv, ok, branch="z9hG4bKbye", cseq=2)
    assert bye.header("CSeq") == "2 BYE" and sip.to_tag(bye) == "tt" and bye.header("Call-ID") == "c1@192.0.2.5"
    cancel = sip.build_cancel(inv)
    assert cancel.uri == inv.uri and cancel.header("CSeq") == "1 CANCEL"
    assert not sip.response_mismatches(cancel, sip.SipResponse(200, "OK", (
        ("Via", cancel.header("Via") or ""), ("From", inv.header("From") or ""), ("Call-ID", "c1@192.0.2.5"),
        ("CSeq", "1 CANCEL"))))
    for msg in (ack, busy, bye, cancel):
        assert _same(sip.parse_datagram(sip.encode(msg)), msg)
