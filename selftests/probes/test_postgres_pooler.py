"""PostgreSQL behind a pooler (connection 17): every TLS fact describes the connection the probe itself made.

The lab's pgbouncer (``PgbouncerPeer``: Debian's pgbouncer.ini, client TLS offered) in front of the lab's
PostgreSQL, with its two links made different on purpose: the client link (ours) capped at TLS 1.2
(``client_tls_protocols``), its own link to the server at the stock protocols (TLS 1.3). The server's
``pg_stat_ssl`` sees the pooler's link, so the probe must take its facts from libpq's own connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.inventory import PostgresDestination, Secret, Target
from gvpconf.inventory.base import reveal
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import Lab
from gvpconf_lab.interop_peers import PgbouncerPeer, running
from gvpconf_lab.ports import free_port


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgbouncerPeer, PostgresDestination, Secret]]:
    with Lab(tmp_path_factory.mktemp("pooler-lab"), peers=("postgres",)) as lab:
        section = dict(lab.inventory()["destinations"]["postgres"])
        section.pop("password")
        password = lab.secret_path("postgres").read_text()
        pg = lab["postgres"]
        bouncer = PgbouncerPeer("pgbouncer", tmp_path_factory.mktemp("pgbouncer"), free_port(), server_host=pg.host,
                                server_port=pg.port, database=section["database"],
                                users={section["username"]: password}, client_tls=lab.ca.issue("pgbouncer"),
                                client_tls_protocols="tlsv1.2")
        with running(bouncer):
            dest = PostgresDestination.model_validate(
                section | {"targets": [{"name": "pgbouncer", "host": bouncer.host, "port": bouncer.port}]})
            yield bouncer, dest, Secret(password)


def run(probe: str, bouncer: PgbouncerPeer, dest: PostgresDestination, password: Secret) -> ProbeResult:
    target = Target(host=bouncer.host, port=bouncer.port, name="pgbouncer")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(17), target=target, destination=dest,
                            secrets={"username": dest.username, "password": password}, deadline=deadline)

    result = run_job(Job(probe, Timeouts(connect=3.0, read=3.0, probe=10.0), make))
    assert result.error is None, repr(result.error)
    return result


def test_tls_facts_are_those_of_our_own_connection(
        pooled: tuple[PgbouncerPeer, PostgresDestination, Secret]) -> None:
    bouncer, dest, password = pooled
    with psycopg.connect(host=bouncer.host, port=bouncer.port, dbname=dest.database, user=reveal(dest.username),
                         password=password.reveal(), sslmode="require", connect_timeout=3) as conn:
        server_view = conn.execute("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert server_view == ("TLSv1.3",), server_view  # what the server sees: the pooler's own link
    login = run("postgres.login", bouncer, dest, password)
    assert login.ok, login.failure
    facts = login.evidence.facts
    # our link to the pooler is TLS 1.2 (verify-full); the pooler's own link to the server is TLS 1.3
    assert facts["postgres.sslmode"] == "verify-full"
    assert facts["postgres.tls"] == "TLSv1.2", facts
    assert facts["tls.version"] == "TLSv1.2", facts
    assert facts["tls.cipher"], facts
    # the SSLRequest probe's own handshake agrees
    handshake = run("postgres.sslrequest", bouncer, dest, password)
    assert handshake.ok, handshake.failure
    assert handshake.evidence.facts["tls.version"] == "TLSv1.2"
