"""Path-MTU prober (connections 1, 4, 14 and the SBC's signalling of 9): SIP OPTIONS padded to INVITE size.

Real INVITEs carry SDP and weigh 1-1.5 KB. Over UDP they fragment; a path that drops fragments or large
packets blackholes every call while a small OPTIONS still passes, so ``sip.options`` alone cannot see
it. This probe sends, at once and each in its own transaction, one OPTIONS of its natural size and
OPTIONS padded (``gvpconf.wire.sip.pad_request``: extension header fields, which a UAS must ignore,
RFC 3261 §8.2.2) to a ladder of larger sizes up to the destination's ``mtu_size`` (default 1300 bytes:
the size of a real INVITE with SDP, and RFC 3261 §18.1.1's largest request that may go over UDP without
a known path MTU), over the destination's transport (UDP: all at once, each with the §17.1.2
retransmissions; TCP: one connection per size, see below).

Over TCP the natural size goes first; once it is answered, the largest size goes alone. A path that
carries it carries every smaller packet, so its answer, in its transaction and with an accepted status, is
the verdict: two connections a target, not one per size (six; a pool of 1000 MCPs had 6000). The ladder's
sizes are sent, at once and one connection each, only when the largest is not so answered within
``LADDER_AFTER_RTTS`` of the natural size's round trips (at least ``LADDER_AFTER_MIN_S``, at most
``LADDER_AFTER_READ_SHARE`` of the read timeout, and early enough that the sizes that pass can still be
answered, as fast as the natural one was, before the probe's deadline): they name the largest size that
passes. The largest keeps waiting meanwhile, so a blackholed size costs one read timeout and at most a
quarter of one more than when every size went at once.

* Every size answered in its transaction with an accepted status: verified; ``sipmtu.largest_ok`` is the
  largest size.
* The natural size itself unanswered: the path or the peer is down; that failure is reported as it is
  (refused, timeout...), not as MTU.
* Small sizes answered, a larger one not within the read timeout after the first answer (UDP; over TCP
  each connection has its own read timeout): ``timeout``, "path MTU blackhole: a 1300-byte OPTIONS ... no
  answer; the largest that passed was 1100 bytes"; ``sipmtu.failed_size`` / ``sipmtu.largest_ok`` say so.
* A larger one refused by the peer (513 Message Too Large, §21.5.2, or any status not accepted):
  ``semantic``, naming the size.

Safe by default: out-of-dialog OPTIONS only, a handful of them, once.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gvpconf import net
from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import status_accepted
from gvpconf.wire import WireError, sip

T1, T2 = 0.5, 4.0
DEFAULT_SIZE = 1300
#: intermediate sizes tried between the natural size and the configured one, to name the largest that passes
LADDER = (576, 900, 1100, 1200, 1400, 2000, 4000)
_PHASE = "padded OPTIONS response"
#: over TCP, how long the largest size has alone before the ladder's sizes are sent too: this many of the natural
#: size's round trips (connect, OPTIONS, answer), and at least LADDER_AFTER_MIN_S (a loaded prober's threads wait)
LADDER_AFTER_RTTS = 4
LADDER_AFTER_MIN_S = 0.25
#: ... and at most this share of the read timeout (what a blackholed size costs more than with every size at once)
LADDER_AFTER_READ_SHARE = 0.25


@dataclass
class _Try:
    size: int
    request: sip.SipRequest
    wire: bytes
    status: int | None = None
    reason: str = ""
    failure: ProbeFailure | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None


def sizes_to_try(natural: int, size: int) -> list[int]:
    """The natural size, the ladder's sizes strictly between it and ``size``, and ``size`` itself."""
    steps = [s for s in LADDER if natural + 40 < s < size - 40]
    return sorted({natural, *steps, max(size, natural)})


def _settings(ctx: ProbeContext) -> tuple[str, str | None, str, int]:
    dest = ctx.destination
    transport = str(getattr(dest, "transport", "tcp")).upper()
    uri = getattr(dest, "request_uri", None)
    return transport, uri if isinstance(uri, str) else None, str(getattr(dest, "user_agent", "gvpconf")), int(
        getattr(dest, "mtu_size", DEFAULT_SIZE) or DEFAULT_SIZE)


def _requests(ctx: ProbeContext, local: tuple[str, int], transport: str, near: int | None = None) -> list[_Try]:
    """One request per size to try; ``near``: only the one whose size is nearest (a TCP connection's own)."""
    _t, uri, agent, size = _settings(ctx)
    t = ctx.target
    host = f"[{t.host}]" if ":" in t.host else t.host
    uri = uri or f"sip:{host}:{t.port}" + (";transport=tcp" if transport == "TCP" else "")

    def build() -> sip.SipRequest:
        return sip.build_options(uri, local_host=local[0], local_port=local[1], transport=transport,
                                 branch=sip.new_branch(), call_id=sip.new_call_id(local[0]),
                                 from_tag=sip.new_tag(), user_agent=agent)

    natural = len(sip.encode(build()))
    sizes = sizes_to_try(natural, size)
    if near is not None:  # built alone: a connection builds its own request, not the whole ladder each
        sizes = [min(sizes, key=lambda n: abs(n - near))]
    tries = []
    for n in sizes:
        req = build()
        try:
            padded = sip.pad_request(req, n)
        except WireError:
            padded = sip.pad_request(req, n + 30)  # a size within a header field of the natural one
        data = sip.encode(padded)
        tries.append(_Try(len(data), padded, data))
    return tries


def probe_options(ctx: ProbeContext) -> None:
    transport, *_ = _settings(ctx)
    ctx.evidence.fact("sip.transport", transport)
    tries = _udp(ctx) if transport == "UDP" else _tcp(ctx)
    _judge(ctx, tries, transport)


def _accept(ctx: ProbeContext) -> list[str]:
    """The statuses the destination accepts (``accept_status``, 2xx by default)."""
    return list(getattr(ctx.destination, "accept_status", ["2xx"]))


def _judge(ctx: ProbeContext, tries: list[_Try], transport: str) -> None:
    ev = ctx.evidence
    accept = _accept(ctx)
    ev.fact("sipmtu.sizes", ",".join(str(t.size) for t in tries))
    ev.fact("sipmtu.answered", ",".join(str(t.size) for t in tries if t.answered))
    smallest = tries[0]
    if not smallest.answered:
        assert smallest.failure is not None
        raise smallest.failure  # no answer even at the natural size: not an MTU problem
    ok = [t for t in tries if t.answered and status_accepted(t.status or 0, accept)]
    largest_ok = max((t.size for t in ok), default=0)
    ev.fact("sipmtu.largest_ok", largest_ok)
    silent = [t for t in tries if not t.answered]
    if silent:
        first = silent[0]
        ev.fact("sipmtu.failed_size", first.size)
        why = first.failure.message if first.failure else "no answer"
        raise ProbeFailure(Cause.TIMEOUT, f"path MTU blackhole over {transport}: a {first.size}-byte OPTIONS got no "
                           f"answer ({why}) while smaller ones did; the largest that passed was {largest_ok} bytes",
                           phase=_PHASE)
    refused = [t for t in tries if t not in ok]
    if refused:
        first = refused[0]
        ev.fact("sipmtu.failed_size", first.size)
        raise ProbeFailure(Cause.SEMANTIC, f"a {first.size}-byte OPTIONS was answered {first.status} {first.reason} "
                           f"(expected {' or '.join(accept)}); the largest that passed was {largest_ok} bytes",
                           phase=_PHASE)


def _check(t: _Try, resp: sip.SipResponse) -> None:
    problems = sip.response_mismatches(t.request, resp)
    if problems:
        raise ProbeFailure(Cause.PROTOCOL, "the SIP response does not belong to our padded OPTIONS transaction: "
                           + "; ".join(problems), phase=_PHASE)
    t.status, t.reason = resp.status, resp.reason


def _udp(ctx: ProbeContext) -> list[_Try]:
    t, dl = ctx.target, ctx.deadline
    family, addr = net.resolve(t.host, t.port, dl, socket.SOCK_DGRAM)[0]
    with net.udp_socket(family) as sock:  # shut down by an interrupt, like every probe socket
        net.call(lambda: sock.connect(addr), during="UDP connect", timeout=0)  # ICMP unreachable -> refused
        tries = _requests(ctx, sock.getsockname()[:2], "UDP")
        # by the top Via's branch: a UAS adds received and rport's value to it (RFC 3581; Kamailio does)
        by_branch = {sip.via_branch(tr.request.header_values("Via")[0]): tr for tr in tries}
        ctx.evidence.sent(f"{len(tries)} OPTIONS of {', '.join(str(tr.size) for tr in tries)} bytes")
        start = time.monotonic()
        interval, next_send, sends = T1, start, 0
        answered_at = 0.0
        pending = list(tries)
        while pending:
            now = time.monotonic()
            if now >= next_send:
                for tr in pending:
                    net.call(functools.partial(sock.send, tr.wire), during="sending padded OPTIONS", timeout=0)
                sends += 1
                next_send = now + interval
                interval = min(interval * 2, T2)
            # once a size is answered the peer is there: the others get the read timeout more, as over TCP
            wait_until = min(dl.expires, answered_at + dl.timeouts.read) if answered_at else dl.expires
            if time.monotonic() >= wait_until:
                for tr in pending:
                    tr.failure = ProbeFailure(Cause.TIMEOUT, f"no SIP response to a {tr.size}-byte OPTIONS over UDP "
                                              f"after {sends} transmissions in {dl.elapsed():.1f} s", phase=_PHASE)
                break
            try:
                got = net.wait_datagram([sock], min(next_send, wait_until) - time.monotonic(), "padded OPTIONS")
            except ProbeFailure as exc:
                if exc.cause is Cause.REFUSED and not any(tr.answered for tr in tries):
                    raise  # nothing listens at all
                for tr in pending:
                    tr.failure = exc
                break
            if got is None:
                continue
            try:
                msg = sip.parse_datagram(got[1])
            except WireError as exc:
                raise net.other_protocol(got[1], "a SIP/2.0 response to OPTIONS", "SIP", _PHASE) from exc
            if isinstance(msg, sip.SipRequest) or msg.status < 200:
                continue
            vias = msg.header_values("Via")
            tr_found = by_branch.get(sip.via_branch(vias[0])) if vias else None
            if tr_found is None or tr_found not in pending:
                continue  # not ours, or a retransmitted answer
            _check(tr_found, msg)
            answered_at = answered_at or time.monotonic()
            ctx.evidence.received(f"SIP/2.0 {msg.status} {msg.reason} to the {tr_found.size}-byte OPTIONS")
            pending.remove(tr_found)
        return tries


def _tcp_one(ctx: ProbeContext, tr_size: int, dl: Deadline) -> _Try:
    t = ctx.target
    with net.connect_tcp(t.host, t.port, dl) as sock:
        tr = _requests(ctx, sock.getsockname()[:2], "TCP", near=tr_size)[0]
        net.send_all(sock, tr.wire, dl, "sending padded OPTIONS")
        decoder = sip.SipStreamDecoder()
        check: Callable[[bytes], None] | None = net.expect_prefix(
            (b"SIP/2.0 ",), expected="a SIP/2.0 response to OPTIONS", protocol="SIP", phase=_PHASE, skip=b"\r\n")
        while True:
            msg = net.read_message(sock, decoder, dl, _PHASE, protocol="SIP", malformed="malformed SIP response",
                                   check_start=check, start_size=len(b"SIP/2.0 "))
            check = None
            if isinstance(msg, sip.SipRequest):
                raise ProbeFailure(Cause.PROTOCOL, f"expected a SIP response, the peer sent a {msg.method} request",
                                   phase=_PHASE)
            if msg.status >= 200:
                _check(tr, msg)
                return tr


def _tcp(ctx: ProbeContext) -> list[_Try]:
    """The natural size first; once it was answered, the largest size, and the ladder's sizes only when that one is not
    answered with an accepted status (``_padded``). When the natural size fails (nothing answers at all: refused,
    connect or read timeout, an impostor) the padded ones are not sent: that failure is the verdict (``_judge``),
    and they could only wait out the same timeout on more connections and threads."""
    plan = _requests(ctx, ("0.0.0.0", 9), "TCP")  # the sizes (the real requests name each connection's address)
    natural, padded = plan[0], plan[1:]
    ctx.evidence.sent(f"OPTIONS of {natural.size} bytes, then of {plan[-1].size}, one connection each; of "
                      f"{', '.join(str(tr.size) for tr in padded[:-1]) or 'no other size'} too if the "
                      f"{plan[-1].size}-byte one is not answered")
    started = time.monotonic()
    try:
        results = [_tcp_one(ctx, natural.size, ctx.deadline)]
    except ProbeFailure as exc:
        natural.failure = exc
        for tr in padded:
            tr.failure = ProbeFailure(exc.cause, "not sent: the natural-size OPTIONS got no answer", phase=_PHASE)
        return plan
    if padded:
        results += _padded(ctx, padded, _ladder_after(ctx.deadline, time.monotonic() - started))
    for tr in results:
        if tr.answered:
            ctx.evidence.received(f"SIP/2.0 {tr.status} {tr.reason} to the {tr.size}-byte OPTIONS")
    return results


def _ladder_after(dl: Deadline, natural: float) -> float:
    """How long the largest size has alone, the natural size having taken ``natural`` seconds: a few of its round
    trips, capped by a share of the read timeout, and by the room the ladder's passing sizes need before the
    deadline (each takes about what the natural size took; a ladder sent too late would name a size that
    passes as the first that does not)."""
    wait = max(LADDER_AFTER_MIN_S, LADDER_AFTER_RTTS * natural)
    room = dl.remaining() - 2 * natural - LADDER_AFTER_MIN_S
    return max(0.0, min(wait, LADDER_AFTER_READ_SHARE * dl.timeouts.read, room))


def _padded(ctx: ProbeContext, padded: list[_Try], wait: float) -> list[_Try]:
    """The largest of ``padded`` alone; if it is not answered with an accepted status within ``wait`` seconds, the
    others too, at once, while it keeps waiting. The tries sent, smallest first."""
    largest, ladder = padded[-1], padded[:-1]
    outcome: dict[int, _Try | BaseException] = {}
    threads = _start(ctx, [largest], outcome)
    threads[0].join(max(0.0, min(wait, ctx.deadline.remaining())))
    got = outcome.get(id(largest))
    if not ladder or (isinstance(got, _Try) and got.answered and status_accepted(got.status or 0, _accept(ctx))):
        threads[0].join()
        return _collect([largest], outcome)
    threads += _start(ctx, ladder, outcome)
    for t in threads:
        t.join()
    return _collect(padded, outcome)


def _start(ctx: ProbeContext, tries: list[_Try], outcome: dict[int, _Try | BaseException]) -> list[threading.Thread]:
    """``_tcp_one`` for each of ``tries``, each on a thread of its own, within the probe's deadline; its result (or
    what it raised) goes to ``outcome`` under the try's ``id``. Plain threads, not a
    ThreadPoolExecutor: its ``submit`` starts a thread under a lock global to the process, and with hundreds of
    probes running every start waited for the GIL behind all the others (a pool of 1000 MCPs lost seconds there,
    and probes ran out of budget before their DNS lookup)."""

    def one(tr: _Try) -> None:
        try:
            outcome[id(tr)] = _tcp_one(ctx, tr.size, ctx.deadline)
        except BaseException as exc:  # handed to the probe's own thread (``_collect``)
            outcome[id(tr)] = exc

    threads = [threading.Thread(target=one, args=(tr,), name=f"gvpconf-sipmtu-{tr.size}", daemon=True)
               for tr in tries]
    for t in threads:
        t.start()
    return threads


def _collect(tries: list[_Try], outcome: dict[int, _Try | BaseException]) -> list[_Try]:
    """What the threads of ``_start`` left for ``tries`` (all joined), in their order."""
    results = []
    for tr in tries:
        got = outcome[id(tr)]
        if isinstance(got, ProbeFailure):
            tr.failure = got
            results.append(tr)
        elif isinstance(got, BaseException):
            raise got  # a prober bug: the case errors, as from the probe's own thread
        else:
            results.append(got)
    return results
