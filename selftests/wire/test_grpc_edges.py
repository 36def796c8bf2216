"""The gRPC framing and the three ListVoices protobuf messages (``gvpconf.wire.grpc``) at their edges, found by
mutation testing (``make mutants``): varints at 64 bits and 10 bytes, field numbers at 2^29-1, fixed-size and
length-delimited fields that end exactly at the message's end or one byte past it, int32 read from the low 32 bits
of a varint, the wire type each field must have, and the whole message of each refusal."""

from __future__ import annotations

from gvpconf.wire import grpc as g
from selftests.wire.wirehelp import refused


def test_varints_at_their_limits() -> None:
    """Protocol Buffers encoding: 7 bits a byte, low groups first; at most 10 bytes, at most 64 bits; a negative
    int32/int64 goes as its 64-bit two's complement (10 bytes)."""
    assert g.encode_varint(0x7F) == b"\x7f" and g.encode_varint(0x80) == b"\x80\x01"
    assert g.encode_varint(-1) == b"\xff" * 9 + b"\x01"
    assert g.encode_varint((1 << 64) - 1) == b"\xff" * 9 + b"\x01"
    refused(lambda: g.encode_varint(1 << 64), "a varint holds 64 bits, got 18446744073709551616")
    assert list(g.fields(b"\x08" + b"\xff" * 9 + b"\x01")) == [(1, 0, (1 << 64) - 1)]
    refused(lambda: list(g.fields(b"\x08" + b"\xff" * 9 + b"\x02")), "a protobuf varint of more than 64 bits")
    refused(lambda: list(g.fields(b"\x08" + b"\x80" * 10 + b"\x00")), "a protobuf varint of more than 10 bytes")
    refused(lambda: list(g.fields(b"\x08\x80")), "a protobuf varint is cut short")


def test_field_numbers_and_sizes_at_their_limits() -> None:
    top = (0x1FFFFFFF << 3) | 0
    assert list(g.fields(g.encode_varint(top) + b"\x05")) == [(0x1FFFFFFF, 0, 5)]
    refused(lambda: list(g.fields(g.encode_varint(0x20000000 << 3) + b"\x05")),
            "a protobuf field number of 536870912")
    refused(lambda: list(g.fields(b"\x00\x05")), "a protobuf field number of 0")
    # fixed-size fields little-endian, and ending exactly at the message's end
    assert list(g.fields(b"\x19" + bytes(range(1, 9)))) == [(3, 1, 0x0807060504030201)]
    assert list(g.fields(b"\x1d\x01\x02\x03\x04")) == [(3, 5, 0x04030201)]
    refused(lambda: list(g.fields(b"\x19" + bytes(7))), "a protobuf fixed-size field 3 is cut short")
    refused(lambda: list(g.fields(b"\x1d" + bytes(3))), "a protobuf fixed-size field 3 is cut short")
    assert list(g.fields(b"\x0a\x02ab\x10\x01")) == [(1, 2, b"ab"), (2, 0, 1)]
    refused(lambda: list(g.fields(b"\x0a\x05ab")), "protobuf field 1 announces 5 bytes, 2 remain")
    for group in (b"\x0b", b"\x0c"):
        refused(lambda group=group: list(g.fields(group)),
                f"protobuf wire type {group[0] & 7} (field 1) is not used by these messages")


def voice(*fields: bytes) -> bytes:
    return b"".join(fields)


def test_voice_fields_read_as_their_types() -> None:
    """Voice: language_codes (1, repeated string), name (2, string), ssml_gender (3, enum) and
    natural_sample_rate_hertz (4, int32), each an int32 from the varint's low 32 bits; unknown fields skipped."""
    data = voice(b"\x0a\x05en-US", b"\x0a\x05en-GB", b"\x12\x01a", b"\x12\x01b", b"\x18\x02",
                 b"\x20" + g.encode_varint(24000), b"\x2d\x00\x00\x00\x00", b"\x30\x07")
    assert g._decode_voice(data) == g.Voice(("en-US", "en-GB"), "b", 2, 24000)
    assert g._decode_voice(b"\x18" + g.encode_varint(-1)).ssml_gender == -1
    assert g._decode_voice(b"\x20" + g.encode_varint(1 << 31)).natural_sample_rate_hertz == -(1 << 31)
    assert g._decode_voice(b"\x20" + g.encode_varint((1 << 31) - 1)).natural_sample_rate_hertz == (1 << 31) - 1
    assert g._decode_voice(b"\x20" + g.encode_varint((1 << 32) + 5)).natural_sample_rate_hertz == 5
    for number, bad, want in ((1, b"\x08\x01", 2), (2, b"\x10\x01", 2), (3, b"\x1a\x00", 0), (4, b"\x22\x00", 0)):
        got = bad[0] & 7
        refused(lambda bad=bad: g._decode_voice(bad), f"Voice field {number}: expected wire type {want}, got {got}")
    refused(lambda: g._decode_voice(b"\x0a\x01\xff"), "Voice.language_codes is not UTF-8 (a protobuf string must be)")
    refused(lambda: g._decode_voice(b"\x12\x01\xff"), "Voice.name is not UTF-8 (a protobuf string must be)")
    assert g.Voice(("en-US",), "n", 1, 16000).encode() == b"\x0a\x05en-US\x12\x01n\x18\x01\x20\x80\x7d"
    assert g.Voice().encode() == b""


def test_list_voices_request_and_response() -> None:
    assert g.ListVoicesRequest("fr-FR").encode() == b"\x0a\x05fr-FR" and g.ListVoicesRequest().encode() == b""
    assert g.decode_list_voices_request(b"\x10\x01\x0a\x02xx\x0a\x05fr-FR") == g.ListVoicesRequest("fr-FR")
    refused(lambda: g.decode_list_voices_request(b"\x08\x01"),
            "ListVoicesRequest field 1: expected wire type 2, got 0")
    refused(lambda: g.decode_list_voices_request(b"\x0a\x01\xff"),
            "ListVoicesRequest.language_code is not UTF-8 (a protobuf string must be)")
    one = g.Voice(("en-US",), "a")
    data = b"\x10\x05" + b"\x0a" + bytes([len(one.encode())]) + one.encode() + b"\x0a\x00"
    assert g.decode_list_voices_response(data) == g.ListVoicesResponse((one, g.Voice()))
    refused(lambda: g.decode_list_voices_response(b"\x08\x01"),
            "ListVoicesResponse field 1: expected wire type 2, got 0")
    assert g.ListVoicesResponse((one, g.Voice())).encode() == b"\x0a\x0a" + one.encode() + b"\x0a\x00"


def test_length_prefixed_messages() -> None:
    """PROTOCOL-HTTP2: Compressed-Flag (0 or 1), a 4-byte big-endian length, the message; a message whose prefix
    and body make exactly ``max_message_size`` is taken, one byte more refused before it arrives."""
    assert g.encode_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    d = g.MessageDecoder(max_message_size=5 + 3)
    d.feed(b"\x01\x00\x00\x00\x03ab")
    assert d.next_message() is None and d.pending() == 7
    d.feed(b"c\x00\x00\x00\x00\x00")
    assert d.next_message() == g.Message(b"abc", compressed=True)
    assert d.next_message() == g.Message(b"", compressed=False) and d.pending() == 0
    over = g.MessageDecoder(max_message_size=5 + 3)
    over.feed(b"\x00\x00\x00\x00\x04")
    refused(over.next_message, "a gRPC message of 4 bytes announced, more than the 8 accepted")
    flag = g.MessageDecoder()
    flag.feed(b"\x02\x00\x00\x00\x00")
    refused(flag.next_message, "expected a gRPC Compressed-Flag of 0 or 1, got 2 (not a Length-Prefixed-Message)")


def test_grpc_timeout_status_and_message_headers() -> None:
    """grpc-timeout: the finest unit whose value fits 8 digits, rounded up, at least 1; grpc-status: decimal
    without a leading zero; grpc-message: percent-decoded leniently."""
    assert g.encode_timeout(0.099_999_999) == "99999999n"
    assert g.encode_timeout(0.1) == "100000u"
    assert g.encode_timeout(1.5e-10) == "1n"
    assert g.encode_timeout(99_999_999) == "99999999S"
    assert g.encode_timeout(100_000_000) == "1666667M"
    refused(lambda: g.encode_timeout(0), "a grpc-timeout is positive, got 0 s")
    refused(lambda: g.encode_timeout(1e20), "a grpc-timeout of 1e+20 s does not fit in 8 digits of hours")
    assert g.parse_status("0") == 0 and g.parse_status("123456789") == 123456789
    for bad in ("01", "1234567890", "-1", "\u0663", ""):
        refused(lambda bad=bad: g.parse_status(bad), f"expected grpc-status as a decimal number, got {bad!r}")
    assert g.status_name(16) == "UNAUTHENTICATED" and g.status_name(99) == "UNKNOWN (99)"
    assert g.decode_status_message("a%20b%zz%C3%A9%FF") == "a b%zzé\ufffd"


def test_repeated_and_absent_fields() -> None:
    """A repeated string goes as one field per value, back to back; an empty request lists every language."""
    assert g.Voice(("a", "b")).encode() == b"\x0a\x01a\x0a\x01b"
    assert g.decode_list_voices_request(b"") == g.ListVoicesRequest("")
    assert g.decode_list_voices_request(b"").language_code == ""
