"""ActiveMQ (connections 3, 8) against ActiveMQ Classic from Debian with the connectors a deployment may enable:
the stock ``tcp://`` (OpenWire only, the broker's default on 61616), ``stomp://`` on its own port and ``auto://``
(OpenWire and STOMP on one port), with a right and a wrong password (``simpleAuthenticationPlugin``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gvpconf.inventory import ActiveMQDestination, Secret
from gvpconf_lab.interop_peers import ActiveMQConnectorsPeer, running
from gvpconf_lab.ports import free_port
from selftests.interop import matrix

PROTOCOL = "ActiveMQ"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveMQConnectorsPeer]:
    wd = tmp_path_factory.mktemp("interop-activemq")
    peer = ActiveMQConnectorsPeer("activemq", wd, free_port(), stomp_port=free_port(), auto_port=free_port())
    with running(peer):
        for connector in ("tcp://", "stomp://", "auto://"):
            matrix.version(f"ActiveMQ {connector}", "activemq (Debian)", peer.version())
        yield peer


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_activemq(cell: matrix.Cell, broker: ActiveMQConnectorsPeer) -> None:
    port = {"ActiveMQ tcp://": broker.port, "ActiveMQ stomp://": broker.stomp_port,
            "ActiveMQ auto://": broker.auto_port}[cell.implementation]
    password = "wrong-" + broker.password if "wrong password" in cell.scenario else broker.password
    probe = cell.probe
    dest = ActiveMQDestination(openwire=probe == "activemq.openwire", stomp=probe == "activemq.stomp")
    r = matrix.run(probe, 3, dest, broker.host, port,
                   secrets={"username": broker.username, "password": Secret(password)})
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts,
                        keep=("openwire.version", "stomp.version", "stomp.server"))
    assert got == cell.expected, r.failure
    assert broker.password not in str(r.evidence.transcript) + str(r.failure)
    if got == matrix.PASS and probe == "activemq.stomp":
        assert r.evidence.facts["stomp.version"] == "1.2"
