"""Socket helpers for probes. Every call takes its time from a Deadline and raises only ProbeFailure."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import TypeVar

from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error

T = TypeVar("T")

# getaddrinfo() has no timeout of its own (resolv.conf may make it wait 5 s x attempts x
# servers); it runs in this small pool so the caller can stop waiting at its deadline.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gvpconf-dns")


def _ip_literal(host: str) -> int | None:
    """The address family of an IP literal, or None for a name."""
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


def connect_tcp(host: str, port: int, deadline: Deadline) -> socket.socket:
    """Open a TCP connection, trying each resolved address until the deadline."""
    addrs = resolve(host, port, deadline)
    last: ProbeFailure | None = None
    for family, sockaddr in addrs:
        budget = deadline.connect_budget()
        sock = socket.socket(family, socket.SOCK_STREAM)
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


def call(fn: Callable[[], T], *, during: str, timeout: float) -> T:
    """Run a blocking socket operation, translating OS errors into ProbeFailure."""
    try:
        return fn()
    except ProbeFailure:
        raise
    except (OSError, ssl.SSLError) as exc:
        raise failure_from_os_error(exc, during=during, timeout=timeout) from exc


def send_all(sock: socket.socket, data: bytes, deadline: Deadline, during: str) -> None:
    budget = deadline.read_budget(during)
    sock.settimeout(budget)
    call(lambda: sock.sendall(data), during=during, timeout=budget)


def recv_some(sock: socket.socket, deadline: Deadline, during: str, size: int = 65536,
              cap: float | None = None) -> bytes:
    """One recv() within the deadline. Returns b"" when the peer closed."""
    budget = deadline.budget(deadline.timeouts.read if cap is None else cap, during)
    sock.settimeout(budget)
    return call(lambda: sock.recv(size), during=during, timeout=budget)


def recv_message(sock: socket.socket, deadline: Deadline, during: str,
                 feed: Callable[[bytes], T | None], *, protocol: str, max_bytes: int = 1 << 20) -> T:
    """Read until ``feed`` (a sans-I/O decoder fed each chunk) returns a message.

    A close before a whole message, or more than ``max_bytes`` without one, is a PROTOCOL failure.
    """
    total = 0
    while True:
        chunk = recv_some(sock, deadline, during)
        if not chunk:
            what = "before sending anything" if total == 0 else f"after {total} bytes, mid-message"
            raise ProbeFailure(Cause.PROTOCOL, f"peer closed the connection during {during} {what}; "
                               f"expected a {protocol} message", phase=during)
        total += len(chunk)
        msg = feed(chunk)
        if msg is not None:
            return msg
        if total > max_bytes:
            raise ProbeFailure(Cause.PROTOCOL, f"{total} bytes during {during} without a complete {protocol} "
                               "message", phase=during)
