"""#6  Service Discovery -> Consul  ·  TCP 8500/8501  ·  egress
SD periodically syncs with Consul to get the MCPs registered there, and writes tenant data to Consul KV."""

from gvpconf.suite import connection, probe

pytestmark = connection(6)


@probe("consul.cluster")
def test_leader_elected_and_token_valid(evidence, expect):
    """Consul has a leader, and knows SD's ACL token (or none is configured)."""
    assert evidence["consul.leader"] != "none"  # the address of the elected leader
    if expect.token is not None and evidence.get("consul.acl") == "enabled":
        assert evidence["consul.token"] == "valid"  # acl/token/self read our token back


@probe("consul.sd_catalog")
def test_mcp_pool_and_tenant_data_readable(evidence):
    """The MCP service has registered instances, and the tenants KV folder is readable (write check: opt-in)."""
    assert evidence["consul.instances"] >= 1
