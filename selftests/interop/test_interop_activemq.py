"""ActiveMQ (connections 3, 8) against ActiveMQ Classic from Debian with the connectors a deployment may enable:
the stock ``tcp://`` (OpenWire only, the broker's default on 61616), ``stomp://`` on its own port and ``auto://``
(OpenWire and STOMP on one port), with a right and a wrong password (``simpleAuthenticationPlugin``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gvpconf.inventory import ActiveMQDestination, Secret, Target
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
    # the inventory a deployment writes: the OpenWire connector as the target, stomp_port where STOMP is enabled
    target_port, stomp_port = {"ActiveMQ tcp://": (broker.port, None),
                               "ActiveMQ stomp://": (broker.port, broker.stomp_port),
                               "ActiveMQ auto://": (broker.auto_port, broker.auto_port)}[cell.implementation]
    password = "wrong-" + broker.password if "wrong password" in cell.scenario else broker.password
    dest = ActiveMQDestination(stomp_port=stomp_port)
    targets = dest.probe_targets(cell.probe, [Target(host=broker.host, port=target_port, name="gvp-rs")])
    assert isinstance(targets, list), targets
    r = matrix.run(cell.probe, 3, dest, broker.host, targets[0].port,
                   secrets={"username": broker.username, "password": Secret(password)})
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts,
                        keep=("openwire.version", "openwire.received", "stomp.version", "stomp.server"))
    assert got == cell.expected, r.failure
    assert broker.password not in str(r.evidence.transcript) + str(r.failure)
    if got == matrix.PASS and cell.probe == "activemq.stomp":
        assert r.evidence.facts["stomp.version"] == "1.2"
    elif got == matrix.PASS:  # the message came back through the broker: a round trip, not a handshake
        assert r.evidence.facts["openwire.received"] == "1 of 1" and r.evidence.facts["openwire.login"] == "accepted"
    if "wrong password" in cell.scenario:
        assert broker.username in str(r.failure) or "password" in str(r.failure).lower(), r.failure


def test_a_stock_broker_is_not_asked_for_stomp() -> None:
    """Without stomp_port (a stock tcp:// broker) the plan holds no STOMP case, and says why."""
    reason = ActiveMQDestination().probe_targets("activemq.stomp", [Target(host="127.0.0.1", port=61616)])
    assert isinstance(reason, str) and "stomp_port" in reason
