"""A channel over a connection we opened and verified ourselves: grpcio speaks HTTP/2 to a private local socket,
and this relay carries its bytes over our TLS socket, unchanged.

Why: grpcio does not expose the peer certificate of its own TLS session, so the gRPC probe used to handshake twice
(once with ``ssl`` for ``tlscheck``'s facts, once inside grpcio). With the relay there is one handshake, ours,
checked by ``tlscheck.wrap`` (chain, hostname, version, ALPN ``h2``, expiry, issuer); grpcio's channel is told the
``:scheme`` (https) and ``:authority`` its own TLS would have sent, so the peer sees the same HTTP/2 stream.

The local socket is a Linux abstract Unix socket with a random name, accepted once, and only from this process
(``SO_PEERCRED``): no file on disk, nothing another local process can use. One thread moves the bytes both ways
(an ``ssl`` socket is not used from two threads at once) until either side closes or the deadline passes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import socket
import ssl
import struct
import threading
from types import TracebackType

from gvpconf.deadline import Deadline

_CHUNK = 65536


class Relay:
    """``with Relay(tls, deadline) as address:`` a grpcio target (``unix-abstract:...``) whose bytes go over ``tls``."""

    def __init__(self, tls: ssl.SSLSocket, deadline: Deadline) -> None:
        self._tls = tls
        self._deadline = deadline
        self._name = f"gvpconf-grpc-{os.getpid()}-{secrets.token_hex(8)}"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()  # __exit__ wakes the relay's select at once
        self._thread = threading.Thread(target=self._run, name="gvpconf-grpc-relay", daemon=True)

    def __enter__(self) -> str:
        try:
            self._listener.bind("\0" + self._name)
            self._listener.listen(1)
        except OSError:
            self._listener.close()
            raise
        self._thread.start()
        return f"unix-abstract:{self._name}"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=max(self._deadline.remaining(), 0) + 1.0)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _accept(self) -> socket.socket | None:
        """The one local connection, grpcio's: from this process only."""
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set() and self._deadline.remaining() > 0:
                ready = sel.select(self._deadline.remaining())
                if any(key.fileobj is self._listener for key, _ in ready):
                    conn = self._accepted()
                    if conn is not None:
                        return conn
        return None

    def _accepted(self) -> socket.socket | None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return None
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[0] == os.getpid():
            return conn
        conn.close()
        return None

    def _run(self) -> None:
        conn = self._accept()
        if conn is None:
            return
        with conn, selectors.DefaultSelector() as sel:
            self._tls.setblocking(False)
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ)
            sel.register(self._tls, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            with contextlib.suppress(OSError):
                while not self._stop.is_set() and self._deadline.remaining() > 0:
                    # bytes ssl has already decrypted do not make the socket readable: drain them first
                    ready = [] if self._tls.pending() else sel.select(self._deadline.remaining())
                    if self._tls.pending() or any(key.fileobj is self._tls for key, _ in ready):
                        try:
                            data = self._tls.recv(_CHUNK)
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            data = None  # a TLS record without application data (a session ticket)
                        if data == b"":
                            return  # the peer closed
                        if data:
                            _send_all(conn, data, self._deadline)
                    if any(key.fileobj is conn for key, _ in ready):
                        data = conn.recv(_CHUNK)
                        if not data:
                            return  # grpcio closed its channel
                        _send_all(self._tls, data, self._deadline)


def _send_all(sock: socket.socket, data: bytes, deadline: Deadline) -> None:
    """``sendall`` on a non-blocking socket (plain or TLS), bounded by the deadline."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            if deadline.remaining() <= 0:
                raise TimeoutError("relay send: deadline passed") from None
            selectors_wait(sock, min(deadline.remaining(), 0.05))
            continue
        view = view[sent:]


def selectors_wait(sock: socket.socket, timeout: float) -> None:
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        sel.select(timeout)
