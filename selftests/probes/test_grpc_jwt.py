"""The gRPC probe's self-signed JWT (RS256 with ``cryptography``): what google-auth, the lab's verifier and
Google's, accepts; kept in the run's memo for its lifetime less the refresh margin; unusable keys are ``config``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gvpconf.errors import Cause, ProbeFailure
from gvpconf.probes import grpc
from gvpconf_lab.web import service_account_key

NOW = 1_800_000_000.0


def _segment(token: str, n: int) -> dict[str, Any]:
    part = token.split(".")[n]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_google_auth_accepts_the_token() -> None:
    from google.auth import jwt

    key_json, public = service_account_key("probe@project.iam.gserviceaccount.com")
    token = grpc.bearer_from_service_account(key_json)
    claims = jwt.decode(token, certs=public, audience=grpc.AUDIENCE)  # type: ignore[no-untyped-call]
    assert claims["iss"] == claims["sub"] == "probe@project.iam.gserviceaccount.com"
    assert claims["exp"] - claims["iat"] == 3600
    header = _segment(token, 0)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert header["kid"] == json.loads(key_json)["private_key_id"]


def test_another_key_does_not_verify() -> None:
    from google.auth import exceptions, jwt

    key_json, _ = service_account_key()
    _, other_public = service_account_key()
    with pytest.raises((ValueError, exceptions.GoogleAuthError)):
        jwt.decode(grpc.bearer_from_service_account(key_json), certs=other_public,  # type: ignore[no-untyped-call]
                   audience=grpc.AUDIENCE)


def test_the_memo_keeps_the_token_until_the_refresh_margin() -> None:
    key_json, _ = service_account_key()
    memo: dict[str, Any] = {}
    first = grpc.bearer_from_service_account(key_json, memo=memo, now=NOW)
    assert grpc.bearer_from_service_account(key_json, memo=memo, now=NOW + 60) == first
    last_kept = NOW + grpc.JWT_LIFETIME_S - grpc.JWT_REFRESH_S - 1
    assert grpc.bearer_from_service_account(key_json, memo=memo, now=last_kept) == first
    fresh = grpc.bearer_from_service_account(key_json, memo=memo, now=last_kept + 2)
    assert fresh != first and _segment(fresh, 1)["iat"] == int(last_kept + 2)
    # a clock that went back gets a token whose iat is not in its future
    back = grpc.bearer_from_service_account(key_json, memo=memo, now=NOW - 100)
    assert _segment(back, 1)["iat"] == int(NOW - 100)
    # another audience, another token
    assert grpc.bearer_from_service_account(key_json, "https://other/", memo=memo, now=NOW - 100) != back
    assert grpc.bearer_from_service_account(key_json, now=NOW) != grpc.bearer_from_service_account(
        key_json, now=NOW + 1)  # without a memo: signed every time


def _ec_key_json() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return json.dumps({"client_email": "x@y", "private_key": pem})


@pytest.mark.parametrize("key_json", [
    "not json", "[]", json.dumps({"private_key": "x"}), json.dumps({"client_email": "x@y"}),
    json.dumps({"client_email": "x@y", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}),
    json.dumps({"client_email": 5, "private_key": "x"}), "EC"])
def test_unusable_keys_are_config(key_json: str) -> None:
    with pytest.raises(ProbeFailure) as info:
        grpc.bearer_from_service_account(_ec_key_json() if key_json == "EC" else key_json, memo={})
    assert info.value.cause is Cause.CONFIG and "service-account key" in str(info.value)
