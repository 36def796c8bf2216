"""PostgreSQL behind a pooler (connection 17): every TLS fact describes the connection the probe itself made.

pgbouncer (Debian's) in front of the lab's PostgreSQL, with its two links made different on purpose: the
client link (ours) at most TLS 1.2, its own link to the server TLS 1.3. The server's ``pg_stat_ssl`` sees the
pooler's link, so the probe must take its facts from libpq's own connection.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.inventory import PostgresDestination, Secret, Target
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import Lab
from gvpconf_lab.base import Peer
from gvpconf_lab.ports import free_port
from gvpconf_lab.postgres import PG_SYSTEM_USER

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer(Peer):
    """pgbouncer as Debian ships it, run as the postgres user (it refuses root), session pooling, TLS both ways."""

    kind = "pgbouncer"

    def __init__(self, name: str, workdir: Path, port: int, *, server: tuple[str, int], database: str,
                 user: str, password: str, cert: Path, key: Path, client_protocols: str) -> None:
        super().__init__(name, workdir, port)
        self.server, self.database, self.user, self.password = server, database, user, password
        self.cert, self.key, self.client_protocols = cert, key, client_protocols
        self.dir = Path(tempfile.mkdtemp(prefix="gvpconf-pgbouncer-"))  # reachable by the postgres user

    def prepare(self) -> None:
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        files = {"server.crt": self.cert.read_text(), "server.key": self.key.read_text(),
                 "userlist.txt": f'"{self.user}" "{self.password}"\n',
                 "pgbouncer.ini": (
                     f"[databases]\n{self.database} = host={self.server[0]} port={self.server[1]} "
                     f"dbname={self.database}\n"
                     f"[pgbouncer]\nlisten_addr = {self.host}\nlisten_port = {self.port}\nunix_socket_dir =\n"
                     f"auth_type = scram-sha-256\nauth_file = {self.dir / 'userlist.txt'}\npool_mode = session\n"
                     f"client_tls_sslmode = require\nclient_tls_cert_file = {self.dir / 'server.crt'}\n"
                     f"client_tls_key_file = {self.dir / 'server.key'}\n"
                     f"client_tls_protocols = {self.client_protocols}\n"
                     "server_tls_sslmode = require\nserver_tls_protocols = tlsv1.3\n"
                     f"logfile = {self.dir / 'pgbouncer.log'}\n")}
        for name, text in files.items():
            path = self.dir / name
            path.write_text(text)
            os.chmod(path, 0o600)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def command(self) -> Sequence[str]:
        return [PGBOUNCER, "-u", PG_SYSTEM_USER, str(self.dir / "pgbouncer.ini")]

    def probe(self, timeout: float) -> None:
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgBouncer, PostgresDestination, Secret]]:
    with Lab(tmp_path_factory.mktemp("pooler-lab"), peers=("postgres",)) as lab:
        section = dict(lab.inventory()["destinations"]["postgres"])
        section.pop("password")
        password = lab.secret_path("postgres").read_text()
        pg = lab["postgres"]
        cert, key = lab.ca.issue("pgbouncer")
        bouncer = PgBouncer("pgbouncer", tmp_path_factory.mktemp("pgbouncer"), free_port(),
                            server=(pg.host, pg.port), database=section["database"], user=section["username"],
                            password=password, cert=cert, key=key, client_protocols="tlsv1.2")
        bouncer.start()
        try:
            bouncer.wait_ready(10.0)
            dest = PostgresDestination.model_validate(
                section | {"targets": [{"name": "pgbouncer", "host": bouncer.host, "port": bouncer.port}]})
            yield bouncer, dest, Secret(password)
        finally:
            bouncer.stop()


def run(probe: str, bouncer: PgBouncer, dest: PostgresDestination, password: Secret) -> ProbeResult:
    target = Target(host=bouncer.host, port=bouncer.port, name="pgbouncer")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(17), target=target, destination=dest,
                            secrets={"username": dest.username, "password": password}, deadline=deadline)

    result = run_job(Job(probe, Timeouts(connect=3.0, read=3.0, probe=10.0), make))
    assert result.error is None, repr(result.error)
    return result


def test_tls_facts_are_those_of_our_own_connection(pooled: tuple[PgBouncer, PostgresDestination, Secret]) -> None:
    bouncer, dest, password = pooled
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
