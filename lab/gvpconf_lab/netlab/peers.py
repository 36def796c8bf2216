"""The lab's real peers, each started inside a node's network namespace and bound to its address.

They are the loopback lab's own peer classes (``gvpconf_lab``) with three changes: the command is
prefixed with ``ip netns exec NS`` (which execs, so the PID we hold is the peer's), the readiness
probe and the provisioning (``after_ready``) run in a thread that has entered the namespace (from the
host's namespace the lab's addresses are not on any bridge: they must never be dialled from there), and "does our
process hold the port" reads
the peer's own ``/proc/PID/net`` (the host's ``/proc/net`` shows another namespace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from gvpconf_lab.activemq import ActiveMQPeer
from gvpconf_lab.base import Peer, bound_socket_inodes, lineage, socket_inodes
from gvpconf_lab.netlab.netns import exec_prefix, in_netns
from gvpconf_lab.postgres import PostgresPeer
from gvpconf_lab.sipp import SippPeer
from gvpconf_lab.standins import ConfigServerStandIn


class NetnsPeer(Peer):
    """Mixin (first in the MRO) that runs a Peer inside network namespace ``netns``."""

    netns: str = ""

    def command(self) -> Sequence[str]:
        return [*exec_prefix(self.netns), *super().command()]  # type: ignore[safe-super]

    def probe(self, timeout: float) -> None:
        parent_probe = super().probe  # type: ignore[safe-super]
        in_netns(self.netns, lambda: parent_probe(timeout), timeout=timeout + 10)

    def after_ready(self) -> None:
        parent_after = super().after_ready
        in_netns(self.netns, parent_after, timeout=60)

    def owns_port(self) -> bool:
        if self.proc is None:
            return False
        for pid in lineage(self.proc.pid):
            if bound_socket_inodes(self.port, self.port_kind(), pid) & socket_inodes(pid):
                return True
        return False


class NetnsSipp(NetnsPeer, SippPeer):
    """sipp answering OPTIONS and calls (the SIP Server, and each MCP pod's SIP port)."""


class NetnsActiveMQ(NetnsPeer, ActiveMQPeer):
    """ActiveMQ Classic in the RS pod's namespace."""


class NetnsListener(NetnsPeer, ConfigServerStandIn):
    """A silent TCP listener: the Config Server STAND-IN, or a listener-only deny-matrix target."""

    label: str = "STAND-IN for Genesys Config Server (silent TCP listener; NOT the real protocol)"

    def summary(self) -> str:
        return self.label


class NetnsPostgres(NetnsPeer, PostgresPeer):
    """PostgreSQL whose pg_hba admits the lab's subnet (TLS + scram), not only its own address."""

    kind: ClassVar[str] = "postgres"
    subnet: str = ""

    def prepare(self) -> None:
        super().prepare()
        host_type = "hostssl" if self.require_ssl else "host"
        (self.data_dir / "pg_hba.conf").write_text(
            "# gvpconf netns lab\n"
            "local   all all                scram-sha-256\n"
            f"{host_type} all all {self.subnet} scram-sha-256\n")
