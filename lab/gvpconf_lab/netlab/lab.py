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

import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gvpconf.pods.model import SourcePod
from gvpconf_lab.base import LabError, Peer
from gvpconf_lab.lifecycle import DEFAULT_TIMEOUTS, LabLifecycle
from gvpconf_lab.netlab import netns, policy
from gvpconf_lab.netlab.peers import NetnsActiveMQ, NetnsListener, NetnsPeer, NetnsPostgres, NetnsSipp
from gvpconf_lab.netlab.policy import Action, Allow, Endpoint

PREFIX = "gvpc-"
SUBNET = ipaddress.ip_network("198.18.0.0/24")
ZONES = ("zone-a", "zone-b")
LISTENER_ONLY = {"sqlserver": (1433, ("16",)), "consul": (8500, ("6", "10"))}


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


class NetLab(LabLifecycle):
    """Namespaces, bridge, peers, policies and the inventory with namespace addresses. A context manager."""

    label: ClassVar[str] = "netns lab"

    def __init__(self, workdir: Path, *, mcp_pods: int = 2, default_action: Action = "DROP",
                 tag: str | None = None) -> None:
        if not 1 <= mcp_pods <= 8:
            raise LabError("mcp_pods must be 1-8")
        super().__init__(workdir)
        self.tag = tag or secrets.token_hex(3)
        self.nodes = topology(mcp_pods)
        self.by_name = {n.name: n for n in self.nodes}
        self.default_action: Action = default_action
        self.switch = f"{PREFIX}{self.tag}-sw"
        self.segment = netns.Segment(self.switch, str(SUBNET), {self.ns(n.name): n.address for n in self.nodes})
        self.endpoints: dict[str, list[Endpoint]] = {}
        self.rules: list[Allow] = []
        self._inventory: dict[str, Any] | None = None

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

    # -- lifecycle (gvpconf_lab.lifecycle): wiring first, policies last, namespaces deleted at the end ------
    def prepare(self) -> None:
        self.segment.create()
        self.segment.verify()

    def after_up(self) -> None:
        self.rules = policy.allow_rules({n.name: n.role for n in self.pods() if n.role}, self.endpoints)
        self.apply_policies()

    def teardown(self) -> list[str]:
        """Delete every namespace of this lab (veths, bridge and rules go with them)."""
        return self.segment.delete()

    def namespaces(self) -> list[str]:
        """Namespaces of this lab that exist now."""
        return netns.list_prefixed(f"{PREFIX}{self.tag}-")

    def verify_wiring(self) -> None:
        """Check that every route stays inside the lab's bridge: raises NetnsError otherwise."""
        self.segment.verify()

    # -- peers -------------------------------------------------------------------------------
    def make_peers(self) -> list[Peer]:
        """Each peer in its node's namespace, bound to the node's address; ``endpoints`` records where."""
        wd = self.workdir / "peers"
        made: list[Peer] = []
        self.endpoints = {}

        def place(key: str, node: Node, peer: NetnsPeer) -> None:
            peer.netns = self.ns(node.name)
            made.append(peer)
            self.endpoints.setdefault(key, []).append(Endpoint(node.name, node.address, peer.port))

        cfg, rs, sip, pg_node = (self.by_name[n] for n in ("configserver", "rs", "sip-server", "postgres"))
        place("configserver", cfg, NetnsListener("configserver", wd / "configserver", 8888, host=cfg.address))
        place("activemq", rs, NetnsActiveMQ("activemq", wd / "activemq", 61616, host=rs.address))
        place("sip_server", sip, NetnsSipp("sip-server", wd / "sip-server", 5090, host=sip.address,
                                           server_header="sipp-netlab"))
        for node in self.pods():
            if node.role == "mcp":
                place("mcp", node, NetnsSipp(f"sip-{node.name}", wd / node.name, 5070, host=node.address,
                                             server_header=f"sipp-{node.name}"))
        cert, key = self.ca.issue("postgres", dns=("postgres",), ips=(pg_node.address,))
        pg = NetnsPostgres("postgres", wd / "postgres", 5432, host=pg_node.address, ca_file=self.ca.ca_cert,
                           cert_file=cert, key_file=key)
        pg.subnet = str(SUBNET)
        place("postgres", pg_node, pg)
        for key_name, (port, _rows) in LISTENER_ONLY.items():
            only = NetnsListener(key_name, wd / key_name, port, host=self.by_name[key_name].address)
            only.label = f"listener only on {port} (a deny-matrix target; NOT a {key_name} server)"
            place(key_name, self.by_name[key_name], only)
        return made

    # -- inventory ---------------------------------------------------------------------------
    def inventory(self) -> dict[str, Any]:
        if self._inventory is None:
            self._inventory = self._make_inventory()
        return self._inventory

    def _make_inventory(self) -> dict[str, Any]:
        amq = self.peers["activemq"]
        pg = self.peers["postgres"]
        assert isinstance(amq, NetnsActiveMQ) and isinstance(pg, NetnsPostgres)

        def targets(key: str, name: str | None = None) -> list[dict[str, Any]]:
            return [{"name": name or e.node, "host": e.address, "port": e.port,
                     "zone": self.by_name[e.node].zone} for e in self.endpoints[key]]

        def secret(name: str, value: str) -> dict[str, str]:
            return {"file": str(self.write_secret(name, value))}

        dests: dict[str, Any] = {
            "sip_server": {"transport": "tcp", "targets": targets("sip_server")},
            "configserver": {"hold": 1.0, "targets": targets("configserver", "gvp-configserver")},
            "activemq": {"username": amq.username, "password": secret("activemq-password", amq.password),
                         "targets": targets("activemq", "gvp-rs")},
            "mcp": {"transport": "tcp", "targets": [{"name": f"gvp-{e.node}", "host": e.address, "port": e.port,
                                                     "zone": self.by_name[e.node].zone}
                                                    for e in self.endpoints["mcp"]]},
            "postgres": {"database": pg.database, "username": pg.username,
                         "password": secret("postgres-password", pg.password),
                         "tls": {"ca_file": str(pg.ca_file)}, "targets": targets("postgres")},
        }
        conns: dict[str, Any] = {}
        for key, (_port, rows) in LISTENER_ONLY.items():
            dests[key] = {"targets": targets(key)}
            for row in rows:
                conns[row] = {"enabled": False}
        return {"version": 1, "cluster": {"name": f"gvpconf-netlab-{self.tag}", "namespace": "gvp"},
                "defaults": {"timeouts": dict(DEFAULT_TIMEOUTS)}, "destinations": dests, "connections": conns}

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
        lines += [f"  peer {line}" for line in super().describe().splitlines()]
        return "\n".join(lines)


def clean(tag: str) -> list[str]:
    """Delete the namespaces of lab ``tag`` left behind by a killed run; returns their names."""
    names = netns.list_prefixed(f"{PREFIX}{tag}-")
    for name in names:
        netns.delete(name)
    return names
