"""PostgreSQL as a real peer: a private cluster on a loopback port, TLS with a lab CA certificate.

initdb refuses to run as root, so initdb and postgres run as the ``postgres`` system user (via
``setpriv``, which execs: the PID we hold is the postmaster's). The cluster lives under the peer's
working directory when the ``postgres`` user can reach it, otherwise (pytest's 0700 temp dirs) in a
private ``/tmp/gvpconf-pg-*`` directory that stop() removes. Shutdown uses SIGINT ("fast").
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from gvpconf_lab.base import LOOPBACK, LabError, Peer

PG_SYSTEM_USER = "postgres"
_MAX_SOCKET_DIR = 90  # a unix socket path must stay under 108 bytes


def postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has a postgres binary."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")

    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/", path)
        return tuple(int(p) for p in m.group(1).split(".")) if m else (0,)

    if not found:
        raise LabError("postgres: no /usr/lib/postgresql/*/bin/postgres (install the 'postgresql' package: "
                       "python -m gvpconf_lab install)")
    return Path(max(found, key=version)).parent


def _as_postgres() -> list[str]:
    return ["setpriv", f"--reuid={PG_SYSTEM_USER}", f"--regid={PG_SYSTEM_USER}", "--init-groups", "--"]


def reachable_by_postgres(path: Path) -> bool:
    """True when the postgres system user can enter ``path``."""
    proc = subprocess.run([*_as_postgres(), "test", "-x", str(path)], capture_output=True, check=False)
    return proc.returncode == 0


class PostgresPeer(Peer):
    kind: ClassVar[str] = "postgres"
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT
    default_ready_deadline_s: ClassVar[float] = 30.0
    poll_interval_s: ClassVar[float] = 0.1

    def __init__(self, name: str, workdir: Path, port: int, host: str = LOOPBACK, *, ca_file: Path,
                 cert_file: Path, key_file: Path, database: str = "gvp", username: str = "gvp_reader",
                 password: str | None = None, require_ssl: bool = True) -> None:
        super().__init__(name, workdir, port, host)
        self.ca_file = Path(ca_file)
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self.database = database
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(18)
        self.superuser = "postgres"
        self.superuser_password = secrets.token_urlsafe(18)
        self.require_ssl = require_ssl
        self.bindir: Path | None = None
        self.cluster_dir: Path = self.workdir / "cluster"
        self._private_tmp: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    def _run_as_postgres(self, args: Sequence[str], what: str) -> None:
        with self.log_path.open("ab") as log:
            proc = subprocess.run([*_as_postgres(), *args], stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=self.cluster_dir, check=False)
        if proc.returncode != 0:
            raise self.error(f"{what} failed with exit code {proc.returncode}")

    def prepare(self) -> None:
        self.bindir = postgres_bindir()
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if reachable_by_postgres(self.workdir):
            self.cluster_dir = self.workdir / "cluster"
        else:
            self._private_tmp = Path(tempfile.mkdtemp(prefix="gvpconf-pg-"))
            os.chmod(self._private_tmp, 0o755)
            self.cluster_dir = self._private_tmp / "cluster"
        self.cluster_dir.mkdir(mode=0o700)
        os.chown(self.cluster_dir, pw.pw_uid, pw.pw_gid)

        pwfile = self.cluster_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        os.chmod(pwfile, 0o600)
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        try:
            self._run_as_postgres([str(self.bindir / "initdb"), "-D", str(self.data_dir),
                                   "--auth=scram-sha-256", f"--pwfile={pwfile}",
                                   f"--username={self.superuser}", "--encoding=UTF8", "--locale=C.UTF-8",
                                   "--no-sync", "--no-instructions"], "initdb")
        finally:
            pwfile.unlink(missing_ok=True)

        self.install_certificate(self.cert_file, self.key_file, "server")

        socket_dir = str(self.data_dir) if len(str(self.data_dir)) <= _MAX_SOCKET_DIR else ""
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{socket_dir}'",
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "30",
            "logging_collector": "off",
            "log_destination": "'stderr'",
            "log_connections": "on",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# gvpconf lab\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        host_type = "hostssl" if self.require_ssl else "host"
        (self.data_dir / "pg_hba.conf").write_text(
            "# gvpconf lab\n"
            "local   all all                scram-sha-256\n"
            f"{host_type} all all {self.host}/32 scram-sha-256\n")

    def install_certificate(self, cert: Path, key: Path, name: str) -> tuple[str, str]:
        """Copy a certificate and its key into the data directory as ``<name>.crt``/``.key``, owned by the
        ``postgres`` user as the server requires; returns the names for ``ssl_cert_file``/``ssl_key_file``."""
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        names = (f"{name}.crt", f"{name}.key")
        for src, dest, mode in ((cert, names[0], 0o644), (key, names[1], 0o600)):
            target = self.data_dir / dest
            shutil.copyfile(src, target)
            os.chmod(target, mode)
            os.chown(target, pw.pw_uid, pw.pw_gid)
        return names

    @contextlib.contextmanager
    def configured(self, timeout: float = 10.0, **settings: str) -> Iterator[None]:
        """The running server with these settings (``ALTER SYSTEM``, reloaded: e.g. ``ssl_max_protocol_version``,
        ``ssl_cert_file``), back as they were after the block. Returns once new sessions see them."""
        before = self._alter(settings, timeout)
        try:
            yield
        finally:
            self._alter(dict.fromkeys(settings), timeout, expect=before)

    def _alter(self, settings: Mapping[str, str | None], timeout: float,
               expect: Mapping[str, str] | None = None) -> dict[str, str]:
        import psycopg
        from psycopg import sql

        # TLS without verification: the settings being changed may be the server's certificate
        info = self.conninfo(self.superuser, self.superuser_password, "postgres") | {"sslmode": "require"}

        def current() -> dict[str, str]:
            with psycopg.connect(**info) as conn:  # type: ignore[arg-type]
                return {key: str(conn.execute("SELECT current_setting(%s)", (key,)).fetchone()[0])  # type: ignore[index]
                        for key in settings}

        before = current()
        with psycopg.connect(**info, autocommit=True) as conn:  # type: ignore[arg-type]
            for key, value in settings.items():
                if value is None:
                    conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(key)))
                else:
                    conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")
        wanted = dict(expect) if expect is not None else {k: str(v) for k, v in settings.items()}
        deadline = time.monotonic() + timeout
        while (seen := current()) != wanted:  # the postmaster reloads asynchronously (SIGHUP)
            if time.monotonic() > deadline:
                raise self.error(f"settings {wanted} not in effect after {timeout:.0f} s: {seen}")
            time.sleep(0.05)
        return before

    def cwd(self) -> Path:
        return self.cluster_dir

    def command(self) -> Sequence[str]:
        assert self.bindir is not None, "prepare() first"
        return [*_as_postgres(), str(self.bindir / "postgres"), "-D", str(self.data_dir)]

    def conninfo(self, user: str | None = None, password: str | None = None, dbname: str | None = None,
                 connect_timeout: int = 2) -> dict[str, str | int]:
        return {"host": self.host, "port": self.port, "user": user or self.username,
                "password": password if password is not None else self.password,
                "dbname": dbname or self.database, "sslmode": "verify-full", "sslrootcert": str(self.ca_file),
                "connect_timeout": connect_timeout}

    def probe(self, timeout: float) -> None:
        import psycopg

        info = self.conninfo(self.superuser, self.superuser_password, "postgres", max(2, int(timeout)))
        with psycopg.connect(**info) as conn:  # type: ignore[arg-type]
            conn.execute("SELECT 1").fetchone()

    def after_ready(self) -> None:
        import psycopg
        from psycopg import sql

        info = self.conninfo(self.superuser, self.superuser_password, "postgres")
        with psycopg.connect(**info, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.username), sql.Literal(self.password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.superuser)))
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(self.database)))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(self.database), sql.Identifier(self.username)))
        with psycopg.connect(**self.conninfo()) as conn:  # type: ignore[arg-type]
            row = conn.execute("SELECT current_database()").fetchone()
        if row is None or row[0] != self.database:
            raise LabError(f"{self.name}: {self.username} landed in {row!r}, not {self.database}")

    def cleanup(self) -> None:
        if self._private_tmp is not None:
            shutil.rmtree(self._private_tmp, ignore_errors=True)
            self._private_tmp = None

    def summary(self) -> str:
        tls = "TLS required" if self.require_ssl else "TLS offered"
        return (f"PostgreSQL {self.bindir.parent.name if self.bindir else '?'} ({tls}, database "
                f"{self.database}, user {self.username}; data {self.data_dir})")
