"""STAND-IN for Microsoft SQL Server: a small TDS 7.2+ server (no SQL Server can be installed here).

It is NOT SQL Server. It speaks the real wire protocol (through ``gvpconf.wire.tds``) far enough
for real clients, pymssql and FreeTDS's ``tsql``, to connect and read a row:

* PRELOGIN: answers with its version (15.0.2000 by default) and ENCRYPTION ``NOT_SUP`` (it has no
  TLS; ``--encryption`` makes it *announce* another value, for the probe's encryption check, after
  which real clients cannot log in);
* LOGIN7: accepts exactly the configured reader login (password from a file) into the configured
  database, answering ENVCHANGE/INFO/LOGINACK/DONE like SQL Server; any other login gets SQL
  Server's real login failure, error 18456 severity 14 ``Login failed for user '...'.``, and the
  connection is closed;
* SQL batches: ``SELECT`` of a few expressions (``@@VERSION``, ``DB_NAME()``, ``@@SPID``,
  ``@@SERVERNAME``, ``SERVERPROPERTY('ProductVersion')``, literals; every column NVARCHAR) answers
  with COLMETADATA/ROW/DONE; ``USE``, ``SET``, transaction statements answer DONE; writes are
  refused with error 229 (the account is a reader); anything else is error 207/102.

Run as its own process (own PID, SIGTERM)::

    python -m gvpconf_lab.data_tds --port N --user gvp_reader --password-file F --database gvp_rs
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gvpconf.wire import WireError, tds
from gvpconf_lab import tds as labtds
from gvpconf_lab.base import LOOPBACK
from gvpconf_lab.standins import Stopped, stop_on_signals, tcp_listener

PRODUCT_VERSION = (15, 0, 2000, 5)
SERVER_NAME = "GVPCONF-STANDIN"
VERSION_TEXT = ("Microsoft SQL Server 2019 (RTM) - 15.0.2000.5 (X64) gvpconf STAND-IN "
                "(a TDS wire-protocol stand-in, not SQL Server)")
_TDS72 = 0x72090002
_KNOWN_TDS = (0x72090002, 0x730A0003, 0x730B0003, 0x74000004)


@dataclass(frozen=True)
class Settings:
    user: str
    password: str
    database: str
    encryption: int = tds.Encryption.NOT_SUP
    version: tuple[int, int, int, int] = PRODUCT_VERSION


class _Session:
    def __init__(self, conn: socket.socket, settings: Settings, spid: int) -> None:
        self.conn = conn
        self.settings = settings
        self.spid = spid
        self.decoder = tds.MessageDecoder()
        self.database = "master"
        self.packet_size = 4096

    def read(self) -> tds.Message | None:
        while (msg := self.decoder.next_message()) is None:
            data = self.conn.recv(65536)
            if not data:
                return None
            self.decoder.feed(data)
        return msg

    def reply(self, payload: bytes) -> None:
        self.conn.sendall(tds.encode_message(tds.PacketType.RESPONSE, payload, self.packet_size, self.spid))

    def run(self) -> None:
        msg = self.read()
        if msg is None:
            return
        if msg.type == tds.PacketType.PRELOGIN:
            client = tds.parse_prelogin(msg.payload)
            print(f"[{self.spid}] PRELOGIN from client version {client.version_text}, encryption "
                  f"{client.encryption_name}", flush=True)
            ours = tds.Prelogin(version=self.settings.version, encryption=self.settings.encryption,
                                instance=b"", thread_id=None, mars=False)
            self.reply(tds.encode_prelogin(ours))
            msg = self.read()
            if msg is None:
                return
        if msg.type != tds.PacketType.LOGIN7:
            print(f"[{self.spid}] expected LOGIN7, got packet type 0x{msg.type:02x}; closing", flush=True)
            return
        if not self.login(labtds.parse_login7(msg.payload)):
            return
        while (msg := self.read()) is not None:
            if msg.type == tds.PacketType.SQL_BATCH:
                self.batch(labtds.parse_sql_batch(msg.payload).text)
            elif msg.type == tds.PacketType.ATTENTION:
                self.reply(labtds.encode_tokens([labtds.Done(labtds.DONE_ATTN)]))
            else:
                self.reply(labtds.encode_tokens([
                    labtds.ServerMessage(8009, f"The stand-in does not handle TDS message type 0x{msg.type:02x}.",
                                      16, 1, SERVER_NAME), labtds.Done(labtds.DONE_ERROR)]))

    def login(self, login: labtds.Login7) -> bool:
        s = self.settings
        print(f"[{self.spid}] LOGIN7 user {login.username!r} database {login.database!r} app "
              f"{login.app_name!r} TDS 0x{login.tds_version:08x}", flush=True)
        if login.tds_version < _TDS72:
            self.reply(labtds.encode_tokens([
                labtds.ServerMessage(18452, "The stand-in speaks TDS 7.2 or later only.", 14, 1, SERVER_NAME),
                labtds.Done(labtds.DONE_ERROR)]))
            return False
        if login.username != s.user or login.password != s.password:
            self.reply(labtds.encode_tokens([
                labtds.ServerMessage(18456, f"Login failed for user '{login.username}'.", 14, 1, SERVER_NAME),
                labtds.Done(labtds.DONE_ERROR)]))
            print(f"[{self.spid}] login failed for {login.username!r}", flush=True)
            return False
        if login.database and login.database != s.database:
            self.reply(labtds.encode_tokens([
                labtds.ServerMessage(4060, f'Cannot open database "{login.database}" requested by the login. '
                                  "The login failed.", 11, 1, SERVER_NAME),
                labtds.ServerMessage(18456, f"Login failed for user '{login.username}'.", 14, 1, SERVER_NAME),
                labtds.Done(labtds.DONE_ERROR)]))
            return False
        self.packet_size = max(512, min(login.packet_size or 4096, 32767))
        version = login.tds_version if login.tds_version in _KNOWN_TDS else labtds.TDS74
        self.database = s.database
        major, minor, build, _sub = s.version
        self.reply(labtds.encode_tokens([
            labtds.EnvChange(labtds.ENV_DATABASE, s.database, "master"),
            labtds.ServerMessage(5701, f"Changed database context to '{s.database}'.", 0, 2, SERVER_NAME, error=False),
            labtds.EnvChange(labtds.ENV_LANGUAGE, "us_english", ""),
            labtds.ServerMessage(5703, "Changed language setting to us_english.", 0, 1, SERVER_NAME, error=False),
            labtds.EnvChange(labtds.ENV_PACKETSIZE, str(self.packet_size), str(self.packet_size)),
            labtds.LoginAck("Microsoft SQL Server", (major, minor, build >> 8, build & 0xFF), version),
            labtds.Done(),
        ]))
        print(f"[{self.spid}] login ok for {login.username!r} in {s.database!r}", flush=True)
        return True

    def batch(self, text: str) -> None:
        statements = [s.strip() for s in _split_statements(text) if s.strip()]
        print(f"[{self.spid}] batch: {text.strip()[:200]!r}", flush=True)
        tokens: list[labtds.Token] = []
        if not statements:
            tokens.append(labtds.Done())
        for n, stmt in enumerate(statements):
            more = labtds.DONE_MORE if n < len(statements) - 1 else 0
            result = self.statement(stmt)
            if isinstance(result[-1], labtds.Done):
                last = result[-1]
                result[-1] = labtds.Done(last.status | more, last.cur_cmd, last.row_count)
            tokens.extend(result)
            if any(isinstance(t, labtds.ServerMessage) and t.error for t in result):
                break
        final = tokens[-1]
        if not isinstance(final, labtds.Done):
            tokens.append(labtds.Done(labtds.DONE_ERROR))
        elif final.status & labtds.DONE_MORE:
            tokens[-1] = labtds.Done(final.status & ~labtds.DONE_MORE, final.cur_cmd, final.row_count)
        self.reply(labtds.encode_tokens(tokens))

    def statement(self, stmt: str) -> list[labtds.Token]:
        upper = stmt.upper()
        first = upper.split(None, 1)[0] if upper.split() else ""
        if first == "SELECT":
            return self.select(stmt[6:].strip())
        if first == "USE":
            name = stmt[3:].strip().strip("[]\"")
            if name != self.settings.database:
                return [self.error(911, f"Database '{name}' does not exist. Make sure that the name is entered "
                                   "correctly.", 16)]
            old, self.database = self.database, name
            return [labtds.EnvChange(labtds.ENV_DATABASE, name, old),
                    labtds.ServerMessage(5701, f"Changed database context to '{name}'.", 0, 1, SERVER_NAME,
                                      error=False), labtds.Done()]
        if first in ("SET", "BEGIN", "COMMIT", "ROLLBACK", "IF", "PRINT", "DECLARE"):
            return [labtds.Done()]
        if first in ("INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "GRANT",
                     "EXEC", "EXECUTE"):
            return [self.error(229, f"The {first} permission was denied on the object, database "
                               f"'{self.database}', schema 'dbo'.", 14)]
        return [self.error(102, f"Incorrect syntax near '{stmt.split()[0] if stmt.split() else stmt}'.", 15)]

    def select(self, exprs: str) -> list[labtds.Token]:
        columns: list[labtds.Column] = []
        values: list[str | None] = []
        for item in _split_top_level(exprs, ","):
            expr, alias = _alias(item.strip())
            value = self.evaluate(expr)
            if isinstance(value, labtds.ServerMessage):
                return [value]
            columns.append(labtds.Column(alias, 8000))
            values.append(value)
        if not columns:
            return [self.error(102, "Incorrect syntax near 'SELECT'.", 15)]
        return [labtds.ColMetadata(tuple(columns)), labtds.Row(tuple(values)),
                labtds.Done(labtds.DONE_COUNT, 0xC1, 1)]

    def evaluate(self, expr: str) -> str | labtds.ServerMessage | None:
        e = expr.strip()
        key = re.sub(r"\s+", "", e).upper()
        known: dict[str, str] = {
            "@@VERSION": VERSION_TEXT,
            "DB_NAME()": self.database,
            "@@SPID": str(self.spid),
            "@@SERVERNAME": SERVER_NAME,
            "SERVERPROPERTY('PRODUCTVERSION')": ".".join(str(v) for v in self.settings.version),
            "SUSER_NAME()": self.settings.user,
            "SYSTEM_USER": self.settings.user,
        }
        if key in known:
            return known[key]
        if key == "NULL":
            return None
        if re.fullmatch(r"N?'([^']|'')*'", e):
            return e[e.index("'") + 1:-1].replace("''", "'")
        if re.fullmatch(r"-?\d+(\.\d+)?", e):
            return e
        return labtds.ServerMessage(207, f"Invalid column name '{e}'.", 16, 1, SERVER_NAME, line=1)

    @staticmethod
    def error(number: int, text: str, severity: int) -> labtds.Token:
        return labtds.ServerMessage(number, text, severity, 1, SERVER_NAME, line=1)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _split_statements(text: str) -> list[str]:
    return _split_top_level(text, ";")


def _alias(item: str) -> tuple[str, str]:
    m = re.fullmatch(r"(.+?)\s+AS\s+\[?([A-Za-z_][A-Za-z0-9_]*)\]?", item, re.IGNORECASE | re.DOTALL)
    return (m.group(1), m.group(2)) if m else (item, "")


def serve(host: str, port: int, settings: Settings) -> int:
    stop_on_signals()
    listener = tcp_listener(host, port, "TDS stand-in")
    if listener is None:
        return 3
    print(f"TDS STAND-IN (not SQL Server) listening on {host}:{port}: database {settings.database}, "
          f"login {settings.user}, encryption {tds.Encryption(settings.encryption).name}", flush=True)
    spid = 50

    def handle(conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(60)
            try:
                _Session(conn, settings, number).run()
            except WireError as exc:
                print(f"[{number}] not TDS: {exc}", flush=True)
            except OSError as exc:
                print(f"[{number}] connection error: {exc}", flush=True)

    try:
        while True:
            conn, _addr = listener.accept()
            spid = spid + 1 if spid < 32000 else 51
            threading.Thread(target=handle, args=(conn, spid), daemon=True).start()
    except Stopped:
        pass
    finally:
        with contextlib.suppress(OSError):
            listener.close()
    print("TDS stand-in stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.data_tds",
                                     description="TDS STAND-IN for SQL Server (not SQL Server)")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--encryption", choices=[e.name for e in tds.Encryption], default="NOT_SUP",
                        help="the ENCRYPTION value PRELOGIN announces (the stand-in itself has no TLS)")
    args = parser.parse_args(argv)
    password = args.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    return serve(args.host, args.port, Settings(args.user, password, args.database,
                                                tds.Encryption[args.encryption]))


if __name__ == "__main__":
    sys.exit(main())
