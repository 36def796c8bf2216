"""SDP (RFC 4566, RFC 3264) and RTSP (RFC 2326) at their edges, found by mutation testing (``make mutants``):
known answers for what a probe sends, each limit at its value and one past it, and the message a user reads
for each refusal."""

from __future__ import annotations

from gvpconf.wire import rtsp, sdp
from gvpconf.wire.banner import describe
from gvpconf.wire.rtsp import Interleaved, RtspStreamDecoder, Transport, encode_transport, parse_session
from gvpconf.wire.sdp import Media, SessionDescription
from selftests.wire.wirehelp import refused

# ---------------------------------------------------------------- SDP: what a probe offers


def test_build_audio_known_answer() -> None:
    """The offer a call probe sends: RFC 4566 §5 order, rtpmap for the static types (RFC 3551), ptime 20."""
    assert sdp.encode(sdp.build_audio("192.0.2.5", 4000)) == (
        b"v=0\r\no=gvpconf 0 0 IN IP4 192.0.2.5\r\ns=gvpconf\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\n")
    six = sdp.encode(sdp.build_audio("2001:db8::5", 4002, (96, 18), ptime=None, session_id=7, direction="recvonly",
                                     user="probe"))
    assert six == (b"v=0\r\no=probe 7 7 IN IP6 2001:db8::5\r\ns=gvpconf\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"
                   b"m=audio 4002 RTP/AVP 96 18\r\na=rtpmap:18 G729/8000\r\na=recvonly\r\n")
    refused(lambda: sdp.build_audio("192.0.2.5", 4000, direction="both"),
            "SDP direction must be one of sendrecv, sendonly, recvonly, inactive, got 'both'")


def test_encode_puts_each_extra_line_where_rfc_4566_orders_it() -> None:
    """§5: v o s i u e p c b t (z k) a, then each m= with its own c= and a= lines."""
    media = (Media("audio", 5004, "RTP/AVP", ("0",), "2001:db8::9", (("ptime", "30"), ("sendonly", None))),
             Media("video", 0, "RTP/AVP", ("31",)))
    desc = SessionDescription("192.0.2.1", 1, 2, "-", "talk", "192.0.2.2", media, (("tool", "x"),),
                              ("k=clear", "b=AS:64", "i=info", "u=http://x/", "e=a@b", "p=+1"))
    assert sdp.encode(desc).decode().split("\r\n") == [
        "v=0", "o=- 1 2 IN IP4 192.0.2.1", "s=talk", "i=info", "u=http://x/", "e=a@b", "p=+1",
        "c=IN IP4 192.0.2.2", "b=AS:64", "t=0 0", "k=clear", "a=tool:x",
        "m=audio 5004 RTP/AVP 0", "c=IN IP6 2001:db8::9", "a=ptime:30", "a=sendonly", "m=video 0 RTP/AVP 31", ""]
    assert desc.media_address() == "2001:db8::9" and desc.media_address(1) == "192.0.2.2"
    assert media[0].attribute("sendonly") == "" and media[0].attribute("ptime") == "30"
    assert media[0].attribute("rtpmap") is None


# ---------------------------------------------------------------- SDP: what the model refuses


def test_session_description_refusals() -> None:
    SessionDescription("h", 2**64 - 1, 2**64 - 1)
    for what, field in (("session id", "session_id"), ("session version", "session_version")):
        for bad in (2**64, -1, True, 1.5):
            refused(lambda field=field, bad=bad: SessionDescription("h", **{field: bad}),
                    f"SDP {what} must be 0-2^64, got {bad!r}")
    refused(lambda: SessionDescription("h h"), "SDP origin address is not an address: 'h h'")
    for user in ("", "a b"):
        refused(lambda user=user: SessionDescription("h", origin_user=user),
                f"SDP origin user must be non-empty without whitespace: {user!r}")
    refused(lambda: SessionDescription("h", origin_user="a\0"), "SDP o= user must not contain CR, LF or NUL: 'a\\x00'")
    refused(lambda: SessionDescription("h", session_name=""),
            "SDP session name must be non-empty (RFC 4566 §5.3: use '-')")
    refused(lambda: SessionDescription("h", session_name="a\nb"),
            "SDP session name must not contain CR, LF or NUL: 'a\\nb'")
    refused(lambda: SessionDescription("h", connection="a b"), "SDP connection address is not an address: 'a b'")
    refused(lambda: SessionDescription("h", media=("m",)), "SDP media must be Media objects, got str")  # type: ignore[arg-type]
    refused(lambda: SessionDescription("h", attributes=(("a b", None),)), "SDP attribute name is not a token: 'a b'")
    refused(lambda: SessionDescription("h", attributes=(("x", "a\rb"),)),
            "SDP attribute x must not contain CR, LF or NUL: 'a\\rb'")
    refused(lambda: SessionDescription("h", extra=("x=a\0",)), "SDP line must not contain CR, LF or NUL: 'x=a\\x00'")
    for line in ("a=x", "v=1", "z=0", "Q=1", "x"):
        refused(lambda line=line: SessionDescription("h", extra=(line,)),
                f"SDP extra line must be x=... of a type not modelled: {line!r}")
    SessionDescription("h", extra=("k=", "y=1"), session_name="Xmas")


def test_media_refusals() -> None:
    Media("audio", 65535, "RTP/AVP/TCP", ("0",))
    for bad in (65536, -1, True):
        refused(lambda bad=bad: Media("audio", bad, "RTP/AVP", ("0",)), f"SDP media port must be 0-65535, got {bad!r}")
    refused(lambda: Media("a b", 1, "RTP/AVP", ("0",)), "SDP media type is not a token: 'a b'")
    for proto in ("", "RTP/", "RTP AVP"):
        refused(lambda proto=proto: Media("audio", 1, proto, ("0",)),
                f"SDP media transport is not token/token: {proto!r}")
    refused(lambda: Media("audio", 1, "RTP/AVP", ()), "SDP media line needs at least one format")
    refused(lambda: Media("audio", 1, "RTP/AVP", ("0 8",)), "SDP media format is not a token: '0 8'")
    refused(lambda: Media("audio", 1, "RTP/AVP", ("0",), "x y"), "SDP connection address is not an address: 'x y'")


# ---------------------------------------------------------------- SDP: parsing


ORIGIN = b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\n"


def test_parse_lines_and_limits() -> None:
    """§5: every line is ``<lower-case letter>=<value>``; v=0 first; o= required; s= defaults to '-'."""
    parsed = sdp.parse(ORIGIN + b"s=\r\nk=\r\nz=0 0\r\na=recvonly\r\nm=audio 49170/2 RTP/AVP 0\r\ni=x\r\n"
                       b"a=ptime:20\r\n")
    assert parsed.session_name == "-" and parsed.extra == ("k=",) and parsed.attributes == (("recvonly", None),)
    assert parsed.media[0].port == 49170 and parsed.media[0].attributes == (("ptime", "20"),)
    assert sdp.parse(ORIGIN).session_name == "-" and sdp.parse(ORIGIN).media == ()
    for line in ("a", "a:x", "A=x", "{=x", "`=x"):
        refused(lambda line=line: sdp.parse(ORIGIN + line.encode()), f"bad SDP line (want x=value): {line!r}")
    bad_utf8, no_version = b"v=0\r\n\xff", b"o=- 1 2 IN IP4 h\r\n"
    refused(lambda: sdp.parse(bad_utf8), f"SDP is not UTF-8: {describe(bad_utf8)}")
    refused(lambda: sdp.parse(no_version), f"SDP must start with v=0: {describe(no_version)}")
    refused(lambda: sdp.parse(b"v=0\r\ns=x\r\n"), "SDP without an o= line")
    exact = ORIGIN + b"a=" + b"x" * (sdp.MAX_SDP_SIZE - len(ORIGIN) - 4) + b"\r\n"
    assert len(exact) == sdp.MAX_SDP_SIZE and len(sdp.parse(exact).attributes) == 1  # 64 KiB exactly: taken
    over = exact + b"\n"
    refused(lambda: sdp.parse(over), f"SDP body of {sdp.MAX_SDP_SIZE + 1} bytes exceeds {sdp.MAX_SDP_SIZE}")


def test_parse_origin_media_and_connection_lines() -> None:
    most = b"18446744073709551615"  # 2^64 - 1: 20 digits
    parsed = sdp.parse(b"v=0\r\no=u " + most + b" " + most + b" IN IP4 h\r\n")
    assert parsed.session_id == parsed.session_version == 2**64 - 1 and parsed.origin_user == "u"
    for value in ("- 18446744073709551616 0 IN IP4 h", "- 0 18446744073709551616 IN IP4 h",
                  "- 000000000000000000001 0 IN IP4 h", "- 0 000000000000000000001 IN IP4 h"):
        refused(lambda value=value: sdp.parse(b"v=0\r\no=" + value.encode()),
                f"SDP o= session id or version too large: {value!r}")
    assert sdp.parse(b"v=0\r\no=- 00000000000000000001 0 IN IP4 h").session_id == 1  # 20 digits
    for value in ("- 1 2 IN IP4", "- x 2 IN IP4 h"):
        refused(lambda value=value: sdp.parse(b"v=0\r\no=" + value.encode()), f"bad SDP o= line: {value!r}")
    assert sdp.parse(ORIGIN + b"m=audio 65535 RTP/AVP 0").media[0].port == 65535
    for value in ("audio 65536 RTP/AVP 0", "audio \u0663 RTP/AVP 0", "audio x RTP/AVP 0"):
        refused(lambda value=value: sdp.parse(ORIGIN + b"m=" + value.encode()), f"bad SDP media port: {value!r}")
    refused(lambda: sdp.parse(ORIGIN + b"m=audio 1 RTP/AVP"),
            "bad SDP m= line (want 'type port proto fmt...'): 'audio 1 RTP/AVP'")
    assert sdp.parse(ORIGIN + b"c=IN IP4 224.2.1.1/127/3").connection == "224.2.1.1"
    media_c = sdp.parse(ORIGIN + b"c=IN IP4 192.0.2.7\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP6 ::1")
    assert media_c.connection == "192.0.2.7" and media_c.media[0].connection == "::1"
    for value in ("IN IP4", "XX IP4 h", "IN IP5 h", "IN IP4 h extra"):
        refused(lambda value=value: sdp.parse(ORIGIN + b"c=" + value.encode()), f"bad SDP c= line: {value!r}")
    refused(lambda: sdp.parse(ORIGIN + b"c=IN IP4 a'b"), "bad SDP c= address: \"IN IP4 a'b\"")
    refused(lambda: sdp.parse(ORIGIN + b"a=x y:1"), "bad SDP attribute name: 'x y:1'")


# ---------------------------------------------------------------- RTSP: requests and interleaved frames


def test_build_request_known_answer_and_cseq_range() -> None:
    """§12.17 CSeq, then Accept, Transport, Session, User-Agent and any extra headers, in that order."""
    req = rtsp.build_request("SETUP", "rtsp://h/a", 2**31 - 1, session="s1", transport="RTP/AVP;unicast",
                             accept="application/sdp", extra=(("Require", "x"),))
    assert rtsp.encode(req) == (b"SETUP rtsp://h/a RTSP/1.0\r\nCSeq: 2147483647\r\nAccept: application/sdp\r\n"
                                b"Transport: RTP/AVP;unicast\r\nSession: s1\r\nUser-Agent: gvpconf\r\n"
                                b"Require: x\r\n\r\n")
    assert rtsp.encode(rtsp.build_request("OPTIONS", "*", 0)) == (
        b"OPTIONS * RTSP/1.0\r\nCSeq: 0\r\nUser-Agent: gvpconf\r\n\r\n")
    for bad in (2**31, -1, True):
        refused(lambda bad=bad: rtsp.build_request("OPTIONS", "*", bad), f"CSeq must be 0-2^31, got {bad!r}")


def test_interleaved_frames_limits_and_bytes() -> None:
    """§10.12: ``$``, a one-octet channel, a 16-bit length in network order, the data."""
    assert rtsp.encode(Interleaved(255, bytes(258))) == b"$\xff\x01\x02" + bytes(258)
    Interleaved(0, bytes(65535))
    for bad in (256, -1, True, 1.5):
        refused(lambda bad=bad: Interleaved(bad, b""), f"interleaved channel must be 0-255, got {bad!r}")
    refused(lambda: Interleaved(0, bytes(65536)), "interleaved frame of 65536 bytes exceeds 65535")
    d = RtspStreamDecoder(max_message_size=4 + 258)
    d.feed(b"$\x01\x00\x00$\x02\x01\x02" + bytes(257))
    assert d.next_message() == Interleaved(1, b"")  # four bytes are a whole empty frame
    assert d.next_message() is None
    d.feed(b"\x07")
    assert d.next_message() == Interleaved(2, bytes(257) + b"\x07")
    big = RtspStreamDecoder(max_message_size=4 + 257)
    big.feed(b"$\x00\x01\x02")
    refused(big.next_message, "interleaved frame of 262 bytes exceeds the 261-byte limit")


def test_stream_decoder_limits() -> None:
    """An RTSP message has at most 128 header lines; 32 bytes without a space cannot start an RTSP line."""
    ok = RtspStreamDecoder()
    ok.feed(b"RTSP/1.0 200 OK\r\n" + b"X: 1\r\n" * 128 + b"\r\n")
    assert ok.next_message() is not None
    many = RtspStreamDecoder()
    many.feed(b"RTSP/1.0 200 OK\r\n" + b"X: 1\r\n" * 129 + b"\r\n")
    refused(many.next_message, "RTSP message has more than 128 header lines")
    word = RtspStreamDecoder()
    word.feed(b"A" * 31)
    assert word.next_message() is None
    word.feed(b"A")
    refused(word.next_message, f"not RTSP: {describe(b'A' * 32)}")


# ---------------------------------------------------------------- RTSP: Transport and Session headers


def test_transport_round_trip_and_parsing_rules() -> None:
    """§12.39: the first transport-spec; a single port means that port and the next; names case-insensitive;
    a value runs to the end of its parameter; quotes around a mode dropped; unknown parameters ignored."""
    full = Transport("RTP/AVP/TCP", False, (0, 65535), (2, 3), (0, 255), "1A2B", "192.0.2.9", "PLAY")
    text = encode_transport(full)
    assert text == ("RTP/AVP/TCP;multicast;client_port=0-65535;server_port=2-3;interleaved=0-255;ssrc=1A2B;"
                    "source=192.0.2.9;mode=PLAY")
    assert rtsp.parse_transport(text) == full
    assert encode_transport(Transport()) == "RTP/AVP;unicast"
    parsed = rtsp.parse_transport(' RTP/AVP ; Unicast ; CLIENT_PORT=5000 ; Interleaved=4 ; ttl=16 ; foo=bar ; '
                                  'mode="PLAY" ; ssrc=a=b ; source= , RTP/AVP/TCP;interleaved=0-1')
    assert parsed == Transport("RTP/AVP", True, (5000, 5001), None, (4, 5), "a=b", None, "PLAY")
    assert rtsp.parse_transport("RTP/AVP;multicast;unicast").unicast
    assert not rtsp.parse_transport("RTP/AVP;unicast;multicast").unicast
    refused(lambda: rtsp.parse_transport(" ; ,x"), "empty Transport header: ' ; ,x'")
    refused(lambda: rtsp.parse_transport("RTP/AVP;client_port=x"), "bad client_port in Transport: 'x'")
    refused(lambda: rtsp.parse_transport("RTP/AVP;server_port=1-65536"),
            "server_port out of range in Transport: '1-65536'")
    refused(lambda: rtsp.parse_transport("RTP/AVP;client_port=65536-1"),
            "client_port out of range in Transport: '65536-1'")
    refused(lambda: rtsp.parse_transport("RTP/AVP;interleaved=255"), "interleaved out of range in Transport: '255'")
    assert rtsp.parse_transport("RTP/AVP;interleaved=254").interleaved == (254, 255)
    assert rtsp.parse_transport("RTP/AVP;interleaved=255-255").interleaved == (255, 255)
    assert rtsp.parse_transport("RTP/AVP;source=X.example;mode=X").source == "X.example"  # only quotes dropped
    refused(lambda: rtsp.parse_transport("RTP/AVP;interleaved=0-256"),
            "interleaved out of range in Transport: '0-256'")


def test_transport_model_refusals() -> None:
    for proto in ("", "RTP/", "RTP AVP"):
        refused(lambda proto=proto: Transport(proto), f"bad transport protocol {proto!r}")
    for what, top in (("client_port", 65535), ("server_port", 65535), ("interleaved", 255)):
        Transport(**{what: (top, top)})  # type: ignore[arg-type]
        for pair in ((0, top + 1), (-1, 0), (1,), (0, "1")):
            refused(lambda what=what, pair=pair: Transport(**{what: pair}), f"bad {what} {pair!r}")  # type: ignore[arg-type]
    for what in ("ssrc", "source", "mode"):
        for text in ("", "a b", 'a"', "a;b", "a,b", "a\rb"):
            refused(lambda what=what, text=text: Transport(**{what: text}), f"bad transport {what} {text!r}")


def test_parse_session() -> None:
    """§12.37: ``session-id [;timeout=delta-seconds]``; a timeout is read to its first nine digits."""
    assert parse_session(" 12345678 ;Timeout = 60 ;x=1") == ("12345678", 60)
    assert parse_session("abc;timeout=1234567890") == ("abc", 123456789)
    assert parse_session("abc;timeout=6x;timeout=\u0663") == ("abc", None)
    assert parse_session("abc;x=5") == ("abc", None)
    assert parse_session("a=b;timeout=5") == ("a=b", 5)
    for value in (" ;timeout=5", "a b", "a\x01"):
        refused(lambda value=value: parse_session(value), f"bad Session header: {value!r}")
