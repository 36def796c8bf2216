"""The test lab: real servers on loopback for the project's own tests.

``Lab`` makes a CA, starts the peers (ActiveMQ, sipp, PostgreSQL and a Config Server STAND-IN),
writes ``inventory.yaml`` plus secret files, and stops every process by PID on exit::

    with Lab(tmp_path) as lab:
        run_suite(inventory=lab.inventory_path)

Impostors (fake servers for negative tests) are in ``gvpconf_lab.impostors``; the command line is
``python -m gvpconf_lab {install,up,run}``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import importlib
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import yaml

from gvpconf_lab.activemq import ActiveMQPeer
from gvpconf_lab.base import LabError, Peer, lineage
from gvpconf_lab.component import Component
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

DEFAULT_TIMEOUTS = {"connect": 2.0, "read": 3.0, "probe": 10.0}

_RUNNING: weakref.WeakSet[Lab] = weakref.WeakSet()


@atexit.register
def _stop_running_labs() -> None:
    """Safety net: an interpreter that exits with a lab still up stops its peers."""
    for lab in list(_RUNNING):
        with contextlib.suppress(Exception):
            lab.down()


def _sigterm_as_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Lab:
    """A set of running peers plus the inventory that describes them. Use as a context manager."""

    def __init__(self, workdir: Path, peers: Iterable[str] = DEFAULT_PEERS,
                 ports: Mapping[str, int] | None = None, *, sip_server_header: str = "sipp-lab") -> None:
        self.workdir = Path(workdir).resolve()
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
        self.peers: dict[str, Peer] = {}
        self.components: dict[str, Component] = {}
        self._ca: CA | None = None
        self.inventory_path = self.workdir / "inventory.yaml"
        self.secrets_dir = self.workdir / "secrets"
        self.tls_dir = self.workdir / "tls"
        #: seconds from the start of up() until the lab was ready
        self.ready_after_s: float | None = None
        self._up = False
        self._previous_sigterm: Any = None
        self._inventory: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        """Start all peers at once and wait for each; write secrets and inventory. Stops all on failure."""
        if self._up:
            raise LabError("lab is already up")
        t0 = time.monotonic()
        self._up = True
        _RUNNING.add(self)
        self._catch_sigterm()
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._ca = make_ca(self.tls_dir)
            self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
            for name in self.peer_names:
                component = component_class(name)(self, name)
                self.components[name] = component
                for peer in component.make_peers():
                    if peer.name in self.peers:
                        raise LabError(f"two lab peers are named {peer.name!r}")
                    self.peers[peer.name] = peer
                    component.peers.append(peer)
            self._bring_up_all()
            self._write_inventory()
        except BaseException:  # including KeyboardInterrupt and the CLI's SIGTERM exception
            with contextlib.suppress(LabError):
                self.down()
            raise
        self.ready_after_s = time.monotonic() - t0

    @staticmethod
    def _bring_up(peer: Peer) -> None:
        peer.start()
        peer.wait_ready()

    def _bring_up_all(self) -> None:
        """Start and wait for every peer at once (a thread each): the lab takes as long as its slowest."""
        peers = list(self.peers.values())
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(peers)),
                                                   thread_name_prefix="lab-up") as pool:
            futures = [pool.submit(self._bring_up, peer) for peer in peers]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                # make the other waits end now: their processes go away
                with contextlib.suppress(LabError):
                    self.down()
                raise

    def down(self) -> None:
        """Stop every peer by PID (reverse order). Raises LabError if one could not be stopped."""
        errors: list[str] = []
        for peer in reversed(list(self.peers.values())):
            try:
                peer.stop()
            except LabError as exc:
                errors.append(str(exc))
        self._up = False
        _RUNNING.discard(self)
        self._release_sigterm()
        if errors:
            raise LabError("; ".join(errors))

    def _catch_sigterm(self) -> None:
        """While up, SIGTERM unwinds like Ctrl-C (so with-blocks and fixtures stop the peers).

        Only from the main thread, and only when nobody else handles SIGTERM (the CLI does).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)

    def _release_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) is _sigterm_as_interrupt:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    @property
    def ca(self) -> CA:
        if self._ca is None:
            raise LabError("the lab CA exists only once the lab is up")
        return self._ca

    # -- outputs ---------------------------------------------------------------------------------
    def secret_path(self, name: str) -> Path:
        """Where the secret ``name`` (``<component>-<key>``) is written; ``activemq`` -> its password."""
        path = self.secrets_dir / name
        return path if path.exists() or "-" in name else self.secrets_dir / f"{name}-password"

    def write_secret(self, name: str, value: str) -> Path:
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        path = self.secrets_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        os.chmod(path, 0o600)
        return path

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

    def _write_inventory(self) -> None:
        text = yaml.safe_dump(self.inventory(), sort_keys=False, default_flow_style=None)
        self.inventory_path.write_text(text)

    # -- reporting -------------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """Every live process of the lab: each peer's PID, what it forked and its process group."""
        return sorted({p for pid in self.pids().values() for p in lineage(pid)})

    def pids(self) -> dict[str, int]:
        return {name: peer.pid for name, peer in self.peers.items() if peer.pid is not None}

    def describe(self) -> str:
        return "\n".join(peer.describe() for peer in self.peers.values())

    def __getitem__(self, name: str) -> Peer:
        return self.peers[name]

