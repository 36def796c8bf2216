"""RFC 3261 §9.1: a CANCEL only after a provisional response. Against sipp, a real SIP stack.

* A UAS that never answers the INVITE (no 100, no 180): the INVITE client transaction ends at Timer B,
  bounded by the read timeout, with cause ``timeout``; nothing is cancelled, and no CANCEL is in the transcript.
* A UAS that rings (100, 180) and never answers: after ``ring_timeout`` the call is cancelled; sipp answers the
  CANCEL 200 and the INVITE 487 (only a CANCEL it matched to the INVITE gets both), which we ACK.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import Target
from gvpconf.inventory.voice import CallRoute, McpDestination, MediaSettings
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import SippPeer
from gvpconf_lab.ports import free_port

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=10.0)
RING = 3.0  # longer than the read timeout: a silent peer must fail before it, a ringing one after it

_OPTIONS = """  <label id="wait"/>
  <recv request="OPTIONS" optional="true" next="options" timeout="60000" ontimeout="end"/>"""
_REPLY = """<![CDATA[

      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{tag}
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>"""


def _reply(status: str, tag: bool = True) -> str:
    return _REPLY.format(status=status, tag=";tag=[pid]lab[call_number]" if tag else "")


def scenario(body: str) -> str:
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="gvpconf cancel rule">
{_OPTIONS}
{body}
  <label id="options"/>
  <send next="wait">{_reply("200 OK")}</send>
  <label id="end"/>
</scenario>
"""


#: receives the INVITE (and any retransmission, and a CANCEL, if one came) and never answers anything
SILENT = scenario("""  <recv request="INVITE"/>
  <recv request="CANCEL" timeout="20000" ontimeout="end"/>""")
#: 100 and 180, then waits for the CANCEL: 200 to it, 487 to the INVITE, the ACK
RINGING = scenario(f"""  <recv request="INVITE">
    <action><ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/></action>
  </recv>
  <send>{_reply("100 Trying", tag=False)}</send>
  <send>{_reply("180 Ringing")}</send>
  <recv request="CANCEL"/>
  <send>{_reply("200 OK")}</send>
  <send>{_reply("487 Request Terminated").replace("[last_CSeq:]", "CSeq:[$invite_cseq]")}</send>
  <recv request="ACK" next="end"/>""")


@pytest.fixture(scope="module", params=["silent-tcp", "silent-udp", "ringing-tcp", "ringing-udp"])
def uas(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SippPeer]]:
    kind, transport = request.param.split("-")
    peer = SippPeer(f"sipp-{request.param}", Path(tmp_path_factory.mktemp(request.param)), free_port(transport),
                    transport=transport, scenario=SILENT if kind == "silent" else RINGING)  # type: ignore[arg-type]
    peer.start()
    try:
        peer.wait_ready(10.0)
        yield kind, peer
    finally:
        peer.stop()


def call(peer: SippPeer) -> tuple[ProbeResult, float]:
    dest = McpDestination(transport=peer.transport,
                          call=CallRoute(ring_timeout=RING, media=MediaSettings(packets=5, ptime_ms=10)))
    target = Target(host=peer.host, port=peer.port, name="uas")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(4), target=target, destination=dest, secrets={},
                            deadline=deadline)

    started = time.monotonic()
    result = run_job(Job("sip.call", TIMEOUTS, make))
    return result, time.monotonic() - started


def test_cancel_only_after_a_provisional(uas: tuple[str, SippPeer]) -> None:
    kind, peer = uas
    result, elapsed = call(peer)
    assert result.error is None, repr(result.error)
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT, result.failure
    sent = [text.split()[0] for direction, text in result.evidence.transcript if direction == "->"]
    if kind == "silent":
        assert "CANCEL" not in sent, result.evidence.transcript  # §9.1: nothing to cancel without a provisional
        assert "sip.cancelled" not in result.evidence.facts
        assert "Timer B" in str(result.failure) and "no CANCEL" in str(result.failure), result.failure
        assert elapsed < RING, elapsed  # Timer B, bounded by the read timeout, ends the transaction first
        assert elapsed >= TIMEOUTS.read - 0.1, elapsed
    else:
        assert sent[-2:] == ["CANCEL", "ACK"], result.evidence.transcript  # the 487 ACKed
        assert result.evidence.facts["sip.cancelled"] is True
        assert "CANCEL answered 200" in str(result.failure) and "487" in str(result.failure), result.failure
        assert RING <= elapsed < TIMEOUTS.probe, elapsed
