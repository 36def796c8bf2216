"""Socket helpers for probes. Every call takes its time from a Deadline and raises only ProbeFailure."""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import functools
import ipaddress
import os
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, PeerClosed, ProbeFailure, failure_from_os_error
from gvpconf.wire import Decoder, WireError, banner

T = TypeVar("T")

# getaddrinfo() has no timeout of its own (resolv.conf may make it wait 5 s x attempts x
# servers); it runs in this small pool so the caller can stop waiting at its deadline.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gvpconf-dns")


@functools.lru_cache(maxsize=1024)
def _ip_literal(host: str) -> int | None:
    """The address family of an IP literal, or None for a name (remembered: ``ipaddress`` takes a few
    microseconds, a tenth of a loopback connect, and the inventory's hosts are few)."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


def resolve(host: str, port: int, deadline: Deadline, kind: int = socket.SOCK_STREAM) -> list[
        tuple[int, tuple[str, int]]]:
    """Resolve ``host`` within the deadline; returns (family, sockaddr) pairs."""
    budget = deadline.connect_budget("DNS lookup")
    literal = _ip_literal(host)
    if literal is not None:  # no lookup, no thread hand-off
        return [(literal, (host, port))]
    fut = _RESOLVER.submit(socket.getaddrinfo, host, port, 0, kind)
    try:
        infos = fut.result(timeout=budget)
    except concurrent.futures.TimeoutError as exc:
        raise ProbeFailure(Cause.DNS, f"DNS lookup of {host!r} did not answer within {budget:.1f} s",
                           phase="DNS lookup") from exc
    except socket.gaierror as exc:
        raise ProbeFailure(Cause.DNS, f"{host!r} does not resolve: {exc.strerror}", phase="DNS lookup") from exc
    return [(fam, sa[:2]) for fam, _t, _p, _c, sa in infos]  # type: ignore[misc]


#: every socket connect_tcp or udp_socket opened and not yet collected: what an interrupt shuts down
#: (abort_open_sockets)
_OPEN: weakref.WeakSet[socket.socket] = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()
#: set by abort_open_sockets: from then on no probe opens a socket (a probe's later steps, such as the padded
#: OPTIONS' connections, would otherwise open sockets nobody shuts down and wait their whole budget)
_ABORTED = threading.Event()


class RunInterruptedError(RuntimeError):
    """A probe tried to open a socket after the run was interrupted (its result is never reported)."""


def allow_sockets() -> None:
    """A new run: sockets may be opened again (the scheduler calls it when it starts)."""
    _ABORTED.clear()


def _track(sock: socket.socket) -> socket.socket:
    with _OPEN_LOCK:
        if _ABORTED.is_set():
            sock.close()
            raise RunInterruptedError("no socket opened: the run was interrupted")
        _OPEN.add(sock)
    return sock


def abort_open_sockets() -> int:
    """Shut down every socket the probes opened (a run interrupted by SIGINT/SIGTERM): a recv blocked on a
    silent peer returns at once, a connect in progress ends at its own connect timeout; and no probe opens
    another one from then on (``RunInterruptedError``). Returns how many were shut down."""
    with _OPEN_LOCK:
        _ABORTED.set()
        socks = list(_OPEN)
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    return len(socks)


def udp_socket(family: int = socket.AF_INET) -> socket.socket:
    """A UDP socket (SIP over UDP, RTP/RTCP, DNS) that an interrupt shuts down like connect_tcp's: a
    select() or recv() waiting on it returns at once (shutdown wakes even an unconnected UDP socket)."""
    return _track(socket.socket(family, socket.SOCK_DGRAM))


def connect_tcp(host: str, port: int, deadline: Deadline) -> socket.socket:
    """Open a TCP connection, trying each resolved address until the deadline."""
    return _connect_addrs(resolve(host, port, deadline), deadline)


def _connect_addrs(addrs: Sequence[tuple[int, tuple[str, int]]], deadline: Deadline) -> socket.socket:
    last: ProbeFailure | None = None
    for family, sockaddr in addrs:
        budget = deadline.connect_budget()
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # out of file descriptors: the message names the limit
            raise failure_from_os_error(exc, during="TCP connect") from exc
        _track(sock)
        sock.settimeout(budget)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = failure_from_os_error(exc, during="TCP connect", timeout=budget)
            last.__cause__ = exc
            if last.cause is Cause.TIMEOUT:
                break  # a blackholed address: do not spend another timeout on the next one
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert last is not None, "getaddrinfo returned no address"
    raise last


#: what a non-blocking TCP connect() answers while the handshake is under way (EAGAIN is not one: for TCP it means
#: no local port was free, and the socket is not connecting)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EINTR)


class EarlyConnect:
    """A TCP connect begun without waiting for it: the SYN is on its way when the constructor returns.

    A probe whose client library connects by itself (libpq; py-consul on requests) starts one before it loads that
    library, so the import's CPU time overlaps the handshake instead of coming before it, and an unreachable
    peer fails the probe without the library ever loading. :meth:`reached` then waits for the handshake within
    the connect budget counted from the start (so it costs no extra time), raises its failure (refused, timeout,
    unreachable) and closes the connection unused: the library opens its own. For a name with several addresses
    it raises nothing: the library tries them itself, each with its own timeout (libpq, urllib3), and its verdict
    stands, as without the early connect. A server sees one extra connection, closed before any byte: only where
    it logs no error for that (PostgreSQL: a "connection received" line with ``log_connections`` on; Go's HTTP
    server over plain http), never where it would (a TLS server may log a failed handshake, squid an empty
    transaction). Use it as a context manager: the socket is closed whatever happens."""

    def __init__(self, host: str, port: int, deadline: Deadline) -> None:
        self._addrs = resolve(host, port, deadline)
        self._deadline = deadline
        self._budget = deadline.connect_budget()
        self._until = time.monotonic() + self._budget
        family, sockaddr = self._addrs[0]
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            raise failure_from_os_error(exc, during="TCP connect") from exc
        _track(sock)
        try:
            sock.setblocking(False)
            self._error = sock.connect_ex(sockaddr)
        except BaseException:
            sock.close()
            raise
        self._sock: socket.socket | None = sock

    def failed_already(self) -> None:
        """Raise the connect's ProbeFailure if it has failed already (a refusal from the local host or a near one
        comes back at once), without waiting: called before the import, an import against a port that refuses is
        spared. Not for a name with several addresses (see :meth:`reached`)."""
        sock = self._sock
        if sock is None or len(self._addrs) > 1:
            return
        error = self._settled(sock, 0.0)
        if error:  # known now: raised (None: still under way)
            self.connected()

    def reached(self) -> None:
        """Wait for the handshake; raise its ProbeFailure, or return once connected (the connection closed). For
        a name with several addresses, return whatever happened: the library's own connect decides."""
        sock = self._take()
        with sock:
            try:
                self._wait(sock)
            except ProbeFailure:
                if len(self._addrs) == 1:
                    raise

    def connected(self) -> socket.socket:
        """Wait for the handshake; raise its ProbeFailure, or return the connected socket (blocking, as
        :func:`connect_tcp` returns it; after a refusal, the name's other addresses are tried as it tries them):
        for a probe that speaks on it itself after loading what it needs."""
        sock = self._take()
        try:
            self._wait(sock)
        except ProbeFailure as failure:
            sock.close()
            if failure.cause is Cause.TIMEOUT or len(self._addrs) == 1:
                raise
            return _connect_addrs(self._addrs[1:], self._deadline)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _take(self) -> socket.socket:
        sock = self._sock
        assert sock is not None, "the connection was taken already"
        self._sock = None
        return sock

    def _wait(self, sock: socket.socket) -> None:
        """The handshake's end within the budget: raises its ProbeFailure, or returns once connected."""
        try:
            error = self._settled(sock, max(0.0, self._until - time.monotonic()))
            if error is None:
                raise TimeoutError
            if error:
                raise OSError(error, os.strerror(error))
        except OSError as exc:
            raise failure_from_os_error(exc, during="TCP connect", timeout=self._budget) from exc

    def _settled(self, sock: socket.socket, wait_s: float) -> int | None:
        """The connect's errno once it has ended (0: connected), waiting up to ``wait_s``; None if still under way."""
        if self._error in _IN_PROGRESS:
            poll = select.poll()
            poll.register(sock, select.POLLOUT)
            if not poll.poll(wait_s * 1000):
                return None
            self._error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return self._error

    def __enter__(self) -> EarlyConnect:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def call(fn: Callable[[], T], *, during: str, timeout: float) -> T:
    """Run a blocking socket operation, translating OS errors into ProbeFailure."""
    try:
        return fn()
    except ProbeFailure:
        raise
    except OSError as exc:  # ssl.SSLError included
        raise failure_from_os_error(exc, during=during, timeout=timeout) from exc


def send_all(sock: socket.socket, data: bytes, deadline: Deadline, during: str) -> None:
    budget = deadline.read_budget(during)
    try:  # ``call``, inline (once or twice a probe)
        sock.settimeout(budget)
        sock.sendall(data)
    except OSError as exc:  # ssl.SSLError included
        raise failure_from_os_error(exc, during=during, timeout=budget) from exc


def recv_some(sock: socket.socket, deadline: Deadline, during: str, size: int = 65536,
              cap: float | None = None) -> bytes:
    """One recv() within the deadline. Returns b"" when the peer closed."""
    budget = deadline.budget(deadline.timeouts.read if cap is None else cap, during)
    try:  # ``call``, inline
        sock.settimeout(budget)
        return sock.recv(size)
    except OSError as exc:  # ssl.SSLError included
        raise failure_from_os_error(exc, during=during, timeout=budget) from exc


def wait_datagram(socks: Sequence[socket.socket], wait: float, during: str) -> tuple[socket.socket, bytes] | None:
    """The first datagram to arrive on one of ``socks`` within ``wait`` seconds, and its socket; None if none did.

    An error a connected UDP socket reports (ICMP port unreachable: ``refused``) is a ProbeFailure.
    """
    try:
        ready, _w, _x = select.select(socks, [], [], max(0.0, wait))
        for sock in ready:
            try:
                return sock, sock.recv(65535)
            except BlockingIOError:  # a non-blocking socket whose datagram was taken (or dropped) meanwhile
                continue
    except OSError as exc:
        raise failure_from_os_error(exc, during=during) from exc
    return None


def other_protocol(data: bytes, expected: str, protocol: str, phase: str) -> ProbeFailure:
    """The PROTOCOL failure for a peer whose bytes are not ``protocol``: says what they look like instead.

    ``expected`` completes "expected ...", e.g. "a SIP/2.0 response to OPTIONS".
    """
    kind = banner.identify(data)
    what = f"{banner.article(kind)} message" if kind else f"bytes that are not {protocol}"
    return ProbeFailure(Cause.PROTOCOL, f"expected {expected}, the peer sent {what}: {banner.describe(data)}",
                        phase=phase)


def expect_prefix(prefixes: tuple[bytes, ...], *, expected: str, protocol: str, phase: str,
                  skip: bytes = b"") -> Callable[[bytes], None]:
    """A ``check_start`` for ``read_message``: the peer's first bytes (after any of the bytes in ``skip``)
    must be the start of one of ``prefixes``, else it speaks another protocol (``other_protocol``)."""

    def check(head: bytes) -> None:
        start = head.lstrip(skip) if skip else head
        if start:
            for p in prefixes:  # a loop, not any() over a generator: once or twice a probe, on its first bytes
                if p.startswith(start[: len(p)]):
                    return
            raise other_protocol(start, expected, protocol, phase)

    return check


def read_message(sock: socket.socket, decoder: Decoder[T], deadline: Deadline, during: str, *, protocol: str,
                 malformed: str, phase: str | None = None, check_start: Callable[[bytes], None] | None = None,
                 start_size: int = 16, max_bytes: int = 1 << 20) -> T:
    """The next message of ``decoder``, reading ``sock`` within ``deadline`` when it holds none yet.

    Every failure is a ProbeFailure: an OS error or a timeout of a read as ``failure_from_os_error`` says
    (``timeout during <during> (3.0 s)``); the peer closing before a whole message, or ``max_bytes``
    without one, is PROTOCOL; so is a WireError of the decoder: ``"<malformed>: <error>"``, in ``phase``
    (default: ``during``).

    ``check_start`` identifies a peer that speaks another protocol from its first bytes, before the
    decoder has a whole message: it is called with the bytes received in this call, after each read, as
    long as they are fewer than ``start_size``, and raises a ProbeFailure (see ``expect_prefix``). Pass it
    for the first read of a connection only.
    """
    failed_phase = during if phase is None else phase
    head = bytearray()
    total = 0
    while True:
        try:
            msg = decoder.next_message()
        except WireError as exc:
            raise ProbeFailure(Cause.PROTOCOL, f"{malformed}: {exc}", phase=failed_phase) from exc
        if msg is not None:
            return msg
        if total > max_bytes:
            raise ProbeFailure(Cause.PROTOCOL, f"{total} bytes during {during} without a complete {protocol} "
                               "message", phase=during)
        chunk = recv_some(sock, deadline, during)
        if not chunk:
            what = "before sending anything" if total == 0 else f"after {total} bytes, mid-message"
            raise PeerClosed(Cause.PROTOCOL, f"peer closed the connection during {during} {what}; "
                             f"expected {banner.article(protocol)} message", phase=during)
        total += len(chunk)
        if check_start is not None and len(head) < start_size:
            head += chunk
            check_start(bytes(head))
        decoder.feed(chunk)


def is_local_address(host: str) -> bool | None:
    """Whether ``host`` (an IP literal) is an address of this host, by binding a UDP socket to it: nothing is
    sent. None when that cannot be told without a lookup (a DNS name) or the bind failed otherwise."""
    family = _ip_literal(host)
    if family is None:
        return None
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host.split("%")[0] if family == socket.AF_INET6 else host, 0))
        except OSError as exc:
            return False if exc.errno == errno.EADDRNOTAVAIL else None
    return True
