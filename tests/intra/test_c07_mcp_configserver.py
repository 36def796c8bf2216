"""#7  MCP pool multi-AZ -> GVP Config Server  ·  TCP 8888  ·  intra-cluster (seed: egress)
MCP connects to configuration server to get recording certificate details."""

from gvpconf.suite import connection, probe

pytestmark = connection(7)


@probe("configserver.hold")
def test_configserver_accepts_and_holds(evidence):
    """Accepted, held open without a reset, no foreign banner (the depth a proprietary protocol allows)."""
    assert evidence["configserver.held_s"] > 0
