"""#19  Nuance -> MCP pool multi-AZ  ·  RTP/RTCP 20000-45000 / RTSP 14000-15999  ·  ingress.

Opt-in (it makes the Nuance side stream): listen on a port of the MCP's RTP range, RTSP SETUP with that
client_port and PLAY; media must arrive in the pod, within the loss and jitter thresholds.
"""

from gvpconf.suite import call, connection, probe, within

pytestmark = connection(19)


@call
@probe("rtp.ingress")
def test_nuance_media_arrives_in_the_mcp_pod(evidence, expect):
    """RTP streamed by Nuance arrives on our port in the MCP's range, within the loss and jitter thresholds
    (nothing arriving is a timeout; loss or jitter over the threshold is semantic)."""
    media = expect.ingress.media
    assert evidence["rtp.received"] > 0
    assert within(evidence["rtp.loss_pct"], media.max_loss_pct)
    assert within(evidence["rtp.jitter_ms"], media.max_jitter_ms)
