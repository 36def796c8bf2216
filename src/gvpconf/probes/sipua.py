"""A small SIP user agent over plain sockets, for the call probes ``sip.call`` (4) and ``sbc.call`` (9).

Transports: TCP (one connection, RFC 3261 §18.3 framing) and UDP with the client transaction
timers of §17.1: INVITE retransmitted on Timer A (T1 doubling) until a provisional arrives,
non-INVITE on Timer E (doubling up to T2); Timers B/F (64*T1) capped by the probe's deadline.

A call: INVITE with an SDP offer (PCMU/PCMA, our RTP port) -> provisional -> 200 with an SDP
answer -> ACK -> a bounded RTP burst to the answered address, measured on its echo -> BYE.
No final answer within ``ring_timeout`` after a provisional: CANCEL, then ACK the 487. No response at all:
no CANCEL (§9.1 allows one only after a provisional); the INVITE transaction fails at Timer B, bounded by
the read timeout, as ``timeout``. Every response must belong to our transaction (Via branch, Call-ID, CSeq,
From tag).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from gvpconf import net
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory.voice import CallRoute
from gvpconf.probes import media
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, sdp, sip

T1 = 0.5
T2 = 4.0
STATUS_PREFIX = b"SIP/2.0 "


class Channel:
    """One SIP flow to the far end: a TCP connection or a connected UDP socket."""

    def __init__(self, ctx: ProbeContext, host: str, port: int, transport: str) -> None:
        self.ctx = ctx
        self.transport = transport.upper()
        self.reliable = self.transport == "TCP"
        dl = ctx.deadline
        if self.reliable:
            self.sock = net.connect_tcp(host, port, dl)
        else:
            family, addr = net.resolve(host, port, dl, socket.SOCK_DGRAM)[0]
            self.sock = net.udp_socket(family)
            try:
                net.call(lambda: self.sock.connect(addr), during="UDP connect", timeout=0)
            except BaseException:
                self.sock.close()
                raise
        self.local: tuple[str, int] = self.sock.getsockname()[:2]
        self._decoder = sip.SipStreamDecoder()
        self._first_read = True

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: sip.SipRequest, during: str) -> None:
        data = sip.encode(msg)
        self.ctx.evidence.sent(f"{msg.method} {msg.uri}")
        if self.reliable:
            net.send_all(self.sock, data, self.ctx.deadline, during)
        else:
            net.call(lambda: self.sock.send(data), during=during, timeout=0)

    def receive(self, wait: float, during: str) -> sip.SipMessage | None:
        """The next SIP message within ``wait`` seconds (None when none came)."""
        wait = max(0.0, min(wait, self.ctx.deadline.remaining()))
        if self.reliable:
            # we spoke first: the first message is a response (CRLF keep-alives may come before it)
            check = net.expect_prefix((STATUS_PREFIX,), expected=f"a SIP/2.0 response during {during}",
                                      protocol="SIP", phase=during, skip=b"\r\n") if self._first_read else None
            try:
                msg = net.read_message(self.sock, self._decoder, Deadline(Timeouts(wait, wait, wait)), during,
                                       protocol="SIP", malformed=f"malformed SIP during {during}", check_start=check,
                                       start_size=len(STATUS_PREFIX))
            except ProbeFailure as exc:
                if exc.cause is Cause.TIMEOUT:  # the wait is over (the probe's own deadline is the caller's)
                    return None
                raise
            self._first_read = False
            return msg
        got = net.wait_datagram([self.sock], wait, during)
        if got is None:
            return None
        data = got[1]
        try:
            return sip.parse_datagram(data)
        except WireError as exc:
            raise net.other_protocol(data, f"a SIP/2.0 response during {during}", "SIP", during) from exc


@dataclass
class Outcome:
    final: sip.SipResponse
    provisional: int
    transmissions: int
    elapsed: float


def transact(ch: Channel, req: sip.SipRequest, during: str, *, give_up: float | None = None) -> Outcome | None:
    """A client transaction (§17.1): send, retransmit over UDP, return the final response.

    ``give_up`` (seconds): return None when no final response came by then (for CANCEL); without
    it, no final response by the deadline (or Timer B/F) is a TIMEOUT failure.

    An INVITE with ``give_up`` (the ring timeout) returns None only once a provisional response has come: a
    CANCEL may follow only a provisional (§9.1). With none, the transaction ends at Timer B (64*T1, bounded by
    the read timeout) as a TIMEOUT failure, and nothing is cancelled.
    """
    invite = req.method == "INVITE"
    started = time.monotonic()
    stop = started + min(64 * T1, ch.ctx.deadline.remaining()) if give_up is None else started + give_up
    # Timer B of an INVITE, bounded by the read timeout: the wait for any response at all
    timer_b = started + min(64 * T1, ch.ctx.deadline.timeouts.read, ch.ctx.deadline.remaining())
    ch.send(req, during)
    sends, provisional = 1, 0
    interval = T1
    next_send = started + interval
    while True:
        now = time.monotonic()
        if invite and give_up is not None and not provisional and now >= timer_b:
            extra = "" if ch.reliable else f" after {sends} transmissions"
            raise ProbeFailure(Cause.TIMEOUT, f"expected a response to INVITE, got none{extra} in "
                               f"{now - started:.1f} s (Timer B, bounded by the read timeout); no CANCEL sent: "
                               "nothing to cancel without a provisional response (RFC 3261 §9.1)", phase=during)
        if now >= stop or ch.ctx.deadline.remaining() <= 0:
            if invite and give_up is not None and not provisional and ch.ctx.deadline.remaining() > 0:
                stop = timer_b  # the ring timeout counts only once the far end rings
                continue
            if give_up is not None:
                return None
            got = f"{provisional} provisional response(s) but no final one" if provisional else "no response"
            extra = "" if ch.reliable else f" after {sends} transmissions"
            raise ProbeFailure(Cause.TIMEOUT, f"expected a final response to {req.method}, got {got}{extra} "
                               f"in {now - started:.1f} s", phase=during)
        if not ch.reliable and now >= next_send and not (invite and provisional):
            ch.send(req, during)
            sends += 1
            interval = interval * 2 if invite else min(interval * 2, T2)  # Timer A / Timer E
            next_send = now + interval
        wait = min(stop, next_send if not ch.reliable else stop) - now
        if invite and give_up is not None and not provisional:
            wait = min(wait, timer_b - now)
        msg = ch.receive(max(0.001, wait), during)
        if msg is None:
            continue
        if isinstance(msg, sip.SipRequest):
            continue  # e.g. a retransmitted request of the far end: not our answer
        ch.ctx.evidence.received(f"SIP/2.0 {msg.status} {msg.reason}")
        problems = sip.response_mismatches(req, msg)
        if problems and sip.of_another_transaction_of_the_call(req, msg):
            continue  # e.g. the INVITE's 2xx again while the BYE waits (§17.1.3): not this transaction's answer
        if problems:
            raise ProbeFailure(Cause.PROTOCOL, f"the SIP response does not belong to our {req.method} "
                               "transaction: " + "; ".join(problems), phase=during)
        if msg.status < 200:
            provisional += 1
            if not invite:
                interval = T2  # §17.1.2.2
            continue
        return Outcome(msg, provisional, sends, time.monotonic() - started)


def _answer_media(resp: sip.SipResponse, offered: tuple[int, ...]) -> tuple[str, int, int, int | None]:
    """(address, port, payload type, ptime) from the SDP answer of a 2xx."""
    desc = media.sdp_body(resp, expected="an SDP answer in the 200 to INVITE", cause=Cause.PROTOCOL,
                          malformed="malformed SDP answer", phase="SDP answer")
    audio = desc.audio()
    if audio is None:
        raise ProbeFailure(Cause.SEMANTIC, "expected an audio stream in the SDP answer, got none (or port 0: "
                           "rejected)", phase="SDP answer")
    index = desc.media.index(audio)
    address = desc.media_address(index)
    if address is None:
        raise ProbeFailure(Cause.PROTOCOL, "SDP answer without a connection address (c=)", phase="SDP answer")
    common = [pt for pt in audio.payload_types if pt in offered]
    if not common:
        raise ProbeFailure(Cause.SEMANTIC, f"expected one of the offered payload types {list(offered)} in the "
                           f"answer, got {list(audio.payload_types)}", phase="SDP answer")
    return address, audio.port, common[0], audio.ptime


def place_call(ctx: ProbeContext, host: str, port: int, transport: str, route: CallRoute, user_agent: str,
               what: str, media_host: str | None = None, silent: str = "") -> None:
    """INVITE -> 200 -> ACK -> RTP burst (echoed) -> BYE; facts as it goes; raises ProbeFailure. ``silent``: what
    the failure adds when no RTP comes back (``media.judge_media``)."""

    ev = ctx.evidence
    settings = route.media
    hostport = f"[{host}]" if ":" in host else host
    uri = route.request_uri or f"sip:{route.user}@{hostport}:{port}" + (
        ";transport=tcp" if transport.upper() == "TCP" else "")
    ev.fact("sip.transport", transport.upper())
    ev.fact("sip.request_uri", uri)
    ch = Channel(ctx, host, port, transport)
    rtp_sock, rtcp_sock = media.bind_pair(ch.local[0])
    try:
        offered = (settings.payload_type, *(pt for pt in (0, 8) if pt != settings.payload_type))
        offer = sdp.build_audio(ch.local[0], rtp_sock.getsockname()[1], offered, ptime=settings.ptime_ms,
                                session_id=int(time.time()))
        invite = sip.build_invite(uri, local_host=ch.local[0], local_port=ch.local[1], transport=ch.transport,
                                  branch=sip.new_branch(), call_id=sip.new_call_id(ch.local[0]),
                                  from_tag=sip.new_tag(), sdp=sdp.encode(offer), user_agent=user_agent)
        outcome = transact(ch, invite, "INVITE", give_up=route.ring_timeout)
        if outcome is None:
            _cancel(ch, invite, route.ring_timeout)
        assert outcome is not None
        resp = outcome.final
        ev.fact("sip.status", resp.status)
        ev.fact("sip.reason", resp.reason)
        ev.fact("sip.provisional", outcome.provisional)
        ev.fact("sip.setup_ms", round(outcome.elapsed * 1000, 2))
        server = resp.header("Server") or resp.header("User-Agent")
        if server:
            ev.fact("sip.server", server)
        if resp.status >= 300:
            ch.send(sip.build_ack(invite, resp), "ACK")
            raise ProbeFailure(Cause.SEMANTIC, f"expected 200 to INVITE {uri}, got {resp.status} {resp.reason}",
                               phase="INVITE")
        ch.send(sip.build_ack(invite, resp, sip.new_branch()), "ACK")
        try:
            address, media_port, pt, ptime = _answer_media(resp, offered)
            ev.fact("sdp.media", f"{address}:{media_port}")
            ev.fact("sdp.payload_type", pt)
            if ptime is not None:
                ev.fact("sdp.ptime", ptime)
            if media_host is not None:
                address = media_host
            media.connect_pair(rtp_sock, rtcp_sock, address, media_port, ctx.deadline)
            result = media.echo_burst(ctx, rtp_sock, settings.model_copy(update={"payload_type": pt}), rtcp=rtcp_sock)
        finally:
            _bye(ch, invite, resp)
        media.judge_media(ctx, result, settings, what, silent)
    finally:
        rtp_sock.close()
        rtcp_sock.close()
        ch.close()


def _cancel(ch: Channel, invite: sip.SipRequest, ring_timeout: float) -> None:
    """No final answer in time: CANCEL (§9.1), ACK the 487 if it comes, and fail."""
    cancel = sip.build_cancel(invite)
    status = "no answer to CANCEL"
    try:
        done = transact(ch, cancel, "CANCEL", give_up=min(2 * T1 * 4, ch.ctx.deadline.remaining()))
        if done is not None:
            status = f"CANCEL answered {done.final.status}"
        late = transact_final(ch, invite, min(2.0, ch.ctx.deadline.remaining()))
        if late is not None:
            ch.send(sip.build_ack(invite, late), "ACK")
            status += f", INVITE ended {late.status} {late.reason}"
    except ProbeFailure as exc:
        status = f"CANCEL failed: {exc}"
    ch.ctx.evidence.fact("sip.cancelled", True)
    raise ProbeFailure(Cause.TIMEOUT, f"expected a final answer to INVITE within {ring_timeout:.1f} s, got none; "
                       f"sent CANCEL ({status})", phase="INVITE")


def transact_final(ch: Channel, invite: sip.SipRequest, wait: float) -> sip.SipResponse | None:
    """The late final response of ``invite`` (after a CANCEL), None when none came within ``wait``."""
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        msg = ch.receive(left, "INVITE after CANCEL")
        if isinstance(msg, sip.SipResponse) and msg.status >= 200 and not sip.response_mismatches(invite, msg):
            return msg
    return None


def _bye(ch: Channel, invite: sip.SipRequest, resp: sip.SipResponse) -> None:
    bye = sip.build_bye(invite, resp, branch=sip.new_branch(), cseq=2)
    done = transact(ch, bye, "BYE", give_up=min(64 * T1, max(0.2, ch.ctx.deadline.remaining())))
    ch.ctx.evidence.fact("sip.bye_status", done.final.status if done is not None else 0)
    if done is None:
        raise ProbeFailure(Cause.TIMEOUT, "expected a final response to BYE, got none", phase="BYE")
    if done.final.status >= 300:
        raise ProbeFailure(Cause.SEMANTIC, f"expected 200 to BYE, got {done.final.status} {done.final.reason}",
                           phase="BYE")
