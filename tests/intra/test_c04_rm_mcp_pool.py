"""#4  RM pair multi-AZ -> MCP pool multi-AZ  ·  SIP/TCP 5070  ·  intra  ·  SIP Protocol messages.

One case per MCP pod of the pool: a SIP OPTIONS; and, opt-in (``--gvp-calls`` or ``mcp.calls: true``), a full
call whose RTP the pod echoes.
"""

from gvpconf.suite import call, connection, probe, status_accepted, within

pytestmark = connection(4)


@probe("sip.options")
def test_every_mcp_pod_answers_options(evidence, expect):
    """Each pod's SIP stack answers our OPTIONS in our transaction, with a status the inventory accepts."""
    assert evidence["sip.transaction"] == "ours"  # Via branch, Call-ID, CSeq and From tag echoed (RFC 3261 §17.1.3)
    assert status_accepted(evidence["sip.status"], expect.accept_status)


@call
@probe("sip.call")
def test_every_mcp_pod_takes_a_call(evidence, expect):
    """INVITE -> 200 with SDP -> ACK -> an RTP burst echoed within the loss and jitter thresholds -> BYE 200."""
    media = expect.call.media
    assert within(evidence["rtp.loss_pct"], media.max_loss_pct)
    assert within(evidence["rtp.jitter_ms"], media.max_jitter_ms)
    assert evidence["sip.bye_status"] == 200


@probe("sipmtu.options")
def test_every_mcp_pod_takes_invite_sized_requests(evidence, expect):
    """Each pod answers an OPTIONS padded to the size of a real INVITE with SDP: no path-MTU blackhole between RM
    and MCP."""
    assert evidence["sipmtu.largest_ok"] >= expect.mtu_size  # every size up to a real INVITE's was answered
