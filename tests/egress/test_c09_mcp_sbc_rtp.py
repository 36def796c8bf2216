"""#9  MCP pool multi-AZ -> SBC  ·  RTP/RTCP 20000-45000  ·  egress  ·  RTP messages.

Safe by default: RTP to a seeded, stratified sample of the range, each port echoed / unreachable (ICMP: the
path is open) / silent (filtered). Opt-in: a call to the SBC's echo route, its RTP measured end to end.
"""

from gvpconf.suite import call, connection, probe

pytestmark = connection(9)


@probe("rtp.range")
def test_rtp_range_is_open_to_the_sbc(evidence):
    """No sampled port of the range is filtered: each echoes or answers ICMP port unreachable."""
    ports = evidence["rtp.range_ports"].split(",")
    verdicts = evidence["rtp.range_echoed"] + evidence["rtp.range_unreachable"] + evidence["rtp.range_silent"]
    assert verdicts == len(ports) >= 2


@call
@probe("sbc.call")
def test_call_through_the_sbc_echoes_media(evidence):
    """INVITE to the echo route -> 200 -> ACK -> RTP relayed by the SBC and echoed back -> BYE."""
    assert evidence["rtp.received"] > 0
    assert "rtp.rtt_ms" in evidence
