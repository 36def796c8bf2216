"""#21  MCP pool multi-AZ -> Customer system  ·  HTTP/HTTPS 80  ·  egress
HTTP messages."""

from gvpconf.suite import connection, probe, status_accepted

pytestmark = connection(21)


@probe("http.customer")
def test_customer_system_answers_the_configured_request(evidence, expect):
    """The configured request gets a status the inventory accepts (and the body pattern or JSON field, if set)."""
    assert status_accepted(evidence["http.status"], expect.accept_status)
