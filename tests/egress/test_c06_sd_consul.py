"""#6  Service Discovery -> Consul  ·  TCP 8500/8501  ·  egress
SD periodically syncs with Consul to get the MCPs registered there, and writes tenant data to Consul KV."""

from gvpconf.suite import connection, probe

pytestmark = connection(6)


@probe("consul.cluster")
def test_leader_elected_and_token_valid(evidence):
    """Consul has a leader, and knows SD's ACL token (or none is configured)."""
    assert evidence["consul.leader"] != "none"
    assert evidence["consul.token"] in ("valid", "none configured")


@probe("consul.sd_catalog")
def test_mcp_pool_and_tenant_data_readable(evidence):
    """The MCP service has registered instances, and the tenants KV folder is readable (write check: opt-in)."""
    assert evidence["consul.instances"] >= 1
    assert evidence["consul.write_check"] in ("off (read-only)", "created (cas=0), read back, deleted (cas)")
