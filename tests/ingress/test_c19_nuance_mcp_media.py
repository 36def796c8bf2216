"""#19  Nuance -> MCP pool multi-AZ  ·  RTP/RTCP 20000-45000 / RTSP 14000-15999  ·  ingress.

Opt-in (it makes the Nuance side stream): listen on a port of the MCP's RTP range, RTSP SETUP with that
client_port and PLAY; media must arrive in the pod, within the loss and jitter thresholds.
"""

from gvpconf.suite import call, connection, probe

pytestmark = connection(19)


@call
@probe("rtp.ingress")
def test_nuance_media_arrives_in_the_mcp_pod(evidence):
    """RTP arrives on our port; nothing arriving is a timeout, loss/jitter over threshold is semantic."""
    assert evidence["rtp.received"] > 0
