"""The suite, run as its users run it (pytest tests --inventory ... --junitxml ...), against the lab."""

from __future__ import annotations

import copy
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gvpconf.catalog import BY_NUMBER, CONNECTIONS
from gvpconf.wire import stomp as stomp_codec
from gvpconf_lab import Lab
from selftests.helpers import (
    Run,
    assert_absent,
    implemented_connections,
    run_suite,
    warned,
    with_canary,
    write_inventory,
)

IMPLEMENTED = implemented_connections()
FOUNDATION = {1, 2, 3, 5, 7, 8, 15, 17}
ROW_PROPERTIES = ("connection", "source", "destination", "protocol", "port", "classification")


@pytest.fixture(scope="module")
def full_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suite(tmp_path_factory.mktemp("run"), inventory=lab.inventory_path)



def test_every_implemented_connection_is_verified(full_run: Run) -> None:
    assert FOUNDATION <= IMPLEMENTED
    assert full_run.rc == 0, full_run.stdout + full_run.stderr
    for number in IMPLEMENTED:
        cases = full_run.by_connection(number)
        assert cases, f"no JUnit case for connection {number}"
        assert all(c.outcome == "passed" for c in cases), [(c.name, c.message) for c in cases]
        expected = "verified with warnings" if warned(full_run, number) else "verified"
        assert full_run.suite_properties[f"connection.{number}.verdict"] == expected, number
    assert full_run.suite_properties["connections.verified"] == f"{len(IMPLEMENTED)}/22"
    assert f"{len(IMPLEMENTED)}/22 connections verified" in full_run.stdout


def test_every_case_carries_its_row_in_junit(full_run: Run, lab: Lab) -> None:
    for case in full_run.cases:
        row = BY_NUMBER[int(case.properties["connection"])]
        for name in ROW_PROPERTIES:
            assert name in case.properties, (case.name, name)
        assert case.properties["source"] == row.source_label
        assert case.properties["destination"] == row.destination_label
        assert case.properties["protocol"] == row.protocol
        assert case.properties["classification"] == row.suite_class
        assert case.properties["port"] == case.properties["address"].rsplit(":", 1)[1]
        assert "cause" not in case.properties


def test_evidence_reaches_junit(full_run: Run) -> None:
    sip = full_run.by_connection(1)[0].properties
    assert sip["sip.status"] == "200" and sip["sip.server"] == "sipp-lab"
    assert float(sip["sip.rtt_ms"]) > 0 and "OPTIONS" in sip["sip.allow"]
    amq = {k: v for c in full_run.by_connection(8) for k, v in c.properties.items()}
    assert amq["openwire.magic"] == "ActiveMQ" and int(amq["openwire.version"]) >= 1
    assert amq["stomp.server"].startswith("ActiveMQ/")
    pg = {k: v for c in full_run.by_connection(17) for k, v in c.properties.items()}
    assert pg["postgres.database"] == "gvp" and pg["postgres.tls"].startswith("TLSv1.")
    assert pg["postgres.ssl_offered"] == "True"


def test_rows_without_a_module_are_reported_not_implemented(full_run: Run) -> None:
    for c in CONNECTIONS:
        if c.number not in IMPLEMENTED:
            assert full_run.suite_properties[f"connection.{c.number}.verdict"] == "not implemented yet"
    assert len([k for k in full_run.suite_properties if k.endswith(".verdict")]) == 22


def test_source_role_runs_only_its_connections(lab: Lab, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--source", "rm", inventory=lab.inventory_path)
    assert run.rc == 0, run.stdout
    from_rm = {c.number for c in CONNECTIONS if c.source == "rm"} & IMPLEMENTED
    assert {int(c.properties["connection"]) for c in run.cases} == from_rm
    assert run.suite_properties["connection.8.verdict"] == "not selected (--source rm)"
    assert f"{len(from_rm)}/{len(from_rm)} selected connections verified" in run.stdout


def test_connection_option_is_repeatable(lab: Lab, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--connection", "17", "--connection", "2", inventory=lab.inventory_path)
    assert {int(c.properties["connection"]) for c in run.cases} == {2, 17}
    run = run_suite(tmp_path, "--connection", "23", inventory=lab.inventory_path)
    assert run.rc == 4 and "--connection 23" in run.stderr


def test_marker_per_connection(lab: Lab, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "-m", "c15 or c05", inventory=lab.inventory_path)
    assert {int(c.properties["connection"]) for c in run.cases} == {5, 15}


def test_disabled_and_unconfigured_are_reported_not_passed(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    del data["destinations"]["postgres"]
    data["connections"] = {"2": {"enabled": False}}
    run = run_suite(tmp_path, inventory=write_inventory(tmp_path, data))
    assert run.rc == 0, run.stdout
    assert run.suite_properties["connection.17.verdict"] == "not configured"
    assert run.suite_properties["connection.2.verdict"] == "disabled in inventory"
    assert all(c.outcome == "skipped" for c in run.by_connection(17) + run.by_connection(2))
    assert f"{len(IMPLEMENTED) - 2}/22 connections verified" in run.stdout


def test_sip_status_outside_accept_set_is_semantic(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["sip_server"]["accept_status"] = ["404"]
    run = run_suite(tmp_path, "--connection", "1", inventory=write_inventory(tmp_path, data))
    cases = run.by_connection(1)  # the OPTIONS, and the padded OPTIONS of the path-MTU probe: both judge the status
    assert len(cases) == 2 and all(c.outcome == "failed" and c.properties["cause"] == "semantic" for c in cases)
    assert "expected status 404, got 200 OK" in cases[0].message
    assert "was answered 200 OK (expected 404)" in cases[1].message
    assert run.suite_properties["connection.1.verdict"] == "FAILED"


CANARY = "CANARY-pw-5f1c9e-never-print"


def test_wrong_credentials_fail_with_auth_and_secrets_never_appear(lab: Lab, tmp_path: Path) -> None:
    """Plant a canary password; it must appear in no output: stdout, stderr, JUnit."""
    inventory, env = with_canary(lab.inventory(), tmp_path, CANARY, files=[("activemq", "password")],
                                 envs=[("postgres", "password", "GVP_CANARY_PG")])
    run = run_suite(tmp_path, "--connection", "8", "--connection", "17", "-vv", "--tb=long", inventory=inventory,
                    env=env)
    assert run.rc == 1
    stomp_case = next(c for c in run.by_connection(8) if c.properties.get("probe") == "activemq.stomp")
    assert stomp_case.properties["cause"] == "auth", stomp_case.message
    assert "User name [gvp-rs] or password is invalid" in stomp_case.message
    login = next(c for c in run.by_connection(17) if c.properties.get("probe") == "postgres.login")
    assert login.properties["cause"] == "auth", login.message
    assert_absent(CANARY, run.stdout, run.stderr, run.junit_text)


def test_real_secrets_never_appear_in_a_passing_run(full_run: Run, lab: Lab) -> None:
    for name in ("activemq", "postgres"):
        password = lab.secret_path(name).read_text()
        assert len(password) >= 8
        assert_absent(password, full_run.stdout, full_run.stderr, full_run.junit_text)


def test_stomp_probe_leaves_nothing_behind_on_a_queue(lab: Lab, tmp_path: Path) -> None:
    """With a /queue/ prefix the probe consumes its own message: a later consumer finds nothing."""
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["activemq"]["stomp_destination"] = "/queue/gvpconf.selftest"
    run = run_suite(tmp_path, "--connection", "3", inventory=write_inventory(tmp_path, data))
    case = next(c for c in run.by_connection(3) if c.properties.get("probe") == "activemq.stomp")
    assert case.outcome == "passed", case.message
    destination = case.properties["stomp.destination"]
    assert destination.startswith("/queue/gvpconf.selftest.")
    assert stomp_messages(lab, destination, wait=1.0) == []


def stomp_messages(lab: Lab, destination: str, wait: float) -> list[bytes]:
    """Consume ``destination`` with stomp.py, an independent STOMP client, for ``wait`` seconds."""
    import stomp

    peer = lab["activemq"]
    received: list[bytes] = []
    done = threading.Event()

    class Listener(stomp.ConnectionListener):  # type: ignore[misc]
        def on_message(self, frame: Any) -> None:
            received.append(frame.body if isinstance(frame.body, bytes) else frame.body.encode())
            done.set()

    conn = stomp.Connection12([(peer.host, peer.stomp_port)], auto_decode=False)
    conn.set_listener("l", Listener())
    conn.connect(peer.username, lab.secret_path("activemq").read_text(), wait=True)
    conn.subscribe(destination, id="check", ack="auto")
    done.wait(wait)
    conn.disconnect()
    return received


def test_stomp_codec_reads_what_an_independent_client_sends(lab: Lab) -> None:
    """Cross-check our STOMP codec against ActiveMQ and stomp.py: stomp.py sends, our codec receives."""
    import stomp

    peer = lab["activemq"]
    password = lab.secret_path("activemq").read_text()
    destination = "/queue/gvpconf.crosscheck"
    with socket.create_connection((peer.host, peer.stomp_port), timeout=5) as sock:
        def send(frame: stomp_codec.Frame) -> None:
            sock.sendall(stomp_codec.encode(frame))

        decoder = stomp_codec.StompDecoder()

        def receive() -> stomp_codec.Frame:
            while (frame := decoder.next_message()) is None:
                decoder.feed(sock.recv(65536))
            return frame

        send(stomp_codec.Frame("CONNECT", (("accept-version", "1.2"), ("host", "localhost"),
                                           ("login", peer.username), ("passcode", password))))
        assert receive().command == "CONNECTED"
        send(stomp_codec.Frame("SUBSCRIBE", (("id", "x"), ("destination", destination), ("receipt", "r"))))
        assert receive().command == "RECEIPT"
        other = stomp.Connection12([(peer.host, peer.stomp_port)])
        other.connect(peer.username, password, wait=True)
        body = "héllo: with colon\nand newline"
        other.send(destination, body, headers={"x-odd": "a:b\\c"})
        other.disconnect()
        deadline = time.monotonic() + 5
        message = receive()
        assert time.monotonic() < deadline
        assert message.command == "MESSAGE"
        assert message.body == body.encode()
        assert message.header("x-odd") == "a:b\\c"
        send(stomp_codec.Frame("DISCONNECT"))


@pytest.mark.parametrize("mode", ["--collect-only", "--plan"])
def test_collect_only_and_plan_send_nothing(tmp_path: Path, mode: str) -> None:
    """Listing the cases (or planning) must not open a single connection to a target."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        targets = [{"name": "watched", "host": "127.0.0.1", "port": port}]
        data = {"version": 1, "destinations": {
            "sip_server": {"targets": targets}, "configserver": {"targets": targets},
            "activemq": {"username": "u", "targets": targets}}}
        run = run_suite(tmp_path, mode, inventory=write_inventory(tmp_path, data))
        assert run.rc == 0, run.stdout + run.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
