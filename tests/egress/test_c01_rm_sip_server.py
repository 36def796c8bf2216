"""#1  RM pair multi-AZ -> SIP Server  ·  SIP/TCP 5090  ·  egress  ·  SIP Protocol messages."""

from gvpconf.suite import connection, probe, status_accepted

pytestmark = connection(1)


@probe("sip.options")
def test_sip_server_answers_options(evidence, expect):
    """A real SIP stack answers our OPTIONS in our transaction, with a status the inventory accepts (2xx)."""
    assert evidence["sip.transaction"] == "ours"  # Via branch, Call-ID, CSeq and From tag echoed (RFC 3261 §17.1.3)
    assert status_accepted(evidence["sip.status"], expect.accept_status)


@probe("sipmtu.options")
def test_sip_server_takes_invite_sized_requests(evidence, expect):
    """An OPTIONS padded to the size of a real INVITE with SDP (``mtu_size``)
    is answered like a small one: no path-MTU blackhole on the way."""
    assert evidence["sipmtu.largest_ok"] >= expect.mtu_size  # every size up to a real INVITE's was answered
