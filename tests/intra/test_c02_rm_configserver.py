"""#2  RM pair multi-AZ -> GVP Config Server  ·  TCP 8888  ·  intra-cluster (seed: egress)
RM connects to GVP Configuration Server to get configuration data."""

from gvpconf.suite import connection, probe

pytestmark = connection(2)


@probe("configserver.hold")
def test_configserver_accepts_and_holds(evidence, expect):
    """Accepted and held open for the whole hold time, no reset, no foreign banner (the depth a proprietary
    protocol allows: the Config Server's client speaks first, so a silent server of another kind passes too)."""
    assert evidence["configserver.held_s"] >= expect.hold  # measured: the connection outlived the hold
