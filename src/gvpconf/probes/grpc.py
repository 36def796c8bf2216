"""gRPC prober (22: MCP -> Google API 443): ``google.cloud.texttospeech.v1.TextToSpeech/ListVoices``, spoken over
HTTP/2 by our own sans-I/O client codec (``gvpconf.wire.http2``) on the TLS connection ``tlscheck`` opened and
checked.

One TCP connection, one TLS handshake, ours, offering ALPN ``h2`` (``tlscheck``: chain, hostname, version, expiry,
interception; gRPC needs HTTP/2, so ``h2`` must be selected), then on that very socket the HTTP/2 preface and one
stream, as the gRPC over HTTP/2 specification says (grpc/grpc ``doc/PROTOCOL-HTTP2.md``): ``POST``, ``:scheme
https``, ``:path /google.cloud.texttospeech.v1.TextToSpeech/ListVoices``, ``:authority`` (the TLS server name,
else host:port), ``grpc-timeout`` (what is left of the read budget), ``te: trailers``, ``content-type:
application/grpc``, then the ListVoicesRequest as one Length-Prefixed-Message with END_STREAM. The answer is
read until the stream ends: Response-Headers, messages, Trailers (``grpc-status``, ``grpc-message``), or a
Trailers-Only response. The gRPC framing and the protobuf messages are the pure codec ``gvpconf.wire.grpc``.

Credentials: a service-account key (JSON) from a secret reference, turned into a self-signed JWT (RS256, signed
with ``cryptography``) for the TextToSpeech audience, computed locally: no call to Google's token endpoint, the
form Google accepts for its APIs. With it the call must list voices (``grpc.auth=authenticated``). Without it the
server's ``UNAUTHENTICATED`` proves the network path, TLS, HTTP/2 and gRPC framing, and is reported as
``grpc.auth=unauthenticated-path-proven``: a distinct outcome, not a plain pass. UNAVAILABLE, DEADLINE_EXCEEDED,
UNIMPLEMENTED and TLS errors fail with their causes; an HTTP/2 server that is not gRPC (no ``application/grpc``
answer), a peer that breaks HTTP/2, resets the stream or closes early is ``protocol``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import ssl
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory.web import GoogleTtsDestination
from gvpconf.probes import tlscheck
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, http2
from gvpconf.wire import grpc as wire

SERVICE = "google.cloud.texttospeech.v1.TextToSpeech"
METHOD = f"/{SERVICE}/ListVoices"
AUDIENCE = "https://texttospeech.googleapis.com/"
PHASE = "ListVoices"
USER_AGENT = "gvpconf-probe grpc-python"
#: the lifetime of the self-signed JWT (Google accepts at most one hour)
JWT_LIFETIME_S = 3600
#: a kept token is signed again this long before it expires (google-auth refreshes 3 min 45 s before)
JWT_REFRESH_S = 300


# -- the self-signed JWT ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceAccount:
    """What signs the JWT: the account's e-mail, its key id, and the parsed RSA private key."""

    email: str
    key_id: str | None
    key: Any  # cryptography's RSAPrivateKey


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def service_account(key_json: str, memo: MutableMapping[str, Any] | None = None) -> ServiceAccount:
    """The service account of a Google key file (JSON with ``client_email`` and ``private_key``, an RSA key in
    PEM). The parsed key (tens of ms of RSA parsing) is kept in ``memo`` (the run's, from the probe context) by
    the key file's digest, so a run parses each key once."""
    slot = "grpc.service_account." + hashlib.sha256(key_json.encode()).hexdigest()
    kept = memo.get(slot) if memo is not None else None
    if isinstance(kept, ServiceAccount):
        return kept
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        info = json.loads(key_json)
        email, pem = info["client_email"], info["private_key"]
        if not isinstance(email, str) or not isinstance(pem, str):
            raise ValueError("client_email and private_key must be strings")
        key = load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("private_key is not an RSA key (RS256)")
        key_id = info.get("private_key_id")
    except (ValueError, KeyError, TypeError) as exc:
        raise ProbeFailure(Cause.CONFIG, f"credentials are not a usable service-account key (JSON with "
                           f"client_email and private_key): {type(exc).__name__}", phase="credentials") from None
    account = ServiceAccount(email, key_id if isinstance(key_id, str) and key_id else None, key)
    if memo is not None:
        memo[slot] = account
    return account


def bearer_from_service_account(key_json: str, audience: str = AUDIENCE,
                                memo: MutableMapping[str, Any] | None = None, now: float | None = None) -> str:
    """A self-signed JWT from a service-account key (no network: Google accepts these for its APIs): RS256
    (RFC 7515/7518), header ``typ``/``alg``/``kid``, claims ``iss`` = ``sub`` = the account, ``aud``, ``iat``,
    ``exp`` (one hour), as google-auth's ``jwt.Credentials`` makes them.

    With ``memo`` (the run's) a token is reused until ``JWT_REFRESH_S`` before it expires, as google-auth's
    credentials and Google's client libraries do: an RSA-2048 signature was the largest CPU cost of the probe
    (0.6 to 2.7 ms), and the server still checks the token on every call."""
    t = time.time() if now is None else now
    slot = f"grpc.jwt.{hashlib.sha256(key_json.encode()).hexdigest()}.{audience}"
    kept = memo.get(slot) if memo is not None else None
    if isinstance(kept, tuple) and t < kept[1] - JWT_REFRESH_S and t >= kept[2]:
        return str(kept[0])
    token = _sign_jwt(service_account(key_json, memo), audience, int(t))
    if memo is not None:
        memo[slot] = (token, int(t) + JWT_LIFETIME_S, int(t))
    return token


def _sign_jwt(account: ServiceAccount, audience: str, iat: int) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header: dict[str, str] = {"typ": "JWT", "alg": "RS256"}
    if account.key_id:
        header["kid"] = account.key_id
    claims = {"iss": account.email, "sub": account.email, "iat": iat, "exp": iat + JWT_LIFETIME_S, "aud": audience}
    signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + b"." + \
        _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = account.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode("ascii")


# -- status to cause ----------------------------------------------------------------------------------------------

def translate(code: int, details: str, budget: float, authenticated: bool) -> ProbeFailure:
    """The one place gRPC status codes become causes (OK and the unauthenticated proof are not failures)."""
    details = details.splitlines()[0][:200] if details else ""
    name = wire.status_name(code)
    low = details.lower()
    if code in (wire.StatusCode.UNAUTHENTICATED, wire.StatusCode.PERMISSION_DENIED):
        who = "our credentials" if authenticated else "the call"
        return ProbeFailure(Cause.AUTH, f"expected ListVoices to succeed, got {name}: the server rejected {who} "
                            f"({details})", phase=PHASE)
    if code == wire.StatusCode.UNIMPLEMENTED:
        return ProbeFailure(Cause.SEMANTIC, f"expected the TextToSpeech service, got UNIMPLEMENTED: the server "
                            f"does not implement {METHOD} ({details})", phase=PHASE)
    if code == wire.StatusCode.DEADLINE_EXCEEDED:
        return ProbeFailure(Cause.TIMEOUT, f"no ListVoices answer within {budget:.1f} s (DEADLINE_EXCEEDED)",
                            phase=PHASE)
    if code == wire.StatusCode.UNAVAILABLE:
        if "ssl" in low or "handshake" in low or "certificate" in low or "tls" in low:
            return ProbeFailure(Cause.TLS, f"UNAVAILABLE: TLS failed behind the server ({details})", phase=PHASE)
        return ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer, got UNAVAILABLE ({details})", phase=PHASE)
    return ProbeFailure(Cause.SEMANTIC, f"expected ListVoices to succeed, got {name} ({details})", phase=PHASE)


# -- the probe ----------------------------------------------------------------------------------------------------

def probe_tts_list_voices(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, GoogleTtsDestination)
    ev, dl = ctx.evidence, ctx.deadline
    if not dest.tls.verify:
        raise ProbeFailure(Cause.CONFIG, "tls.verify: false is not supported for gRPC (Google's API is always "
                           "verified); set tls.ca_file instead", phase="TLS setup")
    key_json = ctx.secret("credentials")
    # the TCP handshake runs while the JWT is signed (cryptography's import and the RSA key take tens of ms); an
    # unusable key is still a CONFIG failure before any byte is sent
    with net.EarlyConnect(ctx.target.host, ctx.target.port, dl) as early:
        token = bearer_from_service_account(key_json, memo=ctx.memo) if key_json else None
        if token is not None:
            from gvpconf import redact

            redact.register(token)
        sock = early.connected()
    with sock:  # closes the socket when the handshake fails; the TLS socket owns it otherwise
        tls = tlscheck.wrap(ctx, sock, dest.tls, alpn=["h2"])
    with tls:
        if ev.facts.get("tls.alpn") != "h2":
            raise ProbeFailure(Cause.PROTOCOL, f"gRPC needs HTTP/2: expected ALPN h2, the server selected "
                               f"{ev.facts.get('tls.alpn', 'nothing')}", phase="TLS handshake")
        _call(ctx, dest, tls, token)


def authority(ctx: ProbeContext, dest: GoogleTtsDestination) -> str:
    """``:authority``: the TLS server name when it is set, else host:port (RFC 3986 brackets an IPv6 literal)."""
    name = tlscheck.server_name(ctx, dest.tls)
    t = ctx.target
    if name != t.host:
        return name
    return f"[{t.host}]:{t.port}" if ":" in t.host else f"{t.host}:{t.port}"


@dataclass
class _Answer:
    """What came back on our stream."""

    http_status: int | None = None
    content_type: str = ""
    headers: dict[str, str] | None = None
    trailers: dict[str, str] | None = None
    decoder: wire.MessageDecoder = field(default_factory=wire.MessageDecoder)
    ended: bool = False


def _headers(pairs: http2.Headers) -> dict[str, str]:
    """Fields by name; repeated ones joined with commas (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    for key, val in pairs:
        out[key] = f"{out[key]},{val}" if key in out else val
    return out


def _call(ctx: ProbeContext, dest: GoogleTtsDestination, tls: ssl.SSLSocket, token: str | None) -> None:
    ev, dl = ctx.evidence, ctx.deadline
    budget = dl.read_budget(PHASE)
    until = dl.remaining() - budget  # the call ends when the deadline has this much left
    headers = [(":method", "POST"), (":scheme", "https"), (":path", METHOD), (":authority", authority(ctx, dest)),
               ("grpc-timeout", wire.encode_timeout(budget)), ("te", "trailers"),
               ("content-type", wire.CONTENT_TYPE), ("user-agent", USER_AGENT)]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    conn = http2.ClientConnection()
    stream = conn.send_request(headers, wire.encode_message(wire.ListVoicesRequest(dest.language_code).encode()))
    ev.sent(f"{METHOD} language_code={dest.language_code} auth={'bearer' if token else 'none'}")
    net.send_all(tls, conn.data_to_send(), dl, PHASE)
    answer = _read(conn, tls, stream, dl, budget, until)
    conn.close()  # GOAWAY: a polite end of the HTTP/2 connection, best effort
    with contextlib.suppress(OSError):
        tls.settimeout(0)
        tls.send(conn.data_to_send())
    _conclude(ctx, dest, answer, budget, token is not None)


def _read(conn: http2.ClientConnection, tls: ssl.SSLSocket, stream: int, dl: Any, budget: float,
          until: float) -> _Answer:
    """Our stream's answer, reading until it ends, within the call's budget."""
    answer = _Answer()
    head = bytearray()  # the server's first 9 bytes: the header of its first frame
    while not answer.ended:
        left = dl.remaining() - until
        if left <= 0:
            raise ProbeFailure(Cause.TIMEOUT, f"no ListVoices answer within {budget:.1f} s (DEADLINE_EXCEEDED)",
                               phase=PHASE)
        data = net.recv_some(tls, dl, PHASE, cap=left)
        if not data:
            got = "the response headers" if answer.http_status is not None else "no response"
            raise ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer ending in trailers, the server closed the "
                               f"connection after {got} (UNAVAILABLE)", phase=PHASE)
        if len(head) < 9:
            head += data[: 9 - len(head)]
            _check_preface(bytes(head))
        try:
            events = conn.receive(data)
        except WireError as exc:
            raise ProbeFailure(Cause.PROTOCOL, f"expected HTTP/2 from the server (ALPN h2), got bytes that break "
                               f"it: {str(exc)[:200]}", phase=PHASE) from exc
        for event in events:
            _on(event, answer, stream)
        pending = conn.data_to_send()
        if pending and not answer.ended:  # SETTINGS and PING acknowledgements, window updates
            net.send_all(tls, pending, dl, PHASE)
    return answer


def _check_preface(head: bytes) -> None:
    """The server's connection preface is a SETTINGS frame, its first frame (RFC 9113 3.4): type 4 on stream 0.
    A peer that said ``h2`` in ALPN and sends anything else is not speaking HTTP/2 (an HTTP/1.1 answer, say),
    and its first bytes would announce a "frame" of megabytes."""
    if (len(head) >= 4 and head[3] != 4) or (len(head) >= 9 and int.from_bytes(head[5:9], "big") & 0x7FFFFFFF):
        raise net.other_protocol(head, "an HTTP/2 SETTINGS frame (the server's connection preface, ALPN h2)",
                                 "HTTP/2", PHASE)


def _messages(decoder: wire.MessageDecoder) -> list[wire.Message]:
    """The Length-Prefixed-Messages of a response whose headers said gRPC."""
    messages: list[wire.Message] = []
    try:
        while (message := decoder.next_message()) is not None:
            messages.append(message)
    except WireError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"expected gRPC Length-Prefixed-Messages: {exc}", phase=PHASE) from exc
    if decoder.pending():
        raise ProbeFailure(Cause.PROTOCOL, f"the response ended inside a gRPC message ({decoder.pending()} bytes "
                           "of it)", phase=PHASE)
    return messages


def _on(event: http2.Event, answer: _Answer, stream: int) -> None:
    if isinstance(event, http2.Response):
        answer.headers = _headers(event.headers)
        status = answer.headers.get(":status", "")
        answer.http_status = int(status) if status.isdigit() else 0
        answer.content_type = answer.headers.get("content-type", "")
        if event.end_stream:  # Trailers-Only: the status is in these headers
            answer.trailers = answer.headers
            answer.ended = True
    elif isinstance(event, http2.Data):
        answer.decoder.feed(event.data)
        if event.end_stream:
            answer.ended = True  # END_STREAM on DATA: no trailers
    elif isinstance(event, http2.Trailers):
        answer.trailers = _headers(event.headers)
        answer.ended = True
    elif isinstance(event, http2.StreamReset):
        code = http2.error_name(event.error_code)
        mapped = "UNAVAILABLE: not processed" if code == "REFUSED_STREAM" else "INTERNAL"
        raise ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer, the server reset the stream (RST_STREAM "
                           f"{code}: {mapped})", phase=PHASE)
    elif isinstance(event, http2.GoAway) and (event.last_stream_id < stream
                                              or event.error_code != http2.ErrorCode.NO_ERROR):
        raise ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer, the server ended the HTTP/2 connection "
                           f"(GOAWAY {http2.error_name(event.error_code)}, last stream {event.last_stream_id}: "
                           f"UNAVAILABLE)", phase=PHASE)


def _conclude(ctx: ProbeContext, dest: GoogleTtsDestination, answer: _Answer, budget: float,
              authenticated: bool) -> None:
    ev = ctx.evidence
    if answer.http_status is None:
        raise ProbeFailure(Cause.PROTOCOL, "expected gRPC response headers, the stream ended without them",
                           phase=PHASE)
    ctype = answer.content_type
    if answer.http_status != 200 or not ctype.startswith(wire.CONTENT_TYPE):
        synthesized = wire.status_from_http(answer.http_status) if answer.http_status != 200 \
            else wire.StatusCode.UNKNOWN
        ev.fact("grpc.status", f"{synthesized.name} (synthesized: HTTP {answer.http_status})")
        raise ProbeFailure(Cause.PROTOCOL, f"expected a gRPC answer (HTTP 200, content-type application/grpc), "
                           f"got HTTP {answer.http_status} {ctype or 'without content-type'}: not a gRPC server "
                           f"(a gRPC client reads it as {synthesized.name})", phase=PHASE)
    trailers = answer.trailers
    if trailers is None or "grpc-status" not in trailers:
        ev.fact("grpc.status", "UNKNOWN (no grpc-status)")
        raise ProbeFailure(Cause.PROTOCOL, "expected trailers with grpc-status, the response ended without them",
                           phase=PHASE)
    try:
        code = wire.parse_status(trailers["grpc-status"])
    except WireError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"malformed gRPC trailers: {exc}", phase=PHASE) from exc
    details = wire.decode_status_message(trailers.get("grpc-message", ""))
    name = wire.status_name(code)
    ev.fact("grpc.status", name)
    if code != wire.StatusCode.OK:
        if code == wire.StatusCode.UNAUTHENTICATED and not authenticated:
            ev.received("UNAUTHENTICATED")
            ev.fact("grpc.auth", "unauthenticated-path-proven")
            ev.fact("grpc.depth", "network path, TLS, HTTP/2 and gRPC framing proven; no credentials, so "
                    "no voices listed")
            return
        ev.received(f"{name} {details[:80]}".strip())
        raise translate(code, details, budget, authenticated)
    messages = _messages(answer.decoder)
    if len(messages) != 1:
        raise ProbeFailure(Cause.PROTOCOL, f"expected one ListVoicesResponse in a unary answer with status OK, "
                           f"got {len(messages)} messages", phase=PHASE)
    if messages[0].compressed:
        raise ProbeFailure(Cause.PROTOCOL, "expected an uncompressed message (we offered no grpc-encoding), got "
                           "the Compressed-Flag set", phase=PHASE)
    try:
        response = wire.decode_list_voices_response(messages[0].data)
    except WireError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"expected a ListVoicesResponse, got a malformed message: {exc}",
                           phase=PHASE) from exc
    voices = response.voices
    ev.received(f"OK, {len(voices)} voices")
    ev.fact("grpc.auth", "authenticated" if authenticated else "not required")
    ev.fact("tts.voices", len(voices))
    if voices:
        ev.fact("tts.first_voice", voices[0].name)
    if authenticated and dest.require_voices and not voices:
        raise ProbeFailure(Cause.SEMANTIC, f"expected at least one voice for {dest.language_code}, got none",
                           phase=PHASE)
