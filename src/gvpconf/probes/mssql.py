"""SQL Server probers (connection 16: RS -> SQL Server 1433).

``prelogin``: a TDS PRELOGIN exchange built by our own codec (``gvpconf.wire.tds``), no credentials:
the server's version and encryption option. The version must be at least ``min_version`` (SQL Server
2016, 13.0, by default); with ``require_encryption`` the server must announce encryption ON or REQ.
A peer whose first bytes are not a TDS packet (HTTP, TLS, garbage) fails at once as ``protocol``.

``login``: a login with pymssql (its bundled FreeTDS) with the reader account by reference, then
``SELECT @@VERSION, DB_NAME()``: read only. ``tds_version`` and ``login_timeout`` are always passed:
without them a silent server costs 2 x timeout + 5 s (FreeTDS retries version negotiation). The login
runs in a worker thread the probe stops waiting for at its deadline.
"""

from __future__ import annotations

import concurrent.futures
import math
import re
from typing import Any

from gvpconf import __version__, net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory.data import SqlServerDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import at_least
from gvpconf.wire import WireError, banner, tds

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gvpconf-mssql")

#: SQL Server / FreeTDS message numbers -> cause
_AUTH_NUMBERS = {18452, 18456, 18470, 18486, 18487, 18488}
_SEMANTIC_NUMBERS = {4060, 911}


def _client_version() -> tuple[int, int, int, int]:
    parts = [int(p) for p in re.findall(r"\d+", __version__)[:3]] + [0, 0, 0]
    return (min(parts[0], 255), min(parts[1], 255), min(parts[2], 65535), 0)


def probe_prelogin(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, SqlServerDestination)
    dl, ev = ctx.deadline, ctx.evidence
    with ctx.connect() as sock:
        ours = tds.Prelogin(version=_client_version(), encryption=tds.Encryption.OFF, instance=b"",
                            thread_id=0, mars=False)
        net.send_all(sock, tds.encode_message(tds.PacketType.PRELOGIN, tds.encode_prelogin(ours)), dl, "PRELOGIN")
        ev.sent(f"PRELOGIN version {ours.version_text} encryption {ours.encryption_name}")
        message = net.read_message(sock, tds.MessageDecoder(max_message_size=65536), dl, "PRELOGIN answer",
                                   protocol="TDS", malformed="expected a TDS PRELOGIN answer", phase="PRELOGIN")
    if message.type != tds.PacketType.RESPONSE:
        raise ProbeFailure(Cause.PROTOCOL, f"expected a TDS response (packet type 0x04) to PRELOGIN, got type "
                           f"0x{message.type:02x}", phase="PRELOGIN")
    try:
        answer = tds.parse_prelogin(message.payload)
    except WireError as exc:
        kind = banner.identify(message.payload)
        what = f" (it looks like {kind})" if kind else ""
        raise ProbeFailure(Cause.PROTOCOL, f"not a PRELOGIN answer{what}: {exc}", phase="PRELOGIN") from exc
    ev.received(f"PRELOGIN version {answer.version_text} encryption {answer.encryption_name}")
    ev.fact("mssql.version", answer.version_text)
    ev.fact("mssql.encryption", answer.encryption_name)
    if answer.instance:
        ev.fact("mssql.instance", answer.instance.decode("ascii", "replace"))
    if not at_least(answer.version[: len(dest.min_version_tuple())], dest.min_version):
        raise ProbeFailure(Cause.SEMANTIC, f"expected SQL Server {dest.min_version} or later, the server "
                           f"announces {answer.version_text}", phase="PRELOGIN")
    if dest.require_encryption and answer.encryption & 0x7F not in (tds.Encryption.ON, tds.Encryption.REQ):
        raise ProbeFailure(Cause.TLS, f"the inventory requires encryption, the server announces "
                           f"{answer.encryption_name} in PRELOGIN (expected ON or REQ)", phase="PRELOGIN")


def translate(exc: BaseException, timeout: int) -> ProbeFailure:
    """The one place pymssql's (FreeTDS's) errors become causes."""
    number: int | None = None
    text = str(exc)
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], tuple) and len(args[0]) == 2:
        number = args[0][0] if isinstance(args[0][0], int) else None
        raw = args[0][1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lines = [ln.strip() for ln in re.split(r"DB-Lib error message \d+, severity \d+:|\n", text) if ln.strip()]
    # the server's own text when FreeTDS kept it; its generic lines otherwise
    generic = ("General SQL Server error", "TDS server connection failed")
    first = next((ln for ln in lines if not ln.startswith(generic)), lines[0] if lines else type(exc).__name__)
    detail = "; ".join(lines[:3])[:240]
    low = text.lower()
    if number in _AUTH_NUMBERS:
        return ProbeFailure(Cause.AUTH, f"login rejected: SQL Server error {number} ({first}); a wrong password, "
                            "an unknown login, or a database the login may not open", phase="login")
    if number in _SEMANTIC_NUMBERS:
        return ProbeFailure(Cause.SEMANTIC, f"error {number}: {first}", phase="login")
    if "connection refused" in low:
        return ProbeFailure(Cause.REFUSED, f"connection refused (nothing listening, or a reject rule): {detail}",
                            phase="login")
    if "timed out" in low or "timeout" in low or number == 20003:
        return ProbeFailure(Cause.TIMEOUT, f"no login within login_timeout {timeout} s: {detail}", phase="login")
    if "name or service not known" in low or "unknown host" in low or "no address" in low:
        return ProbeFailure(Cause.DNS, f"name resolution failed: {detail}", phase="login")
    if "ssl" in low or "tls" in low or "certificate" in low or "encrypt" in low:
        return ProbeFailure(Cause.TLS, f"TLS/encryption failure: {detail}", phase="login")
    return ProbeFailure(Cause.PROTOCOL, f"login failed at the protocol level: {detail}", phase="login")


def probe_login(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, SqlServerDestination)
    t, dl, ev = ctx.target, ctx.deadline, ctx.evidence
    user = ctx.secret("username")
    if not user:
        raise ProbeFailure(Cause.CONFIG, "destinations.sqlserver.username is not set: the login needs the reader "
                           "account", phase="login")
    import pymssql  # heavy: imported only when this prober runs

    # FreeTDS's login_timeout covers its TCP connect too: reach the port first, within the connect
    # timeout, so a blackholed or closed port costs one connect timeout and says so
    net.connect_tcp(t.host, t.port, dl).close()
    budget = dl.budget(dl.timeouts.connect + dl.timeouts.read, "login")
    # FreeTDS takes whole seconds; never more than the probe has left
    login_timeout = math.floor(budget)
    if login_timeout < 1:
        raise ProbeFailure(Cause.TIMEOUT, f"timeout before login: {budget:.2f} s left, FreeTDS needs 1 s",
                           phase="login")
    kwargs: dict[str, Any] = {
        "server": t.host, "port": str(t.port), "user": user, "password": ctx.secret("password"),
        "database": dest.database, "login_timeout": login_timeout, "timeout": login_timeout,
        "tds_version": dest.tds_version, "appname": "gvpconf-probe", "conn_properties": "",
        "encryption": "require" if dest.require_encryption else "request",
    }

    def run() -> tuple[Any, ...] | None:
        conn = pymssql.connect(**kwargs)
        try:
            cur = conn.cursor()
            cur.execute("SELECT @@VERSION, DB_NAME()")
            row: tuple[Any, ...] | None = cur.fetchone()
            return row
        finally:
            conn.close()

    fut = _POOL.submit(run)
    try:
        row = fut.result(timeout=login_timeout + 0.5)
    except concurrent.futures.TimeoutError as exc:
        raise ProbeFailure(Cause.TIMEOUT, f"no login and answer within {login_timeout} s", phase="login") from exc
    except pymssql.Error as exc:
        raise translate(exc, login_timeout) from exc
    ev.fact("mssql.login_ms", round(dl.elapsed() * 1000, 2))
    if row is None or len(row) < 2:
        raise ProbeFailure(Cause.SEMANTIC, "SELECT @@VERSION, DB_NAME() returned no row", phase="query")
    version, database = str(row[0]), str(row[1])
    ev.fact("mssql.product", version.splitlines()[0].strip()[:120])
    ev.fact("mssql.database", database)
    ev.fact("mssql.tds_version", dest.tds_version)
    if database != dest.database:
        raise ProbeFailure(Cause.SEMANTIC, f"expected database {dest.database!r}, the session is in {database!r}",
                           phase="query")
