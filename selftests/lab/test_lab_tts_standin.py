"""The TextToSpeech stand-in (``gvpconf_lab.web_servers.tts_server``) as a gRPC client sees it: the standard health
service blackbox_exporter's grpc prober calls, and the verdict cache of its JWT check, which must never let a token
through that google-auth would refuse."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf.probes.grpc import JWT_LIFETIME_S, bearer_from_service_account
from gvpconf_lab.tlsca import make_ca
from gvpconf_lab.web import TTS_NAME, service_account_key
from gvpconf_lab.web_servers import HEALTH_SERVICE, TTS_SERVICE, tts_server


@pytest.fixture(scope="module")
def key_json_and_channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import grpc  # type: ignore[import-untyped]

    ca = make_ca(tmp_path_factory.mktemp("tts-standin"))
    cert, key = ca.issue("tts", dns=[TTS_NAME], ips=["127.0.0.1"])
    key_json, public = service_account_key()
    server, port = tts_server("127.0.0.1", 0, cert=cert, key=key, public_key_pem=public)
    creds = grpc.ssl_channel_credentials(root_certificates=ca.ca_cert.read_bytes())
    channel = grpc.secure_channel(f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", TTS_NAME)])
    try:
        yield key_json, channel
    finally:
        channel.close()
        server.stop(0)


def _list_voices(channel: Any, token: str) -> Any:
    import grpc

    call = channel.unary_unary(f"/{TTS_SERVICE}/ListVoices")
    try:
        call(b"\x0a\x05en-US", metadata=[("authorization", f"Bearer {token}")], timeout=5)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _health(channel: Any, service: str) -> tuple[Any, bytes]:
    import grpc

    call = channel.unary_unary(f"/{HEALTH_SERVICE}/Check")
    request = b"\x0a" + bytes([len(service)]) + service.encode() if service else b""
    try:
        return grpc.StatusCode.OK, call(request, timeout=5)
    except grpc.RpcError as exc:
        return exc.code(), b""


def test_health_service_answers_serving_for_the_server_and_tts_only(key_json_and_channel: tuple[str, Any]) -> None:
    import grpc

    _key, channel = key_json_and_channel
    assert _health(channel, "") == (grpc.StatusCode.OK, b"\x08\x01")  # HealthCheckResponse{status: SERVING}
    assert _health(channel, TTS_SERVICE) == (grpc.StatusCode.OK, b"\x08\x01")
    assert _health(channel, "grpc.example.Other")[0] == grpc.StatusCode.NOT_FOUND


def test_a_cached_verdict_never_admits_another_token(key_json_and_channel: tuple[str, Any]) -> None:
    import grpc

    key_json, channel = key_json_and_channel
    token = bearer_from_service_account(key_json)
    assert _list_voices(channel, token) == grpc.StatusCode.OK
    assert _list_voices(channel, token) == grpc.StatusCode.OK  # the cached verdict
    head, claims, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert _list_voices(channel, f"{head}.{claims}.{flipped}") == grpc.StatusCode.UNAUTHENTICATED
    other, _public = service_account_key()
    assert _list_voices(channel, bearer_from_service_account(other)) == grpc.StatusCode.UNAUTHENTICATED
    wrong_audience = bearer_from_service_account(key_json, audience="https://example.invalid/")
    assert _list_voices(channel, wrong_audience) == grpc.StatusCode.UNAUTHENTICATED


def test_a_verified_token_is_refused_once_it_expires(key_json_and_channel: tuple[str, Any]) -> None:
    import grpc

    key_json, channel = key_json_and_channel
    # signed so that it expires in about a second: accepted (and cached) now, refused after its exp
    token = bearer_from_service_account(key_json, now=time.time() - JWT_LIFETIME_S + 1.5)
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==").decode())["exp"]
    assert _list_voices(channel, token) == grpc.StatusCode.OK
    time.sleep(max(0.0, exp - time.time()) + 1.1)  # google-auth: refused when exp < now (no clock skew)
    assert _list_voices(channel, token) == grpc.StatusCode.UNAUTHENTICATED


TTS_FIELD = b"\x0a" + bytes([len(TTS_SERVICE)]) + TTS_SERVICE.encode()


@pytest.mark.parametrize(("data", "status"), [
    (b"", "OK"), (TTS_FIELD, "OK"),
    (b"\x11" + bytes(8) + b"\x1d" + bytes(4) + TTS_FIELD, "OK"),  # unknown fixed64 and fixed32 fields: skipped
    (b"\x10\x96\x01\x12\x02zz" + TTS_FIELD, "OK"),  # unknown varint and length-delimited fields: skipped
    (b"\x0a\x03abc", "NOT_FOUND"), (TTS_FIELD + b"\x0a\x01d", "NOT_FOUND"),  # the last value of a field wins
    (b"\x0a\x05", "INVALID_ARGUMENT"), (b"\x0a\x10abc", "INVALID_ARGUMENT"), (b"\x02\x00", "INVALID_ARGUMENT"),
    (b"\x0a\x02\xff\xfe", "INVALID_ARGUMENT"), (b"\xff" * 11, "INVALID_ARGUMENT"), (b"\x0b", "INVALID_ARGUMENT"),
    (b"\x11" + bytes(7), "INVALID_ARGUMENT"),
    (b"\x1d\x00", "INVALID_ARGUMENT"), (b"\x08", "INVALID_ARGUMENT"), (b"\x80", "INVALID_ARGUMENT"),
])
def test_health_requests_read_as_protobuf_reads_them(key_json_and_channel: tuple[str, Any], data: bytes,
                                                     status: str) -> None:
    """Unknown fields skipped, the last value of a repeated field kept; a length or a varint past the end, field 0,
    a string that is not UTF-8, a varint over 10 bytes: refused (what protobuf's own parser does)."""
    import grpc

    _key, channel = key_json_and_channel

    call = channel.unary_unary(f"/{HEALTH_SERVICE}/Check")
    try:
        call(data, timeout=5)
        got = "OK"
    except grpc.RpcError as exc:
        got = exc.code().name
    assert got == status
