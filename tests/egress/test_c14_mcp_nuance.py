"""#14  MCP pool multi-AZ -> Nuance  ·  SIP/TCP 5060 (MRCPv2), RTSP 14000-15999 (MRCPv1), RTP  ·  egress.

Safe by default: SIP OPTIONS to each Nuance SIP target; RTSP OPTIONS and DESCRIBE on each configured URL (one case
per URL, named after it).
Opt-in: RTSP SETUP to learn the server's RTP port, then a bounded RTP burst to it.
"""

from gvpconf.suite import call, connection, covers, probe, status_accepted

pytestmark = connection(14)


@probe("sip.options")
def test_nuance_answers_sip_options(evidence, expect):
    """Nuance's SIP (MRCPv2 signalling) stack answers OPTIONS in our transaction, with an accepted status."""
    assert evidence["sip.transaction"] == "ours"  # Via branch, Call-ID, CSeq and From tag echoed (RFC 3261 §17.1.3)
    assert status_accepted(evidence["sip.status"], expect.accept_status)


@probe("rtsp.describe")
def test_nuance_rtsp_answers_options_and_describe(evidence, expect):
    """RTSP/1.0 200 with CSeq echoed, Public listing what the probe goes on to use, DESCRIBE answering SDP."""
    assert covers(evidence["rtsp.public"], expect.rtsp_require_public, ignore_case=True)
    assert evidence["rtsp.sdp_media"].startswith("audio ")


@call
@probe("rtsp.setup")
def test_nuance_rtsp_setup_takes_rtp(evidence):
    """SETUP names the server's RTP port; our bounded RTP burst to it draws no ICMP port unreachable."""
    assert evidence["rtp.unreachable"] == 0


@probe("sipmtu.options")
def test_nuance_takes_invite_sized_requests(evidence, expect):
    """Nuance's SIP answers an OPTIONS padded to the size of a real INVITE with SDP: no path-MTU blackhole."""
    assert evidence["sipmtu.largest_ok"] >= expect.mtu_size  # every size up to a real INVITE's was answered
