"""#9  MCP pool multi-AZ -> SBC  ·  RTP/RTCP 20000-45000  ·  egress  ·  RTP messages.

Safe by default: RTP to a seeded, stratified sample of the range, each port echoed / unreachable (ICMP: the
path is open) / silent (filtered). Opt-in: a call to the SBC's echo route, its RTP measured end to end.
"""

from gvpconf.suite import call, connection, probe, within

pytestmark = connection(9)


@probe("rtp.range")
def test_rtp_range_is_open_to_the_sbc(evidence, expect):
    """Every sampled port of the range, both ends included, echoes or answers ICMP port unreachable: none is
    silently filtered (unless the inventory allows it)."""
    sampled = evidence["rtp.range_ports"].split(",")
    answered = evidence["rtp.range_echoed"] + evidence["rtp.range_unreachable"]
    assert answered == len(sampled) or expect.sampling.allow_silent


@call
@probe("sbc.call")
def test_call_through_the_sbc_echoes_media(evidence, expect):
    """INVITE to the echo route -> 200 -> ACK -> RTP relayed by the SBC and echoed back, within the loss and
    jitter thresholds -> BYE."""
    media = expect.call.media
    assert within(evidence["rtp.loss_pct"], media.max_loss_pct)
    assert within(evidence["rtp.jitter_ms"], media.max_jitter_ms)


@probe("sipmtu.options")
def test_sbc_signalling_takes_invite_sized_requests(evidence, expect):
    """The SBC's SIP address answers an OPTIONS padded to the size of a real INVITE with SDP (over its
    transport): the calls whose media this row carries are not blackholed on the signalling path."""
    assert evidence["sipmtu.largest_ok"] >= expect.mtu_size  # every size up to a real INVITE's was answered
