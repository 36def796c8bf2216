"""Connections 3 and 8 against a stock ActiveMQ broker: Debian's ``tcp://`` OpenWire connector, no STOMP.

The broker is the lab's (``gvpconf_lab.activemq``: Debian's configuration plus a login), with JMX on so that
the broker's own statistics can say what the probe left behind (``activemq query``, the console Debian ships).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf_lab import ActiveMQPeer
from gvpconf_lab.activemq import ACTIVEMQ_HOME, ACTIVEMQ_JAR
from gvpconf_lab.ports import free_port
from selftests.helpers import run_suite, write_inventory

#: the Broker MBean's statistics of what clients hold on the broker
HELD = ("CurrentConnectionsCount", "TotalProducerCount", "TotalConsumerCount", "TotalMessageCount",
        "TemporaryQueues", "TemporaryTopics", "Queues")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveMQPeer]:
    peer = ActiveMQPeer("activemq-stock", tmp_path_factory.mktemp("activemq-stock"), free_port(),
                        jmx_port=free_port())
    peer.start()
    try:
        peer.wait_ready()
        yield peer
    finally:
        peer.stop()


def inventory(tmp: Path, broker: ActiveMQPeer, password: str) -> Path:
    secret = tmp / "amq-password"
    secret.write_text(password)
    section: dict[str, Any] = {"username": broker.username, "password": {"file": str(secret)},
                               "targets": [{"name": "gvp-rs", "host": broker.host, "port": broker.port}]}
    return write_inventory(tmp, {"version": 1, "destinations": {"activemq": section}})


def statistics(broker: ActiveMQPeer) -> dict[str, str]:
    """The broker's own view over JMX (``activemq query``)."""
    assert broker.jmx_port is not None
    home = str(ACTIVEMQ_HOME)
    proc = subprocess.run(
        ["java", f"-Dactivemq.home={home}", f"-Dactivemq.base={broker.workdir}", f"-Dactivemq.conf={broker.conf_dir}",
         f"-Dactivemq.data={broker.data_dir}", "-jar", str(ACTIVEMQ_JAR), "query", "--jmxurl",
         f"service:jmx:rmi:///jndi/rmi://{broker.host}:{broker.jmx_port}/jmxrmi",
         "--objname", "type=Broker,brokerName=localhost",
         "--view", ",".join(HELD)],
        capture_output=True, text=True, timeout=60, check=True)
    found = dict(re.findall(r"^(\w+) = (.*)$", proc.stdout, re.M))
    assert set(HELD) <= set(found), proc.stdout
    return found


def test_stock_broker_passes_3_and_8_over_openwire_and_keeps_nothing(broker: ActiveMQPeer, tmp_path: Path) -> None:
    before = statistics(broker)
    run = run_suite(tmp_path, "--connection", "3", "--connection", "8",
                    inventory=inventory(tmp_path, broker, broker.password))
    assert run.rc == 0, run.stdout + run.stderr
    for number in (3, 8):
        assert run.suite_properties[f"connection.{number}.verdict"] == "verified"
        cases = {c.name.split("[")[0]: c for c in run.by_connection(number)}
        openwire = cases["test_billing_style_message_round_trip"]
        assert openwire.outcome == "passed", openwire.message
        assert openwire.properties["openwire.received"] == "1 of 1"
        assert openwire.properties["openwire.version"] == "12"
        stomp = cases["test_stomp_round_trip_where_enabled"]  # a stock broker has no STOMP: not probed, not passed
        assert stomp.outcome == "skipped" and "stomp_port" in stomp.message, stomp.message
    after = statistics(broker)
    # the broker's own statistics: no connection, producer, consumer, message or destination of ours remains
    assert {k: after[k] for k in HELD} == {"CurrentConnectionsCount": "0", "TotalProducerCount": "0",
                                            "TotalConsumerCount": "0", "TotalMessageCount": "0",
                                            "TemporaryQueues": "[]", "TemporaryTopics": "[]", "Queues": "[]"}
    assert {k: before[k] for k in HELD} == {k: after[k] for k in HELD}


def test_stock_broker_with_a_wrong_password_fails_with_auth(broker: ActiveMQPeer, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--connection", "3", "--connection", "8",
                    inventory=inventory(tmp_path, broker, "not-the-password"))
    assert run.rc == 1
    for number in (3, 8):
        [case] = [c for c in run.by_connection(number) if c.properties.get("probe") == "activemq.openwire"]
        assert case.outcome == "failed"
        assert case.properties["cause"] == "auth", case.message
        # the broker's SecurityException when its ExceptionResponse arrives; Debian's stock broker sometimes closes
        # the connection before writing it, and the probe then says so, at the same step
        assert "ConnectionInfo" in case.message and ("SecurityException" in case.message or "instead of answering "
                                                     "our ConnectionInfo (login as" in case.message), case.message
        assert "not-the-password" not in run.stdout + run.junit_text
