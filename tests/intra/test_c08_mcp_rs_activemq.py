"""#8  MCP pool multi-AZ -> RS  ·  TCP 61616  ·  intra-cluster (seed: egress)
ActiveMQ messages: MCP posts billing data to RS."""

from gvpconf.suite import connection, probe

pytestmark = connection(8)


@probe("activemq.openwire")
def test_broker_speaks_openwire(evidence):
    """The broker answers our WireFormatInfo with its own: magic ActiveMQ and a protocol version."""
    assert evidence["openwire.version"] >= 1


@probe("activemq.stomp")
def test_billing_style_message_round_trip(evidence):
    """Authenticated STOMP 1.2: a message sent with a receipt comes back, unaltered, on our own destination."""
    assert evidence["stomp.version"] == "1.2"  # as negotiated in CONNECTED
    assert evidence["stomp.received_bytes"] == evidence["stomp.sent_bytes"]
