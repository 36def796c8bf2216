"""``sip.pad_request``: an OPTIONS padded, within RFC 3261, to an exact size (the path-MTU probe's requests)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError, sip

REQ = sip.build_options("sip:198.18.0.18:5090;transport=tcp", local_host="198.18.0.10", local_port=40123,
                        transport="TCP", branch="z9hG4bK-pad-1", call_id="pad@198.18.0.10", from_tag="t1")
NATURAL = len(sip.encode(REQ))


def check(padded: sip.SipRequest, size: int) -> None:
    wire = sip.encode(padded)
    assert len(wire) == size
    for parse in (sip.parse_datagram, lambda data: _stream(data)):
        msg = parse(wire)
        assert isinstance(msg, sip.SipRequest) and msg.method == "OPTIONS" and msg.body == b""
        assert sip.response_mismatches(REQ, _answer(msg)) == []  # the transaction is the original one
    names = [name for name, _ in padded.headers]
    pads = [name for name in names if name.startswith(sip.PAD_HEADER)]
    assert len(pads) == len(set(pads)), "a padding field may not repeat (§7.3.1)"
    assert all(len(name) + 2 + len(value) <= 90 for name, value in padded.headers if name in pads)
    # the original header fields, in their order, with Content-Length still last on the wire
    assert [h for h in padded.headers if h[0] not in pads] == list(REQ.headers)
    assert wire.split(b"\r\n")[-3].startswith(b"Content-Length: 0")


def _stream(data: bytes) -> sip.SipMessage:
    dec = sip.SipStreamDecoder()
    dec.feed(data)
    msg = dec.next_message()
    assert msg is not None
    return msg


def _answer(req: sip.SipRequest) -> sip.SipResponse:
    keep = ("Via", "From", "To", "Call-ID", "CSeq")
    return sip.SipResponse(200, "OK", (*((n, v) for n, v in req.headers if n in keep), ("Content-Length", "0")))


@pytest.mark.parametrize("size", [NATURAL + 21, NATURAL + 22, NATURAL + 84, NATURAL + 85, NATURAL + 105, 1300, 1500,
                                  4000, 8000])
def test_pads_to_the_exact_size(size: int) -> None:
    check(sip.pad_request(REQ, size), size)


def test_natural_size_is_the_request_itself() -> None:
    assert sip.pad_request(REQ, NATURAL) is REQ


@pytest.mark.parametrize("size", [NATURAL - 1, NATURAL + 1, NATURAL + 20, 10])
def test_smaller_or_too_close_is_an_error(size: int) -> None:
    with pytest.raises(WireError, match=f"cannot pad a {NATURAL}-byte OPTIONS to {size} bytes"):
        sip.pad_request(REQ, size)


@given(st.integers(min_value=NATURAL + 21, max_value=9000))
def test_every_reachable_size_is_exact(size: int) -> None:
    check(sip.pad_request(REQ, size), size)


def test_the_padding_is_ignorable_extension_headers() -> None:
    padded = sip.pad_request(REQ, 1300)
    wire = sip.encode(padded).decode()
    assert "X-GVPConf-Pad-01: gvpconf-path-mtu-padding-" in wire
    assert padded.header("Content-Type") is None  # no body, no Content-Type: nothing a UAS could reject with 415
