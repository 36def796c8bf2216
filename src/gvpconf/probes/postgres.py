"""PostgreSQL probers (connection 17: GVP Config Server -> PostgreSQL 5432).

``postgres.sslrequest``: the 8-byte SSLRequest of the PostgreSQL frontend/backend protocol; a PostgreSQL
server answers one byte, ``S`` (TLS offered) or ``N``. Checked against the inventory's sslmode. When
the server offers TLS and the sslmode verifies (``verify-ca``, ``verify-full``: the default once
``ca_file`` is set), the probe completes the TLS handshake itself against the inventory's CA (and,
for verify-full, the target's host name) and records the TLS version and certificate subject.

``postgres.login``: a real login with psycopg (sslmode and CA from the inventory, credentials by
reference), in a read-only session: ``SELECT version(), current_database()`` and the TLS
version of our own connection from ``pg_stat_ssl``. The server version must be at least
``min_version`` (11 by default: GVP needs PostgreSQL 11+).
"""

from __future__ import annotations

import math
import socket
import ssl
import time
from typing import Any

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import PostgresDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, banner, postgres

_NEEDS_TLS = ("require", "verify-ca", "verify-full")


def probe_sslrequest(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, PostgresDestination)
    t, dl, ev = ctx.target, ctx.deadline, ctx.evidence
    sock = net.connect_tcp(t.host, t.port, dl)
    with sock:
        ev.fact("tcp.connect_ms", round(dl.elapsed() * 1000, 2))
        net.send_all(sock, postgres.SSL_REQUEST, dl, "SSLRequest")
        ev.sent("SSLRequest")
        data = net.recv_some(sock, dl, "SSLRequest answer")
        if not data:
            raise ProbeFailure(Cause.PROTOCOL, "the peer closed the connection without answering the "
                               "SSLRequest; a PostgreSQL server answers 'S' or 'N'", phase="SSLRequest")
        ev.received(banner.describe(data))
        try:
            offered = postgres.parse_ssl_response(data[:1] if data[:1] in (b"S", b"N") else data)
        except WireError as exc:
            kind = banner.identify(data)
            what = f" (it looks like {kind})" if kind else ""
            raise ProbeFailure(Cause.PROTOCOL, f"not a PostgreSQL answer to SSLRequest{what}: {exc}",
                               phase="SSLRequest") from exc
        if len(data) > 1 and offered:
            # RFC-less but documented: nothing may follow 'S' before the TLS handshake (CVE-2021-23214)
            raise ProbeFailure(Cause.PROTOCOL, f"{len(data) - 1} unexpected bytes after 'S' (possible "
                               "injection by a man in the middle)", phase="SSLRequest")
        ev.fact("postgres.ssl_offered", offered)
        mode = dest.effective_sslmode
        if not offered and mode in _NEEDS_TLS:
            raise ProbeFailure(Cause.TLS, f"the server answered 'N' (no TLS) but sslmode is {mode}",
                               phase="SSLRequest")
        if offered and mode in ("verify-ca", "verify-full"):
            _verify_tls(sock, ctx)


def _verify_tls(sock: socket.socket, ctx: ProbeContext) -> None:
    """The TLS handshake after 'S', verified against the inventory's CA (and host name for verify-full)."""
    dest = ctx.destination
    assert isinstance(dest, PostgresDestination)
    dl, ev = ctx.deadline, ctx.evidence
    full = dest.effective_sslmode == "verify-full"
    try:
        tls = ssl.create_default_context(cafile=str(dest.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailure(Cause.CONFIG, f"ca_file {dest.ca_file} is unusable: {exc}", phase="TLS handshake") from exc
    tls.check_hostname = full
    budget = dl.read_budget("TLS handshake")
    sock.settimeout(budget)
    wrapped = net.call(lambda: tls.wrap_socket(sock, server_hostname=ctx.target.host if full else None),
                       during="TLS handshake", timeout=budget)
    with wrapped:
        cert = wrapped.getpeercert() or {}
        rdns: Any = cert.get("subject", ())
        subject = ", ".join(f"{pair[0]}={pair[1]}" for rdn in rdns for pair in rdn)
        ev.fact("postgres.tls_handshake", str(wrapped.version()))
        ev.fact("postgres.tls_verified", "verify-full" if full else "verify-ca")
        if subject:
            ev.fact("postgres.cert_subject", subject)




def translate(exc: Exception, timeout: float) -> ProbeFailure:
    """The one place psycopg's errors become causes (its messages are libpq's)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = msg.lower()
    import psycopg

    if isinstance(exc, psycopg.errors.InvalidPassword | psycopg.errors.InvalidAuthorizationSpecification):
        return ProbeFailure(Cause.AUTH, f"login rejected: {msg}", phase="login")
    table: list[tuple[tuple[str, ...], Cause]] = [
        (("invalid response to ssl negotiation", "received invalid response", "server closed the connection",
          "expected authentication request", "unsupported frontend protocol", "invalid message length",
          "lost synchronization", "unexpected message type", "connection reset", "broken pipe",
          "consuming input failed"), Cause.PROTOCOL),
        (("password authentication failed", "no pg_hba.conf entry", "authentication failed",
          "role \"", "password must be", "no password supplied"), Cause.AUTH),
        (("could not translate host name", "name or service not known", "temporary failure in name"),
         Cause.DNS),
        (("connection refused",), Cause.REFUSED),
        (("timeout expired", "timed out"), Cause.TIMEOUT),
        (("certificate", "ssl", "tls", "server does not support ssl"), Cause.TLS),
        (("database \"", "does not exist"), Cause.SEMANTIC),
    ]
    for words, cause in table:
        if any(w in low for w in words):
            if cause is Cause.TIMEOUT:
                msg = f"{msg} (connect_timeout {timeout:.0f} s)"
            return ProbeFailure(cause, msg, phase="login")
    return ProbeFailure(Cause.PROTOCOL, msg, phase="login")


def probe_login(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, PostgresDestination)
    t, dl, ev = ctx.target, ctx.deadline, ctx.evidence
    import psycopg  # heavy: imported only when this prober runs

    budget = dl.connect_budget("login")
    # libpq's connect_timeout is whole seconds, minimum 2 (psycopg raises smaller values to 2)
    connect_timeout = max(2, math.floor(budget))
    kwargs: dict[str, Any] = {
        "host": t.host, "port": t.port, "dbname": dest.database,
        "user": ctx.secret("username"), "sslmode": dest.effective_sslmode,
        "connect_timeout": connect_timeout, "application_name": "gvpconf-probe",
    }
    password = ctx.secret("password")
    if password is not None:
        kwargs["password"] = password
    if dest.ca_file is not None:
        kwargs["sslrootcert"] = str(dest.ca_file)
    started = time.monotonic()
    try:
        with psycopg.connect(**kwargs) as conn:
            ev.fact("postgres.login_ms", round((time.monotonic() - started) * 1000, 2))
            conn.read_only = True
            with conn.cursor() as cur:
                cur.execute("SELECT version(), current_database(), current_setting('server_version_num')")
                row = cur.fetchone()
                cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                tls = cur.fetchone()
    except psycopg.Error as exc:
        raise translate(exc, connect_timeout) from exc
    if row is None:
        raise ProbeFailure(Cause.SEMANTIC, "SELECT version() returned no row", phase="query")
    version, database, version_num = row
    ev.fact("postgres.version", str(version).split(",")[0])
    ev.fact("postgres.version_num", int(version_num))
    ev.fact("postgres.database", str(database))
    ev.fact("postgres.tls", str(tls[1]) if tls and tls[0] else "none")
    ev.fact("postgres.sslmode", dest.effective_sslmode)
    if database != dest.database:
        raise ProbeFailure(Cause.SEMANTIC, f"expected database {dest.database!r}, the session is in "
                           f"{database!r}", phase="query")
    if int(version_num) < dest.min_version_num():
        raise ProbeFailure(Cause.SEMANTIC, f"expected PostgreSQL {dest.min_version} or later, the server is "
                           f"{str(version).split(',')[0]} ({version_num})", phase="query")
