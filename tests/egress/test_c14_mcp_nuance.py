"""#14  MCP pool multi-AZ -> Nuance  ·  SIP/TCP 5060 (MRCPv2), RTSP 14000-15999 (MRCPv1), RTP  ·  egress.

Safe by default: SIP OPTIONS to each Nuance SIP target; RTSP OPTIONS and DESCRIBE on each configured URL.
Opt-in: RTSP SETUP to learn the server's RTP port, then a bounded RTP burst to it.
"""

from gvpconf.suite import call, connection, probe

pytestmark = connection(14)


@probe("sip.options")
def test_nuance_answers_sip_options(evidence):
    """Nuance's SIP (MRCPv2 signalling) stack answers OPTIONS, echoing our transaction."""
    assert isinstance(evidence["sip.status"], int)


@probe("rtsp.describe")
def test_nuance_rtsp_answers_options_and_describe(evidence):
    """RTSP/1.0 200 with CSeq echoed, Public listing the required methods, DESCRIBE answering SDP."""
    assert evidence["rtsp.urls"] >= 1


@call
@probe("rtsp.setup")
def test_nuance_rtsp_setup_takes_rtp(evidence):
    """SETUP names the server's RTP port; our bounded RTP burst to it draws no ICMP unreachable."""
    assert evidence["rtp.sent"] > 0
