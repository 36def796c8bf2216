"""Destination settings of the service-discovery and database probes: Consul (6, 10), SQL Server (16),
and the ``discovery:`` section (MCP pool discovery from Consul's catalog)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, ClassVar, Literal

from gvpconf.inventory.base import Destination, Seconds, SecretRef, _Model
from gvpconf.inventory.tls import TlsDestination
from gvpconf.model import Field, model_validator

Port = Annotated[int, Field(ge=1, le=65535)]
ServiceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
KvPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$")]


class NodeAgent(_Model):
    """The node-local Consul agent (``<hostIP>:8501``): an extra target whose host comes from the pod's
    environment (Kubernetes downward API ``status.hostIP``), added at collection time."""

    host_env: str = Field("HOST_IP", min_length=1, description="environment variable holding the node's IP")
    port: Port = 8501
    name: str = Field("consul-agent", min_length=1, description="test id of this target")


class ConsulDestination(TlsDestination):
    """Consul's HTTP API (8500) or HTTPS API (8501), server or node-local agent. Over HTTPS the common ``tls``
    section applies (CA, name, minimum version, expiry warning, expected issuers)."""

    legacy_ca_file: ClassVar[bool] = True

    token: SecretRef | None = Field(None, description="ACL token (sent as X-Consul-Token, never in a URL)")
    https_ports: list[Port] = Field(default_factory=lambda: [8501],
                                    description="targets on these ports are spoken to over HTTPS")
    service: ServiceName = Field("gvp-mcp", description="the service name MCPs register under")
    sip_port: Port = Field(5070, description="the port an MCP registers (its SIP port)")
    self_address: str | None = Field(None, min_length=1, description=(
        "this MCP pod's address as it registers itself (connection 10); default: the local address this "
        "pod uses to reach Consul (the pod IP)"))
    tenants_prefix: KvPrefix = Field("tenants", description="KV folder where SD writes tenant data")
    require_tenants: bool = Field(True, description="an empty tenants folder is a failure")
    write_check: bool = Field(False, description=(
        "connection 6 also proves KV write: a check-and-set create under write_prefix, read back, deleted "
        "(also --consul-write-check)"))
    write_prefix: KvPrefix = Field("gvpconf-probe/", description="the write check's own key prefix")
    node_agent: NodeAgent | None = None

    def secret_fields(self) -> Iterable[str]:
        return ("token",)

    @model_validator(mode="after")
    def _own_prefix(self) -> ConsulDestination:
        own = self.write_prefix.rstrip("/") + "/"
        tenants = self.tenants_prefix.rstrip("/") + "/"
        if own.startswith(tenants) or tenants.startswith(own):
            raise ValueError(f"write_prefix {self.write_prefix!r} overlaps tenants_prefix {self.tenants_prefix!r}: "
                             "the write check needs its own key prefix")
        return self


MIN_SQLSERVER = "13.0"  # SQL Server 2016, the oldest GVP supports


class SqlServerDestination(Destination):
    """SQL Server (RS's database): PRELOGIN (no credentials), then a reader login with pymssql."""

    database: str = Field("gvp_rs", min_length=1)
    username: str | SecretRef | None = Field(None, description="reader login; the login probe needs it")
    password: SecretRef | None = None
    require_encryption: bool = Field(False, description=(
        "PRELOGIN must announce encryption ON or REQ, and the login requires TLS"))
    min_version: str = Field(MIN_SQLSERVER, pattern=r"^\d+(\.\d+){0,2}$",
                             description="lowest accepted server version, e.g. 13.0 (SQL Server 2016)")
    tds_version: Literal["7.2", "7.3", "7.4"] = Field("7.4", description=(
        "TDS version pymssql asks for; an explicit version keeps a silent server to one login timeout"))

    def secret_fields(self) -> Iterable[str]:
        return ("username", "password")

    def min_version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.min_version.split("."))


class ConsulDiscovery(_Model):
    """Targets from Consul's health API: the instances of ``service``, using ``destinations.consul``'s first
    target, token and ``tls`` section."""

    service: ServiceName = "gvp-mcp"
    passing_only: bool = Field(True, description="only instances whose checks all pass")
    port: Port | None = Field(None, description="probe this port instead of the registered one")
    tag: str | None = Field(None, min_length=1, description="only instances with this tag")
    timeout: Seconds = Field(5.0, description="the whole discovery, at collection time")


class PoolDiscovery(_Model):
    consul: ConsulDiscovery


class Discovery(_Model):
    """Where targets come from besides the static lists (``discovery:`` at the top of the inventory).

    ``mcp: {consul: {service: gvp-mcp}}``: the MCP pool (connections 4 and 19, anything parametrized per
    MCP pod) is read from Consul at collection time instead of ``destinations.mcp.targets``.
    """

    mcp: PoolDiscovery | None = None

    def for_destination(self, key: str) -> PoolDiscovery | None:
        found: PoolDiscovery | None = getattr(self, key, None) if re.fullmatch(r"[a-z_]+", key) else None
        return found
