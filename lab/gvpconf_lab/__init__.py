"""The test lab: real servers on loopback for the project's own tests.

``Lab`` makes a CA, starts the peers (ActiveMQ, sipp, PostgreSQL and a Config Server STAND-IN),
writes ``inventory.yaml`` plus secret files, and stops every process by PID on exit::

    with Lab(tmp_path) as lab:
        run_suite(inventory=lab.inventory_path)

Its start and stop (peers started at once, stopped by PID on exit, SIGTERM and atexit safety, the check
that nothing is left) are ``gvpconf_lab.lifecycle``, shared with the namespace lab (``gvpconf_lab.netlab``).
Impostors (fake servers for negative tests) are in ``gvpconf_lab.impostors``; the command line is
``python -m gvpconf_lab {install,up,run}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gvpconf_lab.activemq import ActiveMQPeer
from gvpconf_lab.base import LabError, Peer
from gvpconf_lab.component import Component
from gvpconf_lab.lifecycle import DEFAULT_TIMEOUTS, LabLifecycle
from gvpconf_lab.postgres import PostgresPeer
from gvpconf_lab.sipp import SippPeer
from gvpconf_lab.standins import ConfigServerStandIn
from gvpconf_lab.tlsca import CA, make_ca

__all__ = [
    "CA",
    "COMPONENTS",
    "DEFAULT_PEERS",
    "ActiveMQPeer",
    "Component",
    "ConfigServerStandIn",
    "Lab",
    "LabError",
    "Peer",
    "PostgresPeer",
    "SippPeer",
    "make_ca",
]

#: lab components by name -> "module:Class" (imported only when started): the one table.
COMPONENTS: dict[str, str] = {
    "activemq": "gvpconf_lab.components:ActiveMQComponent",
    "sip_server": "gvpconf_lab.components:SipServerComponent",
    "configserver": "gvpconf_lab.components:ConfigServerComponent",
    "postgres": "gvpconf_lab.components:PostgresComponent",
    # voice: MCP pool SIP (4), SBC RTP/RTCP (9), Nuance SIP/RTSP/RTP (14), Nuance -> MCP media (19)
    "voice_nuance": "gvpconf_lab.voice:VoiceNuanceComponent",
    "voice_mcp": "gvpconf_lab.voice:VoiceMcpComponent",
    "voice_sbc": "gvpconf_lab.voice:VoiceSbcComponent",
    # web: ORS (11), DAS (12), Nexus WSS (13), Prometheus (18), web server (20), customer (21), Google TTS (22)
    "web_http": "gvpconf_lab.web:WebHttpComponent",
    "nexus": "gvpconf_lab.web:NexusComponent",
    "google_tts": "gvpconf_lab.web:GoogleTtsComponent",
    "gvp_metrics": "gvpconf_lab.web:GvpMetricsComponent",
    # data: Consul (6, 10) and SQL Server (16) are STAND-INS (nothing installable plays them here)
    "consul": "gvpconf_lab.data:ConsulComponent",
    "sqlserver": "gvpconf_lab.data:SqlServerComponent",
}
DEFAULT_PEERS: tuple[str, ...] = tuple(COMPONENTS)
KNOWN_PEERS = frozenset(COMPONENTS)


def component_class(name: str) -> type[Component]:
    module, _, cls = COMPONENTS[name].partition(":")
    found: type[Component] = getattr(importlib.import_module(module), cls)
    return found


class Lab(LabLifecycle):
    """A set of running peers plus the inventory that describes them. Use as a context manager."""

    def __init__(self, workdir: Path, peers: Iterable[str] = DEFAULT_PEERS,
                 ports: Mapping[str, int] | None = None, *, sip_server_header: str = "sipp-lab",
                 activemq_stomp: bool = False) -> None:
        super().__init__(workdir)
        wanted = list(dict.fromkeys(peers))
        unknown = [p for p in wanted if p not in KNOWN_PEERS]
        if unknown:
            raise LabError(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_PEERS)}")
        bad_ports = [p for p in (ports or {}) if p not in KNOWN_PEERS]
        if bad_ports:
            raise LabError(f"--port for unknown peer(s) {', '.join(bad_ports)}")
        self.peer_names = [p for p in COMPONENTS if p in wanted]
        self.requested_ports = dict(ports or {})
        self.sip_server_header = sip_server_header
        self.activemq_stomp = activemq_stomp  # a separate stomp:// connector, for the tests that need STOMP
        self.components: dict[str, Component] = {}
        self._inventory: dict[str, Any] | None = None

    def make_peers(self) -> list[Peer]:
        """Each component's peers (components are imported here, by name)."""
        made: list[Peer] = []
        for name in self.peer_names:
            component = component_class(name)(self, name)
            self.components[name] = component
            component.peers.extend(component.make_peers())
            made += component.peers
        return made

    # -- outputs ---------------------------------------------------------------------------------
    def secret_path(self, name: str) -> Path:
        """Where the secret ``name`` (``<component>-<key>``) is written; ``activemq`` -> its password."""
        path = self.secrets_dir / name
        return path if path.exists() or "-" in name else self.secrets_dir / f"{name}-password"

    def stand_ins(self) -> dict[str, str]:
        """Destination key -> what plays it, for every destination this lab plays with a stand-in."""
        return {key: what for c in self.components.values() for key, what in type(c).stand_ins.items()}

    def environment(self) -> dict[str, str]:
        """What a suite run against this lab is told: the inventory, and which peers are stand-ins (its reports
        mark them)."""
        return {"GVP_INVENTORY": str(self.inventory_path),
                "GVP_LAB_STAND_INS": ";".join(f"{k}={v}" for k, v in self.stand_ins().items())}

    def inventory(self) -> dict[str, Any]:
        """The inventory as data (the shape the suite's loader validates), from every component."""
        if self._inventory is None:
            dests: dict[str, Any] = {}
            conns: dict[str, Any] = {}
            for component in self.components.values():
                for key, section in component.destinations().items():
                    if key in dests:
                        raise LabError(f"two lab components write destinations.{key}")
                    dests[key] = section
                conns.update(component.connections())
            data: dict[str, Any] = {"version": 1, "cluster": {"name": "gvpconf-lab", "namespace": "gvp"},
                                    "defaults": {"timeouts": dict(DEFAULT_TIMEOUTS)}, "destinations": dests}
            if conns:
                data["connections"] = conns
            self._inventory = data
        return self._inventory
