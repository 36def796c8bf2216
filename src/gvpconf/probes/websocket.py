"""WebSocket prober (13: MCP -> Nexus WSS 443), on the ``websockets`` library's sync client.

TCP connect (``gvpconf.net``), TLS (``tlscheck``: chain, hostname, version, expiry, interception), the HTTP
upgrade to ``101 Switching Protocols`` with the auth header from a secret reference and the configured
subprotocol offered, which the server must select; then ``ping_count`` ping/pong round trips (RTT) and a
clean close (1000, answered by the server). The failure says which step broke: 401/403 (``auth``), 404 (wrong
path), 200 (plain HTTP, no upgrade), no subprotocol, not HTTP at all, plain text on a TLS port, TLS errors.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.web import NexusDestination
from gvpconf.probes import tlscheck
from gvpconf.probes.context import ProbeContext

PHASE = "WebSocket upgrade"


def _status_failure(status: int, reason: str, subprotocol: str | None) -> ProbeFailure:
    if status in (401, 403):
        what = "unauthorized" if status == 401 else "forbidden"
        return ProbeFailure(Cause.AUTH, f"expected 101 Switching Protocols, got {status} {reason}: the server "
                            f"rejected our credentials ({what})".replace("  ", " "), phase=PHASE)
    if status == 404:
        return ProbeFailure(Cause.SEMANTIC, f"expected 101 Switching Protocols, got 404 {reason}: no WebSocket "
                            "endpoint at this path".replace("  ", " "), phase=PHASE)
    if status == 400 and subprotocol:
        return ProbeFailure(Cause.SEMANTIC, f"expected 101 Switching Protocols, got 400 {reason} (the server "
                            f"may not support subprotocol {subprotocol!r})".replace("  ", " "), phase=PHASE)
    if 200 <= status < 300:
        return ProbeFailure(Cause.PROTOCOL, f"expected 101 Switching Protocols, got {status} {reason}: a plain "
                            "HTTP server, no WebSocket upgrade".replace("  ", " "), phase=PHASE)
    return ProbeFailure(Cause.SEMANTIC, f"expected 101 Switching Protocols, got {status} {reason}", phase=PHASE)


def translate(exc: BaseException, ctx: ProbeContext, dest: NexusDestination, budget: float) -> ProbeFailure:
    """The one place the websockets library's exceptions become causes."""
    from websockets import exceptions as wse

    if isinstance(exc, wse.InvalidStatus):
        resp = exc.response
        return _status_failure(resp.status_code, resp.reason_phrase, dest.subprotocol)
    if isinstance(exc, wse.NegotiationError):
        return ProbeFailure(Cause.SEMANTIC, f"subprotocol negotiation failed: {exc}", phase=PHASE)
    if isinstance(exc, wse.InvalidMessage):
        inner = exc.__cause__
        if isinstance(inner, EOFError):
            return ProbeFailure(Cause.PROTOCOL, "expected an HTTP 101 answer to the upgrade, the peer closed the "
                                "connection without one", phase=PHASE)
        return ProbeFailure(Cause.PROTOCOL, f"expected an HTTP/1.1 answer to the upgrade, got something else: "
                            f"{inner or exc}", phase=PHASE)
    if isinstance(exc, wse.InvalidHandshake):
        return ProbeFailure(Cause.PROTOCOL, f"invalid WebSocket handshake: {exc}", phase=PHASE)
    if isinstance(exc, TimeoutError):
        step = "TLS handshake or upgrade" if dest.scheme == "wss" else "upgrade"
        return ProbeFailure(Cause.TIMEOUT, f"no answer within {budget:.1f} s during the {step} (a silent peer)",
                            phase=PHASE)
    if isinstance(exc, ssl.SSLError):
        return tlscheck.translate_ssl(exc, during="TLS handshake", settings=dest.tls,
                                      peer=tlscheck.endpoint(ctx, dest.tls), timeout=budget)
    if isinstance(exc, wse.ConnectionClosed):
        return ProbeFailure(Cause.PROTOCOL, f"the connection closed unexpectedly: {exc}", phase="ping")
    if isinstance(exc, OSError | EOFError) and dest.scheme == "wss" and "handshake" in str(exc).lower():
        return ProbeFailure(Cause.TLS, f"the peer closed the connection during the TLS handshake: {exc}",
                            phase="TLS handshake")
    if isinstance(exc, OSError):
        return failure_from_os_error(exc, during=PHASE, timeout=budget)
    return ProbeFailure(Cause.PROTOCOL, f"{type(exc).__name__} during {PHASE}: {exc}", phase=PHASE)


def probe_session(ctx: ProbeContext) -> None:
    """One WebSocket session on the websockets library's asyncio client, under the probe's deadline.

    Not its sync client: that one reads the TLS socket in a background thread while the caller writes
    the upgrade request, and with TLS 1.3 (a server's NewSessionTicket arriving during that first write)
    about one session in twenty-five stalled until the open timeout against a stand-in, while curl never did.
    asyncio's TLS runs reads and writes in one thread over a memory BIO.
    """
    dest = ctx.destination
    assert isinstance(dest, NexusDestination)
    t, ev = ctx.target, ctx.evidence
    headers: dict[str, str] = {}
    token = ctx.secret("token")
    if token:
        headers[dest.auth_header] = f"{dest.auth_scheme} {token}".strip()
    ev.fact("ws.auth", f"{dest.auth_header} from secret" if headers else "none")
    sslctx = tlscheck.client_context(dest.tls, ["http/1.1"]) if dest.scheme == "wss" else None
    # DNS and connect through the suite's bounded helpers, before asyncio and the websockets library are loaded:
    # a silent or refusing peer costs neither import (in an all-blackholed run, CPU before the last probe's
    # connect delays the whole run's end)
    sock = net.connect_tcp(t.host, t.port, ctx.deadline)
    import asyncio

    try:
        asyncio.run(asyncio.wait_for(_session(ctx, dest, sock, headers, sslctx),
                                     timeout=max(ctx.deadline.remaining(), 0.001)))
    except TimeoutError as exc:
        raise ProbeFailure(Cause.TIMEOUT, f"the WebSocket session did not finish within the probe's "
                           f"{ctx.deadline.timeouts.probe:.1f} s", phase=PHASE) from exc
    finally:
        sock.close()  # websockets' transport owns it once connected; closing it again is a no-op


async def _session(ctx: ProbeContext, dest: NexusDestination, sock: socket.socket, headers: dict[str, str],
                   sslctx: ssl.SSLContext | None) -> None:
    import asyncio

    from websockets import exceptions as wse
    from websockets.asyncio.client import connect

    t, dl, ev = ctx.target, ctx.deadline, ctx.evidence
    host = f"[{t.host}]" if ":" in t.host else t.host
    uri = f"{dest.scheme}://{host}:{t.port}{dest.path}"
    sock.setblocking(False)
    budget = dl.read_budget(PHASE)
    ev.sent(f"GET {dest.path} Upgrade: websocket" + (f", Sec-WebSocket-Protocol: {dest.subprotocol}"
                                                      if dest.subprotocol else ""))
    started = time.monotonic()
    kwargs: dict[str, Any] = {}
    if sslctx is not None:
        tlscheck.record_trust(ev.fact, dest.tls)
        kwargs["ssl"] = sslctx
        kwargs["server_hostname"] = tlscheck.server_name(ctx, dest.tls)
    try:
        ws = await connect(uri, sock=sock, subprotocols=[dest.subprotocol] if dest.subprotocol else None,  # type: ignore[list-item]
                           additional_headers=headers, user_agent_header="gvpconf-probe", proxy=None,
                           open_timeout=budget, ping_interval=None, close_timeout=budget, compression=None,
                           **kwargs)
    except (wse.WebSocketException, OSError, EOFError, ssl.SSLError, TimeoutError) as exc:
        sock.close()
        raise translate(exc, ctx, dest, budget) from exc
    try:
        ev.fact("ws.upgrade_ms", round((time.monotonic() - started) * 1000, 2))
        ev.fact("ws.status", 101)
        ev.received(f"101 Switching Protocols, subprotocol {ws.subprotocol or 'none'}")
        sslobj = ws.transport.get_extra_info("ssl_object")
        if sslobj is not None:
            tlscheck.check(ctx.evidence.fact, sslobj, dest.tls)
        if dest.subprotocol:
            if ws.subprotocol != dest.subprotocol:
                raise ProbeFailure(Cause.SEMANTIC, f"expected subprotocol {dest.subprotocol!r} to be negotiated, "
                                   f"the server selected {ws.subprotocol or 'none'}", phase=PHASE)
            ev.fact("ws.subprotocol", str(ws.subprotocol))
        rtts = []
        for i in range(dest.ping_count):
            budget = dl.read_budget("ping")
            sent_at = time.monotonic()
            try:
                waiter = await ws.ping(f"gvpconf-{i}".encode())
                await asyncio.wait_for(waiter, budget)
            except TimeoutError as exc:
                raise ProbeFailure(Cause.TIMEOUT, f"no pong within {budget:.1f} s", phase="ping") from exc
            except (wse.WebSocketException, OSError) as exc:
                raise translate(exc, ctx, dest, budget) from exc
            rtts.append(time.monotonic() - sent_at)
        ev.fact("ws.ping_rtt_ms", round(min(rtts) * 1000, 3))
        ev.fact("ws.pings", len(rtts))
        try:
            await ws.close(1000, "gvpconf probe done")
        except (wse.WebSocketException, OSError) as exc:
            raise translate(exc, ctx, dest, budget) from exc
        code = ws.close_code
        ev.fact("ws.close_code", code if code is not None else -1)
        if code != 1000:
            raise ProbeFailure(Cause.PROTOCOL, f"expected a clean close (1000), got {code}", phase="close")
    finally:
        ws.transport.abort()  # a no-op after a clean close; frees the socket after a failure
