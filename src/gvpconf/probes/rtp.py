"""The RTP probes: ``rtp.range`` (9) and ``rtp.ingress`` (19), on the engine of ``gvpconf.probes.media``.

* ``rtp.range``: connection 9's range conformance: RTP to a seeded, stratified sample of ports,
  each classified echoed / unreachable (ICMP port unreachable) / silent.
* ``rtp.ingress`` (19, opt-in): listen on a port of the MCP's RTP range, RTSP SETUP with that client_port
  and PLAY (``gvpconf.probes.rtsp``'s client): the Nuance side streams to us; what arrives is measured.
  "Nothing arrived" (TIMEOUT) and "arrived with loss or jitter over the threshold" (SEMANTIC) differ.
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import time

from gvpconf import net
from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.voice import McpDestination, PortRange, RangeSampling, SbcDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.probes.media import new_ssrc, receive_stream
from gvpconf.probes.rtsp import RtspClient, describe, setup, teardown
from gvpconf.rules import within
from gvpconf.wire import rtp as wire


def stratified_sample(ports: PortRange, size: int, seed: int) -> list[int]:
    """Both ends of the range, plus one random port from each of ``size - 2`` equal strata between."""
    low, high = ports.min, ports.max
    span = high - low + 1
    if span <= size:
        return list(range(low, high + 1))
    rng = random.Random(seed)
    chosen = {low, high}
    inner = size - 2
    for i in range(inner):
        a = low + 1 + (span - 2) * i // inner
        b = low + 1 + (span - 2) * (i + 1) // inner - 1
        if a <= b:
            chosen.add(rng.randint(a, b))
    return sorted(chosen)


ECHOED, UNREACHABLE, SILENT = "echoed", "unreachable", "silent"


def classify_ports(host: str, ports: list[int], sampling: RangeSampling, deadline: Deadline) -> dict[int, str]:
    """Send RTP to every port at once (``attempts`` datagrams each) and classify each port."""
    family, addr = net.resolve(host, ports[0], deadline, socket.SOCK_DGRAM)[0]
    socks: dict[socket.socket, int] = {}
    verdict: dict[int, str] = {}
    try:
        for port in ports:
            s = net.udp_socket(family)
            socks[s] = port
            s.setblocking(False)
            net.call(lambda s=s, port=port: s.connect((addr[0], port)), during="UDP connect", timeout=0)  # type: ignore[misc]
        ssrc = new_ssrc()
        window = min(sampling.port_timeout, max(0.05, deadline.remaining() - 0.2))
        start = time.monotonic()
        gap = window / sampling.attempts
        sent = 0
        while len(verdict) < len(ports):
            now = time.monotonic()
            if now - start >= window:
                break
            if sent < sampling.attempts and now >= start + sent * gap:
                for s, port in socks.items():
                    if port not in verdict:
                        packet = wire.encode_rtp(wire.RtpPacket(0, sent, sent * 160, ssrc, b"\xff" * 160))
                        try:
                            s.send(packet)
                        except ConnectionRefusedError:
                            verdict[port] = UNREACHABLE
                        except BlockingIOError:
                            pass
                        except OSError as exc:
                            raise failure_from_os_error(exc, during=f"RTP to port {port}") from exc
                sent += 1
            pending = [s for s, p in socks.items() if p not in verdict]
            wait = min(start + sent * gap if sent < sampling.attempts else start + window, start + window) - now
            ready, _w, _x = select.select(pending, [], [], max(0.0, wait))
            for s in ready:
                port = socks[s]
                try:
                    s.recv(65535)
                except ConnectionRefusedError:
                    verdict[port] = UNREACHABLE
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                        verdict[port] = UNREACHABLE
                    else:
                        raise failure_from_os_error(exc, during=f"RTP from port {port}") from exc
                else:
                    verdict[port] = ECHOED
    finally:
        for s in socks:
            s.close()
    return {port: verdict.get(port, SILENT) for port in ports}


def probe_range(ctx: ProbeContext) -> None:
    """Connection 9 (b): is the whole RTP range open from here? Echoed / unreachable / silent per port."""
    dest = ctx.destination
    assert isinstance(dest, SbcDestination)
    sampling = dest.sampling
    if not sampling.enabled:
        raise ProbeFailure(Cause.CONFIG, "range sampling is disabled (sbc.sampling.enabled: false)",
                           phase="configuration")
    seed = sampling.seed if sampling.seed is not None else int.from_bytes(os.urandom(4), "big")
    host = dest.media_host or ctx.target.host
    ports = stratified_sample(dest.rtp_range, sampling.sample, seed)
    ev = ctx.evidence
    ev.fact("rtp.range", f"{dest.rtp_range.min}-{dest.rtp_range.max}")
    ev.fact("rtp.range_seed", seed)
    ev.fact("rtp.range_ports", ",".join(map(str, ports)))
    verdict = classify_ports(host, ports, sampling, ctx.deadline)
    by_kind = {kind: [p for p, v in verdict.items() if v == kind] for kind in (ECHOED, UNREACHABLE, SILENT)}
    for kind, found in by_kind.items():
        ev.fact(f"rtp.range_{kind}", len(found))
        if found:
            ev.fact(f"rtp.range_{kind}_ports", ",".join(map(str, found)))
    silent = by_kind[SILENT]
    if silent and not sampling.allow_silent:
        shown = ",".join(map(str, silent[:10])) + ("..." if len(silent) > 10 else "")
        raise ProbeFailure(Cause.TIMEOUT, f"expected every sampled RTP port of {host} to echo or answer ICMP "
                           f"port-unreachable, {len(silent)} of {len(ports)} stayed silent (filtered?) within "
                           f"{sampling.port_timeout:.1f} s: {shown} (seed {seed})", phase="RTP range")


# ---------------------------------------------------------------- connection 19: media ingress


def listen_pair(host: str, dest: McpDestination, fixed: int | None) -> tuple[socket.socket, socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    rng = random.Random(os.urandom(8))
    candidates = [fixed] if fixed is not None else [
        p for p in (rng.randrange(dest.rtp_range.min, dest.rtp_range.max + 1) & ~1 for _ in range(50))
        if dest.rtp_range.min <= p < dest.rtp_range.max]
    last: OSError | None = None
    for port in candidates:
        a = net.udp_socket(family)
        b = net.udp_socket(family)
        try:
            a.bind((host, port))
            b.bind((host, port + 1))
        except OSError as exc:
            a.close()
            b.close()
            last = exc
            continue
        return a, b
    reason = last.strerror if last is not None else "no even port in the range"
    raise ProbeFailure(Cause.CONFIG, f"cannot listen on {host} in {dest.rtp_range.min}-{dest.rtp_range.max}: "
                       f"{reason} (run connection 19 from the MCP pod whose address this is)", phase="listen")


def probe_ingress(ctx: ProbeContext) -> None:
    """Connection 19 (opt-in): the Nuance side streams RTP to a port we listen on in the MCP's range."""
    dest = ctx.destination
    assert isinstance(dest, McpDestination)
    ingress = dest.ingress
    if ingress is None:
        raise ProbeFailure(Cause.CONFIG, "no ingress source configured (destinations.mcp.ingress.rtsp_url)",
                           phase="configuration")
    ev = ctx.evidence
    host = ingress.listen_host or ctx.target.host
    rtp_sock, rtcp_sock = listen_pair(host, dest, ingress.listen_port)
    port = rtp_sock.getsockname()[1]
    ev.fact("rtp.listen", f"{host}:{port}")
    client = RtspClient(ctx, ingress.rtsp_url)
    try:
        _desc, control = describe(client)
        answer = setup(client, control, port)
        if answer.client_port is not None and answer.client_port[0] != port:
            raise ProbeFailure(Cause.SEMANTIC, f"expected the server to stream to our client_port {port}, it "
                               f"answered client_port={answer.client_port[0]}", phase="RTSP SETUP response")
        client.request("PLAY", ingress.rtsp_url)
        started = time.monotonic()
        stats, garbage = receive_stream(rtp_sock, ingress.media, ctx.deadline,
                                            first_timeout=min(ctx.deadline.timeouts.read, ctx.deadline.remaining()))
        ev.fact("rtp.receive_ms", round((time.monotonic() - started) * 1000, 1))
    finally:
        teardown(client, ingress.rtsp_url)
        client.close()
        rtp_sock.close()
        rtcp_sock.close()
    stats.record(ev)
    media = ingress.media
    if stats.received == 0:
        what = f"{garbage} non-RTP datagrams" if garbage else "nothing"
        raise ProbeFailure(Cause.TIMEOUT, f"expected RTP from the Nuance side on {host}:{port} after PLAY, "
                           f"{what} arrived", phase="RTP ingress")
    if not within(stats.loss_pct, media.max_loss_pct):
        raise ProbeFailure(Cause.SEMANTIC, f"RTP arrived on {host}:{port} but with {stats.loss_pct:.1f}% loss "
                           f"(threshold {media.max_loss_pct}%)", phase="RTP ingress")
    if not within(stats.jitter_ms, media.max_jitter_ms):
        raise ProbeFailure(Cause.SEMANTIC, f"RTP arrived on {host}:{port} but with {stats.jitter_ms:.1f} ms jitter "
                           f"(threshold {media.max_jitter_ms} ms)", phase="RTP ingress")
