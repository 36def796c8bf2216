"""The TLS checks of every TLS connection, one module for all: the web area (11, 12, 13, 18, 20, 21, 22), Consul
over HTTPS (6, 10 and the MCP pool discovery) and PostgreSQL (17).

Every TLS probe does the same three things with its destination's ``tls`` section (``TlsSettings``):

* its client context comes from ``client_context(settings)``: chain verified against the system store or
  ``tls.ca_file``, hostname checked (``tls.server_name``, else the target's host), ``tls.min_version`` enforced.
  Verification is off only when the inventory says ``verify: false``, and every case then says so;
* after its handshake it calls ``check(record, session, settings)``: facts ``tls.version``, ``tls.cipher``,
  ``tls.alpn``, ``tls.subject``, ``tls.issuer``, ``tls.not_after``, ``tls.days_left``, ``tls.expiry_warning``,
  ``tls.verify``, ``tls.trust``; it fails as ``tls`` on an issuer outside ``expected_issuers`` (TLS
  interception) or a version below the minimum;
* a failed handshake becomes a cause and a message with ``translate_ssl``, which says which expectation broke:
  untrusted CA, wrong hostname, expired, below tls.min_version, plain text on a TLS port. On a verification
  failure the certificate is fetched once more without verification, only to name its issuer.

Where each probe finds its handshake (one per connection unless said):

* httpx (HTTP probes) and websockets hand out the TLS object of the session they used;
* requests (py-consul) does not: ``observing_context`` is a client context that keeps a ``Handshake`` snapshot of
  every handshake it completes, so the check runs on requests' own handshake;
* PostgreSQL's SSLRequest probe handshakes itself (``wrap``: TLS starts inside PostgreSQL's protocol), and so does
  the gRPC probe (``wrap``, then HTTP/2 by ``gvpconf.wire.http2`` on that checked socket: one handshake);
* libpq (the PostgreSQL login) applies the same settings itself (``sslmode``, ``sslrootcert``,
  ``ssl_min_protocol_version``) and hides the certificate: that connection's SSLRequest probe records it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gvpconf import net
from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.tls import TlsSettings
from gvpconf.probes.context import ProbeContext

#: where facts go: ``ctx.evidence.fact``, or a no-op for a caller without a case (discovery)
Record = Callable[[str, Any], None]
#: what a protocol sends on a connected socket before its TLS handshake (PostgreSQL's SSLRequest), with a timeout
StartTls = Callable[[socket.socket, float], None]

PHASE = "TLS handshake"
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_ORDER = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


@dataclass(frozen=True)
class Handshake:
    """What a completed handshake showed, kept as values: the check may run after the library has pooled or
    closed the connection."""

    version: str
    cipher: str | None
    alpn: str | None
    der: bytes | None

    @classmethod
    def of(cls, sslobj: Any) -> Handshake:
        cipher = sslobj.cipher()
        # positional getpeercert(True): httpcore hands us the C-level _ssl._SSLSocket
        return cls(sslobj.version() or "?", cipher[0] if cipher else None, sslobj.selected_alpn_protocol(),
                   sslobj.getpeercert(True))


@dataclass(frozen=True)
class Endpoint:
    """Where a TLS peer is: for the second, unverified look at a certificate that failed verification."""

    host: str
    port: int
    server_name: str
    starttls: StartTls | None = None
    deadline: Deadline | None = None


def server_name(ctx: ProbeContext, settings: TlsSettings) -> str:
    return settings.server_name or ctx.target.host


def endpoint(ctx: ProbeContext, settings: TlsSettings, starttls: StartTls | None = None) -> Endpoint:
    return Endpoint(ctx.target.host, ctx.target.port, server_name(ctx, settings), starttls, ctx.deadline)


def client_context(settings: TlsSettings, alpn: list[str] | None = None, *, check_hostname: bool = True,
                   cls: type[ssl.SSLContext] = ssl.SSLContext) -> ssl.SSLContext:
    """A new verifying client context for these settings (never shared: libraries such as httpcore and urllib3
    set ALPN on the context they are given). ``check_hostname=False`` only for PostgreSQL's sslmode verify-ca."""
    context = cls(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = _VERSIONS[settings.min_version]
    if settings.verify:
        if settings.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(settings.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(Cause.CONFIG, f"tls.ca_file {settings.ca_file} is unusable: {exc}",
                                   phase="TLS setup") from exc
        else:
            context.load_default_certs()
        context.check_hostname = check_hostname
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class _Observing(ssl.SSLContext):
    """A client context that keeps a snapshot of every handshake it completes."""

    handshakes: list[Handshake]

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, do_handshake_on_connect: bool = True,
                    suppress_ragged_eofs: bool = True, server_hostname: str | bytes | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        tls = super().wrap_socket(sock, server_side, do_handshake_on_connect, suppress_ragged_eofs,
                                  server_hostname, session)
        if tls.version() is not None:  # the handshake is done (urllib3 does it on connect)
            self.handshakes.append(Handshake.of(tls))
        return tls


def observing_context(settings: TlsSettings, alpn: list[str] | None = None) -> tuple[ssl.SSLContext,
                                                                                      list[Handshake]]:
    """``client_context`` for a library that hides its TLS session (requests): it verifies as configured and
    keeps every completed handshake in the returned list, for ``check``."""
    context = client_context(settings, alpn, cls=_Observing)
    assert isinstance(context, _Observing)
    context.handshakes = []
    return context, context.handshakes


@functools.lru_cache(maxsize=64)
def _decode_der(der: bytes) -> tuple[str, str, dt.datetime]:
    """(subject, issuer, not_after) of a DER certificate; kept by its bytes (a run meets the same few
    certificates again and again, and parsing one was about a tenth of a loopback handshake)."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.not_valid_after_utc


def record_trust(record: Record, settings: TlsSettings, *, hostname: bool = True) -> None:
    """``tls.verify`` and ``tls.trust``: recorded before every handshake, so every case of a TLS connection
    carries them, a failed one too."""
    if not settings.verify:
        record("tls.verify", "off (inventory tls.verify: false)")
        record("tls.trust", "not checked")
        return
    record("tls.verify", "on" if hostname else "on (chain only: no hostname check)")
    record("tls.trust", f"ca_file {settings.ca_file}" if settings.ca_file is not None else "system store")


def below_minimum(settings: TlsSettings, what: str) -> str:
    return f"TLS version below tls.min_version: expected {settings.min_version} or later, {what}"


def check(record: Record, session: Handshake | Any, settings: TlsSettings, *, hostname: bool = True) -> None:
    """The check after a handshake (a ``Handshake`` or the TLS object itself): record the facts; fail on a version
    below the minimum or an unexpected issuer (interception)."""
    hs = session if isinstance(session, Handshake) else Handshake.of(session)
    record("tls.version", hs.version)
    if hs.cipher:
        record("tls.cipher", hs.cipher)
    if hs.alpn:
        record("tls.alpn", hs.alpn)
    record_trust(record, settings, hostname=hostname)
    if hs.der is None:
        raise ProbeFailure(Cause.TLS, "the server presented no certificate", phase=PHASE)
    subject, issuer, not_after = _decode_der(hs.der)
    record("tls.subject", subject)
    record("tls.issuer", issuer)
    record("tls.not_after", not_after.strftime("%Y-%m-%dT%H:%M:%SZ"))
    days = (not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    record("tls.days_left", int(days))
    if days < 0:
        record("tls.expiry_warning", f"expired {int(-days)} days ago")
    elif days < settings.expiry_warning_days:
        record("tls.expiry_warning", f"expires in {int(days)} days (threshold {settings.expiry_warning_days})")
    if hs.version in _ORDER and _ORDER.index(hs.version) < _ORDER.index(settings.min_version):
        raise ProbeFailure(Cause.TLS, below_minimum(settings, f"negotiated {hs.version}"), phase=PHASE)
    check_issuer(issuer, settings)


def check_issuer(issuer: str, settings: TlsSettings) -> None:
    if settings.expected_issuers and not any(e in issuer for e in settings.expected_issuers):
        raise ProbeFailure(Cause.TLS, f"TLS interception suspected: expected a certificate issued by "
                           f"{' or '.join(repr(e) for e in settings.expected_issuers)}, got one issued by "
                           f"{issuer!r}", phase=PHASE)


@contextlib.contextmanager
def _second_look(peer: Endpoint, context: ssl.SSLContext, timeout: float) -> Iterator[ssl.SSLSocket]:
    """A handshake of our own with ``peer`` (after its ``starttls``), for a failure message only."""
    if peer.deadline is not None:
        timeout = min(timeout, max(peer.deadline.remaining(), 0.1))
    with socket.create_connection((peer.host, peer.port), timeout=timeout) as raw:
        if peer.starttls is not None:
            peer.starttls(raw, timeout)
        with context.wrap_socket(raw, server_hostname=peer.server_name) as tls:
            yield tls


def presented_issuer(peer: Endpoint, timeout: float) -> str | None:
    """The issuer of the certificate the peer presents, fetched without verification (for messages only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _second_look(peer, context, timeout) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, ProbeFailure):
        return None
    if der is None:
        return None
    try:
        return _decode_der(der)[1]
    except ValueError:
        return None


def explain(peer: Endpoint, settings: TlsSettings, *, during: str, hostname: bool = True,
            timeout: float = 2.0) -> ProbeFailure | None:
    """Why a library's verification failed, when it only says "certificate verify failed" (libpq): the same
    verifying handshake again, ours, translated like every other. None when ours does not fail."""
    try:
        with _second_look(peer, client_context(settings, check_hostname=hostname), timeout):
            return None
    except ssl.SSLError as exc:
        return translate_ssl(exc, during=during, settings=settings, peer=peer, timeout=timeout)
    except (OSError, ProbeFailure):
        return None


def describe_verify_error(reason: str) -> str:
    """Which expectation a verification failure broke, in the same words whatever library reported it."""
    low = reason.lower()
    if "expired" in low:
        return f"the certificate has expired ({reason})"
    if "hostname mismatch" in low or "ip address mismatch" in low or "does not match host name" in low:
        return f"wrong hostname ({reason})"
    if "unable to get local issuer" in low or "self-signed" in low or "self signed" in low:
        return f"untrusted CA ({reason})"
    return reason


def _names_version(reason: str) -> bool:
    up = reason.upper().replace(" ", "_")
    return any(w in up for w in ("UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE",
                                 "VERSION_TOO_LOW", "VERSION_TOO_HIGH"))


def translate_ssl(exc: BaseException, *, during: str, settings: TlsSettings | None = None,
                  peer: Endpoint | None = None, timeout: float = 2.0) -> ProbeFailure:
    """The one translation of ``ssl`` errors: says untrusted CA / wrong hostname / expired / version / plain text.
    With ``peer`` (and ``settings``) an untrusted certificate's issuer is named, and called interception when it
    is not one of ``expected_issuers``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = describe_verify_error(str(exc.verify_message or exc.reason or exc))
        issuer = presented_issuer(peer, timeout) if peer is not None and settings is not None else None
        extra = f"; the peer's certificate was issued by {issuer!r}" if issuer else ""
        if issuer and settings is not None and settings.expected_issuers and "untrusted CA" in what \
                and not any(e in issuer for e in settings.expected_issuers):
            extra += " (TLS interception suspected)"
        return ProbeFailure(Cause.TLS, f"certificate verification failed during {during}: {what}{extra}",
                            phase=during)
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc)
        if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE") \
                or "wrong version number" in str(exc).lower():
            return ProbeFailure(Cause.TLS, f"expected a TLS handshake during {during}, the peer answered in "
                                f"plain text (plain HTTP on a TLS port?): {reason}", phase=during)
        if "no application protocol" in reason.lower().replace("_", " "):
            return ProbeFailure(Cause.TLS, f"the server offers none of our ALPN protocols during {during} (no "
                                f"HTTP/2 'h2' for gRPC?): {reason}", phase=during)
        if _names_version(reason):
            if settings is not None:
                return ProbeFailure(Cause.TLS, below_minimum(settings, f"the peer offers no such version during "
                                                             f"{during} ({reason})"), phase=during)
            return ProbeFailure(Cause.TLS, f"TLS version negotiation failed during {during}: {reason}",
                                phase=during)
        return ProbeFailure(Cause.TLS, f"TLS error during {during}: {reason}", phase=during)
    return failure_from_os_error(exc, during=during, timeout=timeout)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, outermost first: causes, contexts, and the wrapped exception libraries keep in
    ``reason`` or ``args[0]`` (requests wraps urllib3 wraps ``ssl``)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(seen) < 20:
        seen.add(id(cur))
        yield cur
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        reason = getattr(cur, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        cur = nxt


def ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error a library's exception wraps, if any."""
    return next((e for e in exception_chain(exc) if isinstance(e, ssl.SSLError)), None)


_CONTEXTS = threading.Lock()


def _run_context(ctx: ProbeContext, settings: TlsSettings, alpn: list[str] | None, hostname: bool) -> ssl.SSLContext:
    """``client_context`` for our own handshakes (``wrap``), built once per run and settings (``ctx.memo``): loading
    the CA file was about a quarter of a loopback handshake. Safe to share because this context goes to no library
    (one that sets its own ALPN gets a fresh ``client_context``); a CA file that is unusable fails every probe."""
    slot = f"tls.context.{id(settings)}.{','.join(alpn or [])}.{hostname}"
    with _CONTEXTS:
        kept = ctx.memo.get(slot)
        if kept is None or kept[0] is not settings:
            kept = (settings, client_context(settings, alpn, check_hostname=hostname))
            ctx.memo[slot] = kept
    context: ssl.SSLContext = kept[1]
    return context


def wrap(ctx: ProbeContext, sock: socket.socket, settings: TlsSettings, *, alpn: list[str] | None = None,
         hostname: bool = True, starttls: StartTls | None = None) -> ssl.SSLSocket:
    """Our own handshake on a connected socket (bounded by the deadline), then ``check``. ``starttls``: what the
    protocol sent before it (to fetch the certificate again for a failure message)."""
    context = _run_context(ctx, settings, alpn, hostname)
    record_trust(ctx.evidence.fact, settings, hostname=hostname)
    budget = ctx.deadline.read_budget(PHASE)
    sock.settimeout(budget)
    try:
        tls = context.wrap_socket(sock, server_hostname=server_name(ctx, settings))
    except TimeoutError as exc:
        raise ProbeFailure(Cause.TIMEOUT, f"no TLS handshake answer within {budget:.1f} s (a silent peer)",
                           phase=PHASE) from exc
    except (OSError, ssl.SSLError) as exc:
        if isinstance(exc, ConnectionResetError | ssl.SSLEOFError) or "EOF" in str(exc):
            raise ProbeFailure(Cause.TLS, "the peer closed the connection during the TLS handshake (not a TLS "
                               "server?)", phase=PHASE) from exc
        raise translate_ssl(exc, during=PHASE, settings=settings, peer=endpoint(ctx, settings, starttls),
                            timeout=budget) from exc
    try:
        check(ctx.evidence.fact, tls, settings, hostname=hostname)
    except BaseException:
        tls.close()
        raise
    return tls


def handshake(ctx: ProbeContext, settings: TlsSettings, alpn: list[str] | None = None) -> None:
    """A TLS handshake of our own with the target (bounded by the deadline), checked; then closed."""
    sock = net.connect_tcp(ctx.target.host, ctx.target.port, ctx.deadline)
    with sock:  # closes the socket when the handshake fails; the TLS socket owns it otherwise
        wrap(ctx, sock, settings, alpn=alpn).close()
