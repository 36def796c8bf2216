"""Free loopback ports for lab peers and impostors.

Ports are picked at random in 10000-19999, checked free by binding them, and never handed out twice
by this process. That range is below the voice lab's media blocks (20000-32767) and below the
kernel's ephemeral range (32768-60999), where every outgoing connection of every process takes its
local port: a port picked by ``bind(0)`` comes from that same range, so between the pick and the peer's
own bind a client socket could take it (seen as "Address already in use" in a busy run). A failed bind
is still reported as a LabError.
"""

from __future__ import annotations

import random
import socket
import threading
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


PICK_LOW, PICK_HIGH = 10000, 19999
#: port numbers handed out, whatever the kind: a peer may bind both (sipp's TCP port, its UDP sockets)
_handed_out: set[int] = set()
_lock = threading.Lock()
_rng = random.Random()


def free_port(kind: PortKind = "tcp", host: str = LOOPBACK) -> int:
    """A port on ``host`` that nothing had bound a moment ago and that this process never handed out."""
    with _lock:
        for _ in range(2000):
            port = _rng.randint(PICK_LOW, PICK_HIGH)
            if port in _handed_out:
                continue
            try:
                with _bound(kind, port, host):
                    pass
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise OSError(f"no free {kind} port found in {PICK_LOW}-{PICK_HIGH} on {host}")






def free_port_block(size: int, kind: PortKind = "udp", host: str = LOOPBACK, attempts: int = 50) -> int:
    """The first port of ``size`` consecutive free ports, starting at an even number; all of them are
    handed out. For RTP-style media ports, where a tool binds ``p`` and ``p+2`` (sipp's ``-rtp_echo``)."""
    with _lock:
        for _ in range(attempts):
            base = _rng.randint(PICK_LOW, PICK_HIGH - size) & ~1
            block = range(base, base + size)
            if any(p in _handed_out for p in block):
                continue
            with ExitStack() as stack:
                try:
                    for port in block:
                        stack.enter_context(_bound(kind, port, host))
                except OSError:
                    continue
            _handed_out.update(block)
            return base
    raise OSError(f"no block of {size} free {kind} ports found on {host} in {attempts} attempts")
