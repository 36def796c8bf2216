"""The SIP probe's fast paths, each held equal to the slow path it stands for.

``OptionsTemplate.render`` to ``encode(build_options(...))`` and ``Transaction.of`` that request; ``via_branch`` to
``parse_via(...).branch``; the grammar's ``length_names`` to its ``header_key``; ``new_ids`` to the three
generators.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, _text
from gvpconf.wire import sip as sipmod
from gvpconf.wire.sip import (
    COMPACT_FORMS,
    MAGIC_COOKIE,
    OptionsTemplate,
    SipRequest,
    Transaction,
    build_options,
    encode,
    new_ids,
    parse_datagram,
    parse_via,
    response_mismatches,
)
from selftests.wire.wirehelp import WIRE_SETTINGS

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!%*_+`'~-"


def slow(uri: str, local_host: str, port: int, branch: str, call_id: str, tag: str, **kw: object) -> tuple[
        bytes, Transaction] | str:
    """The slow path's answer: the bytes and the transaction of the built request, or the WireError's text."""
    try:
        req = build_options(uri, local_host=local_host, local_port=port, transport=str(kw.get("transport", "TCP")),
                            branch=branch, call_id=call_id, from_tag=tag,
                            user_agent=str(kw.get("user_agent", "gvpconf")))
    except WireError as exc:
        return str(exc)
    data = encode(req)
    parsed = parse_datagram(data)
    assert isinstance(parsed, SipRequest)
    assert Transaction.of(parsed) == Transaction.of(req)  # what the peer reads is what we built
    return data, Transaction.of(req)


def fast(template: OptionsTemplate, uri: str, port: int, branch: str, call_id: str, tag: str) -> tuple[
        bytes, Transaction] | str:
    try:
        return template.render(uri, local_port=port, branch=branch, call_id=call_id, from_tag=tag)
    except WireError as exc:
        return str(exc)


@pytest.mark.parametrize("local_host", ["127.0.0.1", "192.0.2.5", "::1", "2001:db8::7", "gvp-host.example"])
@pytest.mark.parametrize("transport", ["TCP", "UDP", "tls"])
def test_template_renders_what_build_options_encodes(local_host: str, transport: str) -> None:
    template = OptionsTemplate.make(local_host=local_host, transport=transport)
    assert template is not None
    for uri in ("sip:192.0.2.10:5060", "sip:[2001:db8::1]:5060;transport=tcp", "sip:mcp@10.0.0.1:65535",
                "sips:gvp.example;lr"):
        for port in (1, 5060, 40312, 65535):
            branch, call_id, tag = new_ids(local_host)
            expected = slow(uri, local_host, port, branch, call_id, tag, transport=transport)
            assert fast(template, uri, port, branch, call_id, tag) == expected


ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(' ";,<>=\x00\t\u00e9'),
              max_size=12)


@WIRE_SETTINGS
@given(uri=st.text(st.characters(min_codepoint=0x1F, max_codepoint=0x7F) | st.sampled_from(" \u00e9"), max_size=20),
       port=st.integers(-1, 70000), branch=ids.map(lambda s: MAGIC_COOKIE + s) | ids, call_id=ids, tag=ids)
def test_template_equals_build_options_for_any_input(uri: str, port: int, branch: str, call_id: str,
                                                     tag: str) -> None:
    """Any Request-URI, port and ids: the same bytes and transaction, or the same WireError."""
    template = OptionsTemplate.make(local_host="192.0.2.5", transport="TCP")
    assert template is not None
    assert fast(template, uri, port, branch, call_id, tag) == slow(uri, "192.0.2.5", port, branch, call_id, tag)


def test_no_template_where_a_marker_is_the_requests_own_text() -> None:
    assert OptionsTemplate.make(local_host="192.0.2.5", transport="TCP", user_agent="probe:65535") is None
    assert OptionsTemplate.make(local_host="192.0.2.5", transport="TCP",
                                user_agent=OptionsTemplate._URI) is None
    # a From URI with a '>' of its own: the tag would not be read back where it was put
    assert OptionsTemplate.make(local_host="192.0.2.5", transport="TCP", from_uri="sip:a>b@x") is None
    with pytest.raises(WireError, match="transport"):  # build_options' own checks, once
        OptionsTemplate.make(local_host="192.0.2.5", transport="T C P")


def test_a_templates_transaction_matches_as_response_mismatches_does() -> None:
    template = OptionsTemplate.make(local_host="192.0.2.5", transport="TCP")
    assert template is not None
    branch, call_id, tag = new_ids("192.0.2.5")
    data, sent = template.render("sip:192.0.2.10:5060", local_port=40312, branch=branch, call_id=call_id,
                                 from_tag=tag)
    request = parse_datagram(data)
    assert isinstance(request, SipRequest)
    echo = tuple((n, v) for n, v in request.headers if n in ("Via", "From", "To", "Call-ID", "CSeq"))
    ours = sipmod.SipResponse(200, "OK", echo)
    other = sipmod.SipResponse(200, "OK", tuple((n, v.replace(tag, "x")) for n, v in echo))
    for response in (ours, other):
        assert sent.mismatches(response) == response_mismatches(request, response)
    assert sent.mismatches(ours) == [] and sent.mismatches(other) == [f"From tag: sent {tag!r}, got 'x'"]


def test_new_ids_are_the_three_generators_ids() -> None:
    seen = set()
    for _ in range(50):
        branch, call_id, tag = new_ids("192.0.2.5")
        assert re.fullmatch(MAGIC_COOKIE + "[0-9a-f]{32}", branch)
        assert re.fullmatch("[0-9a-f]{32}@192.0.2.5", call_id)
        assert re.fullmatch("[0-9a-f]{16}", tag)
        seen |= {branch, call_id, tag}
    assert len(seen) == 150


# ---------------------------------------------------------------- parse_head: Content-Length by lower-cased name

GRAMMAR = sipmod._GRAMMAR


def test_parse_head_limit_on_header_lines_either_way() -> None:
    many = sipmod.MAX_HEADERS + 1
    fields = "\r\n".join(["SIP/2.0 200 OK"] + ["k: v"] * many).encode()
    folded = "\r\n".join(["SIP/2.0 200 OK", "k: v"] + [" folded"] * (many - 1)).encode()
    for head in (fields, folded):
        with pytest.raises(WireError, match="more than 256 header lines"):
            GRAMMAR.parse_head(head)
    assert len(GRAMMAR.parse_head(fields, max_headers=many).headers) == many


def test_length_names_are_what_header_key_calls_content_length() -> None:
    names = [*COMPACT_FORMS, *(k.upper() for k in COMPACT_FORMS), "Content-Length", "content-LENGTH", "L",
             "Content-Type", "Length", "x"]
    for grammar in (sipmod._GRAMMAR, __import__("gvpconf.wire.rtsp", fromlist=["_GRAMMAR"])._GRAMMAR):
        for name in names:
            assert (name.lower() in grammar.length_names) == (grammar.header_key(name) == "content-length"), name


# ---------------------------------------------------------------- the top Via's branch without a Via


def branch_of(value: str) -> str | None:
    try:
        return parse_via(value).branch
    except WireError:
        return None


@WIRE_SETTINGS
@given(st.text(max_size=40) | st.builds("SIP/2.0/{} {}{}".format, st.sampled_from(["TCP", "udp", "x y"]),
                                        st.sampled_from(["h", "[::1]", "h:5060", "h:99999"]),
                                        st.text(st.sampled_from(';=branch"z9hG4bK, \\'), max_size=20)))
def test_via_branch_is_parse_via_branch(value: str) -> None:
    assert sipmod.via_branch(value) == branch_of(value)


def test_via_branch_examples() -> None:
    for value in ("SIP/2.0/TCP 192.0.2.5:40312;branch=z9hG4bK7f;rport", "SIP/2.0/UDP h;BRANCH=\"q\\\"t\"",
                  "SIP/3.0/TCP h;branch=z9hG4bKx", "SIP/2.0/TCP h:70000;branch=z9hG4bKx", "SIP/2.0/TCP h;b@d=1",
                  "SIP/2.0/TCP h", "garbage"):
        assert sipmod.via_branch(value) == branch_of(value), value


# ---------------------------------------------------------------- Transaction.mismatches: an unchanged echo not parsed


def echoed(value: str) -> st.SearchStrategy[str | None]:
    """What a peer may send back for a value we sent: the same, changed a little, broken, or nothing."""
    return st.sampled_from([value, value.upper(), value + ";x=1", " " + value, value.replace(";", " ; "),
                            value + ", SIP/2.0/UDP p;branch=z9hG4bKp", "garbage", "", None])


def parsed_mismatches(request: SipRequest, response: sipmod.SipResponse) -> list[str]:
    """response_mismatches as it was before the shortcut (616419d): every field of both messages parsed."""
    def shown(value: object) -> str:
        return "nothing" if value is None else repr(value)

    problems: list[str] = []
    sent_branch, sent_call_id, sent_cseq, sent_number_method, sent_tag = sipmod._transaction(request)
    got_branch, got_call_id, got_cseq, got_number_method, got_tag = sipmod._transaction(response)
    if sent_branch is None or got_branch is None or sent_branch.lower() != got_branch.lower():
        problems.append(f"Via branch: sent {shown(sent_branch)}, got {shown(got_branch)}")
    if sent_call_id is None or sent_call_id != got_call_id:
        problems.append(f"Call-ID: sent {shown(sent_call_id)}, got {shown(got_call_id)}")
    if sent_number_method is None or sent_number_method != got_number_method:
        problems.append(f"CSeq: sent {shown(sent_cseq)}, got {shown(got_cseq)}")
    if sent_tag is None or got_tag is None or sent_tag.lower() != got_tag.lower():
        problems.append(f"From tag: sent {shown(sent_tag)}, got {shown(got_tag)}")
    return problems


@WIRE_SETTINGS
@given(st.data())
def test_an_unchanged_echo_reads_as_a_parsed_one(data: st.DataObject) -> None:
    """``mismatches`` takes an echoed top Via, From or CSeq written as we sent it for what it read as in the request;
    the answer equals the one that parses every field of both messages."""
    template = OptionsTemplate.make(local_host="192.0.2.5", transport="TCP")
    assert template is not None
    branch, call_id, tag = new_ids("192.0.2.5")
    raw, sent = template.render("sip:192.0.2.10", local_port=40312, branch=branch, call_id=call_id, from_tag=tag)
    assert sent.via is not None and sent.from_value is not None and sent.cseq is not None
    headers = [("Via", data.draw(echoed(sent.via))), ("From", data.draw(echoed(sent.from_value))),
               ("To", "<sip:192.0.2.10>;tag=x"), ("Call-ID", data.draw(st.sampled_from([call_id, "other"]))),
               ("CSeq", data.draw(echoed(sent.cseq)))]
    response = sipmod.SipResponse(200, "OK", tuple((n, v) for n, v in headers if v is not None))
    request = parse_datagram(raw)
    assert isinstance(request, SipRequest)
    expected = parsed_mismatches(request, response)
    assert sent.mismatches(response) == expected
    assert response_mismatches(request, response) == expected
    assert Transaction.of(request).mismatches(response) == expected


# ---------------------------------------------------------------- the end of a header section, found without a regex


def test_blank_line_is_where_the_regex_finds_it() -> None:
    """``_text.blank_line`` against ``BLANK_LINE.search``: every text of up to 8 of a, CR, LF, from every start."""
    for n in range(9):
        for chars in itertools.product(b"a\r\n", repeat=n):
            data = bytes(chars)
            for pos in range(n + 1):
                match = _text.BLANK_LINE.search(data, pos)
                expected = None if match is None else (match.start(), match.end())
                assert _text.blank_line(data, pos) == expected, (data, pos)
                assert _text.blank_line(bytearray(data), pos) == expected, (data, pos)
