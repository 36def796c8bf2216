"""#10  MCP pool -> Consul  ·  TCP 8500/8501  ·  egress
The MCP's service handler registers the MCP in Consul."""

from gvpconf.suite import connection, probe

pytestmark = connection(10)


@probe("consul.cluster")
def test_leader_elected_and_token_valid(evidence, expect):
    """Consul has a leader, and knows the MCP's ACL token (or none is configured)."""
    assert evidence["consul.leader"] != "none"  # the address of the elected leader
    if expect.token is not None and evidence.get("consul.acl") == "enabled":
        assert evidence["consul.token"] == "valid"  # acl/token/self read our token back


@probe("consul.mcp_registration")
def test_this_mcp_registered_and_healthy(evidence):
    """This MCP pod is an instance of the MCP service at its own address and SIP port, every check passing."""
    assert evidence["consul.registered"] == evidence["consul.self"]  # Consul's entry = this pod's address:SIP port
    passing, total = evidence["consul.checks"].split()[0].split("/")
    assert passing == total
