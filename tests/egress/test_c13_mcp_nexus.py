"""#13  MCP pool multi-AZ -> Nexus  ·  WebSocket 443  ·  egress
Websocket messages. MCP connects to Nexus for Voicebot and Agent Assist services."""

from gvpconf.suite import connection, probe

pytestmark = connection(13)


@probe("websocket.session")
def test_nexus_websocket_upgrade_ping_and_close(evidence, expect):
    """TLS, a 101 upgrade with our credentials and the configured subprotocol, ping answered, clean close."""
    assert evidence["ws.status"] == 101
    assert evidence.get("ws.subprotocol") == expect.subprotocol
    assert evidence["ws.close_code"] == 1000
