"""PostgreSQL probers (connection 17: GVP Config Server -> PostgreSQL 5432).

TLS is checked by the destination's common ``tls`` section (``gvpconf.probes.tlscheck``), from which libpq's
``sslmode`` is derived (``verify-full``; ``require`` with ``tls.verify: false``; an explicit ``sslmode`` only for
what the section cannot say).

``postgres.sslrequest``: the 8-byte SSLRequest of the PostgreSQL frontend/backend protocol; a PostgreSQL
server answers one byte, ``S`` (TLS offered) or ``N``, checked against the sslmode. When the server offers
TLS, the probe completes the handshake itself (it owns the socket: one handshake) and runs the common check:
chain and name as ``tls`` says, minimum version, facts ``tls.*`` (issuer, subject, expiry, version), expiry
warning, expected issuers (interception).

``postgres.login``: a real login with psycopg (credentials by reference), in a read-only session:
``SELECT version(), current_database()``, and the TLS version and cipher of our own connection, from libpq
(``PQsslInUse``, ``PQsslAttribute``), never from the server's ``pg_stat_ssl``: behind a pooler (pgbouncer) that
describes the pooler's own link to the server, not ours. libpq applies the same ``tls`` settings (``sslmode``,
``sslrootcert``: the CA file or the system store, ``ssl_min_protocol_version``, and ``host``/``hostaddr`` for
``tls.server_name``) but does not show the certificate: its issuer and expiry are the SSLRequest probe's facts.
The server version must be at least ``min_version`` (11 by default: GVP needs PostgreSQL 11+).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import socket
import time
from pathlib import Path
from typing import Any

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import PostgresDestination
from gvpconf.probes import tlscheck
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, banner, postgres

_NEEDS_TLS = ("require", "verify-ca", "verify-full")


def probe_sslrequest(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, PostgresDestination)
    dl, ev = ctx.deadline, ctx.evidence
    with ctx.connect() as sock:
        net.send_all(sock, postgres.SSL_REQUEST, dl, "SSLRequest")
        ev.sent("SSLRequest")
        data = net.recv_some(sock, dl, "SSLRequest answer")
        if not data:
            raise ProbeFailure(Cause.PROTOCOL, "the peer closed the connection without answering the "
                               "SSLRequest; a PostgreSQL server answers 'S' or 'N'", phase="SSLRequest")
        ev.received(banner.describe(data))
        mode = dest.effective_sslmode
        ev.fact("postgres.sslmode", mode)
        offered = check_ssl_answer(data, mode)
        ev.fact("postgres.ssl_offered", offered)
        if offered and mode != "disable":
            tlscheck.wrap(ctx, sock, dest.tls, hostname=dest.checks_hostname, starttls=ssl_request).close()


def check_ssl_answer(data: bytes, mode: str) -> bool:
    """Whether the server offers TLS, from its whole first answer to the SSLRequest, checked against ``mode``.

    The one byte ``S`` or ``N``, and nothing after it: bytes after ``S`` were sent before the TLS handshake,
    unencrypted, and a client that read them as TLS-protected is the CVE-2021-23222 class (a man in the middle
    injecting a response). ``N`` where ``mode`` needs TLS is a TLS failure.
    """
    try:
        offered = postgres.parse_ssl_response(data)
    except WireError as exc:
        kind = banner.identify(data)
        what = f" (it looks like {kind})" if kind else ""
        raise ProbeFailure(Cause.PROTOCOL, f"not a PostgreSQL answer to SSLRequest{what}: {exc}",
                           phase="SSLRequest") from exc
    if not offered and mode in _NEEDS_TLS:
        raise ProbeFailure(Cause.TLS, f"the server answered 'N' (no TLS) but sslmode is {mode}", phase="SSLRequest")
    return offered


def ssl_request(sock: socket.socket, timeout: float) -> None:
    """What comes before PostgreSQL's TLS handshake: SSLRequest, answered 'S'."""
    sock.settimeout(timeout)
    sock.sendall(postgres.SSL_REQUEST)
    if sock.recv(1) != b"S":
        raise OSError("the server did not offer TLS")


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
        # before TLS and SEMANTIC: "pg_hba.conf rejects connection ..., SSL encryption" is a refusal of this
        # client, and "permission denied for database" a user lacking CONNECT (SQLSTATE 42501), not a wrong answer
        (("password authentication failed", "no pg_hba.conf entry", "pg_hba.conf rejects", "authentication failed",
          "role \"", "password must be", "no password supplied", "permission denied for database"), Cause.AUTH),
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


def _say_which(failure: ProbeFailure, ctx: ProbeContext, dest: PostgresDestination) -> ProbeFailure:
    """A TLS failure of libpq in ``tlscheck``'s words: which expectation broke. libpq says only "certificate
    verify failed" for an untrusted or expired certificate; then our own handshake (after an SSLRequest) says
    which, and names the issuer."""
    if failure.cause is not Cause.TLS:
        return failure
    libpq = failure.message.rsplit(" failed: ", 1)[-1]
    low = libpq.lower()
    if "certificate verify failed" in low:
        found = tlscheck.explain(tlscheck.endpoint(ctx, dest.tls, ssl_request), dest.tls, during="login",
                                 hostname=dest.checks_hostname, timeout=ctx.deadline.timeouts.read)
        if found is not None:
            return ProbeFailure(Cause.TLS, f"{found.message} (libpq: {libpq})", phase="login")
    elif "does not match host name" in low:
        return ProbeFailure(Cause.TLS, f"certificate verification failed during login: "
                            f"{tlscheck.describe_verify_error(libpq)}", phase="login")
    elif "protocol version" in low:
        return ProbeFailure(Cause.TLS, tlscheck.below_minimum(dest.tls, f"the peer offers no such version "
                                                              f"during login (libpq: {libpq.splitlines()[0]})"),
                            phase="login")
    return failure


def libpq_tls(ctx: ProbeContext, dest: PostgresDestination, libpq_version: int) -> dict[str, Any]:
    """The ``tls`` section in libpq's words: sslmode, the trust anchor, the minimum version, the name."""
    settings = dest.tls
    params: dict[str, Any] = {"host": ctx.target.host, "sslmode": dest.effective_sslmode}
    if dest.effective_sslmode == "disable":
        return params
    params["ssl_min_protocol_version"] = settings.min_version
    if settings.verify:
        if settings.ca_file is not None:
            params["sslrootcert"] = str(settings.ca_file)
        elif libpq_version >= 160000:
            params["sslrootcert"] = "system"
        else:
            raise ProbeFailure(Cause.CONFIG, f"the system trust store needs libpq 16 or later (this one is "
                               f"{libpq_version}): set tls.ca_file", phase="TLS setup")
    if settings.server_name and settings.server_name != ctx.target.host:
        # libpq verifies (and sends as SNI) ``host``, and connects to ``hostaddr`` when given
        params["host"] = settings.server_name
        params["hostaddr"] = net.resolve(ctx.target.host, ctx.target.port, ctx.deadline)[0][1][0]
    return params


def own_tls(pgconn: Any) -> tuple[str, str] | None:
    """(protocol, cipher) of libpq's own connection, None when it is not over TLS.

    psycopg exposes ``ssl_in_use`` but not ``PQsslAttribute``; it is called here through ctypes, in the libpq
    that psycopg itself loaded (the wheel's bundled one, or the system's), on psycopg's own ``PGconn``.
    """
    if not pgconn.ssl_in_use:
        return None
    lib = _libpq()
    if lib is None:
        return ("TLS (version not exposed by this libpq)", "")
    handle = ctypes.c_void_p(pgconn.pgconn_ptr)
    protocol, cipher = (lib.PQsslAttribute(handle, name) for name in (b"protocol", b"cipher"))
    return ((protocol or b"TLS").decode("ascii", "replace"), (cipher or b"").decode("ascii", "replace"))


_LIBPQ: list[Any] = []


def _libpq() -> Any:
    """psycopg's libpq as a ctypes library with ``PQsslAttribute`` declared (None when it cannot be found)."""
    if not _LIBPQ:
        import psycopg

        lib: Any = None
        if psycopg.pq.__impl__ == "binary":
            import psycopg_binary  # type: ignore[import-not-found,unused-ignore]

            libs = Path(psycopg_binary.__file__).parent.parent / "psycopg_binary.libs"
            found = sorted(libs.glob("libpq-*.so*"))
            lib = ctypes.CDLL(str(found[0])) if found else None
        else:
            name = ctypes.util.find_library("pq")
            lib = ctypes.CDLL(name) if name else None
        if lib is not None:
            lib.PQsslAttribute.restype = ctypes.c_char_p
            lib.PQsslAttribute.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _LIBPQ.append(lib)
    return _LIBPQ[0]


def probe_login(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, PostgresDestination)
    t, dl, ev = ctx.target, ctx.deadline, ctx.evidence
    with net.EarlyConnect(t.host, t.port, dl) as early:  # the SYN out before psycopg loads (its import is long)
        early.failed_already()
        import psycopg  # heavy: imported only when this prober runs

        early.reached()  # an unreachable server fails here, libpq never started
    budget = dl.connect_budget("login")
    # libpq's connect_timeout is whole seconds, minimum 2 (psycopg raises smaller values to 2)
    connect_timeout = max(2, math.floor(budget))
    kwargs: dict[str, Any] = {
        "port": t.port, "dbname": dest.database, "user": ctx.secret("username"),
        "connect_timeout": connect_timeout, "application_name": "gvpconf-probe",
    } | libpq_tls(ctx, dest, psycopg.pq.version())
    password = ctx.secret("password")
    if password is not None:
        kwargs["password"] = password
    mode = dest.effective_sslmode
    ev.fact("postgres.sslmode", mode)
    if mode != "disable":
        tlscheck.record_trust(ev.fact, dest.tls, hostname=dest.checks_hostname)
    started = time.monotonic()
    try:
        with psycopg.connect(**kwargs) as conn:
            ev.fact("postgres.login_ms", round((time.monotonic() - started) * 1000, 2))
            conn.read_only = True
            with conn.cursor() as cur:
                cur.execute("SELECT version(), current_database(), current_setting('server_version_num')")
                row = cur.fetchone()
            tls = own_tls(conn.pgconn)
    except psycopg.Error as exc:
        raise _say_which(translate(exc, connect_timeout), ctx, dest) from exc
    if row is None:
        raise ProbeFailure(Cause.SEMANTIC, "SELECT version() returned no row", phase="query")
    version, database, version_num = row
    ev.fact("postgres.version", str(version).split(",")[0])
    ev.fact("postgres.version_num", int(version_num))
    ev.fact("postgres.database", str(database))
    ev.fact("postgres.tls", tls[0] if tls else "none")
    if tls:
        ev.fact("tls.version", tls[0])
        if tls[1]:
            ev.fact("tls.cipher", tls[1])
    if database != dest.database:
        raise ProbeFailure(Cause.SEMANTIC, f"expected database {dest.database!r}, the session is in "
                           f"{database!r}", phase="query")
    if int(version_num) < dest.min_version_num():
        raise ProbeFailure(Cause.SEMANTIC, f"expected PostgreSQL {dest.min_version} or later, the server is "
                           f"{str(version).split(',')[0]} ({version_num})", phase="query")
