"""Codec edges found by mutation testing (``make mutants``): each test kills survivors of the seeded sample
that changed behaviour no other selftest looked at. Known answers and rejections, each citing the spec."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, rtp, rtsp, sdp, tds
from gvpconf.wire.sip import SipRequest, SipResponse, build_ack, build_bye, build_invite, encode
from selftests.wire.wirehelp import WIRE_SETTINGS

INVITE = SipRequest("INVITE", "sip:echo@192.0.2.10", (
    ("Via", "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKinv;rport"), ("Max-Forwards", "70"),
    ("To", "<sip:echo@192.0.2.10>"), ("From", "<sip:gvpconf@192.0.2.5>;tag=ft"), ("Call-ID", "c1"),
    ("CSeq", "4 INVITE")))


@pytest.mark.parametrize("status", [300, 302, 486, 699])
def test_ack_of_non_2xx_stays_in_the_invite_transaction(status: int) -> None:
    """RFC 3261 §17.1.1.3: the ACK of any final response 300-699 (300 included) carries the INVITE's branch
    and Request-URI and needs no fresh branch; only a 2xx (§13.2.2.4) starts a new transaction."""
    answer = SipResponse(status, "Moved", (("To", "<sip:echo@192.0.2.10>;tag=tt"), ("Call-ID", "c1"),
                                           ("CSeq", "4 INVITE"), ("Contact", "<sip:other@192.0.2.99>")))
    ack = build_ack(INVITE, answer)
    assert ack.uri == INVITE.uri
    assert ack.header("Via") == "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKinv;rport"
    assert ack.header("CSeq") == "4 ACK"


def test_ack_of_2xx_without_a_branch_is_refused() -> None:
    """RFC 3261 §13.2.2.4: the ACK of a 2xx is its own transaction, so the caller must pass a fresh branch;
    the error says so."""
    ok = SipResponse(200, "OK", (("To", "<sip:echo@192.0.2.10>;tag=tt"), ("Call-ID", "c1"), ("CSeq", "4 INVITE")))
    with pytest.raises(WireError, match=r"^the ACK of a 2xx is a new transaction: pass a fresh branch$"):
        build_ack(INVITE, ok)


def test_bye_takes_the_invites_to_when_the_answer_has_none() -> None:
    """RFC 3261 §12.2.1.1: the remote URI of the dialog; when the 2xx carries no To (malformed, §8.1.1) the
    BYE falls back to the INVITE's To rather than an empty header."""
    ok = SipResponse(200, "OK", (("Call-ID", "c1"), ("CSeq", "4 INVITE")))
    bye = build_bye(INVITE, ok, branch="z9hG4bKbye", cseq=5)
    assert bye.header("To") == "<sip:echo@192.0.2.10>"


def test_invite_writes_the_user_agent_header_by_its_name() -> None:
    """RFC 3261 §20.41: the header is written ``User-Agent`` (known answer on the bytes we send)."""
    invite = build_invite("sip:echo@192.0.2.10", local_host="192.0.2.5", local_port=5060, transport="UDP",
                          branch="z9hG4bKi", call_id="c1", from_tag="ft", sdp=b"v=0\r\n", user_agent="ua/9")
    assert b"\r\nUser-Agent: ua/9\r\n" in encode(invite)


@pytest.mark.parametrize("value", ["", " ;timeout=60", "ab cd", "a\x01b"])
def test_bad_session_header_is_named(value: str) -> None:
    """RFC 2326 §12.37: ``Session = "Session" ":" session-id [ ";" "timeout" "=" delta-seconds ]``, the id
    non-empty with no white space or control character; the error names the header and its value."""
    with pytest.raises(WireError, match=r"^bad Session header: "):
        rtsp.parse_session(value)


def test_prelogin_option_longer_than_32k_keeps_unsigned_lengths() -> None:
    """[MS-TDS] 2.2.6.5: PL_OFFSET and PL_OPTION_LENGTH are unsigned 16-bit (USHORT); a 40000-byte option is
    written as such (a signed field would not hold it) and parses back."""
    big = bytes(range(256)) * 156 + bytes(64)  # 40000 bytes
    message = tds.Prelogin(version=(15, 0, 2000, 0), instance=None, mars=None, other=((0x06, big),))
    payload = tds.encode_prelogin(message)
    table = [struct.unpack(">BHH", payload[i:i + 5]) for i in range(0, 15, 5)]
    assert table == [(0x00, 16, 6), (0x01, 22, 1), (0x06, 23, 40000)] and payload[15] == 0xFF
    assert tds.parse_prelogin(payload).other == ((0x06, big),)


def test_prelogin_whose_offsets_overflow_is_a_wire_error() -> None:
    """[MS-TDS] 2.2.6.5: PL_OFFSET is a USHORT. After a 65535-byte option (its length still fits), the next
    option's offset cannot be written: WireError, never struct.error."""
    message = tds.Prelogin(version=(15, 0, 2000, 0), instance=None, mars=None,
                           other=((0x06, bytes(0xFFFF)), (0x07, b"\x00")))
    with pytest.raises(WireError, match="too long"):
        tds.encode_prelogin(message)


def test_message_of_exactly_the_maximum_size_is_accepted() -> None:
    """The decoder's ``max_message_size`` counts the bytes on the wire, the 8-byte packet headers ([MS-TDS]
    2.2.3.1) included: a message of exactly that size passes, one byte more is refused."""
    payload = b"x" * 100
    wire = tds.encode_message(tds.PacketType.RESPONSE, payload, 4096)
    decoder = tds.MessageDecoder(max_message_size=len(wire))
    decoder.feed(wire)
    message = decoder.next_message()
    assert message is not None and message.payload == payload
    smaller = tds.MessageDecoder(max_message_size=len(wire) - 1)
    smaller.feed(wire)
    with pytest.raises(WireError, match="larger than"):
        smaller.next_message()


def test_request_uri_with_del_is_refused() -> None:
    """RFC 3261 §25.1 / RFC 2326 §15: a Request-URI holds no control character, DEL (0x7F) included."""
    with pytest.raises(WireError):
        SipRequest("OPTIONS", "sip:a\x7fb@192.0.2.1", ())


def test_invite_request_line_and_defaults_exactly() -> None:
    """RFC 3261 §8.1.1 and §20.5/§20.22: the INVITE goes out as ``INVITE`` with ``Max-Forwards: 70`` (the
    recommended initial value) and an ``Allow`` header naming what we answer."""
    invite = build_invite("sip:echo@192.0.2.10", local_host="192.0.2.5", local_port=5060, transport="UDP",
                          branch="z9hG4bKi", call_id="c1", from_tag="ft", sdp=b"v=0\r\n")
    wire = encode(invite)
    assert wire.startswith(b"INVITE sip:echo@192.0.2.10 SIP/2.0\r\n")
    assert b"\r\nMax-Forwards: 70\r\n" in wire and b"\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n" in wire


def test_rtsp_request_headers_exactly() -> None:
    """RFC 2326 §12.1 Accept, §12.39 Transport, §12.41 User-Agent: names as written, the default agent."""
    request = rtsp.build_request("DESCRIBE", "rtsp://192.0.2.1/a", 2, accept="application/sdp",
                                 transport="RTP/AVP;unicast;client_port=5000-5001")
    assert request.headers == (("CSeq", "2"), ("Accept", "application/sdp"),
                               ("Transport", "RTP/AVP;unicast;client_port=5000-5001"), ("User-Agent", "gvpconf"))


def test_transport_known_answer_and_edges() -> None:
    """RFC 2326 §12.39: parameter names are lower case as the grammar writes them; a port range may end at
    65535; a transport-spec needs a protocol."""
    spec = rtsp.Transport(client_port=(5000, 5001), server_port=(6970, 6971), mode="PLAY")
    assert rtsp.encode_transport(spec) == "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;mode=PLAY"
    assert rtsp.parse_transport("RTP/AVP;unicast;client_port=65534-65535").client_port == (65534, 65535)
    with pytest.raises(WireError):
        rtsp.Transport(protocol="")


def test_sdp_type_letter_must_be_lower_case() -> None:
    """RFC 4566 §5: each line is ``<type>=<value>``, ``<type>`` exactly one lower-case letter."""
    with pytest.raises(WireError):
        sdp.parse(b"V=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n")


def test_rtp_and_rtcp_errors_say_what_broke() -> None:
    """RFC 3550 §5.1 (version 2, CSRC list), §6.4 (at most 31 report blocks: a 5-bit count), §6.6 (the BYE
    reason's length is one octet): each refusal names its reason."""
    with pytest.raises(WireError, match="RTP version must be 2"):
        rtp.parse_rtp(bytes([0x40, 0]) + bytes(10))
    with pytest.raises(WireError, match=r"truncated in its CSRC list \(2 CSRCs\)"):
        rtp.parse_rtp(bytes([0x82, 0]) + bytes(10) + bytes(4))
    blocks = tuple(rtp.ReportBlock(i, 0, 0, 0, 0) for i in range(32))
    with pytest.raises(WireError, match="at most 31 report blocks"):
        rtp.ReceiverReport(1, blocks)
    with pytest.raises(WireError, match="BYE reason longer than 255 octets"):
        rtp.RtcpBye((1,), b"x" * 256)


def test_tds_errors_say_what_broke() -> None:
    """[MS-TDS] 2.2.3.1 (SPID is a USHORT) and 2.2.6.5 (INSTOPT is a NUL-terminated string: one NUL, at its
    end): the refusals name the field."""
    with pytest.raises(WireError, match=r"^SPID must fit in 16 bits, got 65536$"):
        tds.Packet(tds.PacketType.RESPONSE, spid=0x10000)
    payload = tds.encode_prelogin(tds.Prelogin(version=(15, 0, 2000, 0), instance=b"ab", mars=None))
    assert payload.count(b"ab\x00") == 1
    with pytest.raises(WireError, match="INSTOPT has a NUL before its end"):
        tds.parse_prelogin(payload.replace(b"ab\x00", b"a\x00\x00"))


def test_field_range_errors_name_the_field() -> None:
    """A value out of its field's range is refused with the field named as the spec names it: RFC 4566 §5.2
    (sess-id, a 64-bit number here), RFC 2326 §12.39 (client_port, mode), [MS-TDS] 2.2.6.5 (VERSION's major)
    and 2.2.3.1 (a packet's Length is a USHORT, the 8-byte header included)."""
    with pytest.raises(WireError, match=r"^SDP session id must be 0-2\^64, got -1$"):
        sdp.SessionDescription("192.0.2.1", session_id=-1)
    with pytest.raises(WireError, match=r"^bad client_port \(0, 65536\)$"):
        rtsp.Transport(client_port=(0, 65536))
    with pytest.raises(WireError, match=r"^bad transport mode ''$"):
        rtsp.Transport(mode="")
    with pytest.raises(WireError, match=r"^major version must fit in one byte, got 256$"):
        tds.Prelogin(version=(256, 0, 0, 0))
    with pytest.raises(WireError, match=r"^a TDS packet holds at most 65527 payload bytes, got 65528$"):
        tds.Packet(tds.PacketType.RESPONSE, bytes(65528))


def test_list_header_keeps_a_comma_inside_a_quoted_string() -> None:
    """RFC 3261 §7.3.1: a comma-separated header value splits on commas outside quoted strings; a Via
    parameter's quoted value (§25.1 quoted-string) holding a comma stays whole."""
    msg = SipResponse(200, "OK", (("Via", 'SIP/2.0/UDP a;branch=z9hG4bK1;x="p,q", SIP/2.0/UDP b;branch=z9hG4bK2'),))
    assert msg.header_values("Via") == ['SIP/2.0/UDP a;branch=z9hG4bK1;x="p,q"', "SIP/2.0/UDP b;branch=z9hG4bK2"]


def test_fast_paths_agree_with_the_grammar_they_replace() -> None:
    """The C fast paths of the text grammar and of SIP's header splitting give what the slow forms gave, on every
    short string of the characters that matter (quotes, angle brackets, separators, CR, LF)."""
    import itertools

    from gvpconf.wire import _text
    from gvpconf.wire import sip as sipmod

    for n in range(7):
        for chars in itertools.product("a\r\n", repeat=n):
            text = "".join(chars)
            assert _text._split_lines(text) == _text._LINE_END.split(text), repr(text)
    for n in range(6):
        for chars in itertools.product('a,;<>"\\ ', repeat=n):
            text = "".join(chars)
            assert sipmod._split_commas(text) == sipmod._split_commas_slowly(text), repr(text)
            assert sipmod._split_on(text, ";") == sipmod._split_on_slowly(text, ";"), repr(text)
            try:
                slow: str | None = sipmod._params_part_slowly(text)
            except WireError:
                slow = None
            try:
                fast: str | None = sipmod._params_part(text)
            except WireError:
                fast = None
            assert fast == slow, repr(text)


def _line_by_line(text: str, limit: int) -> object:
    from gvpconf.wire import _text

    try:
        return _text.fields_line_by_line(text, limit, "SIP")
    except WireError:
        return WireError


def test_header_section_at_once_agrees_with_line_by_line() -> None:
    """``fields_at_once`` (one findall) gives what ``fields_line_by_line`` gives wherever it answers, on every short
    section of the characters that matter (a token character, the colon, SP, HT, CR, LF, a separator) after a start
    line, with limits around the line count; and it answers (None otherwise) for the usual sections."""
    import itertools

    from gvpconf.wire import _text

    answered = 0
    for n in range(7):
        for chars in itertools.product("a: \t\r\n@", repeat=n):
            for text in ("S\r\n" + "".join(chars), "S\n" + "".join(chars)):
                for limit in (1, 2, 100):
                    fast = _text.fields_at_once(text, limit)
                    if fast is not None:
                        answered += 1
                        assert fast == _line_by_line(text, limit), (text, limit)
    assert answered > 1000  # not a fast path that never answers
    usual = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h:5060;branch=z9hG4bKx\r\nCall-ID:  a@b \r\nContent-Length:\t0"
    assert _text.fields_at_once(usual, 3) == ("SIP/2.0 200 OK", (
        ("Via", "SIP/2.0/TCP h:5060;branch=z9hG4bKx"), ("Call-ID", "a@b"), ("Content-Length", "0")))
    assert _text.fields_at_once(usual, 2) is None  # over the limit: the line-by-line parse raises
    assert _text.fields_at_once(usual.replace("\r\nCall-ID", "\r\n Call-ID"), 3) is None  # folded


_NAME = st.text(alphabet="aZ-.!%*_+`'~9", min_size=1, max_size=6)
_ODD = "ab:; \t\r\n\x0b\x0c\x1c\x85\u2028\u3000é"  # VT, FF, FS, NEL, LINE SEPARATOR, IDEOGRAPHIC SPACE
_LINE = st.tuples(_NAME, st.sampled_from([":", " :", ":\t", "\t: ", ":  "]), st.text(alphabet=_ODD, max_size=12),
                  st.sampled_from(["", " ", "\t", " \t"])).map("".join)


@given(st.lists(_LINE, min_size=1, max_size=6), st.sampled_from(["\r\n", "\n"]), st.integers(0, 7))
@WIRE_SETTINGS
def test_header_section_at_once_agrees_on_any_text(lines: list[str], end: str, limit: int) -> None:
    """The same on longer random sections: header lines of token names, whitespace around the colon and the value,
    values with the characters ``str.splitlines`` or ``\\s`` would take for line ends or spaces (VT, FF, FS, NEL,
    LINE SEPARATOR, IDEOGRAPHIC SPACE), which neither form does, and CR or LF inside them; and it answers for
    most of them (a fast path that gave up on every random section would hold nothing)."""
    from gvpconf.wire import _text

    text = "SIP/2.0 200 OK" + end + end.join(lines)
    fast = _text.fields_at_once(text, limit)
    if fast is not None:
        assert fast == _line_by_line(text, limit), (text, limit)
    elif "\r" not in text.replace("\r\n", "") and text.count("\n") == len(lines) and len(lines) <= limit:
        raise AssertionError(f"no answer for a plain section: {text!r}")
