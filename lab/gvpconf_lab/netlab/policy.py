"""iptables rules generated from the connections table: the lab's stand-in for NetworkPolicies.

Each GVP pod's namespace gets an egress chain ``GVPC-EGRESS`` (jumped to from ``OUTPUT``): loopback
and established traffic pass, each connection of the table that starts at the pod's role is
allowed to each of its destination's targets (address and TCP port), and everything else meets
the default action: ``DROP`` (a probe sees ``timeout``) or ``REJECT`` (a probe sees ``refused``).
Only egress is played: it is where a pod's own least privilege is decided, and it keeps "remove
one allow rule" equal to "break exactly one connection from one pod".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gvpconf.catalog import CONNECTIONS

CHAIN = "GVPC-EGRESS"
Action = Literal["DROP", "REJECT"]


@dataclass(frozen=True)
class Endpoint:
    """A destination target as the lab plays it: which node, which address and TCP port."""

    node: str
    address: str
    port: int


@dataclass(frozen=True)
class Allow:
    """One ACCEPT rule in ``source``'s egress chain. ``connection`` is 0 for a rule the table does not have."""

    connection: int
    source: str  # node name
    dest: Endpoint

    @property
    def comment(self) -> str:
        what = f"#{self.connection}" if self.connection else "NOT-IN-TABLE"
        return f"gvpc {what} {self.source}->{self.dest.node}:{self.dest.port}"

    def spec(self) -> list[str]:
        """The rule's iptables arguments (after ``-A/-D CHAIN``)."""
        return ["-d", f"{self.dest.address}/32", "-p", "tcp", "--dport", str(self.dest.port),
                "-m", "comment", "--comment", self.comment, "-j", "ACCEPT"]


def allow_rules(sources: Mapping[str, str], targets: Mapping[str, Sequence[Endpoint]]) -> list[Allow]:
    """Every (connection, source pod, destination target) the table allows.

    ``sources``: node name -> GVP role; ``targets``: destination key -> the endpoints playing it.
    """
    rules: list[Allow] = []
    for row in CONNECTIONS:
        for node, role in sources.items():
            if role != row.source:
                continue
            for endpoint in targets.get(row.destination, ()):
                if endpoint.node != node:
                    rules.append(Allow(row.number, node, endpoint))
    return rules


def chain_commands(rules: Iterable[Allow], action: Action) -> list[list[str]]:
    """iptables argument lists that (re)build one pod's egress chain."""
    cmds = [["-N", CHAIN], ["-A", CHAIN, "-o", "lo", "-j", "ACCEPT"],
            ["-A", CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]]
    cmds += [["-A", CHAIN, *rule.spec()] for rule in rules]
    cmds.append(["-A", CHAIN, *default_spec(action)])
    cmds.append(["-A", "OUTPUT", "-j", CHAIN])
    return cmds


def default_spec(action: Action) -> list[str]:
    comment = ["-m", "comment", "--comment", "gvpc default"]
    if action == "REJECT":
        return [*comment, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"]
    return [*comment, "-j", "DROP"]
