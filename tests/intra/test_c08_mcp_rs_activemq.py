"""#8  MCP pool multi-AZ -> RS  ·  TCP 61616  ·  intra-cluster (seed: egress)
ActiveMQ messages: MCP posts billing data to RS."""

from gvpconf.suite import connection, probe

pytestmark = connection(8)


@probe("activemq.openwire")
def test_billing_style_message_round_trip(evidence):
    """OpenWire, as the MCP speaks it: logged in, one message through a temporary queue of our own comes back
    unaltered to our consumer, acked, and everything we created is removed."""
    assert evidence["openwire.login"] == "accepted"  # ConnectionInfo answered by a Response correlated with it
    assert evidence["openwire.received"] == "1 of 1"  # our producer's message, dispatched to our consumer
    assert evidence["openwire.received_bytes"] == evidence["openwire.sent_bytes"]


@probe("activemq.stomp")
def test_stomp_round_trip_where_enabled(evidence):
    """Only where the broker has STOMP (stomp_port): a STOMP 1.2 message sent with a receipt comes back, unaltered,
    on our own destination."""
    assert evidence["stomp.version"] == "1.2"  # as negotiated in CONNECTED
    assert evidence["stomp.received_bytes"] == evidence["stomp.sent_bytes"]
