"""SIP codec (RFC 3261): valid table in every feeding style, malformed input, properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire.sip import (
    MAGIC_COOKIE,
    SipMessage,
    SipRequest,
    SipResponse,
    SipStreamDecoder,
    Via,
    build_ack,
    build_bye,
    build_cancel,
    build_options,
    encode,
    header_param,
    new_branch,
    new_call_id,
    new_tag,
    of_another_transaction_of_the_call,
    parse_cseq,
    parse_datagram,
    parse_via,
    response_mismatches,
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

OPTIONS = build_options(
    "sip:192.0.2.10:5060",
    local_host="192.0.2.5",
    local_port=40312,
    transport="TCP",
    branch="z9hG4bK7f3c2a",
    call_id="a84b4c76e66710@192.0.2.5",
    from_tag="1928301774",
)

# What sipp answers to that OPTIONS with a [last_*] echo scenario: its [len] keyword pads
# Content-Length to five columns, and its To tag is "<pid>SIPpTag01<call number>".
SIPP_200_OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.5:40312;branch=z9hG4bK7f3c2a;rport\r\n"
    b"From: <sip:gvpconf@192.0.2.5>;tag=1928301774\r\n"
    b"To: <sip:192.0.2.10:5060>;tag=28564SIPpTag011\r\n"
    b"Call-ID: a84b4c76e66710@192.0.2.5\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:192.0.2.10:5060;transport=TCP>\r\n"
    b"Content-Length:     0\r\n"
    b"\r\n"
)
SIPP_200_OK_MSG = SipResponse(
    200,
    "OK",
    (
        ("Via", "SIP/2.0/TCP 192.0.2.5:40312;branch=z9hG4bK7f3c2a;rport"),
        ("From", "<sip:gvpconf@192.0.2.5>;tag=1928301774"),
        ("To", "<sip:192.0.2.10:5060>;tag=28564SIPpTag011"),
        ("Call-ID", "a84b4c76e66710@192.0.2.5"),
        ("CSeq", "1 OPTIONS"),
        ("Contact", "<sip:192.0.2.10:5060;transport=TCP>"),
        ("Content-Length", "0"),
    ),
)

# RFC 3261 §7.3.1 / §7.3.3 style: compact forms, a comma-joined Via, a folded Subject.
INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds ,"
    b"SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd\r\n"
    b"Max-Forwards: 70\r\n"
    b"t: Bob <sip:bob@biloxi.example.com>\r\n"
    b'f: "Alice; the first" <sip:alice@atlanta.example.com;transport=tcp>;tag=1928301774\r\n'
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Subject: I know you're there,\r\n"
    b"         pick up the phone\r\n"
    b"\tand talk to me!\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\n"
)
INVITE_MSG = SipRequest(
    "INVITE",
    "sip:bob@biloxi.example.com",
    (
        ("v", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds ,"
              "SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd"),
        ("Max-Forwards", "70"),
        ("t", "Bob <sip:bob@biloxi.example.com>"),
        ("f", '"Alice; the first" <sip:alice@atlanta.example.com;transport=tcp>;tag=1928301774'),
        ("i", "a84b4c76e66710@pc33.atlanta.example.com"),
        ("CSeq", "314159 INVITE"),
        ("Subject", "I know you're there, pick up the phone and talk to me!"),
        ("c", "application/sdp"),
        ("l", "4"),
    ),
    b"v=0\n",
)

# Bare LF line endings are tolerated.
TRYING = b"SIP/2.0 100 Trying\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\nContent-Length: 0\n\n"
TRYING_MSG = SipResponse(100, "Trying", (("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("Content-Length", "0")))

VALID = [
    pytest.param(encode(OPTIONS), OPTIONS, id="built-options"),
    pytest.param(SIPP_200_OK, SIPP_200_OK_MSG, id="sipp-200-ok"),
    pytest.param(INVITE, INVITE_MSG, id="invite-compact-folded"),
    pytest.param(TRYING, TRYING_MSG, id="lf-only"),
    pytest.param(b"\r\n\r\n\r\n" + SIPP_200_OK, SIPP_200_OK_MSG, id="after-keepalives"),
    pytest.param(b"SIP/2.0 404 \r\nl: 0\r\n\r\n", SipResponse(404, "", (("l", "0"),)), id="empty-reason"),
]


def stream_decode(parts: list[bytes]) -> list[SipMessage]:
    return decode_chunks(SipStreamDecoder(), parts)


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_stream_valid_whole_bytewise_and_trailing(data: bytes, expected: SipMessage) -> None:
    check_table(SipStreamDecoder, data, expected, SIPP_200_OK, SIPP_200_OK_MSG, 50)


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_datagram_valid(data: bytes, expected: SipMessage) -> None:
    assert parse_datagram(data) == expected


def test_datagram_content_length_optional_and_truncating() -> None:
    bare = b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\nbody bytes"
    assert parse_datagram(bare).body == b"body bytes"
    assert parse_datagram(b"MESSAGE sip:a SIP/2.0\r\nl: 4\r\n\r\nbody bytes").body == b"body"
    with pytest.raises(WireError, match="exceeds"):
        parse_datagram(b"SIP/2.0 200 OK\r\nContent-Length: 99\r\n\r\nshort")


MALFORMED_STREAM = [
    pytest.param(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", "without Content-Length", id="no-content-length"),
    pytest.param(b"SIP/2.0 200 OK\r\nContent-Length: ten\r\n\r\n", "not a number", id="bad-length"),
    pytest.param(b"SIP/2.0 200 OK\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting", id="two-lengths"),
    pytest.param(b"SIP/2.0 2000 OK\r\nl: 0\r\n\r\n", "status line", id="status-4-digits"),
    pytest.param(b"SIP/2.0 099 Low\r\nl: 0\r\n\r\n", "100-699", id="status-99"),
    pytest.param(b"HTTP/1.1 200 OK\r\nl: 0\r\n\r\n", "not a SIP", id="http"),
    pytest.param(b"OPTIONS sip:a SIP/3.0\r\nl: 0\r\n\r\n", "not a SIP", id="version"),
    pytest.param(b"OPT(IONS sip:a SIP/2.0\r\nl: 0\r\n\r\n", "not a token", id="method"),
    pytest.param(b"SIP/2.0 200 OK\r\nno colon here\r\nl: 0\r\n\r\n", "without a colon", id="no-colon"),
    pytest.param(b"SIP/2.0 200 OK\r\n folded first\r\nl: 0\r\n\r\n", "continuation", id="fold-first"),
    pytest.param(b"SIP/2.0 200 OK\r\nBad Name: x\r\nl: 0\r\n\r\n", "not a token", id="header-name"),
    pytest.param(b"SIP/2.0 200 OK\r\nSubject: a\rb\r\nl: 0\r\n\r\n", "CR or LF", id="bare-cr"),
    pytest.param(b"SIP/2.0 200 \xff\xfe\r\nl: 0\r\n\r\n", "not UTF-8", id="not-utf8"),
    pytest.param(b"SIP/2.0 200 OK\r\nl: 70000\r\n\r\n", "exceeds", id="oversize-body"),
    pytest.param(b"SIP/2.0 200 OK\r\nl: 1" + b"0" * 5000 + b"\r\n\r\n", "beyond any message size",
                 id="huge-length"),
    pytest.param(b"SIP/2.0 200 OK\r\nX: " + b"a" * 70000, "no end of the SIP header", id="endless-headers"),
    pytest.param(b"SIP/2.0 200 OK\r\n" + b"X: y\r\n" * 300 + b"l: 0\r\n\r\n", "header lines", id="headers"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED_STREAM)
def test_stream_malformed(data: bytes, message: str) -> None:
    check_broken(SipStreamDecoder(), data, message)


@pytest.mark.parametrize(
    "data",
    [b"", b"\r\n\r\n", b"SIP/2.0 200 OK\r\nl: 0\r\n", b"garbage"],
    ids=["empty", "ping", "unended", "junk"],
)
def test_datagram_malformed(data: bytes) -> None:
    with pytest.raises(WireError):
        parse_datagram(data)


def test_keepalives_alone_need_more_bytes() -> None:
    decoder = SipStreamDecoder()
    decoder.feed(b"\r\n\r\n\r")
    assert decoder.next_message() is None


def test_header_lookup() -> None:
    msg = INVITE_MSG
    assert msg.header("via") == msg.header("Via") == msg.headers[0][1]
    assert msg.header("CALL-ID") == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.header("Content-Length") == "4"
    assert msg.header("Content-Type") == "application/sdp"
    assert msg.header("Contact") is None
    assert msg.header_values("Via") == [
        "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd",
    ]
    assert msg.header_values("Subject") == ["I know you're there, pick up the phone and talk to me!"]
    allow = SipResponse(200, "OK", (("Allow", "INVITE, ACK"), ("k", "timer"), ("Allow", "OPTIONS")))
    assert allow.header_values("allow") == ["INVITE", "ACK", "OPTIONS"]
    assert allow.header_values("Supported") == ["timer"]


def test_encode_writes_one_correct_content_length() -> None:
    msg = SipRequest("MESSAGE", "sip:a@b", (("l", "99"), ("To", "<sip:a@b>"), ("Content-Length", "7")), b"hi")
    data = encode(msg)
    assert data == b"MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nContent-Length: 2\r\n\r\nhi"


def _options() -> SipRequest:
    """OPTIONS built in the test (a module-level one is built before mutation testing switches a mutant on)."""
    return build_options("sip:192.0.2.10:5060", local_host="192.0.2.5", local_port=40312, transport="TCP",
                         branch="z9hG4bK7f3c2a", call_id="a84b4c76e66710@192.0.2.5", from_tag="1928301774")


def test_build_options() -> None:
    assert _options() == OPTIONS
    assert OPTIONS.method == "OPTIONS"
    assert OPTIONS.uri == "sip:192.0.2.10:5060"
    assert [name for name, _ in OPTIONS.headers] == [  # as written on the wire, in this order
        "Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq", "Contact", "Accept", "User-Agent", "Content-Length"]
    assert dict(OPTIONS.headers) == {
        "Via": "SIP/2.0/TCP 192.0.2.5:40312;branch=z9hG4bK7f3c2a;rport",
        "Max-Forwards": "70",
        "To": "<sip:192.0.2.10:5060>",
        "From": "<sip:gvpconf@192.0.2.5>;tag=1928301774",
        "Call-ID": "a84b4c76e66710@192.0.2.5",
        "CSeq": "1 OPTIONS",
        "Contact": "<sip:gvpconf@192.0.2.5:40312;transport=tcp>",
        "Accept": "application/sdp",
        "User-Agent": "gvpconf",
        "Content-Length": "0",
    }
    v6 = build_options("sip:[2001:db8::1]", local_host="2001:db8::5", local_port=5060, transport="udp",
                       branch=new_branch(), call_id="c", from_tag="t", cseq=7)
    assert v6.header("Via").startswith("SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK")  # type: ignore[union-attr]
    assert v6.header("From") == "<sip:gvpconf@[2001:db8::5]>;tag=t"
    assert v6.header("CSeq") == "7 OPTIONS"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"branch": "abc"},
        {"branch": MAGIC_COOKIE},
        {"local_port": 0},
        {"transport": "T C P"},
        {"call_id": "a b"},
    ],
)
def test_build_options_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"local_host": "h", "local_port": 5060, "transport": "TCP",
                               "branch": new_branch(), "call_id": "c", "from_tag": "t"}
    args.update(kwargs)
    with pytest.raises(WireError):
        build_options("sip:x", **args)  # type: ignore[arg-type]


def test_generators() -> None:
    branches = {new_branch() for _ in range(50)}
    assert len(branches) == 50 and all(b.startswith("z9hG4bK") and len(b) > 20 for b in branches)
    assert new_tag() != new_tag()
    assert new_call_id("192.0.2.5").endswith("@192.0.2.5")


def test_parse_via() -> None:
    via = parse_via("SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd;rport=5061")
    assert via == Via("UDP", "192.0.2.1", 5060, {"received": "192.0.2.207", "branch": "z9hG4bK77asjd",
                                                  "rport": "5061"})
    assert via.branch == "z9hG4bK77asjd"
    spaced = parse_via("SIP / 2.0 / tcp  [2001:db8::9] ; BRANCH = z9hG4bKa ; rport")
    assert (spaced.transport, spaced.host, spaced.port) == ("TCP", "[2001:db8::9]", None)
    assert dict(spaced.params) == {"branch": "z9hG4bKa", "rport": None}
    for bad in ["", "SIP/2.0/UDP", "SIP/3.0/UDP h", "SIP/2.0/UDP h:99999", "SIP/2.0/UDP h;=x",
                "SIP/2.0 UDP h"]:
        with pytest.raises(WireError):
            parse_via(bad)


def test_parse_cseq() -> None:
    assert parse_cseq("314159 INVITE") == (314159, "INVITE")
    assert parse_cseq("  1   OPTIONS ") == (1, "OPTIONS")
    for bad in ["", "OPTIONS", "1", "x OPTIONS", "1 OPTIONS extra", "99999999999 OPTIONS", "-1 ACK"]:
        with pytest.raises(WireError):
            parse_cseq(bad)


def test_header_param() -> None:
    alice = '"Alice; the first" <sip:alice@a.example;tag=uri>;tag=1928301774'
    assert header_param(alice, "tag") == "1928301774"
    assert header_param("<sip:bob@b.example;transport=tcp>", "transport") is None  # a URI parameter
    assert header_param("sip:bob@b.example;TAG=abc;lr", "tag") == "abc"  # no <>: header parameters
    assert header_param("sip:bob@b.example;TAG=abc;lr", "lr") == ""
    assert header_param('<sip:x>;reason="a \\"quoted\\" word"', "reason") == 'a "quoted" word'
    assert header_param("SIP/2.0/UDP h;branch=z9hG4bKx;rport", "branch") == "z9hG4bKx"
    with pytest.raises(WireError):
        header_param("<sip:unterminated;tag=1", "tag")


def test_construction_validation() -> None:
    with pytest.raises(WireError):
        SipRequest("OPT IONS", "sip:a", ())
    with pytest.raises(WireError):
        SipRequest("OPTIONS", "sip:a b", ())
    with pytest.raises(WireError):
        SipRequest("OPTIONS", "sip:a", (("Subject", "two\r\nlines"),))
    with pytest.raises(WireError):
        SipRequest("OPTIONS", "sip:a", (("Sub ject", "x"),))
    with pytest.raises(WireError):
        SipResponse(700, "Too high", ())
    with pytest.raises(WireError):
        SipResponse(200, "O\nK", ())
    with pytest.raises(WireError):
        SipResponse(200, "\udc80", ())


# ---------------------------------------------------------------- response_mismatches


def sipp_reply(old: bytes = b"", new: bytes = b"") -> SipResponse:
    msg = parse_datagram(SIPP_200_OK.replace(old, new) if old else SIPP_200_OK)
    assert isinstance(msg, SipResponse)
    return msg


def test_matching_response_has_no_mismatch() -> None:
    assert response_mismatches(OPTIONS, sipp_reply()) == []
    # branch and tag compare case-insensitively (RFC 3261 §7.3.1), Via may be comma-joined
    folded = sipp_reply(b"z9hG4bK7f3c2a;rport", b"Z9HG4BK7F3C2A;rport, SIP/2.0/UDP proxy;branch=z9hG4bKp")
    assert response_mismatches(OPTIONS, folded) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (b"branch=z9hG4bK7f3c2a", b"branch=z9hG4bKother",
         "Via branch: sent 'z9hG4bK7f3c2a', got 'z9hG4bKother'"),
        (b"Via: SIP/2.0/TCP 192.0.2.5:40312;branch=z9hG4bK7f3c2a;rport\r\n", b"",
         "Via branch: sent 'z9hG4bK7f3c2a', got nothing"),
        (b"Call-ID: a84b4c76e66710", b"Call-ID: A84B4C76E66710",
         "Call-ID: sent 'a84b4c76e66710@192.0.2.5', got 'A84B4C76E66710@192.0.2.5'"),
        (b"Call-ID: a84b4c76e66710@192.0.2.5\r\n", b"",
         "Call-ID: sent 'a84b4c76e66710@192.0.2.5', got nothing"),
        (b"CSeq: 1 OPTIONS", b"CSeq: 2 OPTIONS", "CSeq: sent '1 OPTIONS', got '2 OPTIONS'"),
        (b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE", "CSeq: sent '1 OPTIONS', got '1 INVITE'"),
        (b"CSeq: 1 OPTIONS", b"CSeq: 1 options", "CSeq: sent '1 OPTIONS', got '1 options'"),
        (b"CSeq: 1 OPTIONS", b"CSeq: garbage", "CSeq: sent '1 OPTIONS', got 'garbage'"),
        (b"tag=1928301774", b"tag=999", "From tag: sent '1928301774', got '999'"),
        (b";tag=1928301774", b"", "From tag: sent '1928301774', got nothing"),
    ],
    ids=["branch", "no-via", "call-id-case", "no-call-id", "cseq-number", "cseq-method", "method-case",
         "cseq-garbage", "from-tag", "no-from-tag"],
)
def test_each_mismatch_is_reported_alone(old: bytes, new: bytes, expected: str) -> None:
    assert response_mismatches(OPTIONS, sipp_reply(old, new)) == [expected]


def test_all_mismatches_at_once() -> None:
    other = SipResponse(200, "OK", (("Via", "SIP/2.0/TCP x;branch=z9hG4bKzz"), ("From", "<sip:a>;tag=b"),
                                    ("Call-ID", "zz"), ("CSeq", "9 OPTIONS")))
    problems = response_mismatches(OPTIONS, other)
    assert [p.split(":")[0] for p in problems] == ["Via branch", "Call-ID", "CSeq", "From tag"]


# ---------------------------------------------------------------- properties

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!%*_+`'~-"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
header_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)
header_values = header_text.map(lambda s: s.strip(" \t"))
headers = st.lists(st.tuples(tokens, header_values), max_size=8).map(tuple)
bodies = st.binary(max_size=200)
uris = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
requests = st.builds(SipRequest, tokens, uris, headers, bodies)
responses = st.builds(SipResponse, st.integers(100, 699), header_text, headers, bodies)


def as_decoded(msg: SipMessage) -> SipMessage:
    """What a decoder returns for encode(msg): one Content-Length header, written last."""
    kept = tuple(h for h in msg.headers if h[0].lower() not in ("l", "content-length"))
    new_headers = (*kept, ("Content-Length", str(len(msg.body))))
    if isinstance(msg, SipRequest):
        return SipRequest(msg.method, msg.uri, new_headers, msg.body)
    return SipResponse(msg.status, msg.reason, new_headers, msg.body)


@WIRE_SETTINGS
@given(st.lists(requests | responses, min_size=1, max_size=3), st.sampled_from(FEEDS))
def test_round_trip(messages: list[SipMessage], how: str) -> None:
    data = b"\r\n".join(encode(m) for m in messages)  # CRLF keep-alives between messages
    expected = [as_decoded(m) for m in messages]
    assert stream_decode(chunks(data, how)) == expected
    assert [parse_datagram(encode(m)) for m in messages] == expected


@WIRE_SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_wire_error(data: bytes) -> None:
    parse_or_wire_error(SipStreamDecoder(), data)
    with contextlib.suppress(WireError):
        parse_datagram(data)


@WIRE_SETTINGS
@given(st.sampled_from([SIPP_200_OK, INVITE, TRYING]), st.integers(0, 400), st.binary(max_size=200))
def test_arbitrary_bytes_after_valid_prefix(valid: bytes, cut: int, tail: bytes) -> None:
    data = valid[:cut] + tail
    parse_or_wire_error(SipStreamDecoder(), data)
    with contextlib.suppress(WireError):
        parse_datagram(data)


@WIRE_SETTINGS
@given(st.text(max_size=60))
def test_header_field_parsers_raise_only_wire_error(text: str) -> None:
    for parse in (parse_via, parse_cseq, lambda v: header_param(v, "tag")):
        with contextlib.suppress(WireError):
            parse(text)


@pytest.mark.parametrize(("kwargs", "ok"), [
    ({"cseq": 0}, True), ({"cseq": 2**31 - 1}, True), ({"cseq": 2**31}, False), ({"cseq": -1}, False),
    ({"max_forwards": 0}, True), ({"max_forwards": 255}, True), ({"max_forwards": 256}, False),
    ({"local_port": 65535}, True), ({"local_port": 65536}, False),
])
def test_build_options_ranges(kwargs: dict[str, int], ok: bool) -> None:
    """§8.1.1.5: a CSeq number below 2**31 (0 included); Max-Forwards 0-255; a port 1-65535."""
    args: dict[str, object] = {"local_host": "h", "local_port": 5060, "transport": "TCP", "branch": new_branch(),
                               "call_id": "c", "from_tag": "t", **kwargs}
    if ok:
        msg = build_options("sip:x", **args)  # type: ignore[arg-type]
        assert msg.header("CSeq") == f"{args.get('cseq', 1)} OPTIONS"
        assert msg.header("Max-Forwards") == str(args.get("max_forwards", 70))
    else:
        with pytest.raises(WireError, match="out of range"):
            build_options("sip:x", **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "what"), [("branch", "branch"), ("call_id", "Call-ID"), ("from_tag", "tag")])
def test_build_options_names_the_bad_id(field: str, what: str) -> None:
    args: dict[str, object] = {"local_host": "h", "local_port": 5060, "transport": "TCP",
                               "branch": "z9hG4bKx y" if field == "branch" else new_branch(), "call_id": "c",
                               "from_tag": "t"}
    if field != "branch":
        args[field] = ""
    with pytest.raises(WireError, match=f"^{what} must be non-empty without whitespace"):
        build_options("sip:x", **args)  # type: ignore[arg-type]


def _dialog() -> tuple[SipRequest, SipResponse]:
    invite = SipRequest("INVITE", "sip:echo@192.0.2.10", (
        ("Via", "SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKinv;rport"), ("To", "<sip:echo@192.0.2.10>"),
        ("From", "<sip:gvpconf@192.0.2.5>;tag=ft"), ("Call-ID", "c1"), ("CSeq", "4 INVITE"),
        ("User-Agent", "ua/1")))
    ok = SipResponse(200, "OK", (("To", "<sip:echo@192.0.2.10>;tag=tt"), ("Call-ID", "c1"), ("CSeq", "4 INVITE"),
                                 ("Contact", "sip:echo@192.0.2.10:5999;transport=udp")))
    return invite, ok


def test_in_dialog_requests_exactly() -> None:
    """The headers of ACK, BYE and CANCEL as written (names, order, values), from a Via without a port and a
    Contact without angle brackets."""
    invite, ok = _dialog()
    ack = build_ack(invite, ok, "z9hG4bKack")
    assert ack.uri == "sip:echo@192.0.2.10:5999"
    assert ack.headers == (
        ("Via", "SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKack;rport"), ("Max-Forwards", "70"),
        ("To", "<sip:echo@192.0.2.10>;tag=tt"), ("From", "<sip:gvpconf@192.0.2.5>;tag=ft"), ("Call-ID", "c1"),
        ("CSeq", "4 ACK"), ("User-Agent", "ua/1"))
    bye = build_bye(invite, ok, branch="z9hG4bKbye", cseq=5)
    assert bye.uri == ack.uri and bye.headers[5] == ("CSeq", "5 BYE") and bye.headers[2] == ack.headers[2]
    cancel = build_cancel(invite)
    assert cancel.uri == invite.uri and cancel.headers[0] == ("Via", "SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKinv;rport")
    assert cancel.headers[2] == ("To", "<sip:echo@192.0.2.10>") and cancel.headers[5] == ("CSeq", "4 CANCEL")
    no_to = SipResponse(486, "Busy", (("Call-ID", "c1"), ("CSeq", "4 INVITE")))
    assert build_ack(invite, no_to).headers[2] == ("To", "<sip:echo@192.0.2.10>")  # the INVITE's To
    assert build_ack(invite, no_to).uri == invite.uri
    no_agent = SipRequest("INVITE", invite.uri, tuple(h for h in invite.headers if h[0] != "User-Agent"))
    assert build_cancel(no_agent).headers[-1] == ("User-Agent", "gvpconf")


@pytest.mark.parametrize(("contact", "target"), [
    (None, "sip:echo@192.0.2.10"), ("<sip:a@b:5080;transport=tcp>;expires=60", "sip:a@b:5080;transport=tcp"),
    ("sip:a@b;expires=60", "sip:a@b"), ("  <sip:a@b>  ", "sip:a@b"), ("<>", "sip:echo@192.0.2.10"),
    ("<sip:a b>", "sip:echo@192.0.2.10"),
])
def test_remote_target_is_the_contact_uri(contact: str | None, target: str) -> None:
    invite, ok = _dialog()
    headers = tuple(h for h in ok.headers if h[0] != "Contact") + ((("Contact", contact),) if contact else ())
    assert build_bye(invite, SipResponse(200, "OK", headers), branch="z9hG4bKb", cseq=5).uri == target



def _reply(raw: bytes) -> SipResponse:
    msg = parse_datagram(raw)
    assert isinstance(msg, SipResponse)
    return msg


def test_a_response_to_another_request_of_the_same_call_is_told_apart() -> None:
    """§17.1.3/§18.1.2: our Call-ID and From tag with another CSeq (a 2xx to the INVITE again while the BYE waits)
    answers another transaction of the call; a response of another call or another caller does not."""
    invite_again = SIPP_200_OK.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    assert not of_another_transaction_of_the_call(OPTIONS, sipp_reply())  # this transaction's own answer
    assert of_another_transaction_of_the_call(OPTIONS, _reply(invite_again))
    assert of_another_transaction_of_the_call(OPTIONS, sipp_reply(b"CSeq: 1 OPTIONS", b"CSeq: 2 OPTIONS"))
    assert not of_another_transaction_of_the_call(
        OPTIONS, _reply(invite_again.replace(b"Call-ID: a84b4c76e66710", b"Call-ID: zzz")))
    assert not of_another_transaction_of_the_call(OPTIONS, _reply(invite_again.replace(b"tag=1928301774", b"tag=9")))
    assert not of_another_transaction_of_the_call(OPTIONS, sipp_reply(b"CSeq: 1 OPTIONS", b"CSeq: garbage"))
