"""RTSP (MRCPv1's session control, RFC 2326 / RFC 4463) probers of connections 14 and 19.

One case per RTSP URL (``NuanceDestination.probe_targets``: the case's target is named after its URL).

* ``rtsp.describe`` (14, safe): OPTIONS then DESCRIBE on the case's URL; the status line must be RTSP/1.0 200,
  CSeq echoed, Public listing the required methods (by default only DESCRIBE, which the probe goes on to use:
  VLC's server does not list OPTIONS), DESCRIBE answering SDP.
* ``rtsp.setup`` (14, opt-in, per URL): SETUP the first stream to learn the server's RTP port, send a
  bounded RTP burst to it (an ICMP port unreachable fails the probe), TEARDOWN.

The RTSP client here also serves ``rtp.ingress`` (19, ``gvpconf.probes.rtp``), which has Nuance stream to us.
"""

from __future__ import annotations

import time
import urllib.parse

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.voice import NuanceDestination, rtsp_target
from gvpconf.probes import media
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import covers
from gvpconf.wire import WireError, rtsp, sdp
from gvpconf.wire import rtp as wire_rtp

PREFIX = b"RTSP/1.0 "


def _split_url(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "rtsp" or not parsed.hostname:
        raise ProbeFailure(Cause.CONFIG, f"not an rtsp:// URL: {url!r}", phase="configuration")
    try:
        port = parsed.port or 554
    except ValueError as exc:
        raise ProbeFailure(Cause.CONFIG, f"bad port in {url!r}", phase="configuration") from exc
    return parsed.hostname, port


class RtspClient:
    """One RTSP connection; ``request`` sends and returns the matching response (CSeq checked)."""

    def __init__(self, ctx: ProbeContext, url: str) -> None:
        self.ctx = ctx
        self.url = url
        host, port = _split_url(url)
        self.sock = net.connect_tcp(host, port, ctx.deadline)
        self.cseq = 0
        self.session: str | None = None
        self._decoder = rtsp.RtspStreamDecoder()
        self._first_read = True  # the first bytes tell an RTSP server from a peer of another protocol

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, uri: str, *, transport: str | None = None,
                accept: str | None = None) -> rtsp.RtspResponse:
        self.cseq += 1
        req = rtsp.build_request(method, uri, self.cseq, session=self.session, transport=transport,
                                 accept=accept, user_agent="gvpconf")
        dl = self.ctx.deadline
        self.ctx.evidence.sent(f"{method} {uri} CSeq {self.cseq}")
        net.send_all(self.sock, rtsp.encode(req), dl, f"sending RTSP {method}")
        during = f"RTSP {method} response"
        resp = self._response(method, during)
        self.ctx.evidence.received(f"RTSP/1.0 {resp.status} {resp.reason}")
        if resp.cseq != self.cseq:
            raise ProbeFailure(Cause.PROTOCOL, f"expected CSeq {self.cseq} echoed in the response to {method}, got "
                               f"{resp.header('CSeq')!r} in RTSP/1.0 {resp.status} {resp.reason}", phase=during)
        if resp.status != 200:
            raise ProbeFailure(Cause.SEMANTIC, f"expected RTSP/1.0 200 to {method} {uri}, got {resp.status} "
                               f"{resp.reason}", phase=during)
        return resp

    def _response(self, method: str, during: str) -> rtsp.RtspResponse:
        """The next response on the connection; interleaved data and requests of the server are passed over."""
        check = net.expect_prefix((PREFIX,), expected=f"an RTSP/1.0 response to {method}", protocol="RTSP",
                                  phase=during) if self._first_read else None
        self._first_read = False
        while True:
            msg = net.read_message(self.sock, self._decoder, self.ctx.deadline, during, protocol="RTSP",
                                   malformed=f"malformed RTSP response to {method}", check_start=check,
                                   start_size=len(PREFIX))
            if isinstance(msg, rtsp.RtspResponse):
                return msg
            check = None


def _options(client: RtspClient, required: list[str]) -> list[str]:
    resp = client.request("OPTIONS", client.url)
    public = rtsp.parse_public(resp.header("Public") or "")
    if not covers(public, required, ignore_case=True):
        raise ProbeFailure(Cause.SEMANTIC, f"expected Public to list {', '.join(required)}, got "
                           f"{', '.join(public) or 'no Public header'}", phase="RTSP OPTIONS response")
    return public


def describe(client: RtspClient) -> tuple[sdp.SessionDescription, str]:
    """The SDP of DESCRIBE and the control URL of its first audio stream."""
    resp = client.request("DESCRIBE", client.url, accept="application/sdp")
    desc = media.sdp_body(resp, expected="DESCRIBE to answer application/sdp", cause=Cause.SEMANTIC,
                          malformed="malformed SDP in DESCRIBE", phase="RTSP DESCRIBE response")
    audio = next((m for m in desc.media if m.kind == "audio"), None)
    if audio is None:
        raise ProbeFailure(Cause.SEMANTIC, "expected an audio stream in the DESCRIBE SDP, got "
                           f"{[m.kind for m in desc.media] or 'no media'}", phase="RTSP DESCRIBE response")
    base = resp.header("Content-Base") or resp.header("Content-Location") or client.url
    control = audio.attribute("control") or ""
    if control.startswith("rtsp://"):
        url = control
    elif control in ("", "*"):
        url = base
    else:
        url = base.rstrip("/") + "/" + control
    return desc, url


def setup(client: RtspClient, control: str, client_port: int) -> rtsp.Transport:
    spec = rtsp.encode_transport(rtsp.Transport("RTP/AVP", True, (client_port, client_port + 1)))
    resp = client.request("SETUP", control, transport=spec)
    session = resp.header("Session")
    transport = resp.header("Transport")
    if session is None or transport is None:
        raise ProbeFailure(Cause.PROTOCOL, "expected Session and Transport headers in the SETUP response, got "
                           f"Session={session!r} Transport={transport!r}", phase="RTSP SETUP response")
    try:
        client.session = rtsp.parse_session(session)[0]
        answer = rtsp.parse_transport(transport)
    except WireError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"malformed SETUP response: {exc}", phase="RTSP SETUP response") from exc
    if answer.server_port is None:
        raise ProbeFailure(Cause.SEMANTIC, f"expected server_port in the SETUP Transport, got {transport!r}",
                           phase="RTSP SETUP response")
    return answer


def teardown(client: RtspClient, url: str) -> None:
    if client.session is not None:
        try:
            client.request("TEARDOWN", url)
            client.ctx.evidence.fact("rtsp.teardown", "200")
        except ProbeFailure as exc:
            client.ctx.evidence.fact("rtsp.teardown", f"failed: {exc.cause.value}")
        client.session = None


# ---------------------------------------------------------------- probers


def _nuance(ctx: ProbeContext) -> tuple[NuanceDestination, str]:
    """The destination and this case's RTSP URL: the one its target is named after (``rtsp_target``), else the one
    at the target's address."""
    dest = ctx.destination
    assert isinstance(dest, NuanceDestination)
    if not dest.rtsp_urls:
        raise ProbeFailure(Cause.CONFIG, "no RTSP URL configured (destinations.nuance.rtsp_urls)",
                           phase="configuration")
    t = ctx.target
    url = t.name if t.name in dest.rtsp_urls else next(
        (u for u in dest.rtsp_urls if rtsp_target(u).address == t.address), None)
    if url is None:
        raise ProbeFailure(Cause.CONFIG, f"no RTSP URL of destinations.nuance.rtsp_urls is at {t.address}",
                           phase="configuration")
    return dest, url


def probe_describe(ctx: ProbeContext) -> None:
    """Connection 14 (safe): RTSP OPTIONS and DESCRIBE on this case's Nuance URL."""
    dest, url = _nuance(ctx)
    ev = ctx.evidence
    ev.fact("rtsp.url", url)
    client = RtspClient(ctx, url)
    try:
        public = _options(client, dest.rtsp_require_public)
        ev.fact("rtsp.public", ", ".join(public))
        desc, control = describe(client)
        audio = desc.audio() or desc.media[0]
        ev.fact("rtsp.sdp_media", f"{audio.kind} {audio.proto} {' '.join(audio.formats)}")
        ev.fact("rtsp.control", control)
    finally:
        client.close()


def probe_setup(ctx: ProbeContext) -> None:
    """Connection 14 (opt-in): SETUP to learn the server's RTP port, a bounded RTP burst to it, TEARDOWN."""
    dest, url = _nuance(ctx)
    ctx.evidence.fact("rtsp.url", url)
    client = RtspClient(ctx, url)
    ev = ctx.evidence
    try:
        _desc, control = describe(client)
        local = client.sock.getsockname()[0]
        rtp_sock, rtcp_sock = media.bind_pair(local)
        try:
            answer = setup(client, control, rtp_sock.getsockname()[1])
            assert answer.server_port is not None
            ev.fact("rtsp.server_port", f"{answer.server_port[0]}-{answer.server_port[1]}")
            host = answer.source or _split_url(url)[0]
            media.connect_pair(rtp_sock, rtcp_sock, host, answer.server_port[0], ctx.deadline)
            settings = dest.media
            ssrc = media.new_ssrc()
            payload = b"\xff" * (8 * settings.ptime_ms)
            pacer = media.Pacer(settings.ptime_ms / 1000)
            refused = 0
            for k in range(settings.packets):
                pacer.wait()
                packet = wire_rtp.encode_rtp(wire_rtp.RtpPacket(settings.payload_type, k, k * 8 * settings.ptime_ms,
                                                                ssrc, payload))
                try:
                    rtp_sock.send(packet)
                except ConnectionRefusedError:
                    refused += 1
            # an ICMP port unreachable arrives after a send and is reported on the next call
            rtp_sock.setblocking(False)
            time.sleep(0.05)
            try:
                rtp_sock.recv(65535)
            except ConnectionRefusedError:
                refused += 1
            except BlockingIOError:
                pass
            except OSError as exc:
                raise failure_from_os_error(exc, during="RTP to the server port") from exc
            ev.fact("rtp.sent", settings.packets)
            ev.fact("rtp.unreachable", refused)  # ICMP port unreachable answers to our RTP
            if refused:
                raise ProbeFailure(Cause.REFUSED, f"expected the server's RTP port {answer.server_port[0]} to take "
                                   f"our RTP, got ICMP port unreachable ({refused} times)", phase="RTP to server")
        finally:
            teardown(client, url)
            rtp_sock.close()
            rtcp_sock.close()
    finally:
        client.close()
