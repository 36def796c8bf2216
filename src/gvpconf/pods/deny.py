"""The expected-deny matrix: from each source role, the destinations the table does NOT connect it to.

A connection the table does not list must be blocked from that pod: a TCP connect to each of the
destination's targets has to fail, by ``timeout`` (filtered: a DROP) or ``refused`` (a REJECT, an RST,
or nothing listening). A connect that succeeds is a least-privilege failure. Targets that are the
pod's own addresses are not checked (traffic to oneself is never policed).

This check is TCP only: a UDP-only destination (the SBC's RTP range) cannot be proven blocked by a
connect, so its TCP target port is what is checked, and "refused" cannot tell a REJECT rule from a
port where nothing listens. Both are stated in every case's properties.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

from gvpconf.catalog import CONNECTIONS, DESTINATIONS, ROLES
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import Inventory, Target
from gvpconf.net import connect_tcp

#: role -> destination keys the table connects it to
ALLOWED: dict[str, frozenset[str]] = {
    role: frozenset(c.destination for c in CONNECTIONS if c.source == role) for role in ROLES}


def denied_destinations(role: str) -> list[str]:
    """Destination keys that ``role`` must NOT reach (the table has no such connection)."""
    if role not in ROLES:
        raise KeyError(f"unknown role {role!r}")
    return [d for d in DESTINATIONS if d not in ALLOWED[role]]


@dataclass(frozen=True)
class DenyCheck:
    role: str
    destination: str
    target: Target

    @property
    def id(self) -> str:
        return f"{self.role}->{self.destination}:{self.target.id}"


def checks_for(role: str, inventory: Inventory) -> list[DenyCheck]:
    """One check per target of every destination ``role`` must not reach (as far as the inventory names them)."""
    checks: list[DenyCheck] = []
    for key in denied_destinations(role):
        dest = inventory.destination(key)
        if dest is None:
            continue
        checks.extend(DenyCheck(role, key, t) for t in dest.targets)
    return checks


@dataclass(frozen=True)
class DenyResult:
    blocked: bool
    how: str  # "timeout" | "refused" | "connected" | "own address" | "dns"
    detail: str


def is_local_address(host: str) -> bool:
    """True when ``host`` is an address of this network namespace (binding to it works)."""
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    for family, _t, _p, _c, sockaddr in infos:
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((sockaddr[0], 0))
            return True
    return False


def run_check(check: DenyCheck, timeout: float = 3.0) -> DenyResult:
    """Try to connect; a blocked connection is the expected result."""
    if is_local_address(check.target.host):
        return DenyResult(True, "own address", f"{check.target.address} is this pod's own address: not checked")
    deadline = Deadline(Timeouts(connect=timeout, read=timeout, probe=timeout + 1))
    try:
        sock = connect_tcp(check.target.host, check.target.port, deadline)
    except ProbeFailure as exc:
        if exc.cause in (Cause.TIMEOUT, Cause.REFUSED):
            return DenyResult(True, exc.cause.value, str(exc))
        # a name that does not resolve proves nothing about the policy: inconclusive, not blocked
        return DenyResult(False, exc.cause.value, f"inconclusive: {exc}")
    sock.close()
    return DenyResult(False, "connected", f"TCP connect to {check.target.address} succeeded")
