"""Lab components of the data area (Consul (6, 10), SQL Server (16)): name -> "module:Class".

Both are STAND-INS (nothing installable plays Consul or SQL Server here): see ``gvpconf.lab.data``.
"""

COMPONENTS: dict[str, str] = {
    "consul": "gvpconf.lab.data:ConsulComponent",
    "sqlserver": "gvpconf.lab.data:SqlServerComponent",
}
