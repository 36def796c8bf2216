"""Data-area probes (Consul 6/10, SQL Server 16, PostgreSQL depth 17) and MCP pool discovery: never a false pass.

Each probe runs as the plugin runs it (``scheduler.run_job``) against impostors and against stand-ins put in
a wrong state, and must fail with the stated cause within its timeout plus one second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf import catalog, discovery
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import Destination, PostgresDestination, Secret, Target, TlsSettings, parse
from gvpconf.inventory.data import ConsulDestination, SqlServerDestination
from gvpconf.probes import consul
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import Lab, impostors, make_ca
from gvpconf_lab.data_consul import Check, Instance, State, Token, running

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=3.0)
BOUND = TIMEOUTS.probe + 1.0
TOKEN = "probe-token-7f3a9c"

PROBES: dict[str, tuple[int, Destination, dict[str, Any]]] = {
    "mssql.prelogin": (16, SqlServerDestination(username="u"), {}),
    "mssql.login": (16, SqlServerDestination(username="u"), {"username": "u", "password": Secret("impostor-pw")}),
    "consul.cluster": (6, ConsulDestination(), {"token": Secret(TOKEN)}),
    "consul.sd_catalog": (6, ConsulDestination(), {"token": Secret(TOKEN)}),
    "consul.mcp_registration": (10, ConsulDestination(), {"token": Secret(TOKEN)}),
}

P, T, R = Cause.PROTOCOL, Cause.TIMEOUT, Cause.REFUSED
# random bytes: a protocol failure when they hold a newline (a bad status line), else requests keeps waiting
# for the status line and it is a timeout. Either way, never a pass.
PT = (P, T)
_CONSUL: dict[str, Cause | tuple[Cause, ...]] = {"silent": T, "closer": P, "http": P, "http-banner": P,
                                                 "refused": R, "blackhole": T, "garbage": PT,
                                                 "echo": P}
EXPECTED: dict[str, dict[str, Cause | tuple[Cause, ...]]] = {
    # our own codec recognises a non-TDS answer from its first byte
    "mssql.prelogin": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                       "refused": R, "blackhole": T},
    # FreeTDS waits for a whole packet header that random bytes may never complete: a timeout (PRELOGIN says why)
    "mssql.login": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": PT, "echo": P,
                    "refused": R, "blackhole": T},
    "consul.cluster": _CONSUL, "consul.sd_catalog": _CONSUL, "consul.mcp_registration": _CONSUL,
}


def run_probe(name: str, address: tuple[str, int], destination: Destination | None = None,
              secrets: dict[str, Any] | None = None, timeouts: Timeouts = TIMEOUTS,
              opt_ins: frozenset[str] = frozenset()) -> ProbeResult:
    number, dest, default_secrets = PROBES.get(name, (17, destination, {}))
    row = catalog.connection(number)
    target = Target(host=address[0], port=address[1], name="under-test", zone=None)
    chosen = destination or dest
    assert chosen is not None
    sec = default_secrets if secrets is None else secrets

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=chosen, secrets=sec, deadline=deadline,
                            opt_ins=opt_ins)

    started = time.monotonic()
    result = run_job(Job(name, timeouts, make))
    assert time.monotonic() - started <= timeouts.probe + 1.0, f"{name} overran its timeout"
    assert result.error is None, f"prober bug: {result.error!r}"
    return result


def failed(result: ProbeResult, cause: Cause | tuple[Cause, ...], *words: str) -> str:
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    message = str(result.failure)
    assert result.failure.cause in (cause if isinstance(cause, tuple) else (cause,)), message
    assert "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_against_impostor(probe: str, impostor: tuple[str, tuple[str, int]]) -> None:
    kind, address = impostor
    result = run_probe(probe, address)
    message = failed(result, EXPECTED[probe][kind])
    if probe == "mssql.prelogin" and kind in ("http", "http-banner"):
        assert "HTTP" in message  # PRELOGIN answered by a non-TDS service: says which


# -- Consul stand-in in a wrong state -----------------------------------------------------------------

def consul_state(*, leader: str = "127.0.0.1:8300", check: str = "passing", register: bool = True,
                 tenants: bool = True) -> State:
    state = State(leader=leader, tokens=[
        Token(TOKEN, "probe", ["gvp-sd"], agent="read", service={"": "read"},
              key={"tenants/": "read", "gvpconf-probe/": "write"}),
        Token("no-perms-token", "nothing granted"),
    ])
    if register:
        state.register(Instance("gvp-mcp-0", "gvp-mcp", "10.0.0.5", 5070,
                                checks=[Check("service:gvp-mcp-0", "MCP service handler", check, "HTTP 503")]))
    if tenants:
        state.put("tenants/t1/name", b"Environment")
    return state


MCP = ConsulDestination(self_address="10.0.0.5", sip_port=5070)


def test_consul_stand_in_positive_for_every_probe() -> None:
    with running(consul_state()) as address:
        for probe in ("consul.cluster", "consul.sd_catalog", "consul.mcp_registration"):
            result = run_probe(probe, address, destination=MCP)
            assert result.ok, result.failure
        facts = run_probe("consul.mcp_registration", address, destination=MCP).evidence.facts
    assert facts["consul.checks"] == "2/2 passing" and facts["consul.service_id"] == "gvp-mcp-0"


def test_consul_timeouts_quote_the_budget_that_ran_out() -> None:
    """A connect that times out names the connect budget, a silent server the read budget (not one for both)."""
    timeouts = Timeouts(connect=0.6, read=1.4, probe=3.0)
    with impostors.blackhole() as address:
        message = failed(run_probe("consul.cluster", address, timeouts=timeouts), T, "TCP connect", "0.6 s")
    assert "1.4 s" not in message
    with impostors.silent() as address:
        message = failed(run_probe("consul.cluster", address, timeouts=timeouts), T, "1.4 s")
    assert "0.6 s" not in message


@pytest.mark.parametrize("probe", ["consul.cluster", "consul.sd_catalog", "consul.mcp_registration"])
def test_wrong_consul_token_is_auth(probe: str) -> None:
    with running(consul_state()) as address:
        result = run_probe(probe, address, destination=MCP, secrets={"token": Secret("wrong-token-x9")})
    if probe == "consul.cluster":
        failed(result, Cause.AUTH, "ACL not found")
    else:
        failed(result, Cause.AUTH)
    assert "wrong-token-x9" not in str(result.failure)


def test_token_without_service_read_is_auth_not_an_empty_pool() -> None:
    with running(consul_state()) as address:
        result = run_probe("consul.sd_catalog", address, secrets={"token": Secret("no-perms-token")})
    failed(result, Cause.AUTH, "filtered")


def test_mcp_not_registered_is_semantic() -> None:
    with running(consul_state()) as address:
        other = ConsulDestination(self_address="10.0.0.99", sip_port=5070)
        failed(run_probe("consul.mcp_registration", address, destination=other), Cause.SEMANTIC,
               "10.0.0.99:5070", "10.0.0.5:5070")
    with running(consul_state(register=False)) as address:
        failed(run_probe("consul.mcp_registration", address, destination=MCP), Cause.SEMANTIC, "0 instance")
        failed(run_probe("consul.sd_catalog", address, destination=MCP), Cause.SEMANTIC, "got none")


def test_mcp_check_critical_is_semantic() -> None:
    with running(consul_state(check="critical")) as address:
        failed(run_probe("consul.mcp_registration", address, destination=MCP), Cause.SEMANTIC,
               "MCP service handler: critical", "HTTP 503")


@pytest.mark.parametrize("probe", ["consul.cluster", "consul.sd_catalog", "consul.mcp_registration"])
def test_no_leader_is_semantic(probe: str) -> None:
    with running(consul_state(leader="")) as address:
        failed(run_probe(probe, address, destination=MCP), Cause.SEMANTIC, "leader")


def test_empty_tenants_folder_is_semantic_unless_allowed() -> None:
    with running(consul_state(tenants=False)) as address:
        failed(run_probe("consul.sd_catalog", address), Cause.SEMANTIC, "tenants/")
        relaxed = ConsulDestination(require_tenants=False)
        assert run_probe("consul.sd_catalog", address, destination=relaxed).ok


#: the opt-in as the plugin passes it (from --consul-write-check, $GVP_CONSUL_WRITE_CHECK or write_check: true)
WRITE_CHECK = frozenset({"consul_write_check"})


def test_write_check_leaves_nothing_and_does_not_touch_other_keys() -> None:
    state = consul_state()
    with running(state) as address:
        result = run_probe("consul.sd_catalog", address, opt_ins=WRITE_CHECK)
    assert result.ok, result.failure
    assert result.evidence.facts["consul.write_check"] == "created (cas=0), read back, deleted (cas)"
    assert result.evidence.facts["consul.write_key"].startswith("gvpconf-probe/")
    assert state.kv_keys("gvpconf-probe/") == []
    assert state.kv_keys() == ["tenants/t1/name"]


def test_write_check_without_write_permission_is_auth_and_leaves_nothing() -> None:
    state = consul_state()
    state.tokens[TOKEN].key = {"tenants/": "read"}
    with running(state) as address:
        result = run_probe("consul.sd_catalog", address, opt_ins=WRITE_CHECK)
    failed(result, Cause.AUTH, "key:write")
    assert state.kv_keys("gvpconf-probe/") == []


def test_write_prefix_must_be_its_own() -> None:
    with pytest.raises(ValueError, match="own key prefix"):
        ConsulDestination(write_prefix="tenants/probe/")


def test_py_consul_env_token_does_not_override_the_inventory(monkeypatch: pytest.MonkeyPatch) -> None:
    """py-consul's gotcha: CONSUL_HTTP_TOKEN beats token=. The probe must use the inventory's token."""
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "env-token-should-not-win")
    with running(consul_state()) as address:
        assert run_probe("consul.cluster", address).ok


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("consul-tls")
    trusted = make_ca(base / "trusted")
    other = make_ca(base / "other", common_name="someone else's CA")
    cert, key = trusted.issue("consul")
    return {"cert": cert, "key": key, "ca": trusted.ca_cert, "other_ca": other.ca_cert}


# the TLS checks themselves (wrong CA, wrong name, minimum version, issuer, expiry), the same for every TLS peer:
# test_tls_checks.py. Here: what is Consul's own, the scheme by port, and discovery over HTTPS.

def test_https_by_port_and_the_former_ca_file_key(tls_material: dict[str, Path]) -> None:
    with running(consul_state(), tls=(tls_material["cert"], tls_material["key"])) as (host, port):
        # the inventory's former spelling, a top-level ca_file, is read as tls.ca_file
        ok = ConsulDestination.model_validate({"https_ports": [port], "ca_file": str(tls_material["ca"])})
        assert ok.tls.ca_file == tls_material["ca"]
        result = run_probe("consul.cluster", (host, port), destination=ok)
        assert result.ok, result.failure
        assert result.evidence.facts["consul.scheme"] == "https"
        assert result.evidence.facts["tls.issuer"] == "CN=gvpconf lab CA"
        plain = ConsulDestination(https_ports=[])
        failed(run_probe("consul.cluster", (host, port), destination=plain), Cause.PROTOCOL)
    with running(consul_state()) as (host, port):
        https_to_http = ConsulDestination(https_ports=[port], tls=TlsSettings(ca_file=tls_material["ca"]))
        failed(run_probe("consul.cluster", (host, port), destination=https_to_http), Cause.TLS, "plain text")


def test_consul_checks_requests_own_handshake_and_trusts_the_inventory_ca_only(
        tls_material: dict[str, Path]) -> None:
    with running(consul_state(), tls=(tls_material["cert"], tls_material["key"])) as (host, port):
        dest = ConsulDestination(https_ports=[port], tls=TlsSettings(ca_file=tls_material["ca"]))
        facts: dict[str, Any] = {}
        session = consul.Session(dest, Target(host=host, port=port), TOKEN, Deadline(TIMEOUTS), facts.__setitem__)
        try:
            consul.check_leader(session, facts.__setitem__)
            context = session.client.http.session.get_adapter(f"https://{host}:{port}/").context
        finally:
            session.close()
    assert len(session.handshakes) == 1 and facts["tls.issuer"] == "CN=gvpconf lab CA"
    # requests would have loaded certifi's bundle into the context next to the inventory's CA
    assert context.cert_store_stats()["x509_ca"] == 1


def test_discovery_over_https_gets_the_same_tls_checks(monkeypatch: pytest.MonkeyPatch,
                                                       tls_material: dict[str, Path]) -> None:
    monkeypatch.setenv("GVP_TEST_CONSUL_TOKEN", TOKEN)
    with running(consul_state(), tls=(tls_material["cert"], tls_material["key"])) as (_host, port):
        def inventory(**tls: Any) -> Any:
            return parse({"version": 1, "destinations": {"mcp": {}, "consul": {
                "token": {"env": "GVP_TEST_CONSUL_TOKEN"}, "https_ports": [port],
                "tls": {"ca_file": str(tls_material["ca"]), **tls},
                "targets": [{"host": "127.0.0.1", "port": port}]}},
                "discovery": {"mcp": {"consul": {"service": "gvp-mcp"}}}})

        assert [t.id for t in discovery.targets_for(inventory(), "mcp")] == ["gvp-mcp-0"]
        with pytest.raises(discovery.DiscoveryError, match="tls: TLS interception suspected"):
            discovery.targets_for(inventory(expected_issuers=["Google Trust Services"]), "mcp")


# -- SQL Server stand-in ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Only this module's peers (the SQL Server stand-in, PostgreSQL): independent of other areas' peers."""
    with Lab(tmp_path_factory.mktemp("data-lab"), peers=("sqlserver", "postgres")) as running_lab:
        yield running_lab


def _mssql(lab: Lab, **update: Any) -> tuple[tuple[str, int], SqlServerDestination, dict[str, Any]]:
    section = dict(lab.inventory()["destinations"]["sqlserver"])
    dest = SqlServerDestination.model_validate({k: v for k, v in section.items() if k != "password"} | update)
    peer = lab["sqlserver"]
    password = Secret(lab.secret_path("sqlserver-password").read_text())
    return (peer.host, peer.port), dest, {"username": dest.username, "password": password}


def test_sqlserver_stand_in_positive(lab: Lab) -> None:
    address, dest, secrets = _mssql(lab)
    pre = run_probe("mssql.prelogin", address, destination=dest, secrets={})
    assert pre.ok and pre.evidence.facts["mssql.version"] == "15.0.2000.5"
    assert pre.evidence.facts["mssql.encryption"] == "NOT_SUP"
    result = run_probe("mssql.login", address, destination=dest, secrets=secrets)
    assert result.ok, result.failure
    assert result.evidence.facts["mssql.database"] == "gvp_rs"


def test_wrong_sql_login_is_auth(lab: Lab) -> None:
    address, dest, secrets = _mssql(lab)
    result = run_probe("mssql.login", address, destination=dest,
                       secrets=secrets | {"password": Secret("not-the-password-42")})
    failed(result, Cause.AUTH, "login rejected", "error 18456")
    assert "not-the-password-42" not in str(result.failure)


def test_database_the_login_cannot_open_is_a_login_failure(lab: Lab) -> None:
    """SQL Server answers 4060 then 18456; FreeTDS reports the last one: a login failure, said as such."""
    address, dest, secrets = _mssql(lab, database="billing")
    failed(run_probe("mssql.login", address, destination=dest, secrets=secrets), Cause.AUTH, "error 18456",
           "database the login may not open")


def test_encryption_requirement_is_checked_against_prelogin(lab: Lab) -> None:
    address, dest, _secrets = _mssql(lab, require_encryption=True)
    failed(run_probe("mssql.prelogin", address, destination=dest, secrets={}), Cause.TLS, "NOT_SUP")


def test_minimum_version_is_checked(lab: Lab) -> None:
    address, dest, _secrets = _mssql(lab, min_version="16.0")
    failed(run_probe("mssql.prelogin", address, destination=dest, secrets={}), Cause.SEMANTIC, "16.0",
           "15.0.2000")


def test_login_without_username_is_config() -> None:
    with impostors.refused() as address:
        result = run_probe("mssql.login", address, destination=SqlServerDestination(), secrets={})
    failed(result, Cause.CONFIG, "username")


# -- PostgreSQL depth ---------------------------------------------------------------------------------

def _pg(lab: Lab, **update: Any) -> tuple[tuple[str, int], PostgresDestination, dict[str, Any]]:
    section = dict(lab.inventory()["destinations"]["postgres"])
    section.pop("password")
    dest = PostgresDestination.model_validate(section | update)
    peer = lab["postgres"]
    return (peer.host, peer.port), dest, {"username": dest.username,
                                          "password": Secret(lab.secret_path("postgres").read_text())}


def test_postgres_sslmode_is_derived_from_the_tls_section(lab: Lab) -> None:
    address, dest, secrets = _pg(lab)
    assert dest.sslmode is None and dest.effective_sslmode == "verify-full"
    for probe in ("postgres.sslrequest", "postgres.login"):
        result = run_probe(probe, address, destination=dest, secrets=secrets)
        assert result.ok, result.failure
        assert result.evidence.facts["postgres.sslmode"] == "verify-full"
        assert str(result.evidence.facts["tls.version"]).startswith("TLSv1.")
    off = PostgresDestination(username="u", tls=TlsSettings(verify=False))
    assert off.effective_sslmode == "require"


def test_postgres_former_keys_still_read(lab: Lab) -> None:
    address, dest, secrets = _pg(lab)
    assert dest.tls.ca_file is not None
    old = PostgresDestination.model_validate({"username": dest.username, "database": dest.database,
                                              "sslmode": "verify-full", "ca_file": str(dest.tls.ca_file)})
    assert old.tls.ca_file == dest.tls.ca_file and old.effective_sslmode == "verify-full"
    assert run_probe("postgres.login", address, destination=old, secrets=secrets).ok


def test_postgres_verify_ca_checks_the_chain_not_the_name(lab: Lab, tls_material: dict[str, Path]) -> None:
    address, dest, secrets = _pg(lab)
    chain_only = dest.model_copy(update={"sslmode": "verify-ca",
                                         "tls": dest.tls.model_copy(update={"server_name": "wrong.invalid"})})
    for probe in ("postgres.sslrequest", "postgres.login"):
        result = run_probe(probe, address, destination=chain_only, secrets=secrets)
        assert result.ok, result.failure
        assert result.evidence.facts["tls.verify"] == "on (chain only: no hostname check)"
    other = chain_only.model_copy(update={"tls": chain_only.tls.model_copy(
        update={"ca_file": tls_material["other_ca"]})})
    failed(run_probe("postgres.sslrequest", address, destination=other, secrets=secrets), Cause.TLS, "untrusted CA")


def test_postgres_minimum_version(lab: Lab) -> None:
    address, dest, secrets = _pg(lab, min_version="99")
    failed(run_probe("postgres.login", address, destination=dest, secrets=secrets), Cause.SEMANTIC, "99 or later")
    assert PostgresDestination(username="u", min_version="9.6").min_version_num() == 90600
    assert PostgresDestination(username="u", min_version="15.2").min_version_num() == 150002


# -- discovery ----------------------------------------------------------------------------------------

def _inventory(consul_port: int, **pool: Any) -> Any:
    return parse({"version": 1, "destinations": {
        "mcp": {}, "consul": {"token": {"env": "GVP_TEST_CONSUL_TOKEN"},
                              "targets": [{"host": "127.0.0.1", "port": consul_port}]}},
        "discovery": {"mcp": {"consul": {"service": "gvp-mcp", **pool}}}})


def test_discovery_finds_passing_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVP_TEST_CONSUL_TOKEN", TOKEN)
    state = consul_state()
    state.register(Instance("gvp-mcp-1", "gvp-mcp", "10.0.0.6", 5070, meta={"zone": "eu-west-1b"},
                            checks=[Check("service:gvp-mcp-1", "handler", "critical")]))
    with running(state) as (_host, port):
        targets = discovery.targets_for(_inventory(port), "mcp")
        assert [(t.id, t.address, t.zone) for t in targets] == [("gvp-mcp-0", "10.0.0.5:5070", None)]
        every = discovery.targets_for(_inventory(port, passing_only=False), "mcp")
        assert {t.id: t.zone for t in every} == {"gvp-mcp-0": None, "gvp-mcp-1": "eu-west-1b"}


def test_discovery_of_zero_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVP_TEST_CONSUL_TOKEN", TOKEN)
    with running(consul_state(check="critical")) as (_host, port), \
            pytest.raises(discovery.DiscoveryError, match=r"no passing instance of 'gvp-mcp'.*pool of zero"):
        discovery.targets_for(_inventory(port), "mcp")


def test_discovery_failures_are_one_line_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVP_TEST_CONSUL_TOKEN", "wrong-discovery-token")
    with running(consul_state()) as (_host, port), pytest.raises(discovery.DiscoveryError) as info:
        discovery.targets_for(_inventory(port), "mcp")
    assert "auth" in str(info.value) and "\n" not in str(info.value)
    assert "wrong-discovery-token" not in str(info.value)
    with impostors.silent() as (_host, port):
        started = time.monotonic()
        with pytest.raises(discovery.DiscoveryError, match="timeout"):
            discovery.targets_for(_inventory(port, timeout=1.0), "mcp")
        assert time.monotonic() - started <= 2.0


def test_node_local_agent_target_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = parse({"version": 1, "destinations": {"consul": {"node_agent": {"host_env": "GVP_TEST_HOST_IP"},
                                                           "targets": [{"host": "consul-server", "port": 8501}]}}})
    with pytest.raises(discovery.DiscoveryError, match="GVP_TEST_HOST_IP is not set"):
        discovery.targets_for(inv, "consul")
    monkeypatch.setenv("GVP_TEST_HOST_IP", "192.0.2.7")
    inv2 = inv.model_copy()  # a new inventory object: the cache is per inventory
    assert [t.address for t in discovery.targets_for(inv2, "consul")] == ["consul-server:8501", "192.0.2.7:8501"]
