"""Test bodies state their rule: the predicates of ``gvpconf.rules``, and the real modules under ``tests/`` applying
them to the evidence, so that a prober that stopped enforcing a rule would still fail its case (cause semantic)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import gvpconf.probes
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import at_least, covers, missing, status_accepted, within
from selftests.plugin.conftest import QUIET, target, write_inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("status", "accepted", "expected"), [
    (200, ["2xx"], True), (299, ["2xx"], True), (300, ["2xx"], False), (404, ["200", "404"], True),
    (405, ["200-404"], False), (250, ["200-299"], True), (199, ["2xx", "3xx"], False), (486, [], False)])
def test_status_accepted(status: int, accepted: list[str], expected: bool) -> None:
    assert status_accepted(status, accepted) is expected


def test_within_is_inclusive() -> None:
    assert within(1.0, 1.0) and within(0.0, 1.0) and not within(1.01, 1.0)


def test_covers_and_missing() -> None:
    assert covers("OPTIONS, DESCRIBE, SETUP, PLAY", ["DESCRIBE", "SETUP"])
    assert missing("DESCRIBE, SETUP", ["OPTIONS", "SETUP"]) == ["OPTIONS"]
    assert covers(["describe", "setup"], ["DESCRIBE"], ignore_case=True)
    assert not covers(["describe"], ["DESCRIBE"])  # metric family names: case matters
    assert covers("", [])


@pytest.mark.parametrize(("version", "minimum", "expected"), [
    ("15.0.2000", "14", True), ("13.0.1601", "14", False), ((16, 0), "16.0.0", True), ("11", "11.0", True),
    ("10.23", "11", False), (150004, 110000, True)])
def test_at_least(version: Any, minimum: Any, expected: bool) -> None:
    assert at_least(version, minimum) is expected


# Each row: a module of tests/, the probe whose rule is broken, the inventory section, facts that keep every rule
# of the module, and one change of a fact that breaks that probe's rule. The fake prober passes in both runs: only
# the test body can tell them apart.
AMQ_FACTS = {"openwire.version": 12, "openwire.login": "accepted", "openwire.received": "1 of 1",
             "openwire.sent_bytes": 38, "openwire.received_bytes": 38, "stomp.version": "1.2", "stomp.sent_bytes": 40,
             "stomp.received_bytes": 40}
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("egress/test_c01_rm_sip_server.py", "sip.options", "sip_server", {},
     {"sip.transaction": "ours", "sip.status": 200, "sipmtu.largest_ok": 1300}, {"sip.status": 404}),
    ("egress/test_c01_rm_sip_server.py", "sip.options", "sip_server", {},
     {"sip.transaction": "ours", "sip.status": 200, "sipmtu.largest_ok": 1300}, {"sip.transaction": "another"}),
    ("egress/test_c01_rm_sip_server.py", "sipmtu.options", "sip_server", {"mtu_size": 1400},
     {"sip.transaction": "ours", "sip.status": 200, "sipmtu.largest_ok": 1400}, {"sipmtu.largest_ok": 1200}),
    ("intra/test_c02_rm_configserver.py", "configserver.hold", "configserver", {"hold": 2.0},
     {"configserver.held_s": 2.0}, {"configserver.held_s": 0.4}),
    ("intra/test_c04_rm_mcp_pool.py", "sip.call", "mcp", {"calls": True, "call": {"media": {"max_loss_pct": 2}}},
     {"rtp.loss_pct": 2.0, "rtp.jitter_ms": 1.0, "sip.bye_status": 200, "sip.transaction": "ours",
      "sip.status": 200, "sipmtu.largest_ok": 1300}, {"rtp.loss_pct": 2.5}),
    ("egress/test_c11_mcp_ors.py", "http.ors", "ors", {"accept_status": ["200", "204"]},
     {"http.status": 204}, {"http.status": 202}),
    ("egress/test_c16_rs_sqlserver.py", "mssql.login", "sqlserver", {"database": "gvp_rs", "username": "r"},
     {"mssql.product": "Microsoft SQL Server 2019", "mssql.database": "gvp_rs", "mssql.encryption": "OFF",
      "mssql.version": "15.0.2000"}, {"mssql.database": "master"}),
    ("egress/test_c16_rs_sqlserver.py", "mssql.prelogin", "sqlserver",
     {"username": "r", "require_encryption": True},
     {"mssql.product": "Microsoft SQL Server 2019", "mssql.database": "gvp_rs", "mssql.encryption": "REQ",
      "mssql.version": "15.0.2000"}, {"mssql.encryption": "OFF"}),
    ("intra/test_c03_rm_rs_activemq.py", "activemq.stomp", "activemq", {"stomp_port": 61613},
     {**AMQ_FACTS}, {"stomp.received_bytes": 39}),
    ("intra/test_c08_mcp_rs_activemq.py", "activemq.openwire", "activemq", {"stomp_port": 61613},
     {**AMQ_FACTS}, {"openwire.received_bytes": 37}),
    ("egress/test_c09_mcp_sbc_rtp.py", "rtp.range", "sbc", {},
     {"rtp.range_ports": "20000,32000,45000", "rtp.range_echoed": 1, "rtp.range_unreachable": 2,
      "rtp.loss_pct": 0.0, "rtp.jitter_ms": 0.5, "sipmtu.largest_ok": 1300}, {"rtp.range_unreachable": 1}),
    ("egress/test_c10_mcp_consul.py", "consul.mcp_registration", "consul", {},
     {"consul.leader": "10.0.0.1:8300", "consul.self": "10.1.1.1:5070", "consul.registered": "10.1.1.1:5070",
      "consul.checks": "2/2 passing"}, {"consul.registered": "10.1.1.2:5070"}),
    ("egress/test_c12_mcp_das.py", "http.vxml", "das", {"applications": ["/a.vxml", "/b.vxml"]},
     {"vxml.parsed": 2, "vxml.version": "2.0, 2.1"}, {"vxml.parsed": 1}),
    ("egress/test_c13_mcp_nexus.py", "websocket.session", "nexus", {"subprotocol": "nexus.v1"},
     {"ws.status": 101, "ws.subprotocol": "nexus.v1", "ws.close_code": 1000}, {"ws.close_code": 1006}),
    ("egress/test_c14_mcp_nuance.py", "rtsp.setup", "nuance", {"rtsp_urls": ["rtsp://127.0.0.1:9/asr"]},
     {"sip.transaction": "ours", "sip.status": 200, "rtsp.public": "OPTIONS, DESCRIBE, SETUP",
      "rtsp.sdp_media": "audio RTP/AVP 0", "rtp.unreachable": 0, "sipmtu.largest_ok": 1300},
     {"rtp.unreachable": 3}),
    ("egress/test_c17_configserver_postgres.py", "postgres.login", "postgres", {"username": "u"},
     {"postgres.ssl_offered": True, "postgres.sslmode": "verify-full", "postgres.database": "gvp",
      "postgres.version_num": 150004}, {"postgres.version_num": 100012}),
    ("egress/test_c22_mcp_google_tts.py", "grpc.tts_list_voices", "google_tts", {},
     {"tls.alpn": "h2", "grpc.status": "OK", "grpc.auth": "authenticated", "tts.voices": 3}, {"tts.voices": 0}),
    ("ingress/test_c18_prometheus_gvp.py", "prometheus.scrape", "gvp_metrics", {"families": {"t": ["gvp_up"]}},
     {"metrics.families": 3, "metrics.found": "gvp_up", "prometheus.health": "up", "prometheus.up": "1"},
     {"metrics.found": ""}),
]


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module: str, key: str,
         section: dict[str, Any], facts: dict[str, Any], probe: str) -> tuple[pytest.RunResult, list[str]]:
    dest = pytester.path / "tests" / Path(module).parent
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "tests" / module, dest)
    ran: list[str] = []

    def get(name: str) -> Any:
        def prober(ctx: ProbeContext) -> None:
            ran.append(name)
            for fact, value in facts.items():
                ctx.evidence.fact(fact, value)

        return prober

    monkeypatch.setattr(gvpconf.probes, "get", get)
    inventory = write_inventory(pytester.path / "inventory.yaml",
                                {key: {**section, "targets": [target(("127.0.0.1", 9), "t")]}})
    result = pytester.runpytest("tests", "--inventory", str(inventory), "--gvp-reports", "none", "--gvp-calls",
                                *QUIET)
    return result, ran


@pytest.mark.parametrize(("module", "probe", "key", "section", "facts", "broken"), CASES,
                         ids=[f"{c[1]}-{next(iter(c[5]))}" for c in CASES])
def test_a_test_body_fails_its_case_when_the_evidence_breaks_its_rule(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module: str, probe: str, key: str,
        section: dict[str, Any], facts: dict[str, Any], broken: dict[str, Any]) -> None:
    kept, ran = _run(pytester, monkeypatch, module, key, section, facts, probe)
    assert probe in ran
    assert kept.ret == pytest.ExitCode.OK, kept.stdout.str()
    bad, ran = _run(pytester, monkeypatch, module, key, section, {**facts, **broken}, probe)
    assert probe in ran
    assert bad.ret == pytest.ExitCode.TESTS_FAILED, bad.stdout.str()
    out = bad.stdout.str()
    assert "causes: semantic" in out, out  # the prober passed: the test's own rule failed the case
