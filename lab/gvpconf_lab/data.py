"""Lab components of the data area: a Consul STAND-IN (6, 10) and a SQL Server STAND-IN (16).

Neither Consul nor SQL Server can be installed here, so both peers are stand-ins that speak the real
wire protocols (Consul's HTTP API, TDS) and are proven with the real clients (py-consul; pymssql and
FreeTDS's ``tsql``). Each runs as its own process, with its own PID.

The Consul stand-in holds ``gvp-mcp`` instances pointing at the lab's real SIP peers: those of the
inventory's ``destinations.mcp`` when another component provides one, else the SIP Server's (sipp),
registered through the stand-in's own HTTP API once every peer is ready.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from gvpconf.wire import tds
from gvpconf_lab.base import LOOPBACK, Peer, gvpconf_env
from gvpconf_lab.component import Component

CONSUL_SERVICE = "gvp-mcp"
TENANT_KEYS = {"tenants/lab-tenant/name": "Environment", "tenants/lab-tenant/dbid": "101"}
WRITE_PREFIX = "gvpconf-probe/"


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


# -- SQL Server -------------------------------------------------------------------------------------

class TdsStandIn(Peer):
    """STAND-IN for SQL Server: ``gvpconf_lab.data_tds`` in its own process."""

    kind: ClassVar[str] = "sqlserver"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, *, username: str = "gvp_reader",
                 database: str = "gvp_rs", encryption: str = "NOT_SUP", host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.username = username
        self.database = database
        self.password = secrets.token_urlsafe(18)
        self.encryption = encryption
        self.password_file = self.workdir / "reader-password"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(self.password)
        self.password_file.chmod(0o600)

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.data_tds", "--host", self.host, "--port", str(self.port),
                "--user", self.username, "--password-file", str(self.password_file), "--database",
                self.database, "--encryption", self.encryption]

    def environment(self) -> dict[str, str]:
        return gvpconf_env() | {"PYTHONUNBUFFERED": "1"}

    def probe(self, timeout: float) -> None:
        """Ready when it answers a PRELOGIN with a PRELOGIN."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            hello = tds.Prelogin(version=(0, 1, 0, 0))
            sock.sendall(tds.encode_message(tds.PacketType.PRELOGIN, tds.encode_prelogin(hello)))
            decoder = tds.MessageDecoder()
            while (msg := decoder.next_message()) is None:
                data = sock.recv(4096)
                if not data:
                    raise ConnectionError("closed before answering PRELOGIN")
                decoder.feed(data)
            tds.parse_prelogin(msg.payload)

    def cleanup(self) -> None:
        self.password_file.unlink(missing_ok=True)

    def summary(self) -> str:
        return (f"STAND-IN for SQL Server (TDS 7.4 PRELOGIN/LOGIN7/SQL batch; NOT SQL Server; database "
                f"{self.database}, login {self.username})")


class SqlServerComponent(Component):
    """Connection 16: a TDS STAND-IN for SQL Server (FreeTDS's tsql is installed to cross-check it)."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"freetds-bin": lambda: _have("tsql")}
    stand_ins: ClassVar[Mapping[str, str]] = {"sqlserver": "a TDS stand-in (no SQL Server installs here)"}

    def make_peers(self) -> list[Peer]:
        self.tds = TdsStandIn(self.name, self.workdir, self.port())
        return [self.tds]

    def destinations(self) -> dict[str, Any]:
        secret = self.write_secret("password", self.tds.password)
        return {"sqlserver": {"database": self.tds.database, "username": self.tds.username,
                              "password": {"file": str(secret)}, "min_version": "13.0",
                              "targets": [{"name": "mssql", "host": self.tds.host, "port": self.tds.port}]}}


# -- Consul -----------------------------------------------------------------------------------------

class ConsulStandIn(Peer):
    """STAND-IN for Consul: ``gvpconf_lab.data_consul`` in its own process, HTTP and HTTPS."""

    kind: ClassVar[str] = "consul"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, *, https_port: int, cert: Path, key: Path,
                 ca_file: Path) -> None:
        super().__init__(name, workdir, port)
        self.https_port = https_port
        self.cert, self.key, self.ca_file = cert, key, ca_file
        self.token = secrets.token_hex(16)  # the probes' token (reader + own write prefix)
        self.admin_token = secrets.token_hex(16)  # the lab's, to register MCPs
        self.state_file = self.workdir / "consul-state.json"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = {
            "leader": "127.0.0.1:8300", "datacenter": "dc1", "node": "consul-server-0",
            "tokens": [
                {"secret": self.token, "description": "gvpconf probe (SD/MCP reader)",
                 "policies": ["gvp-sd", "gvp-mcp-read"], "agent": "read",
                 "service": {"": "read"}, "key": {"tenants/": "read", WRITE_PREFIX: "write"}},
                {"secret": self.admin_token, "description": "lab admin", "policies": ["global-management"],
                 "management": True},
            ],
            "services": [],
            "kv": TENANT_KEYS,
        }
        fd_path = self.state_file
        fd_path.write_text(json.dumps(state))
        fd_path.chmod(0o600)

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.data_consul", "--host", self.host, "--state", str(self.state_file),
                "--http-port", str(self.port), "--https-port", str(self.https_port), "--cert", str(self.cert),
                "--key", str(self.key)]

    def environment(self) -> dict[str, str]:
        return gvpconf_env() | {"PYTHONUNBUFFERED": "1"}

    def request(self, method: str, path: str, body: Any = None, *, https: bool = False, timeout: float = 3.0,
                token: str | None = None) -> Any:
        scheme, port = ("https", self.https_port) if https else ("http", self.port)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{scheme}://{self.host}:{port}{path}", data=data, method=method,
                                     headers={"X-Consul-Token": token if token is not None else self.admin_token})
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if https else None
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def probe(self, timeout: float) -> None:
        """Ready when both listeners answer GET /v1/status/leader with the leader."""
        for https in (False, True):
            if not self.request("GET", "/v1/status/leader", https=https, timeout=timeout):
                raise ConnectionError("no leader reported")

    def cleanup(self) -> None:
        self.state_file.unlink(missing_ok=True)

    def register_mcp(self, sid: str, address: str, port: int) -> None:
        self.request("PUT", "/v1/agent/service/register", {
            "ID": sid, "Name": CONSUL_SERVICE, "Address": address, "Port": port, "Tags": ["lab"],
            "Meta": {"zone": "lab-a"},
            "Check": {"CheckID": f"service:{sid}", "Name": "MCP service handler", "Status": "passing"}})

    def summary(self) -> str:
        return (f"STAND-IN for Consul (HTTP API subset, ACLs on; NOT Consul); https on {self.host}:{self.https_port} "
                "with the lab CA")


class ConsulComponent(Component):
    """Connections 6 and 10: a Consul HTTP API STAND-IN holding the MCP pool's registrations."""

    stand_ins: ClassVar[Mapping[str, str]] = {"consul": "a Consul HTTP API stand-in (no Consul installs here)"}

    def make_peers(self) -> list[Peer]:
        cert, key = self.lab.ca.issue("consul", dns=["localhost", "consul-server"], ips=[LOOPBACK])
        self.consul = ConsulStandIn(self.name, self.workdir, self.port(), https_port=self.port("https"),
                                    cert=cert, key=key, ca_file=self.lab.ca.ca_cert)
        self.registered: list[tuple[str, int]] = []
        return [self.consul]

    def _sip_peers(self) -> list[tuple[str, str, int]]:
        """(id, host, port) of the lab's SIP peers, read from the other components' inventory sections:
        ``mcp`` targets when some component provides them, else the SIP Server's."""
        sections: dict[str, Any] = {}
        for other in self.lab.components.values():
            if other is self or isinstance(other, SqlServerComponent | ConsulComponent):
                continue
            try:
                sections.update(other.destinations())
            except Exception:  # another area's component: its own inventory write reports the problem
                continue
        for key in ("mcp", "sip_server"):
            targets = (sections.get(key) or {}).get("targets") or []
            found = [(str(t.get("name") or f"{key}-{n}"), str(t["host"]), int(t["port"]))
                     for n, t in enumerate(targets)]
            if found:
                return found
        return []

    def destinations(self) -> dict[str, Any]:
        if not self.registered:
            for sid, host, port in self._sip_peers():
                self.consul.register_mcp(sid, host, port)
                self.registered.append((host, port))
        secret = self.write_secret("token", self.consul.token)
        section: dict[str, Any] = {
            "token": {"file": str(secret)}, "tls": self.lab.ca.inventory_tls(),
            "https_ports": [self.consul.https_port], "service": CONSUL_SERVICE, "tenants_prefix": "tenants",
            "write_prefix": WRITE_PREFIX}
        if self.registered:  # connection 10 runs as the first registered MCP; without one it fails, honestly
            section["self_address"], section["sip_port"] = self.registered[0]
        return {"consul": {**section, "targets": [
            {"name": "consul-http", "host": self.consul.host, "port": self.consul.port},
            {"name": "consul-https", "host": self.consul.host, "port": self.consul.https_port}]}}
