"""#1  RM pair multi-AZ -> SIP Server  ·  SIP/TCP 5090  ·  egress  ·  SIP Protocol messages."""

from gvpconf.suite import connection, probe

pytestmark = connection(1)


@probe("sip.options")
def test_sip_server_answers_options(evidence):
    """A real SIP stack answers our OPTIONS, echoing Via branch, Call-ID, CSeq and From tag."""
    assert isinstance(evidence["sip.status"], int)
