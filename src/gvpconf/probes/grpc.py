"""gRPC prober (22: MCP -> Google API 443): ``google.cloud.texttospeech.v1.TextToSpeech/ListVoices`` with grpcio.

One TLS handshake, ours, offering ALPN ``h2`` (``tlscheck``: chain, hostname, version, expiry, interception;
gRPC needs HTTP/2, so ``h2`` must be selected), then the ListVoices call on a grpcio channel that rides that very
TLS connection (``gvpconf.probes.relay``: grpcio does not expose its own session's certificate), serialized with
the proto-plus types of google-cloud-texttospeech.

Credentials: a service-account key (JSON) from a secret reference, turned into a self-signed JWT for the
TextToSpeech audience by google-auth (computed locally: no call to Google's token endpoint). With it the call
must list voices (``grpc.auth=authenticated``). Without it the server's ``UNAUTHENTICATED`` proves the network
path, TLS, HTTP/2 and gRPC framing, and is reported as ``grpc.auth=unauthenticated-path-proven``: a distinct
outcome, not a plain pass. UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED and TLS errors fail with their causes.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import MutableMapping
from typing import Any

# Imported with the module, which the scheduler loads before the probe's clock starts: these imports cost about
# a second of CPU (google.cloud's proto-plus types above all), and a second of CPU on a busy node is not a
# second of the network's time. Inside the probe they ran on its deadline: under load the fault catalog saw
# "timeout before ListVoices: probe budget of 10.0 s used up" for a healthy Google API (a false alarm).
import grpc  # type: ignore[import-untyped]
from google.auth import jwt
from google.cloud.texttospeech_v1.types import cloud_tts
from google.oauth2 import service_account

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory.web import GoogleTtsDestination
from gvpconf.probes import relay, tlscheck
from gvpconf.probes.context import ProbeContext

SERVICE = "google.cloud.texttospeech.v1.TextToSpeech"
METHOD = f"/{SERVICE}/ListVoices"
AUDIENCE = "https://texttospeech.googleapis.com/"
PHASE = "ListVoices"


def bearer_from_service_account(key_json: str, audience: str = AUDIENCE,
                                memo: MutableMapping[str, Any] | None = None) -> str:
    """A self-signed JWT from a service-account key (no network: Google accepts these for its APIs). The parsed
    key (~35 ms of RSA parsing) is kept in ``memo`` (the run's, from the probe context) by its digest, so a run
    parses each key once; the JWT itself is signed afresh on every call."""
    slot = "grpc.service_account." + hashlib.sha256(key_json.encode()).hexdigest()
    sa = memo.get(slot) if memo is not None else None
    if sa is None:
        try:
            sa = service_account.Credentials.from_service_account_info(json.loads(key_json))  # type: ignore[no-untyped-call]
        except (ValueError, KeyError) as exc:
            raise ProbeFailure(Cause.CONFIG, f"credentials are not a usable service-account key (JSON with "
                               f"client_email and private_key): {type(exc).__name__}", phase="credentials") from None
        if memo is not None:
            memo[slot] = sa
    creds = jwt.Credentials.from_signing_credentials(sa, audience=audience)  # type: ignore[no-untyped-call]
    creds.refresh(None)
    token = creds.token
    return token.decode("ascii") if isinstance(token, bytes) else str(token)


def translate(exc: grpc.RpcError, budget: float, authenticated: bool) -> ProbeFailure:
    """The one place grpcio's status codes become causes (OK and the unauthenticated proof are not failures)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    details = details.splitlines()[0][:200] if details else ""
    name = code.name if code is not None else "UNKNOWN"
    low = details.lower()
    if code is grpc.StatusCode.UNAUTHENTICATED or code is grpc.StatusCode.PERMISSION_DENIED:
        who = "our credentials" if authenticated else "the call"
        return ProbeFailure(Cause.AUTH, f"expected ListVoices to succeed, got {name}: the server rejected {who} "
                            f"({details})", phase=PHASE)
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return ProbeFailure(Cause.SEMANTIC, f"expected the TextToSpeech service, got UNIMPLEMENTED: the server "
                            f"does not implement {METHOD} ({details})", phase=PHASE)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return ProbeFailure(Cause.TIMEOUT, f"no ListVoices answer within {budget:.1f} s (DEADLINE_EXCEEDED)",
                            phase=PHASE)
    if code is grpc.StatusCode.UNAVAILABLE:
        if "ssl" in low or "handshake" in low or "certificate" in low or "tls" in low:
            return ProbeFailure(Cause.TLS, f"UNAVAILABLE: TLS failed on the gRPC channel ({details})", phase=PHASE)
        if "connection refused" in low or "failed to connect" in low:
            return ProbeFailure(Cause.REFUSED, f"UNAVAILABLE: connection refused ({details})", phase=PHASE)
        if "dns" in low or "resolve" in low:
            return ProbeFailure(Cause.DNS, f"UNAVAILABLE: name resolution failed ({details})", phase=PHASE)
        return ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer, got UNAVAILABLE ({details})", phase=PHASE)
    return ProbeFailure(Cause.SEMANTIC, f"expected ListVoices to succeed, got {name} ({details})", phase=PHASE)


def probe_tts_list_voices(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, GoogleTtsDestination)
    ev, dl = ctx.evidence, ctx.deadline
    if not dest.tls.verify:
        raise ProbeFailure(Cause.CONFIG, "tls.verify: false is not supported for gRPC (grpcio always verifies); "
                           "set tls.ca_file instead", phase="TLS setup")
    sock = net.connect_tcp(ctx.target.host, ctx.target.port, dl)
    with sock:  # closes the socket when the handshake fails; the TLS socket owns it otherwise
        tls = tlscheck.wrap(ctx, sock, dest.tls, alpn=["h2"])
    with tls:
        if ev.facts.get("tls.alpn") != "h2":
            raise ProbeFailure(Cause.PROTOCOL, f"gRPC needs HTTP/2: expected ALPN h2, the server selected "
                               f"{ev.facts.get('tls.alpn', 'nothing')}", phase="TLS handshake")
        _call(ctx, dest, tls)


def _call(ctx: ProbeContext, dest: GoogleTtsDestination, tls: ssl.SSLSocket) -> None:
    """ListVoices on a grpcio channel that rides our own verified TLS connection (``relay``)."""
    ev, dl = ctx.evidence, ctx.deadline
    key_json = ctx.secret("credentials")
    metadata: list[tuple[str, str]] = []
    if key_json:
        token = bearer_from_service_account(key_json, memo=ctx.memo)
        from gvpconf import redact

        redact.register(token)
        metadata.append(("authorization", f"Bearer {token}"))
    name = tlscheck.server_name(ctx, dest.tls)
    t = ctx.target
    # the :authority grpcio would send over its own TLS: the server name when it is set, else host:port
    authority = name if name != t.host else (f"[{t.host}]:{t.port}" if ":" in t.host else f"{t.host}:{t.port}")
    options: list[tuple[str, Any]] = [("grpc.enable_http_proxy", 0), ("grpc.primary_user_agent", "gvpconf-probe"),
                                      ("grpc.default_authority", authority), ("grpc.http2_scheme", "https"),
                                      ("grpc.enable_retries", 0)]
    budget = dl.read_budget(PHASE)
    with relay.Relay(tls, dl) as address:
        channel = grpc.insecure_channel(address, options=options)
        try:
            call = channel.unary_unary(METHOD, request_serializer=cloud_tts.ListVoicesRequest.serialize,
                                       response_deserializer=cloud_tts.ListVoicesResponse.deserialize)
            ev.sent(f"{METHOD} language_code={dest.language_code} auth={'bearer' if metadata else 'none'}")
            try:
                response = call(cloud_tts.ListVoicesRequest(language_code=dest.language_code), timeout=budget,
                                metadata=metadata or None)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                ev.fact("grpc.status", code.name if code is not None else "UNKNOWN")
                if code is grpc.StatusCode.UNAUTHENTICATED and not metadata:
                    ev.received("UNAUTHENTICATED")
                    ev.fact("grpc.auth", "unauthenticated-path-proven")
                    ev.fact("grpc.depth", "network path, TLS, HTTP/2 and gRPC framing proven; no credentials, so "
                            "no voices listed")
                    return
                raise translate(exc, budget, bool(metadata)) from exc
        finally:
            channel.close()
    voices = list(response.voices)
    ev.received(f"OK, {len(voices)} voices")
    ev.fact("grpc.status", "OK")
    ev.fact("grpc.auth", "authenticated" if metadata else "not required")
    ev.fact("tts.voices", len(voices))
    if voices:
        ev.fact("tts.first_voice", str(voices[0].name))
    if metadata and dest.require_voices and not voices:
        raise ProbeFailure(Cause.SEMANTIC, f"expected at least one voice for {dest.language_code}, got none",
                           phase=PHASE)
