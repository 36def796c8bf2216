"""#5  Service Discovery -> GVP Config Server  ·  TCP 8888  ·  intra-cluster (seed: egress)
SD connects to configuration server to Check/Add/Delete MCP applications."""

from gvpconf.suite import connection, probe

pytestmark = connection(5)


@probe("configserver.hold")
def test_configserver_accepts_and_holds(evidence):
    """Accepted, held open without a reset, no foreign banner (the depth a proprietary protocol allows)."""
    assert evidence["configserver.held_s"] > 0
