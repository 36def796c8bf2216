"""PostgreSQL (connection 17) directly and through pgbouncer, in libpq's TLS modes.

The server is the lab's cluster (``hostssl`` only, scram-sha-256, certificate from the lab CA). pgbouncer runs
from Debian's stock pgbouncer.ini twice: once as shipped on the client side (no client TLS), once with a client
certificate (``client_tls_sslmode = allow``); both reach the server over TLS. Every TLS fact must describe the
probe's own connection (issue 13): ``postgres.tls`` is ``none`` exactly when the probe's connection is plain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf.inventory import PostgresDestination, Secret, TlsSettings
from gvpconf_lab.interop_peers import PgbouncerPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.postgres import PostgresPeer
from gvpconf_lab.tlsca import CA
from selftests.interop import matrix

PROTOCOL = "PostgreSQL"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, ca: CA) -> Iterator[dict[str, Any]]:
    wd = tmp_path_factory.mktemp("interop-pg")
    cert, key = ca.issue("i-postgres")
    pg = PostgresPeer("postgres", wd / "postgres", free_port(), ca_file=ca.ca_cert, cert_file=cert, key_file=key)
    with running(pg):
        users = {pg.username: pg.password}
        plain = PgbouncerPeer("pgbouncer-plain", wd / "pgb-plain", free_port(), server_host=pg.host,
                              server_port=pg.port, database=pg.database, users=users)
        tls = PgbouncerPeer("pgbouncer-tls", wd / "pgb-tls", free_port(), server_host=pg.host, server_port=pg.port,
                            database=pg.database, users=users, client_tls=ca.issue("i-pgbouncer"))
        with running(plain, tls):
            matrix.version("PostgreSQL (hostssl)", "postgresql (Debian)", debian_version(
                f"postgresql-{pg.bindir.parent.name}" if pg.bindir else "postgresql"))
            matrix.version("pgbouncer", "pgbouncer (Debian)", plain.version())
            yield {"PostgreSQL (hostssl)": pg, "pgbouncer, client TLS off (stock)": plain,
                   "pgbouncer, client TLS on": tls, "password": pg.password, "user": pg.username,
                   "database": pg.database}


def destination(scenario: str, servers: dict[str, Any], ca: CA) -> PostgresDestination:
    common = {"database": servers["database"], "username": servers["user"]}
    mode = scenario.removeprefix("sslmode ")
    if mode in ("verify-full", "wrong password"):
        return PostgresDestination(**common, tls=TlsSettings(ca_file=ca.ca_cert, expected_issuers=[ca.common_name]))
    return PostgresDestination(**common, sslmode=mode, tls=TlsSettings(verify=False))


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_postgres(cell: matrix.Cell, servers: dict[str, Any], ca: CA) -> None:
    peer = servers[cell.implementation]
    dest = destination(cell.scenario, servers, ca)
    password = "wrong-" + servers["password"] if cell.scenario == "wrong password" else servers["password"]
    secrets = {"username": servers["user"], "password": Secret(password)}
    first = matrix.run("postgres.sslrequest", 17, dest, "localhost", peer.port, secrets=secrets)
    login = matrix.run("postgres.login", 17, dest, "localhost", peer.port, secrets=secrets)
    got = matrix.record(cell, matrix.verdict(first, login), login.evidence.facts,
                        keep=("postgres.tls", "postgres.sslmode", "postgres.version"))
    assert got == cell.expected, (first.failure, login.failure)
    facts = login.evidence.facts
    if got == matrix.PASS:
        client_tls = dest.effective_sslmode != "disable"
        assert (facts["postgres.tls"] != "none") == client_tls, facts  # the probe's own connection
        if client_tls:
            assert str(facts["postgres.tls"]).startswith("TLSv1."), facts
            assert first.evidence.facts["tls.version"] == facts["postgres.tls"], (first.evidence.facts, facts)
