"""The network-namespace lab: the cluster played on one machine.

Each GVP pod (rm-0, rm-1, mcp-0..N-1, rs, sd, configserver, prometheus) and each external peer
(SIP Server, PostgreSQL, and listener-only SQL Server and Consul) gets its own network namespace
``gvpc-<tag>-<node>`` with one address from 198.18.0.0/24, wired to a bridge that lives in a
namespace of its own (``gvpc-<tag>-sw``). No namespace has a default route; nothing is added to the
host's namespace; :meth:`NetLab.verify_wiring` checks this before any traffic is sent.

Real peers run inside the namespaces on their standard ports: ActiveMQ in ``rs`` (61616), the
Config Server STAND-IN in ``configserver`` (8888), sipp in each ``mcp-N`` (5070) and in
``sip-server`` (5090), PostgreSQL with TLS in ``postgres`` (5432). SQL Server (1433) and Consul
(8500) are only silent listeners (targets for the expected-deny matrix): their connections
(6, 10, 16) are disabled in the lab's inventory. Each GVP pod's egress is policed by iptables rules
generated from the connections table (``gvpconf_lab.netlab.policy``).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ipaddress
import json
import secrets
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from gvpconf.pods.model import SourcePod
from gvpconf_lab.base import LabError, Peer
from gvpconf_lab.netlab import netns, policy
from gvpconf_lab.netlab.peers import NetnsActiveMQ, NetnsListener, NetnsPeer, NetnsPostgres, NetnsSipp
from gvpconf_lab.netlab.policy import Action, Allow, Endpoint
from gvpconf_lab.tlsca import CA, make_ca

PREFIX = "gvpc-"
SUBNET = ipaddress.ip_network("198.18.0.0/24")
ZONES = ("zone-a", "zone-b")
LISTENER_ONLY = {"sqlserver": (1433, ("16",)), "consul": (8500, ("6", "10"))}
DEFAULT_TIMEOUTS = {"connect": 2.0, "read": 3.0, "probe": 10.0}


@dataclass(frozen=True)
class Node:
    name: str
    role: str | None  # the GVP source role of a pod; None for an external peer
    zone: str
    address: str
    index: int

    @property
    def is_pod(self) -> bool:
        return self.role is not None


def topology(mcp_pods: int = 2) -> list[Node]:
    """The nodes of the lab, in a fixed order, with addresses .10, .11, ... of the lab subnet."""
    plan: list[tuple[str, str | None, str]] = [("rm-0", "rm", ZONES[0]), ("rm-1", "rm", ZONES[1])]
    plan += [(f"mcp-{i}", "mcp", ZONES[i % len(ZONES)]) for i in range(mcp_pods)]
    plan += [("rs", "rs", ZONES[0]), ("sd", "sd", ZONES[0]), ("configserver", "configserver", ZONES[0]),
             ("prometheus", "prometheus", ZONES[1]),
             ("sip-server", None, "external"), ("postgres", None, "external"),
             ("sqlserver", None, "external"), ("consul", None, "external")]
    hosts = list(SUBNET.hosts())
    return [Node(name, role, zone, str(hosts[9 + i]), i) for i, (name, role, zone) in enumerate(plan)]


_RUNNING: weakref.WeakSet[NetLab] = weakref.WeakSet()


@atexit.register
def _stop_running() -> None:
    for lab in list(_RUNNING):
        with contextlib.suppress(Exception):
            lab.down()


class NetLab:
    """Namespaces, bridge, peers, policies and the inventory with namespace addresses. A context manager."""

    def __init__(self, workdir: Path, *, mcp_pods: int = 2, default_action: Action = "DROP",
                 tag: str | None = None) -> None:
        if not 1 <= mcp_pods <= 8:
            raise LabError("mcp_pods must be 1-8")
        self.workdir = Path(workdir).resolve()
        self.tag = tag or secrets.token_hex(3)
        self.nodes = topology(mcp_pods)
        self.by_name = {n.name: n for n in self.nodes}
        self.default_action: Action = default_action
        self.switch = f"{PREFIX}{self.tag}-sw"
        self.peers: dict[str, Peer] = {}
        self.endpoints: dict[str, list[Endpoint]] = {}
        self.rules: list[Allow] = []
        self.inventory_path = self.workdir / "inventory.yaml"
        self.secrets_dir = self.workdir / "secrets"
        self._ca: CA | None = None
        self._inventory: dict[str, Any] = {}
        self._created: list[str] = []
        self._up = False

    # -- names -------------------------------------------------------------------------------
    def ns(self, node: str) -> str:
        if node not in self.by_name:
            raise KeyError(f"no node {node!r} in the lab; nodes: {', '.join(self.by_name)}")
        return f"{PREFIX}{self.tag}-{node}"

    def pods(self) -> list[Node]:
        return [n for n in self.nodes if n.is_pod]

    def source_pods(self) -> list[SourcePod]:
        """Every GVP pod as a runner source (location = its namespace)."""
        return [SourcePod(role=n.role or "", pod=n.name, zone=n.zone, location=self.ns(n.name), node="netlab",
                          ip=n.address, labels=(("app.kubernetes.io/name", f"gvp-{n.role}"),))
                for n in self.pods()]

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> NetLab:
        self.up()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        if self._up:
            raise LabError("netns lab is already up")
        self._up = True
        _RUNNING.add(self)
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._wire()
            self.verify_wiring()
            self._ca = make_ca(self.workdir / "tls")
            self._make_peers()
            self._start_peers()
            self._write_inventory()
            self.rules = policy.allow_rules({n.name: n.role for n in self.pods() if n.role},
                                            self.endpoints)
            self.apply_policies()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise

    def down(self) -> None:
        """Stop every peer by PID, then delete every namespace of this lab (veths, bridge, rules go with them)."""
        errors: list[str] = []
        for peer in reversed(list(self.peers.values())):
            try:
                peer.stop()
            except LabError as exc:
                errors.append(str(exc))
        for name in reversed(self._created):
            try:
                netns.delete(name)
            except netns.NetnsError as exc:
                errors.append(str(exc))
        self._created.clear()
        self._up = False
        _RUNNING.discard(self)
        if errors:
            raise LabError("; ".join(errors))

    def namespaces(self) -> list[str]:
        """Namespaces of this lab that exist now."""
        return netns.list_prefixed(f"{PREFIX}{self.tag}-")

    # -- wiring ------------------------------------------------------------------------------
    def _wire(self) -> None:
        netns.add(self.switch)
        self._created.append(self.switch)
        netns.ip("link", "add", "br0", "type", "bridge", netns=self.switch)
        netns.ip("link", "set", "br0", "up", netns=self.switch)
        prefix = SUBNET.prefixlen
        for node in self.nodes:
            name = self.ns(node.name)
            netns.add(name)
            self._created.append(name)
            port = f"v{node.index}"
            netns.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name, netns=self.switch)
            netns.ip("link", "set", port, "master", "br0", "up", netns=self.switch)
            netns.ip("addr", "add", f"{node.address}/{prefix}", "dev", "eth0", netns=name)
            netns.ip("link", "set", "eth0", "up", netns=name)

    def verify_wiring(self) -> None:
        """Check that every route stays inside the lab's bridge: raises NetnsError otherwise."""
        problems: list[str] = []
        sw_links = {link["ifname"] for link in json.loads(netns.ip("-j", "link", "show", netns=self.switch).stdout)}
        expected_sw = {"lo", "br0", *(f"v{n.index}" for n in self.nodes)}
        if sw_links != expected_sw:
            problems.append(f"switch {self.switch} has links {sorted(sw_links)}, expected {sorted(expected_sw)}")
        sw_addrs = [a for link in json.loads(netns.ip("-j", "addr", "show", netns=self.switch).stdout)
                    for a in link.get("addr_info", []) if link["ifname"] != "lo"]
        if sw_addrs:
            problems.append(f"switch {self.switch} has addresses {sw_addrs}: it must only bridge")
        for node in self.nodes:
            name = self.ns(node.name)
            links = {link["ifname"] for link in json.loads(netns.ip("-j", "link", "show", netns=name).stdout)}
            if links != {"lo", "eth0"}:
                problems.append(f"{name} has links {sorted(links)}, expected lo and eth0")
            for route in json.loads(netns.ip("-j", "route", "show", "table", "all", netns=name).stdout):
                dst, dev = route.get("dst", ""), route.get("dev", "")
                if route.get("table") == "local" or dev == "lo":
                    continue
                if dst == "default" or dev != "eth0":
                    problems.append(f"{name}: route {route} leaves the lab")
                    continue
                try:
                    inside = ipaddress.ip_network(dst, strict=False).subnet_of(SUBNET)  # type: ignore[arg-type]
                except (ValueError, TypeError):
                    inside = False
                if not inside:
                    problems.append(f"{name}: route to {dst} is outside {SUBNET}")
        if problems:
            raise netns.NetnsError("lab wiring is unsafe: " + "; ".join(problems))

    # -- peers -------------------------------------------------------------------------------
    @property
    def ca(self) -> CA:
        if self._ca is None:
            raise LabError("the lab CA exists only once the lab is up")
        return self._ca

    def _peer(self, peer: NetnsPeer, node: str) -> None:
        peer.netns = self.ns(node)
        self.peers[peer.name] = peer

    def _make_peers(self) -> None:
        wd = self.workdir / "peers"
        cfg = self.by_name["configserver"]
        listener = NetnsListener("configserver", wd / "configserver", 8888, host=cfg.address)
        self._peer(listener, cfg.name)
        self.endpoints["configserver"] = [Endpoint(cfg.name, cfg.address, 8888)]
        rs = self.by_name["rs"]
        self._peer(NetnsActiveMQ("activemq", wd / "activemq", 61616, host=rs.address), rs.name)
        self.endpoints["activemq"] = [Endpoint(rs.name, rs.address, 61616)]
        sip = self.by_name["sip-server"]
        self._peer(NetnsSipp("sip-server", wd / "sip-server", 5090, host=sip.address,
                             server_header="sipp-netlab"), sip.name)
        self.endpoints["sip_server"] = [Endpoint(sip.name, sip.address, 5090)]
        self.endpoints["mcp"] = []
        for node in self.pods():
            if node.role == "mcp":
                self._peer(NetnsSipp(f"sip-{node.name}", wd / node.name, 5070, host=node.address,
                                     server_header=f"sipp-{node.name}"), node.name)
                self.endpoints["mcp"].append(Endpoint(node.name, node.address, 5070))
        pg_node = self.by_name["postgres"]
        cert, key = self.ca.issue("postgres", dns=("postgres",), ips=(pg_node.address,))
        pg = NetnsPostgres("postgres", wd / "postgres", 5432, host=pg_node.address, ca_file=self.ca.ca_cert,
                           cert_file=cert, key_file=key)
        pg.subnet = str(SUBNET)
        self._peer(pg, pg_node.name)
        self.endpoints["postgres"] = [Endpoint(pg_node.name, pg_node.address, 5432)]
        for key_name, (port, _rows) in LISTENER_ONLY.items():
            node = self.by_name[key_name]
            only = NetnsListener(key_name, wd / key_name, port, host=node.address)
            only.label = f"listener only on {port} (a deny-matrix target; NOT a {key_name} server)"
            self._peer(only, node.name)
            self.endpoints[key_name] = [Endpoint(node.name, node.address, port)]

    def _start_peers(self) -> None:
        def bring_up(peer: Peer) -> None:
            peer.start()
            peer.wait_ready()

        peers = list(self.peers.values())
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(peers), thread_name_prefix="netlab-up") as pool:
            futures = [pool.submit(bring_up, p) for p in peers]
            errors = []
            for fut in futures:
                try:
                    fut.result()
                except Exception as exc:
                    errors.append(str(exc))
            if errors:
                raise LabError("; ".join(errors))

    # -- inventory ---------------------------------------------------------------------------
    def _secret(self, name: str, value: str) -> str:
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.secrets_dir / name
        path.write_text(value)
        path.chmod(0o600)
        return str(path)

    def inventory(self) -> dict[str, Any]:
        return self._inventory

    def _write_inventory(self) -> None:
        amq = self.peers["activemq"]
        pg = self.peers["postgres"]
        assert isinstance(amq, NetnsActiveMQ) and isinstance(pg, NetnsPostgres)

        def targets(key: str, name: str | None = None) -> list[dict[str, Any]]:
            return [{"name": name or e.node, "host": e.address, "port": e.port,
                     "zone": self.by_name[e.node].zone} for e in self.endpoints[key]]

        dests: dict[str, Any] = {
            "sip_server": {"transport": "tcp", "targets": targets("sip_server")},
            "configserver": {"hold": 1.0, "targets": targets("configserver", "gvp-configserver")},
            "activemq": {"username": amq.username, "password": {"file": self._secret("activemq-password",
                                                                                     amq.password)},
                         "targets": targets("activemq", "gvp-rs")},
            "mcp": {"transport": "tcp", "targets": [{"name": f"gvp-{e.node}", "host": e.address, "port": e.port,
                                                     "zone": self.by_name[e.node].zone}
                                                    for e in self.endpoints["mcp"]]},
            "postgres": {"database": pg.database, "username": pg.username,
                         "password": {"file": self._secret("postgres-password", pg.password)},
                         "sslmode": "verify-full", "ca_file": str(pg.ca_file), "targets": targets("postgres")},
        }
        conns: dict[str, Any] = {}
        for key, (_port, rows) in LISTENER_ONLY.items():
            dests[key] = {"targets": targets(key)}
            for row in rows:
                conns[row] = {"enabled": False}
        self._inventory = {"version": 1, "cluster": {"name": f"gvpconf-netlab-{self.tag}", "namespace": "gvp"},
                           "defaults": {"timeouts": dict(DEFAULT_TIMEOUTS)}, "destinations": dests,
                           "connections": conns}
        self.inventory_path.write_text(yaml.safe_dump(self._inventory, sort_keys=False))

    # -- policies ----------------------------------------------------------------------------
    def apply_policies(self) -> None:
        """(Re)build every pod's egress chain from ``self.rules`` and the default action."""
        for node in self.pods():
            name = self.ns(node.name)
            netns.iptables(name, "-D", "OUTPUT", "-j", policy.CHAIN, check=False)
            netns.iptables(name, "-F", policy.CHAIN, check=False)
            netns.iptables(name, "-X", policy.CHAIN, check=False)
            for args in policy.chain_commands([r for r in self.rules if r.source == node.name],
                                              self.default_action):
                netns.iptables(name, *args)

    def rules_for(self, connection: int, source: str) -> list[Allow]:
        return [r for r in self.rules if r.connection == connection and r.source == source]

    def remove_allow(self, connection: int, source: str) -> list[Allow]:
        """Delete the ACCEPT rules of ``connection`` from pod ``source``; returns them."""
        gone = self.rules_for(connection, source)
        if not gone:
            raise LabError(f"no allow rule for connection {connection} from {source}")
        for rule in gone:
            netns.iptables(self.ns(source), "-D", policy.CHAIN, *rule.spec())
            self.rules.remove(rule)
        return gone

    def restore_allow(self, rules: Iterable[Allow]) -> None:
        for rule in rules:
            netns.iptables(self.ns(rule.source), "-I", policy.CHAIN, "3", *rule.spec())
            self.rules.append(rule)

    def add_allow(self, source: str, dest_key: str) -> list[Allow]:
        """Allow pod ``source`` to reach destination ``dest_key``'s targets although the table does not."""
        added = [Allow(0, source, e) for e in self.endpoints[dest_key] if e.node != source]
        self.restore_allow(added)
        return added

    def drop_rules(self, rules: Sequence[Allow]) -> None:
        for rule in rules:
            netns.iptables(self.ns(rule.source), "-D", policy.CHAIN, *rule.spec())
            self.rules.remove(rule)

    def set_default_action(self, action: Action) -> None:
        self.default_action = action
        self.apply_policies()

    def egress_chain(self, node: str) -> str:
        return netns.iptables(self.ns(node), "-S", policy.CHAIN).stdout

    def describe(self) -> str:
        lines = [f"netns lab {self.tag}: switch {self.switch}, subnet {SUBNET}"]
        for node in self.nodes:
            kind = f"pod {node.role} {node.zone}" if node.is_pod else "external"
            lines.append(f"  {self.ns(node.name)}: {node.address} ({kind})")
        lines += [f"  peer {p.describe()}" for p in self.peers.values()]
        return "\n".join(lines)


def clean(tag: str) -> list[str]:
    """Delete the namespaces of lab ``tag`` left behind by a killed run; returns their names."""
    names = netns.list_prefixed(f"{PREFIX}{tag}-")
    for name in names:
        netns.delete(name)
    return names
