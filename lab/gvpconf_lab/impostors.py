"""In-process fake servers on 127.0.0.1 for negative tests.

Each is a context manager yielding ``(host, port)``; leaving it closes every socket and joins its
thread (a thread still running afterwards raises RuntimeError):

========================  ==================================================================
``silent()``              accepts, reads and discards, never writes, keeps connections open
``closer(reset=False)``   accepts and closes at once (``reset=True``: RST instead of FIN)
``http_server()``         answers the first bytes it receives with ``HTTP/1.1 400`` and closes
``http_banner_server()``  greets with ``HTTP/1.1 400 Bad Request`` on accept (then FIN)
``garbage()``             64 random bytes on accept and after every read; keeps open
``echo()``                echoes what it receives
``answering(reply)``      answers each read with ``reply(data)`` (a peer with the right framing and a wrong word)
``http_reflector()``      answers every HTTP request with a 403 whose body is the request, headers included
``blackhole()``           connect() times out (full accept queue: Linux drops the SYNs)
``refused()``             nothing listens: connect() raises ConnectionRefusedError
``udp_silent()``          a bound UDP port that reads and never answers (no ICMP unreachable)
========================  ==================================================================
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Literal

from gvpconf_lab.ports import LOOPBACK

Address = tuple[str, int]
Action = Literal["keep", "close", "shutdown"]

HTTP_400_BODY = (b"<html><head><title>400 Bad Request</title></head>"
                 b"<body><h1>400 Bad Request</h1></body></html>\n")
HTTP_400 = (b"HTTP/1.1 400 Bad Request\r\nServer: gvpconf-impostor\r\nContent-Type: text/html\r\n"
            b"Content-Length: " + str(len(HTTP_400_BODY)).encode() + b"\r\nConnection: close\r\n\r\n"
            + HTTP_400_BODY)

OnAccept = Callable[[socket.socket], Action]
OnData = Callable[[socket.socket, bytes], Action]
Answer = Callable[[bytes], bytes | None]


def _send(conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(data)


def _keep(_conn: socket.socket) -> Action:
    return "keep"


def _discard(_conn: socket.socket, _data: bytes) -> Action:
    return "keep"


class _TcpImpostor:
    """One listening socket served by one selector thread."""

    def __init__(self, name: str, on_accept: OnAccept = _keep, on_data: OnData = _discard) -> None:
        self.name = name
        self.on_accept = on_accept
        self.on_data = on_data
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.address: Address = (LOOPBACK, self.listener.getsockname()[1])
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.listener, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._conns: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._run, name=f"impostor-{name}", daemon=True)

    def _close_conn(self, conn: socket.socket, how: Action) -> None:
        if how == "shutdown":
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            return
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn)
        self._conns.discard(conn)
        conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=1.0):
                sock = key.fileobj
                if sock is self._wake_r:
                    continue
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    try:
                        conn, _addr = self.listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    conn.settimeout(1.0)
                    self._conns.add(conn)
                    self._sel.register(conn, selectors.EVENT_READ)
                    action = self.on_accept(conn)
                    if action != "keep":
                        self._close_conn(conn, action)
                    continue
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError, TimeoutError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._close_conn(sock, "close")
                    continue
                action = self.on_data(sock, data)
                if action != "keep":
                    self._close_conn(sock, action)

    def __enter__(self) -> Address:
        self._thread.start()
        return self.address

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=5.0)
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()
        self.listener.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._thread.is_alive():
            raise RuntimeError(f"impostor {self.name}: thread did not stop")


def silent() -> _TcpImpostor:
    """Accepts, reads and discards, never writes; connections stay open until the client closes."""
    return _TcpImpostor("silent")


def closer(reset: bool = False) -> _TcpImpostor:
    """Accepts and closes immediately (FIN; with ``reset=True`` an RST via SO_LINGER 0)."""

    def on_accept(conn: socket.socket) -> Action:
        if reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return "close"

    return _TcpImpostor("closer", on_accept=on_accept)


def http_server() -> _TcpImpostor:
    """Like a web server on the wrong port: answers whatever it receives with HTTP/1.1 400 and closes."""

    def on_data(conn: socket.socket, _data: bytes) -> Action:
        _send(conn, HTTP_400)
        return "close"

    return _TcpImpostor("http", on_data=on_data)


def http_banner_server() -> _TcpImpostor:
    """Sends ``HTTP/1.1 400 Bad Request`` as soon as it accepts, then half-closes and drains."""

    def on_accept(conn: socket.socket) -> Action:
        _send(conn, HTTP_400)
        return "shutdown"

    return _TcpImpostor("http-banner", on_accept=on_accept)


def garbage(size: int = 64, seed: int = 1) -> _TcpImpostor:
    """Pseudo-random bytes on accept and after every read; never closes.

    Seeded, so a test's verdict never depends on the draw: with truly random bytes, 1 run in 256 began with
    ``S`` and a PostgreSQL client took it for "TLS accepted" (cause tls instead of protocol). Each connection
    gets the same sequence.
    """

    def on_accept(conn: socket.socket) -> Action:
        stream = random.Random(seed)
        streams[conn.fileno()] = stream
        _send(conn, stream.randbytes(size))
        return "keep"

    def on_data(conn: socket.socket, _data: bytes) -> Action:
        stream = streams.setdefault(conn.fileno(), random.Random(seed))
        _send(conn, stream.randbytes(size))
        return "keep"

    streams: dict[int, random.Random] = {}

    return _TcpImpostor("garbage", on_accept=on_accept, on_data=on_data)


def echo() -> _TcpImpostor:
    """Echoes what it receives."""

    def on_data(conn: socket.socket, data: bytes) -> Action:
        _send(conn, data)
        return "keep"

    return _TcpImpostor("echo", on_data=on_data)


def answering(reply: Answer) -> _TcpImpostor:
    """Answers each read with ``reply(data)`` (nothing when it returns None); keeps the connection open.

    For impostors that speak the protocol but break one rule: a STOMP broker whose RECEIPT names another
    receipt, a PostgreSQL server that answers ``N``, or ``S`` and more bytes."""

    def on_data(conn: socket.socket, data: bytes) -> Action:
        answer = reply(data)
        if answer:
            _send(conn, answer)
        return "keep"

    return _TcpImpostor("answering", on_data=on_data)


def http_reflector(status: bytes = b"403 Forbidden", seen: list[bytes] | None = None,
                   fixed: dict[bytes, bytes] | None = None) -> _TcpImpostor:
    """A reflecting peer: every HTTP request is answered ``status`` with the request itself (request line and
    headers, ``Authorization`` and ``X-Consul-Token`` included) as a text/plain body, then closed. What a
    debugging proxy or a misconfigured echo endpoint does; secrets sent to it come back in the answer.
    Each request's header section is appended to ``seen``. A request whose request line starts with a key of
    ``fixed`` is answered ``200 OK`` with its JSON value instead (to lead a client to the request that
    carries its secret, e.g. Consul's ``GET /v1/status/leader`` before ``/v1/acl/token/self``)."""
    pending: dict[int, bytes] = {}

    def on_data(conn: socket.socket, data: bytes) -> Action:
        request = pending.pop(conn.fileno(), b"") + data
        if b"\r\n\r\n" not in request:
            pending[conn.fileno()] = request
            return "keep"
        body = request.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        if seen is not None:
            seen.append(body)
        answer = next((v for k, v in (fixed or {}).items() if request.startswith(k)), None)
        head, kind = (b"200 OK", b"application/json") if answer is not None else (status, b"text/plain")
        answer = body if answer is None else answer
        _send(conn, b"HTTP/1.1 " + head + b"\r\nContent-Type: " + kind + b"\r\nContent-Length: "
              + str(len(answer)).encode() + b"\r\nConnection: close\r\n\r\n" + answer)
        return "close"

    return _TcpImpostor("http-reflector", on_data=on_data)


@contextlib.contextmanager
def blackhole(verify_s: float = 0.1, max_fill: int = 8) -> Iterator[Address]:
    """A port where connect() times out.

    A listening socket with backlog 0 that never accepts, its accept queue filled by our own
    connections: Linux then drops further SYNs (no RST), so clients see a connect timeout.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        address: Address = (LOOPBACK, listener.getsockname()[1])
        for _ in range(max_fill):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(verify_s)
            try:
                sock.connect(address)
            except TimeoutError:
                sock.close()  # the queue is full: SYNs are being dropped
                break
            fillers.append(sock)
        else:
            raise RuntimeError(f"blackhole: accept queue never filled after {max_fill} connections")
        yield address
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


@contextlib.contextmanager
def refused() -> Iterator[Address]:
    """A TCP port with nothing listening (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    yield (LOOPBACK, port)


@contextlib.contextmanager
def udp_silent() -> Iterator[Address]:
    """A UDP port that reads and discards datagrams and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(0.1)
    address: Address = (LOOPBACK, sock.getsockname()[1])
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                sock.recv(65535)

    thread = threading.Thread(target=drain, name="impostor-udp-silent", daemon=True)
    thread.start()
    try:
        yield address
    finally:
        stop.set()
        thread.join(timeout=5.0)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("impostor udp_silent: thread did not stop")


def wait_closed(sock: socket.socket, timeout: float) -> bytes:
    """Read until EOF or ``timeout``; returns everything read (helper for tests)."""
    deadline = time.monotonic() + timeout
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data

