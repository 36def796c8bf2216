"""The gRPC codec (``gvpconf.wire.grpc``): Length-Prefixed-Messages, grpc-timeout/grpc-status/grpc-message, the
HTTP status mapping, and the ListVoices protobuf messages, cross-checked against google-cloud-texttospeech's own
types (the lab's dependency: the real service definition)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gvpconf.wire import WireError
from gvpconf.wire import grpc as g
from selftests.wire.wirehelp import WIRE_SETTINGS, check_broken, check_table, parse_or_wire_error

VOICES = g.ListVoicesResponse((g.Voice(("en-US",), "en-US-Standard-A", 2, 24000),
                               g.Voice(("fr-FR", "fr-CA"), "fr-FR-Standard-A", 1, 22050)))


# -- Length-Prefixed-Message ------------------------------------------------------------------------------------

MESSAGES = [
    (g.encode_message(b""), g.Message(b"")),
    (g.encode_message(b"\x0a\x05en-US"), g.Message(b"\x0a\x05en-US")),
    (b"\x01" + struct.pack(">I", 3) + b"abc", g.Message(b"abc", compressed=True)),
    (g.encode_message(VOICES.encode()), g.Message(VOICES.encode())),
]


@pytest.mark.parametrize(("data", "expected"), MESSAGES)
@pytest.mark.parametrize("cut", [1, 4, 5])
def test_messages_whole_bytewise_and_followed(data: bytes, expected: g.Message, cut: int) -> None:
    follower = g.encode_message(b"next")
    check_table(g.MessageDecoder, data, expected, follower, g.Message(b"next"), cut)


def test_message_prefix_is_flag_and_big_endian_length() -> None:
    assert g.encode_message(b"xyz") == b"\x00\x00\x00\x00\x03xyz"


@pytest.mark.parametrize(("data", "error"), [
    (b"\x02\x00\x00\x00\x00", "Compressed-Flag"),
    (b"HTTP/1.1 200 OK\r\n", "Compressed-Flag"),
    (b"\x00" + struct.pack(">I", 4 * 1024 * 1024), "announced"),
])
def test_broken_messages(data: bytes, error: str) -> None:
    check_broken(g.MessageDecoder(), data, error)


def test_pending_counts_a_message_cut_short() -> None:
    decoder = g.MessageDecoder()
    decoder.feed(g.encode_message(b"abcdef")[:-2])
    assert decoder.next_message() is None and decoder.pending() == 9


# -- headers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "value"), [(5.0, "5000000u"), (0.5, "500000u"), (0.05, "50000000n"),
                                                (1e-12, "1n"), (200_000.0, "200000S"), (7200.0, "7200000m"),
                                                (3600 * 99_999_999.0, "99999999H")])
def test_timeout_is_the_finest_unit_in_8_digits_rounded_up(seconds: float, value: str) -> None:
    out = g.encode_timeout(seconds)
    assert out == value
    assert len(out) <= 9 and out[:-1].isdigit() and out[-1] in "HMSmun"


@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))
@WIRE_SETTINGS
def test_timeout_never_shorter_than_asked(seconds: float) -> None:
    out = g.encode_timeout(seconds)
    per_second = dict(g._UNITS)[out[-1]]
    assert len(out[:-1]) <= 8 and int(out[:-1]) >= 1
    assert int(out[:-1]) / per_second >= seconds * (1 - 1e-12)


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), 3600 * 100_000_000.0])
def test_timeout_must_be_positive(seconds: float) -> None:
    with pytest.raises(WireError):
        g.encode_timeout(seconds)


@pytest.mark.parametrize(("value", "code"), [("0", 0), ("16", 16), ("12", 12), ("99", 99)])
def test_status_values(value: str, code: int) -> None:
    assert g.parse_status(value) == code


@pytest.mark.parametrize("value", ["", "01", "-1", "1a", " 1", "\u0661", "1234567890"])
def test_status_values_that_are_not_decimal(value: str) -> None:
    with pytest.raises(WireError, match="grpc-status"):
        g.parse_status(value)


def test_status_names() -> None:
    assert g.status_name(16) == "UNAUTHENTICATED" and g.status_name(4) == "DEADLINE_EXCEEDED"
    assert g.status_name(99) == "UNKNOWN (99)"


@pytest.mark.parametrize(("value", "text"), [
    ("Request%20had%20invalid%20authentication", "Request had invalid authentication"),
    ("plain text", "plain text"),
    ("100%zz broken", "100%zz broken"),  # a broken %-sequence stays as it is (the specification)
    ("caf%C3%A9", "café"),
    ("%E2%82", "\ufffd"),  # broken UTF-8: the replacement character, never an error
])
def test_status_message_is_decoded_leniently(value: str, text: str) -> None:
    assert g.decode_status_message(value) == text


@pytest.mark.parametrize(("http", "code"), [(400, g.StatusCode.INTERNAL), (401, g.StatusCode.UNAUTHENTICATED),
                                            (403, g.StatusCode.PERMISSION_DENIED), (404, g.StatusCode.UNIMPLEMENTED),
                                            (429, g.StatusCode.UNAVAILABLE), (502, g.StatusCode.UNAVAILABLE),
                                            (503, g.StatusCode.UNAVAILABLE), (504, g.StatusCode.UNAVAILABLE),
                                            (200, g.StatusCode.UNKNOWN), (500, g.StatusCode.UNKNOWN)])
def test_http_status_mapping(http: int, code: g.StatusCode) -> None:
    assert g.status_from_http(http) is code


# -- protobuf ---------------------------------------------------------------------------------------------------

def test_request_bytes() -> None:
    assert g.ListVoicesRequest("en-US").encode() == b"\x0a\x05en-US"
    assert g.ListVoicesRequest().encode() == b""
    assert g.decode_list_voices_request(b"\x0a\x05en-US") == g.ListVoicesRequest("en-US")


def test_response_skips_unknown_fields_and_keeps_the_last_singular_value() -> None:
    voice = (b"\x0a\x05en-US" + b"\x12\x01x" + b"\x12\x03abc" + b"\x18\x02" + b"\x20\xc0\xbb\x01"
             + b"\x28\x07" + b"\x31" + b"\x00" * 8 + b"\x3d" + b"\x00" * 4 + b"\x42\x02zz")
    data = b"\x0a" + bytes([len(voice)]) + voice + b"\x10\x01"
    assert g.decode_list_voices_response(data) == g.ListVoicesResponse((g.Voice(("en-US",), "abc", 2, 24000),))


def test_negative_int32_is_a_ten_byte_varint() -> None:
    raw = g.Voice(natural_sample_rate_hertz=-1).encode()
    assert raw == b"\x20" + b"\xff" * 9 + b"\x01"
    assert g.decode_list_voices_response(b"\x0a" + bytes([len(raw)]) + raw).voices[0].natural_sample_rate_hertz == -1


@pytest.mark.parametrize(("data", "error"), [
    (b"\x0a\x05en", "announces 5 bytes"),
    (b"\x0a", "cut short"),
    (b"\x08" + b"\xff" * 11, "more than"),
    (b"\x0b", "wire type 3"),
    (b"\x02\x00", "field number of 0"),
    (b"\x08\x01", "expected wire type 2"),  # voices sent as a varint
    (b"\x0a\x02\x12\xff", "cut short"),
    (b"\x0a\x02\x12\x05", "announces 5 bytes"),
    (b"\x0a\x03\x12\x01\xff", "UTF-8"),
    (b"\x0a\x02\x18\x80", "cut short"),
    (b"\x0a\x01\x1a", "cut short"),
    (b"\x0a\x02\x1a\x00", "expected wire type 0"),
    (b"\x0d\x00\x00", "fixed-size"),
])
def test_malformed_responses(data: bytes, error: str) -> None:
    with pytest.raises(WireError, match=error):
        g.decode_list_voices_response(data)


_text = st.text(max_size=20)
_voices = st.builds(g.Voice, st.lists(_text, max_size=3).map(tuple), _text, st.integers(0, 3),
                    st.integers(-(2**31), 2**31 - 1))
_responses = st.builds(g.ListVoicesResponse, st.lists(_voices, max_size=4).map(tuple))


@given(_responses)
@WIRE_SETTINGS
def test_response_round_trip(response: g.ListVoicesResponse) -> None:
    assert g.decode_list_voices_response(response.encode()) == response


@given(st.binary(max_size=300))
@WIRE_SETTINGS
def test_arbitrary_bytes_decode_or_raise_wire_error(data: bytes) -> None:
    for decode in (g.decode_list_voices_response, g.decode_list_voices_request):
        with contextlib.suppress(WireError):
            decode(data)
    parse_or_wire_error(g.MessageDecoder(), data)


@given(st.binary(max_size=60))
@WIRE_SETTINGS
def test_arbitrary_status_headers_parse_or_raise(data: bytes) -> None:
    text = data.decode("latin-1")
    with contextlib.suppress(WireError):
        g.parse_status(text)
    assert isinstance(g.decode_status_message(text), str)


# -- the real service definition --------------------------------------------------------------------------------

def test_cross_check_with_google_cloud_texttospeech_types() -> None:
    """Our bytes are what the official proto-plus types read, and theirs what ours read."""
    from google.cloud.texttospeech_v1.types import cloud_tts

    theirs = cloud_tts.ListVoicesResponse(voices=[
        cloud_tts.Voice(language_codes=list(v.language_codes), name=v.name,
                        ssml_gender=cloud_tts.SsmlVoiceGender(v.ssml_gender),
                        natural_sample_rate_hertz=v.natural_sample_rate_hertz) for v in VOICES.voices])
    assert g.decode_list_voices_response(cloud_tts.ListVoicesResponse.serialize(theirs)) == VOICES
    back = cloud_tts.ListVoicesResponse.deserialize(VOICES.encode())
    assert [(list(v.language_codes), v.name, int(v.ssml_gender), v.natural_sample_rate_hertz) for v in back.voices] \
        == [(list(v.language_codes), v.name, v.ssml_gender, v.natural_sample_rate_hertz) for v in VOICES.voices]
    request = cloud_tts.ListVoicesRequest.deserialize(g.ListVoicesRequest("fr-FR").encode())
    assert request.language_code == "fr-FR"
    assert g.decode_list_voices_request(cloud_tts.ListVoicesRequest.serialize(request)) == g.ListVoicesRequest("fr-FR")
