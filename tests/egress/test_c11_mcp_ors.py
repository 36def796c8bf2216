"""#11  MCP pool multi-AZ -> ORS  ·  HTTP/HTTPS 11200  ·  egress
HTTP messages."""

from gvpconf.suite import connection, probe

pytestmark = connection(11)


@probe("http.ors")
def test_ors_answers_the_configured_request(evidence):
    """The configured method and path get a status from the accepted set; latency and TLS facts are recorded."""
    assert 100 <= evidence["http.status"] < 600
    assert evidence["http.latency_ms"] >= 0
