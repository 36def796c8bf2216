"""Probe registry of the data area: Consul (6, 10), SQL Server (16).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words.
"""

REGISTRY: dict[str, str] = {
    "consul.cluster": "gvpconf.probes.consul:cluster",
    "consul.mcp_registration": "gvpconf.probes.consul:mcp_registration",
    "consul.sd_catalog": "gvpconf.probes.consul:sd_catalog",
    "mssql.prelogin": "gvpconf.probes.mssql:prelogin",
    "mssql.login": "gvpconf.probes.mssql:login",
}

SENDS: dict[str, str] = {
    "consul.cluster": "GET status/leader, acl/token/self, agent/self (read-only)",
    "consul.mcp_registration": "GET status/leader, health/service/<service> (read-only)",
    "consul.sd_catalog": "GET health/service/<service> and the tenants KV keys; with the write check, one KV key "
                         "of its own created (cas=0) and deleted",
    "mssql.prelogin": "a TDS PRELOGIN (no credentials)",
    "mssql.login": "a reader login and SELECT @@VERSION, DB_NAME() (read-only)",
}
