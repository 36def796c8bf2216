"""The foundation's lab components: SIP Server (sipp), Config Server (stand-in), ActiveMQ, PostgreSQL."""

from __future__ import annotations

import glob
import shutil
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from gvpconf_lab.activemq import ACTIVEMQ_JAR, ActiveMQPeer
from gvpconf_lab.base import Peer
from gvpconf_lab.component import Component
from gvpconf_lab.postgres import PostgresPeer
from gvpconf_lab.sipp import SippPeer
from gvpconf_lab.standins import ConfigServerStandIn


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


class SipServerComponent(Component):
    """Connection 1's SIP Server: sipp answering OPTIONS (and calls) over TCP."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"sip-tester": lambda: _have("sipp")}

    def make_peers(self) -> list[Peer]:
        self.sipp = SippPeer(self.name, self.workdir, self.port(), transport="tcp",
                             server_header=self.lab.sip_server_header)
        return [self.sipp]

    def destinations(self) -> dict[str, Any]:
        return {"sip_server": {"transport": "tcp", "accept_status": ["2xx"],
                               "targets": [{"name": "sip-server", "host": self.sipp.host, "port": self.sipp.port}]}}


class ConfigServerComponent(Component):
    """Connections 2, 5, 7, 15: a STAND-IN for the Genesys Config Server (proprietary protocol)."""

    stand_ins: ClassVar[Mapping[str, str]] = {"configserver": "a silent TCP stand-in (the protocol is proprietary)"}

    def make_peers(self) -> list[Peer]:
        self.standin = ConfigServerStandIn(self.name, self.workdir, self.port())
        return [self.standin]

    def destinations(self) -> dict[str, Any]:
        return {"configserver": {"hold": 1.0, "targets": [
            {"name": "gvp-configserver", "host": self.standin.host, "port": self.standin.port}]}}


class ActiveMQComponent(Component):
    """Connections 3, 8: ActiveMQ Classic from Debian, its stock ``tcp://`` OpenWire connector, login required;
    a separate ``stomp://`` connector only when the lab is asked for one (``Lab(..., activemq_stomp=True)``)."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"activemq": lambda: ACTIVEMQ_JAR.exists() and _have("java")}

    def make_peers(self) -> list[Peer]:
        stomp = self.port("stomp") if self.lab.activemq_stomp else None
        self.broker = ActiveMQPeer(self.name, self.workdir, self.port(), stomp_port=stomp)
        return [self.broker]

    def destinations(self) -> dict[str, Any]:
        secret = self.write_secret("password", self.broker.password)
        section: dict[str, Any] = {"username": self.broker.username, "password": {"file": str(secret)},
                                   "targets": [{"name": "gvp-rs", "host": self.broker.host, "port": self.broker.port}]}
        if self.broker.stomp_port is not None:
            section["stomp_port"] = self.broker.stomp_port
        return {"activemq": section}


class PostgresComponent(Component):
    """Connection 17: a private PostgreSQL cluster with TLS from the lab CA."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {
                "postgresql": lambda: bool(glob.glob("/usr/lib/postgresql/*/bin/postgres")),
                "util-linux": lambda: _have("setpriv")}

    def make_peers(self) -> list[Peer]:
        cert, key = self.lab.ca.issue("postgres")
        self.pg = PostgresPeer(self.name, self.workdir, self.port(), ca_file=self.lab.ca.ca_cert,
                               cert_file=cert, key_file=key)
        return [self.pg]

    def destinations(self) -> dict[str, Any]:
        secret = self.write_secret("password", self.pg.password)
        return {"postgres": {"database": self.pg.database, "username": self.pg.username,
                             "password": {"file": str(secret)}, "tls": self.lab.ca.inventory_tls(),
                             "targets": [{"name": "postgres", "host": self.pg.host, "port": self.pg.port}]}}
