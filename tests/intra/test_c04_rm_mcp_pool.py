"""#4  RM pair multi-AZ -> MCP pool multi-AZ  ·  SIP/TCP 5070  ·  intra  ·  SIP Protocol messages.

One case per MCP pod of the pool: a SIP OPTIONS; and, opt-in (``--gvp-calls`` or ``mcp.calls: true``), a full
call whose RTP the pod echoes.
"""

from gvpconf.suite import call, connection, probe

pytestmark = connection(4)


@probe("sip.options")
def test_every_mcp_pod_answers_options(evidence):
    """Each pod's SIP stack answers our OPTIONS, echoing Via branch, Call-ID, CSeq and From tag."""
    assert isinstance(evidence["sip.status"], int)


@call
@probe("sip.call")
def test_every_mcp_pod_takes_a_call(evidence):
    """INVITE -> 200 with SDP -> ACK -> RTP burst echoed within the loss/jitter thresholds -> BYE 200."""
    assert evidence["sip.bye_status"] == 200
    assert evidence["rtp.received"] > 0
