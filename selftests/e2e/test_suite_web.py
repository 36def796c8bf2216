"""The web connections run as users run them (pytest tests --inventory ...): TLS facts reach JUnit, secrets never
appear, the DAS fetch really goes through the lab proxy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gvpconf_lab import Lab
from selftests.helpers import VERIFIED, Run, assert_absent, run_suite, with_canary, write_inventory

WEB = ("11", "12", "13", "18", "20", "21", "22")
CANARY = "CANARY-web-7d2e-never-print"


def _args() -> list[str]:
    return [a for n in WEB for a in ("--connection", n)]


@pytest.fixture(scope="module")
def web_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suite(tmp_path_factory.mktemp("webrun"), *_args(), inventory=lab.inventory_path)


def test_web_connections_verified_with_tls_properties(web_run: Run, lab: Lab) -> None:
    assert web_run.rc == 0, web_run.stdout[-3000:]
    for n in WEB:
        assert web_run.suite_properties[f"connection.{n}.verdict"] in VERIFIED, n
    for n in (11, 13, 20, 22):
        for case in web_run.by_connection(n):
            p = case.properties
            assert p["tls.issuer"] == "CN=gvpconf lab CA" and p["tls.verify"] == "on", (n, p)
            assert p["tls.version"].startswith("TLSv1.") and int(p["tls.days_left"]) > 0
            assert "tls.subject" in p and "tls.not_after" in p
    (tts,) = web_run.by_connection(22)
    assert tts.properties["grpc.auth"] == "authenticated"
    (ws,) = web_run.by_connection(13)
    assert ws.properties["ws.subprotocol"] and float(ws.properties["ws.ping_rtt_ms"]) >= 0
    (das,) = web_run.by_connection(12)
    assert das.properties["http.proxy"].startswith("http://127.0.0.1:")
    requests = lab.components["web_http"].proxy_requests()  # type: ignore[attr-defined]
    assert any(r.endswith("/das/app.vxml") for r in requests), requests


def test_secrets_never_appear_in_a_passing_run(web_run: Run, lab: Lab) -> None:
    for name in ("nexus-token", "google_tts-credentials"):
        secret = lab.secret_path(name).read_text()
        for text in (web_run.stdout, web_run.stderr, web_run.junit_text):
            assert secret not in text
            assert "PRIVATE KEY" not in text



def test_canary_tokens_fail_as_auth_and_never_appear(lab: Lab, tmp_path: Path) -> None:
    inventory, env = with_canary(lab.inventory(), tmp_path, CANARY,
                                 files=[("nexus", "token"), ("google_tts", "credentials")],
                                 envs=[("customer", "bearer_token", "GVP_WEB_CANARY")])
    run = run_suite(tmp_path, "--connection", "13", "--connection", "21", "--connection", "22", "-vv",
                    "--tb=long", inventory=inventory, env=env)
    (ws,) = run.by_connection(13)
    assert ws.outcome == "failed" and ws.properties["cause"] == "auth" and "403" in ws.message
    (tts,) = run.by_connection(22)
    assert tts.outcome == "failed" and tts.properties["cause"] == "config", tts.message
    assert_absent(CANARY, run.stdout, run.stderr, run.junit_text)


def test_down_prometheus_target_fails_connection_18(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    down = lab.components["gvp_metrics"].down_port  # type: ignore[attr-defined]
    data["destinations"]["gvp_metrics"]["targets"].append({"name": "gvp-rs-0", "host": "127.0.0.1", "port": down})
    run = run_suite(tmp_path, "--connection", "18", inventory=write_inventory(tmp_path, data))
    assert run.rc == 1
    assert run.suite_properties["connection.18.verdict"] == "FAILED"
    bad = [c for c in run.by_connection(18) if c.outcome == "failed"]
    assert {c.properties["target"] for c in bad} == {"gvp-rs-0"}
    up = next(c for c in bad if c.properties["probe"] == "prometheus.target_up")
    assert up.properties["cause"] == "semantic" and "health=down" in up.message
