"""Never a false pass: the voice probes against impostors, each with the right cause, within its timeout.

SIP: silent, closer, HTTP, garbage, refused, blackhole, a SIP stack that answers 404 or 503, responses with a
wrong Call-ID or Via branch, a 200 whose media port is silent or loses a fifth of the stream. RTSP: the same
generic impostors, a wrong CSeq, a 404. RTP range: ICMP unreachable, silent, echoing ports. Connection 19: a
server that answers PLAY but sends nothing, and one that streams with loss.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import Destination, Target
from gvpconf.inventory.voice import (
    CallRoute,
    IngressSettings,
    McpDestination,
    MediaSettings,
    NuanceDestination,
    PortRange,
    RangeSampling,
    SbcDestination,
)
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf.wire import Decoder, rtp, rtsp, sdp, sip
from gvpconf_lab import impostors

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=4.0)
FAST_MEDIA = MediaSettings(packets=20, ptime_ms=10, settle_ms=300, max_loss_pct=1.0)
MCP = McpDestination(call=CallRoute(ring_timeout=1.5, media=FAST_MEDIA))

R = TypeVar("R")


def requests_in(decoder: Decoder[object], data: bytes, kind: type[R]) -> Iterator[R]:
    """The requests of type ``kind`` in one read of an impostor's connection."""
    decoder.feed(data)
    while (msg := decoder.next_message()) is not None:
        if isinstance(msg, kind):
            yield msg


def run(probe: str, number: int, dest: Destination, address: tuple[str, int],
        timeouts: Timeouts = TIMEOUTS) -> tuple[ProbeResult, float]:
    row = catalog.connection(number)
    target = Target(host=address[0], port=address[1], name="impostor")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets={}, deadline=deadline)

    started = time.monotonic()
    result = run_job(Job(probe, timeouts, make))
    return result, time.monotonic() - started


def expect(result: ProbeResult, elapsed: float, cause: Cause, timeouts: Timeouts = TIMEOUTS) -> str:
    assert result.error is None, f"prober bug: {result.error!r}"
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    assert result.failure.cause is cause, str(result.failure)
    assert elapsed <= timeouts.probe + 1.0, elapsed
    message = str(result.failure)
    assert "\n" not in message and len(message) < 400, message
    return message


GENERIC: dict[str, Callable[[], AbstractContextManager[tuple[str, int]]]] = {
    "silent": impostors.silent, "closer": impostors.closer, "http": impostors.http_server,
    "http-banner": impostors.http_banner_server, "garbage": impostors.garbage, "refused": impostors.refused,
    "blackhole": impostors.blackhole, "echo": impostors.echo,
}
P, T, R, S = Cause.PROTOCOL, Cause.TIMEOUT, Cause.REFUSED, Cause.SEMANTIC
GENERIC_EXPECTED = {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "refused": R,
                    "blackhole": T, "echo": P}  # an echo sends our own request back: never taken for an answer
VOICE_PROBES: dict[str, tuple[int, Destination]] = {
    "sip.call": (4, MCP),
    "rtsp.describe": (14, NuanceDestination(rtsp_urls=["rtsp://PLACEHOLDER/nuance"])),
}


def _dest_for(name: str, address: tuple[str, int]) -> Destination:
    _number, dest = VOICE_PROBES[name]
    if isinstance(dest, NuanceDestination):
        return dest.model_copy(update={"rtsp_urls": [f"rtsp://{address[0]}:{address[1]}/nuance"]})
    return dest


@pytest.mark.parametrize("kind", sorted(GENERIC))
@pytest.mark.parametrize("probe", sorted(VOICE_PROBES))
def test_generic_impostors(probe: str, kind: str) -> None:
    with GENERIC[kind]() as address:
        result, elapsed = run(probe, VOICE_PROBES[probe][0], _dest_for(probe, address), address)
    message = expect(result, elapsed, GENERIC_EXPECTED[kind])
    if kind.startswith("http"):
        assert "HTTP" in message, message


# ---------------------------------------------------------------- a scripted SIP stack


@contextlib.contextmanager
def sip_stack(status: int = 200, *, mangle: str | None = None, media_port: int | None = None,
              invite_status: int | None = None, provisional_only: bool = False) -> Iterator[tuple[str, int]]:
    """A TCP SIP responder: OPTIONS -> ``status``, INVITE -> ``invite_status`` (200 with SDP naming
    ``media_port``), ACK ignored, BYE/CANCEL -> 200. ``mangle``: 'call-id' or 'branch' alters the echo."""

    def answer(req: sip.SipRequest, code: int, body: bytes = b"") -> bytes:
        via = req.header_values("Via")[0]
        call_id = req.header("Call-ID") or ""
        if mangle == "branch":
            via = via.replace("branch=", "branch=z9hG4bKother")
        if mangle == "call-id":
            call_id = "someone-else@impostor"
        headers = [("Via", via), ("From", req.header("From") or ""), ("To", (req.header("To") or "") + ";tag=imp"),
                   ("Call-ID", call_id), ("CSeq", req.header("CSeq") or ""), ("Contact", "<sip:imp@127.0.0.1>")]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return sip.encode(sip.SipResponse(code, "Impostor", tuple(headers), body))

    def on_data(conn: socket.socket, data: bytes) -> impostors.Action:
        for msg in requests_in(sip.SipStreamDecoder(), data, sip.SipRequest):
            if msg.method == "OPTIONS":
                conn.sendall(answer(msg, status))
            elif msg.method == "INVITE":
                conn.sendall(answer(msg, 180))
                if provisional_only:
                    continue
                code = invite_status if invite_status is not None else status
                body = sdp.encode(sdp.build_audio("127.0.0.1", media_port or 9, (0,))) if code == 200 else b""
                conn.sendall(answer(msg, code, body))
            elif msg.method in ("BYE", "CANCEL"):
                conn.sendall(answer(msg, 200))
        return "keep"

    with impostors._TcpImpostor("sip-stack", on_data=on_data) as address:
        yield address


@pytest.mark.parametrize(("status", "probe"), [(404, "sip.options"), (503, "sip.options"), (404, "sip.call"),
                                               (503, "sip.call")])
def test_sip_stack_answering_an_error_is_semantic(status: int, probe: str) -> None:
    with sip_stack(status) as address:
        result, elapsed = run(probe, 4, MCP, address)
    message = expect(result, elapsed, Cause.SEMANTIC)
    assert str(status) in message


@pytest.mark.parametrize("mangle", ["call-id", "branch"])
@pytest.mark.parametrize("probe", ["sip.options", "sip.call"])
def test_response_of_another_transaction_is_protocol(probe: str, mangle: str) -> None:
    with sip_stack(200, mangle=mangle) as address:
        result, elapsed = run(probe, 4, MCP, address)
    message = expect(result, elapsed, Cause.PROTOCOL)
    assert ("Call-ID" if mangle == "call-id" else "Via branch") in message


def test_ringing_forever_is_cancelled() -> None:
    with sip_stack(200, provisional_only=True) as address:
        result, elapsed = run("sip.call", 4, MCP, address)
    message = expect(result, elapsed, Cause.TIMEOUT)
    assert "CANCEL" in message and result.evidence.facts["sip.cancelled"] is True


@contextlib.contextmanager
def udp_echo(drop_every: int = 0) -> Iterator[tuple[str, int]]:
    """A UDP port that echoes datagrams (dropping one in ``drop_every``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        n = 0
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            n += 1
            if drop_every and n % drop_every == 0:
                continue
            with contextlib.suppress(OSError):
                sock.sendto(data, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_call_with_silent_media_is_timeout() -> None:
    with impostors.udp_silent() as (_h, media_port), sip_stack(200, media_port=media_port) as address:
        result, elapsed = run("sip.call", 4, MCP, address)
    message = expect(result, elapsed, Cause.TIMEOUT)
    assert "got nothing back" in message and result.evidence.facts["sip.bye_status"] == 200
    # row 4 is SIP only in the table: the message names the path the call's media needs and how to allow it
    assert "no RTP from the RM to the MCP pool" in message, message
    assert "if yours do, allow UDP from this pod" in message, message


def test_sbc_call_with_silent_media_names_no_gap_of_the_table() -> None:
    """9's call: its RTP is in the table (MCP -> SBC, RTP/RTCP 20000-45000), so the row-4 note is not given."""
    sbc = SbcDestination(transport="tcp", call=CallRoute(ring_timeout=1.5, media=FAST_MEDIA))
    with impostors.udp_silent() as (_h, media_port), sip_stack(200, media_port=media_port) as address:
        result, elapsed = run("sbc.call", 9, sbc, address)
    message = expect(result, elapsed, Cause.TIMEOUT)
    assert "got nothing back" in message and "GVP table" not in message, message


def test_call_with_lossy_media_is_semantic() -> None:
    with udp_echo(drop_every=5) as (_h, media_port), sip_stack(200, media_port=media_port) as address:
        result, elapsed = run("sip.call", 4, MCP, address)
    message = expect(result, elapsed, Cause.SEMANTIC)
    assert "loss" in message and result.evidence.facts["rtp.loss_pct"] == 20.0


def test_call_with_echoing_media_passes() -> None:
    with udp_echo() as (_h, media_port), sip_stack(200, media_port=media_port) as address:
        result, _elapsed = run("sip.call", 4, MCP, address)
    assert result.ok, result.failure
    facts = result.evidence.facts
    assert facts["rtp.received"] == 20 and facts["rtp.lost"] == 0 and facts["rtp.rtt_ms"] > 0


# ---------------------------------------------------------------- a scripted RTSP server


@contextlib.contextmanager
def rtsp_server(*, status: int = 200, wrong_cseq: bool = False, stream: int = 0,
                drop_every: int = 0) -> Iterator[tuple[str, int]]:
    """Answers OPTIONS/DESCRIBE/SETUP/PLAY/TEARDOWN; after PLAY sends ``stream`` RTP packets to client_port."""
    threads: list[threading.Thread] = []

    def send_stream(port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in range(stream):
                if not (drop_every and k % drop_every == drop_every - 1):
                    s.sendto(rtp.encode_rtp(rtp.RtpPacket(0, k, k * 80, 7, b"\xff" * 80)), ("127.0.0.1", port))
                time.sleep(0.01)

    client_port = [0]

    def on_data(conn: socket.socket, data: bytes) -> impostors.Action:
        for msg in requests_in(rtsp.RtspStreamDecoder(), data, rtsp.RtspRequest):
            cseq = str((msg.cseq or 0) + (1 if wrong_cseq else 0))
            headers: list[tuple[str, str]] = [("CSeq", cseq), ("Session", "imp1")]
            body = b""
            if msg.method == "OPTIONS":
                headers.append(("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"))
            elif msg.method == "DESCRIBE":
                body = sdp.encode(sdp.build_audio("127.0.0.1", 0, (0,)))
                headers.append(("Content-Type", "application/sdp"))
            elif msg.method == "SETUP":
                t = rtsp.parse_transport(msg.header("Transport") or "")
                client_port[0] = t.client_port[0] if t.client_port else 0
                headers.append(("Transport", f"RTP/AVP;unicast;client_port={client_port[0]}-{client_port[0] + 1};"
                                             "server_port=9-10"))
            elif msg.method == "PLAY" and stream:
                th = threading.Thread(target=send_stream, args=(client_port[0],), daemon=True)
                th.start()
                threads.append(th)
            conn.sendall(rtsp.encode(rtsp.RtspResponse(status, "Impostor", tuple(headers), body)))
        return "keep"

    with impostors._TcpImpostor("rtsp", on_data=on_data) as address:
        yield address
    for th in threads:
        th.join(5)


def test_rtsp_wrong_cseq_is_protocol() -> None:
    with rtsp_server(wrong_cseq=True) as address:
        result, elapsed = run("rtsp.describe", 14, _dest_for("rtsp.describe", address), address)
    assert "CSeq" in expect(result, elapsed, Cause.PROTOCOL)


def test_rtsp_404_is_semantic() -> None:
    with rtsp_server(status=404) as address:
        result, elapsed = run("rtsp.describe", 14, _dest_for("rtsp.describe", address), address)
    assert "404" in expect(result, elapsed, Cause.SEMANTIC)


def test_rtsp_scripted_server_passes() -> None:
    with rtsp_server() as address:
        result, _elapsed = run("rtsp.describe", 14, _dest_for("rtsp.describe", address), address)
    assert result.ok, result.failure


def _ingress(address: tuple[str, int]) -> McpDestination:
    return McpDestination(rtp_range=PortRange(min=30000, max=39999), ingress=IngressSettings(
        rtsp_url=f"rtsp://{address[0]}:{address[1]}/nuance", listen_host="127.0.0.1",
        media=MediaSettings(packets=40, ptime_ms=10, settle_ms=300, max_loss_pct=1.0)))


def test_ingress_nothing_arrived_is_timeout() -> None:
    with rtsp_server(stream=0) as address:
        result, elapsed = run("rtp.ingress", 19, _ingress(address), address)
    assert "nothing arrived" in expect(result, elapsed, Cause.TIMEOUT)


def test_ingress_arrived_with_loss_is_semantic() -> None:
    with rtsp_server(stream=40, drop_every=4) as address:
        result, elapsed = run("rtp.ingress", 19, _ingress(address), address)
    assert "arrived" in expect(result, elapsed, Cause.SEMANTIC)
    assert result.evidence.facts["rtp.lost"] == 9  # 10 dropped, the last one (seq 39) ends the range


def test_ingress_listen_address_not_ours_is_config() -> None:
    with rtsp_server() as address:
        dest = _ingress(address)
        dest = dest.model_copy(update={"ingress": dest.ingress.model_copy(  # type: ignore[union-attr]
            update={"listen_host": "192.0.2.77"})})
        result, elapsed = run("rtp.ingress", 19, dest, address)
    assert "MCP pod" in expect(result, elapsed, Cause.CONFIG)


# ---------------------------------------------------------------- RTP range classification


def _sbc(ports: list[int], allow_silent: bool = False) -> SbcDestination:
    return SbcDestination(rtp_range=PortRange(min=min(ports), max=max(ports)),
                          sampling=RangeSampling(sample=len(ports), seed=1, port_timeout=1.0,
                                                 allow_silent=allow_silent))


def test_range_classifies_echoed_unreachable_and_silent() -> None:
    from gvpconf.deadline import Deadline
    from gvpconf.probes.rtp import classify_ports

    with udp_echo() as (_h, echo), impostors.udp_silent() as (_h2, quiet), impostors.refused() as (_h3, closed):
        verdict = classify_ports("127.0.0.1", [echo, quiet, closed], RangeSampling(port_timeout=1.0),
                                 Deadline(TIMEOUTS))
    assert verdict == {echo: "echoed", quiet: "silent", closed: "unreachable"}


def test_range_with_a_silent_port_fails_timeout_with_seed() -> None:
    with impostors.udp_silent() as (_h, quiet):
        result, elapsed = run("rtp.range", 9, _sbc([quiet, quiet + 1]), ("127.0.0.1", 5060))
    message = expect(result, elapsed, Cause.TIMEOUT)
    assert str(quiet) in message and "seed 1" in message


def test_stratified_sample_keeps_both_ends_and_repeats_with_its_seed() -> None:
    from gvpconf.probes.rtp import stratified_sample

    rng = PortRange(min=20000, max=45000)
    first = stratified_sample(rng, 12, 42)
    assert first == stratified_sample(rng, 12, 42) != stratified_sample(rng, 12, 43)
    assert first[0] == 20000 and first[-1] == 45000 and len(first) == 12
    strata = [(p - 20001) * 10 // (45000 - 20000 - 1) for p in first[1:-1]]
    assert strata == list(range(10))  # one port per stratum
