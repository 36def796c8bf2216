"""#7  MCP pool multi-AZ -> GVP Config Server  ·  TCP 8888  ·  intra-cluster (seed: egress)
MCP connects to configuration server to get recording certificate details."""

from gvpconf.suite import connection, probe

pytestmark = connection(7)


@probe("configserver.hold")
def test_configserver_accepts_and_holds(evidence, expect):
    """Accepted and held open for the whole hold time, no reset, no foreign banner (the depth a proprietary
    protocol allows: the Config Server's client speaks first, so a silent server of another kind passes too)."""
    assert evidence["configserver.held_s"] >= expect.hold  # measured: the connection outlived the hold
