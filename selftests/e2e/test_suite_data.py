"""The suite as users run it (pytest tests --inventory ... --junitxml ...) against the data area's stand-ins:
connections 6, 10, 16 verified; the write check leaves nothing behind; secrets never printed; connection 4 on
Consul-discovered targets; and the real clients (FreeTDS's tsql, py-consul) against the stand-ins."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gvpconf_lab import Lab
from selftests.helpers import VERIFIED, Run, assert_absent, run_suite, with_canary, write_inventory

DATA = ("--connection", "6", "--connection", "10", "--connection", "16")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The SIP Server (a real SIP peer for the MCP registrations) and the two stand-ins."""
    with Lab(tmp_path_factory.mktemp("data-suite-lab"), peers=("sip_server", "consul", "sqlserver")) as running:
        yield running



def props(run: Run, number: int) -> dict[str, str]:
    return {k: v for c in run.by_connection(number) for k, v in c.properties.items()}


def test_lab_output_labels_the_stand_ins(lab: Lab) -> None:
    text = lab.describe()
    assert "STAND-IN for Consul" in text and "STAND-IN for SQL Server" in text


def test_connections_6_10_16_verified_over_http_and_https(lab: Lab, tmp_path: Path) -> None:
    run = run_suite(tmp_path, *DATA, inventory=lab.inventory_path)
    assert run.rc == 0, run.stdout[-3000:]
    for number in (6, 10, 16):
        assert run.suite_properties[f"connection.{number}.verdict"] in VERIFIED
    six = run.by_connection(6)
    assert {c.properties["consul.scheme"] for c in six} == {"http", "https"}
    assert len(six) == 4
    p6, p10, p16 = props(run, 6), props(run, 10), props(run, 16)
    assert p6["consul.leader"] == "127.0.0.1:8300" and p6["consul.token"] == "valid"
    assert int(p6["consul.instances"]) >= 1 and p6["consul.write_check"] == "off (read-only)"
    assert p10["consul.checks"] == "2/2 passing"  # serfHealth and the MCP's own
    assert p10["consul.self"].startswith("127.0.0.1:")
    assert p16["mssql.version"] == "15.0.2000.5" and p16["mssql.encryption"] == "NOT_SUP"
    assert p16["mssql.database"] == "gvp_rs"


def test_write_check_leaves_nothing_in_the_kv_store(lab: Lab, tmp_path: Path) -> None:
    consul = lab["consul"]
    run = run_suite(tmp_path, "--connection", "6", "--consul-write-check", inventory=lab.inventory_path)
    assert run.rc == 0, run.stdout[-3000:]
    cases = [c for c in run.by_connection(6) if c.properties.get("probe") == "consul.sd_catalog"]
    assert len(cases) == 2
    for case in cases:
        assert case.properties["consul.write_check"] == "created (cas=0), read back, deleted (cas)"
        assert case.properties["consul.write_key"].startswith("gvpconf-probe/")
    # an independent look, through the stand-in's own HTTP API with the lab's admin token
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as info:
        consul.request("GET", "/v1/kv/gvpconf-probe/?keys")  # type: ignore[attr-defined]
    assert info.value.code == 404
    assert consul.request("GET", "/v1/kv/tenants/?keys") == [  # type: ignore[attr-defined]
        "tenants/lab-tenant/dbid", "tenants/lab-tenant/name"]


CANARY = "CANARY-data-4d2a-never-print"


def test_wrong_token_and_login_are_auth_and_never_printed(lab: Lab, tmp_path: Path) -> None:
    inventory, env = with_canary(lab.inventory(), tmp_path, CANARY, files=[("consul", "token")],
                                 envs=[("sqlserver", "password", "GVP_CANARY_SQL")])
    run = run_suite(tmp_path, *DATA, "-vv", "--tb=long", inventory=inventory, env=env)
    assert run.rc == 1
    for number in (6, 10):
        causes = {c.properties.get("probe"): c.properties.get("cause") for c in run.by_connection(number)}
        assert set(causes.values()) == {"auth"}, causes
    login = next(c for c in run.by_connection(16) if c.properties.get("probe") == "mssql.login")
    assert login.properties["cause"] == "auth", login.message
    prelogin = next(c for c in run.by_connection(16) if c.properties.get("probe") == "mssql.prelogin")
    assert prelogin.outcome == "passed"  # no credentials in PRELOGIN
    assert_absent(CANARY, run.stdout, run.stderr, run.junit_text)
    for real in (lab.secret_path("consul-token").read_text(), lab.secret_path("sqlserver-password").read_text()):
        assert_absent(real, run.stdout, run.stderr, run.junit_text)


def test_connection_4_runs_on_consul_discovered_targets(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["mcp"] = {}  # settings only: the targets come from Consul
    data["discovery"] = {"mcp": {"consul": {"service": "gvp-mcp", "timeout": 3}}}
    run = run_suite(tmp_path, "--connection", "4", inventory=write_inventory(tmp_path, data))
    if not run.by_connection(4):
        pytest.fail(f"connection 4 has no module yet, or nothing ran: {run.stdout[-2000:]}")
    assert run.rc == 0, run.stdout[-3000:]
    cases = run.by_connection(4)  # its OPTIONS and its padded OPTIONS (path MTU)
    assert len(cases) == 2
    sip = lab.inventory()["destinations"]["sip_server"]["targets"][0]
    for case in cases:
        assert case.outcome == "passed"
        assert case.properties["address"] == f"{sip['host']}:{sip['port']}"
        assert case.properties["target"] == "sip-server"  # the registered service ID


def test_discovered_pool_of_zero_fails_with_config(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["mcp"] = {}
    data["discovery"] = {"mcp": {"consul": {"service": "gvp-mcp", "tag": "no-such-tag", "timeout": 3}}}
    run = run_suite(tmp_path, "--connection", "4", inventory=write_inventory(tmp_path, data))
    assert run.rc == 1
    cases = run.by_connection(4)
    assert cases, run.stdout[-2000:]
    for case in cases:
        # a JUnit <failure> in the call phase: never a pass, never a skip
        assert case.outcome == "failed" and case.properties.get("cause") == "config", case.message
    assert "pool of zero" in cases[0].message
    assert run.suite_properties["connection.4.verdict"] == "FAILED"


def test_freetds_tsql_reads_the_row_from_the_tds_stand_in(lab: Lab) -> None:
    peer = lab["sqlserver"]
    password = lab.secret_path("sqlserver-password").read_text()
    args = ["tsql", "-H", peer.host, "-p", str(peer.port), "-U", "gvp_reader", "-P", password, "-D", "gvp_rs"]
    ok = subprocess.run(args, input="SELECT @@VERSION, DB_NAME()\ngo\nexit\n", capture_output=True, text=True,
                        timeout=30)
    assert "gvp_rs" in ok.stdout and "(1 row affected)" in ok.stdout, ok.stdout + ok.stderr
    bad = subprocess.run([*args[:-4], "-P", "wrong", "-D", "gvp_rs"], input="exit\n", capture_output=True,
                         text=True, timeout=30)
    assert "Msg 18456" in bad.stdout + bad.stderr and "Login failed for user 'gvp_reader'" in bad.stdout + bad.stderr


def test_py_consul_unchanged_against_the_stand_in(lab: Lab) -> None:
    import consul  # type: ignore[import-untyped]

    peer = lab["consul"]
    token = lab.secret_path("consul-token").read_text()
    for scheme, port in (("http", peer.port), ("https", peer.https_port)):  # type: ignore[attr-defined]
        c = consul.Consul(host=peer.host, port=port, scheme=scheme, token=token,
                          verify=str(peer.ca_file))  # type: ignore[attr-defined]
        assert c.status.leader() == "127.0.0.1:8300"
        _index, nodes = c.catalog.service("gvp-mcp")
        assert nodes and nodes[0]["ServiceName"] == "gvp-mcp"
        _index, entries = c.health.service("gvp-mcp", passing=True)
        assert entries and entries[0]["Checks"][-1]["Status"] == "passing"
        _index, item = c.kv.get("tenants/lab-tenant/name")
        assert item["Value"] == b"Environment"
        with pytest.raises(consul.ACLPermissionDenied):
            c.kv.put("tenants/lab-tenant/name", "x")
        assert c.kv.put("gvpconf-probe/selftest", "v", cas=0) is True
        assert c.kv.put("gvpconf-probe/selftest", "v", cas=0) is False
        assert c.kv.delete("gvpconf-probe/selftest") is True
