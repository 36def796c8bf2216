"""Free loopback ports for lab peers and impostors.

A port is picked by binding port 0 on 127.0.0.1, reading the number and closing the socket, so
another process may take it before the peer binds it: the lab keeps that window short (peers are
started right after their ports are picked) and reports a failed bind as a LabError.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from typing import Literal

PortKind = Literal["tcp", "udp"]

LOOPBACK = "127.0.0.1"


def _socket_type(kind: PortKind) -> int:
    if kind == "tcp":
        return socket.SOCK_STREAM
    if kind == "udp":
        return socket.SOCK_DGRAM
    raise ValueError(f"kind must be 'tcp' or 'udp', not {kind!r}")


def _bound(kind: PortKind, port: int = 0, host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, _socket_type(kind))
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def free_port(kind: PortKind = "tcp", host: str = LOOPBACK) -> int:
    """A port on ``host`` that nothing had bound a moment ago."""
    with _bound(kind, 0, host) as sock:
        port: int = sock.getsockname()[1]
        return port


def free_ports(n: int, kind: PortKind = "tcp", host: str = LOOPBACK) -> list[int]:
    """``n`` distinct free ports (all held at once while picking, so they differ)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    with ExitStack() as stack:
        socks = [stack.enter_context(_bound(kind, 0, host)) for _ in range(n)]
        return [int(s.getsockname()[1]) for s in socks]


def is_free(port: int, kind: PortKind = "tcp", host: str = LOOPBACK) -> bool:
    """True when ``port`` can be bound on ``host`` right now."""
    try:
        with _bound(kind, port, host):
            return True
    except OSError:
        return False


def free_port_block(size: int, kind: PortKind = "udp", host: str = LOOPBACK, attempts: int = 50) -> int:
    """The first port of ``size`` consecutive free ports, starting at an even number.

    For RTP-style media ports, where a tool binds ``p`` and ``p+2`` (sipp's ``-rtp_echo``).
    """
    for _ in range(attempts):
        base = free_port(kind, host)
        base -= base % 2
        if base + size > 65535:
            continue
        with ExitStack() as stack:
            try:
                for offset in range(size):
                    stack.enter_context(_bound(kind, base + offset, host))
            except OSError:
                continue
            return base
    raise OSError(f"no block of {size} free {kind} ports found on {host} in {attempts} attempts")
