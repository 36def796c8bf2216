"""#13  MCP pool multi-AZ -> Nexus  ·  WebSocket 443  ·  egress
Websocket messages. MCP connects to Nexus for Voicebot and Agent Assist services."""

from gvpconf.suite import connection, probe

pytestmark = connection(13)


@probe("websocket.session")
def test_nexus_websocket_upgrade_ping_and_close(evidence):
    """TLS, 101 upgrade with our credentials and the configured subprotocol, ping/pong, clean close."""
    assert evidence["ws.status"] == 101
    assert evidence["ws.ping_rtt_ms"] >= 0
    assert evidence["ws.close_code"] == 1000
