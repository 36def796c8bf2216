"""TLS checks shared by every TLS connection of the web area (11, 12, 13, 18, 20, 21, 22).

* ``client_context(settings)``: an ``ssl.SSLContext`` that verifies the chain against the system store or the
  inventory's ``ca_file``, checks the hostname and enforces ``min_version``. Verification is off only when the
  inventory says ``verify: false``, and ``record`` then reports ``tls.verify=off`` (never silently).
* ``record(ctx, ssl_object, settings)``: facts ``tls.version``, ``tls.cipher``, ``tls.alpn``, ``tls.subject``,
  ``tls.issuer``, ``tls.not_after``, ``tls.days_left``, ``tls.expiry_warning``; fails as ``tls`` on an issuer
  outside ``expected_issuers`` (TLS interception) or a version below the minimum.
* ``handshake(ctx, settings, alpn)``: a TLS handshake of our own (for gRPC, whose library hides the session),
  bounded by the deadline.
* ``translate_ssl(exc, ...)``: the one place an ``ssl`` error becomes a cause and a one-line message that says
  what kind (untrusted CA, wrong hostname, expired, plain text on a TLS port). On a verification failure the
  certificate is fetched once more without verification, only to name its issuer in the message.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from typing import Any

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.web import TlsSettings
from gvpconf.probes.context import ProbeContext

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_ORDER = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def server_name(ctx: ProbeContext, settings: TlsSettings) -> str:
    return settings.server_name or ctx.target.host


def client_context(settings: TlsSettings, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A new verifying client context for these settings (never shared: libraries such as httpcore set
    ALPN on the context they are given)."""
    return _new_context(settings, alpn)


def _new_context(settings: TlsSettings, alpn: list[str] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
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
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context




def _decode_der(der: bytes) -> tuple[str, str, dt.datetime]:
    """(subject, issuer, not_after) of a DER certificate (used only when the stdlib gives us no dict)."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.not_valid_after_utc


def record(ctx: ProbeContext, sslobj: Any, settings: TlsSettings) -> None:
    """Record the session's TLS facts; fail on interception (unexpected issuer) or a too-old version."""
    ev = ctx.evidence
    version = sslobj.version() or "?"
    ev.fact("tls.version", version)
    cipher = sslobj.cipher()
    if cipher:
        ev.fact("tls.cipher", cipher[0])
    alpn = sslobj.selected_alpn_protocol()
    if alpn:
        ev.fact("tls.alpn", alpn)
    ev.fact("tls.verify", "on" if settings.verify else "off (inventory tls.verify: false)")
    if settings.ca_file is not None:
        ev.fact("tls.trust", f"ca_file {settings.ca_file}")
    else:
        ev.fact("tls.trust", "system store")
    der = sslobj.getpeercert(True)  # positional: httpcore hands us the C-level _ssl._SSLSocket
    if der is None:
        raise ProbeFailure(Cause.TLS, "the server presented no certificate", phase="TLS handshake")
    subject, issuer, not_after = _decode_der(der)
    ev.fact("tls.subject", subject)
    ev.fact("tls.issuer", issuer)
    ev.fact("tls.not_after", not_after.strftime("%Y-%m-%dT%H:%M:%SZ"))
    days = (not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    ev.fact("tls.days_left", int(days))
    if days < settings.expiry_warning_days:
        ev.fact("tls.expiry_warning", f"expires in {int(days)} days (threshold {settings.expiry_warning_days})")
    if version in _ORDER and _ORDER.index(version) < _ORDER.index(settings.min_version):
        raise ProbeFailure(Cause.TLS, f"expected {settings.min_version} or later, negotiated {version}",
                           phase="TLS handshake")
    check_issuer(issuer, settings)


def check_issuer(issuer: str, settings: TlsSettings) -> None:
    if settings.expected_issuers and not any(e in issuer for e in settings.expected_issuers):
        raise ProbeFailure(Cause.TLS, f"TLS interception suspected: expected a certificate issued by "
                           f"{' or '.join(repr(e) for e in settings.expected_issuers)}, got one issued by "
                           f"{issuer!r}", phase="TLS handshake")


def presented_issuer(host: str, port: int, name: str, timeout: float) -> str | None:
    """The issuer of the certificate the peer presents, fetched without verification (for messages only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if der is None:
        return None
    try:
        return _decode_der(der)[1]
    except ValueError:
        return None


def describe_verify_error(reason: str) -> str:
    low = reason.lower()
    if "expired" in low:
        return f"the certificate has expired ({reason})"
    if "hostname mismatch" in low or "ip address mismatch" in low:
        return f"wrong hostname ({reason})"
    if "unable to get local issuer" in low or "self-signed" in low or "self signed" in low:
        return f"untrusted CA ({reason})"
    return reason


def translate_ssl(exc: BaseException, *, during: str, ctx: ProbeContext | None = None,
                  settings: TlsSettings | None = None, timeout: float = 2.0) -> ProbeFailure:
    """The one translation of ``ssl`` errors: says untrusted CA / wrong hostname / expired / plain text."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = describe_verify_error(str(exc.verify_message or exc.reason or exc))
        issuer = None
        if ctx is not None and settings is not None:
            issuer = presented_issuer(ctx.target.host, ctx.target.port, server_name(ctx, settings),
                                      min(timeout, max(ctx.deadline.remaining(), 0.1)))
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
        if "UNSUPPORTED_PROTOCOL" in reason or "VERSION" in reason:
            return ProbeFailure(Cause.TLS, f"TLS version negotiation failed during {during}: {reason}",
                                phase=during)
        return ProbeFailure(Cause.TLS, f"TLS error during {during}: {reason}", phase=during)
    return failure_from_os_error(exc, during=during, timeout=timeout)


def handshake(ctx: ProbeContext, settings: TlsSettings, alpn: list[str] | None = None) -> None:
    """A TLS handshake of our own with the target (bounded by the deadline); records the facts."""
    context = client_context(settings, alpn)
    dl = ctx.deadline
    sock = net.connect_tcp(ctx.target.host, ctx.target.port, dl)
    with sock:
        budget = dl.read_budget("TLS handshake")
        sock.settimeout(budget)
        try:
            tls = context.wrap_socket(sock, server_hostname=server_name(ctx, settings))
        except TimeoutError as exc:
            raise ProbeFailure(Cause.TIMEOUT, f"no TLS handshake answer within {budget:.1f} s (a silent peer)",
                               phase="TLS handshake") from exc
        except (OSError, ssl.SSLError) as exc:
            if isinstance(exc, ConnectionResetError | ssl.SSLEOFError) or "EOF" in str(exc):
                raise ProbeFailure(Cause.TLS, "the peer closed the connection during the TLS handshake "
                                   "(not a TLS server?)", phase="TLS handshake") from exc
            raise translate_ssl(exc, during="TLS handshake", ctx=ctx, settings=settings, timeout=budget) from exc
        with tls:
            record(ctx, tls, settings)
