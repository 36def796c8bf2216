"""Lab components of the data area (Consul (6, 10), SQL Server (16)): name -> "module:Class"."""

COMPONENTS: dict[str, str] = {}
