"""#11  MCP pool multi-AZ -> ORS  ·  HTTP/HTTPS 11200  ·  egress
HTTP messages."""

from gvpconf.suite import connection, probe, status_accepted

pytestmark = connection(11)


@probe("http.ors")
def test_ors_answers_the_configured_request(evidence, expect):
    """The configured method and path get a status the inventory accepts; latency and TLS facts are recorded."""
    assert status_accepted(evidence["http.status"], expect.accept_status)
