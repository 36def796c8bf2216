"""SIP OPTIONS prober (connections 1 and 4): a real SIP stack must answer, echoing our transaction.

TCP: one OPTIONS, read until a final response (RFC 3261 §18.3 framing). UDP: the non-INVITE
client transaction of RFC 3261 §17.1.2 (Timer E retransmissions from T1 doubling to T2; Timer F,
capped by the probe's deadline).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import SipDestination
from gvpconf.inventory.voice import McpDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import status_accepted
from gvpconf.wire import WireError, sip

T1 = 0.5
T2 = 4.0
STATUS_PREFIX = b"SIP/2.0 "
_EXPECTED = "a SIP/2.0 response to OPTIONS"
_PHASE = "OPTIONS response"
#: a peer whose first bytes (after CRLF keep-alives) cannot start a SIP status line speaks another protocol
_CHECK_START = net.expect_prefix((STATUS_PREFIX,), expected=_EXPECTED, protocol="SIP", phase=_PHASE, skip=b"\r\n")
#: ``sip.transaction`` when the response echoed our Via branch, Call-ID, CSeq and From tag (RFC 3261 §17.1.3)
OURS = "ours"


def _uri(ctx: ProbeContext, transport: str) -> str:
    dest = ctx.destination
    assert isinstance(dest, SipDestination)
    t = ctx.target
    host = f"[{t.host}]" if ":" in t.host else t.host
    return dest.request_uri or f"sip:{host}:{t.port}" + (";transport=tcp" if transport == "TCP" else "")


def _request(ctx: ProbeContext, local: tuple[str, int], transport: str) -> sip.SipRequest:
    dest = ctx.destination
    assert isinstance(dest, SipDestination)
    branch, call_id, tag = sip.new_ids(local[0])
    return sip.build_options(_uri(ctx, transport), local_host=local[0], local_port=local[1], transport=transport,
                             branch=branch, call_id=call_id, from_tag=tag, user_agent=dest.user_agent)


def _request_bytes(ctx: ProbeContext, local: tuple[str, int], transport: str) -> tuple[bytes, sip.Transaction]:
    """``encode(_request(...))`` and its side of the match, from the run's template for this destination and local
    address (``sip.OptionsTemplate``: the request laid out and checked once for every target of the destination,
    each probe adds its Request-URI and fresh ids)."""
    dest = ctx.destination
    assert isinstance(dest, SipDestination)
    key = f"sip.options.{id(dest)}.{transport}.{local[0]}"
    kept = ctx.memo.get(key)
    if kept is None or kept[0] is not dest:  # a slot left by a destination since collected: not ours
        kept = (dest, sip.OptionsTemplate.make(local_host=local[0], transport=transport, user_agent=dest.user_agent))
        ctx.memo[key] = kept
    template = kept[1]
    if template is None:  # a User-Agent the template cannot hold: built each time
        req = _request(ctx, local, transport)
        return sip.encode(req), sip.Transaction.of(req)
    branch, call_id, tag = sip.new_ids(local[0])
    return template.render(_uri(ctx, transport), local_port=local[1], branch=branch, call_id=call_id, from_tag=tag)


def _judge(ctx: ProbeContext, req: sip.SipRequest | sip.Transaction, resp: sip.SipResponse, rtt: float) -> None:
    """The facts of ``resp`` and its checks: it answers our transaction (``req``, or its side of the match taken
    already), with an accepted status."""
    dest = ctx.destination
    assert isinstance(dest, SipDestination)
    ev = ctx.evidence
    ev.fact("sip.status", resp.status)
    ev.fact("sip.reason", resp.reason)
    ev.fact("sip.rtt_ms", round(rtt * 1000, 2))
    server = resp.header("Server") or resp.header("User-Agent")
    if server:
        ev.fact("sip.server", server)
    allow = resp.header_values("Allow")
    if allow:
        ev.fact("sip.allow", ", ".join(allow))
    sent = req if isinstance(req, sip.Transaction) else sip.Transaction.of(req)
    problems = sent.mismatches(resp)
    if problems:
        raise ProbeFailure(Cause.PROTOCOL, "the SIP response does not belong to our OPTIONS transaction: "
                           + "; ".join(problems), phase="OPTIONS response")
    ev.fact("sip.transaction", OURS)
    if not status_accepted(resp.status, dest.accept_status):
        raise ProbeFailure(Cause.SEMANTIC, f"expected status {' or '.join(dest.accept_status)}, got "
                           f"{resp.status} {resp.reason}", phase="OPTIONS response")


def probe_options(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, SipDestination)
    ctx.evidence.fact("sip.transport", dest.transport.upper())
    if dest.transport == "udp":
        _options_udp(ctx)
    else:
        _options_tcp(ctx)


def _options_tcp(ctx: ProbeContext) -> None:
    dl = ctx.deadline
    with ctx.connect() as sock:
        data, sent = _request_bytes(ctx, sock.getsockname()[:2], "TCP")  # sent: our side of the match, §17.1.3
        sent_at = time.monotonic()
        try:
            net.send_all(sock, data, dl, "sending OPTIONS")
        finally:  # recorded while the peer answers (on a failed send too)
            ctx.evidence.sent(data.decode("utf-8", "replace"))
        decoder = sip.SipStreamDecoder()
        check: Callable[[bytes], None] | None = _CHECK_START
        while True:
            msg = net.read_message(sock, decoder, dl, _PHASE, protocol="SIP", malformed="malformed SIP response",
                                   check_start=check, start_size=len(STATUS_PREFIX))
            check = None
            if isinstance(msg, sip.SipRequest):
                raise ProbeFailure(Cause.PROTOCOL, f"expected a SIP response, the peer sent a {msg.method} request",
                                   phase=_PHASE)
            ctx.evidence.received(f"SIP/2.0 {msg.status} {msg.reason}")
            if msg.status >= 200:
                rtt = time.monotonic() - sent_at
                break
    _judge(ctx, sent, msg, rtt)  # the connection closed first: the peer's end of it runs while we check


def _options_udp(ctx: ProbeContext) -> None:
    t, dl = ctx.target, ctx.deadline
    family, addr = net.resolve(t.host, t.port, dl, socket.SOCK_DGRAM)[0]
    with net.udp_socket(family) as sock:
        # connect() so ICMP port-unreachable comes back as ECONNREFUSED
        net.call(lambda: sock.connect(addr), during="UDP connect", timeout=0)
        req = _request(ctx, sock.getsockname()[:2], "UDP")
        data = sip.encode(req)
        ctx.evidence.sent(data.decode("utf-8", "replace"))
        first_sent = time.monotonic()
        interval, sends = T1, 0
        next_send = first_sent
        while True:
            now = time.monotonic()
            if now >= next_send:
                net.call(lambda: sock.send(data), during="sending OPTIONS", timeout=0)
                sends += 1
                next_send = now + interval
                interval = min(interval * 2, T2)
            wait = min(next_send - time.monotonic(), dl.remaining())
            if dl.remaining() <= 0:
                raise ProbeFailure(Cause.TIMEOUT, f"no SIP response to OPTIONS over UDP after {sends} "
                                   f"transmissions in {dl.elapsed():.1f} s", phase="OPTIONS response")
            got = net.wait_datagram([sock], wait, "OPTIONS over UDP")
            if got is None:
                continue
            dgram = got[1]
            try:
                msg = sip.parse_datagram(dgram)
            except WireError as exc:
                raise net.other_protocol(dgram, _EXPECTED, "SIP", _PHASE) from exc
            if isinstance(msg, sip.SipRequest):
                continue  # a request from the far end is not our answer
            ctx.evidence.received(f"SIP/2.0 {msg.status} {msg.reason}")
            if msg.status < 200:
                interval = T2  # RFC 3261 §17.1.2.2: provisional response, retransmit every T2
                continue
            ctx.evidence.fact("sip.transmissions", sends)
            _judge(ctx, req, msg, time.monotonic() - first_sent)
            return


#: row 4 is SIP/TCP 5070 only: the call test's RTP from the RM pod to the MCP is a path the table does not have
_NOT_IN_TABLE = ("; note that the GVP table has no RTP from the RM to the MCP pool (4 is SIP/TCP 5070 only): "
                 "NetworkPolicies that follow it drop this burst; if yours do, allow UDP from this pod to the MCP's "
                 "media ports for the call test, or leave the call test off")


def probe_call(ctx: ProbeContext) -> None:
    """Connection 4 (opt-in): a full call to one MCP pod, its RTP echoed (sipp -rtp_echo, or the MCP's echo). The
    table's row 4 is signalling only: when the call is answered and no RTP comes back, the failure says that policies
    following the table drop it (one possible cause among others: an MCP that does not echo)."""
    dest = ctx.destination
    assert isinstance(dest, McpDestination)
    from gvpconf.probes.sipua import place_call

    t = ctx.target
    place_call(ctx, t.host, t.port, dest.transport, dest.call, dest.user_agent, f"MCP {t.id}", silent=_NOT_IN_TABLE)
