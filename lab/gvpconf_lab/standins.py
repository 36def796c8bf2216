"""STAND-INS for peers whose real software cannot run in the lab.

The Genesys Config Server's protocol is proprietary and its software is not installable here.
``configserver`` is NOT a Config Server: it is a TCP listener that behaves like one at the
transport level only: it accepts connections and, like the real server waiting for a client's
registration request, sends nothing and keeps each connection open until the client closes it.
Anything the client sends is read and discarded.

Run as its own process so the lab handles it like every other peer (own PID, SIGTERM)::

    python -m gvpconf_lab.standins configserver --port N [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import signal
import socket
import sys
from collections.abc import Sequence
from typing import ClassVar

from gvpconf_lab.base import LOOPBACK, Peer, gvpconf_env


# -- what every stand-in process does (this one, the TDS and Consul stand-ins) ----------------------
class Stopped(Exception):
    """SIGTERM or SIGINT arrived in a stand-in process (after :func:`stop_on_signals`)."""


def stop_on_signals() -> None:
    """From now on SIGTERM and SIGINT raise :class:`Stopped` in the main thread: the stand-in's serving loop
    ends through its ``finally`` blocks (sockets closed) and the process exits 0, as the lab expects."""

    def on_signal(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def tcp_listener(host: str, port: int, who: str) -> socket.socket | None:
    """A listening TCP socket on host:port, or None once ``<who>: cannot bind ...`` is on stderr; the stand-in
    then exits 3, and the lab's LabError shows that line from its log."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        print(f"{who}: cannot bind {host}:{port}: {exc}", file=sys.stderr, flush=True)
        return None
    listener.listen(64)
    return listener


def serve_silent(host: str, port: int) -> int:
    """Accept, read and discard, never write; returns on SIGTERM/SIGINT."""
    stop_on_signals()
    sel = selectors.DefaultSelector()
    listener = tcp_listener(host, port, "configserver stand-in")
    if listener is None:
        return 3
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    print(f"configserver stand-in listening on {host}:{port} (silent TCP; not the real protocol)", flush=True)
    conns = 0
    try:
        while True:
            for key, _ in sel.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is listener:
                    with contextlib.suppress(BlockingIOError):
                        conn, addr = listener.accept()
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ)
                        conns += 1
                        print(f"accepted {addr[0]}:{addr[1]} (#{conns})", flush=True)
                    continue
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    sock.close()
    except Stopped:
        pass
    finally:
        for key in list(sel.get_map().values()):
            obj = key.fileobj
            if isinstance(obj, socket.socket):
                obj.close()
        sel.close()
    print("configserver stand-in stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.standins",
                                     description="stand-ins for peers that cannot run in the lab")
    sub = parser.add_subparsers(dest="which", required=True)
    cfg = sub.add_parser("configserver", help="silent TCP stand-in for the Genesys Config Server")
    cfg.add_argument("--host", default=LOOPBACK)
    cfg.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return serve_silent(args.host, args.port)


class ConfigServerStandIn(Peer):
    """STAND-IN, not a Config Server: a silent TCP listener in its own process."""

    kind: ClassVar[str] = "configserver"
    default_ready_deadline_s: ClassVar[float] = 10.0
    poll_interval_s: ClassVar[float] = 0.05

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.standins", "configserver", "--host", self.host,
                "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        return gvpconf_env() | {"PYTHONUNBUFFERED": "1"}

    def probe(self, timeout: float) -> None:
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass

    def summary(self) -> str:
        return "STAND-IN for Genesys Config Server (silent TCP listener; NOT the real protocol)"


if __name__ == "__main__":
    sys.exit(main())
