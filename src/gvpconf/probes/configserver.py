"""GVP Config Server prober (connections 2, 5, 7, 15): connect and hold.

The Config Server speaks Genesys' proprietary protocol, in which the client speaks first. Without
a public specification the deepest safe check is passive: the TCP connection is accepted, stays up
for ``hold`` seconds without a reset or close, and the peer volunteers nothing (a banner of HTTP,
SIP, TLS, SSH... or any other bytes would mean another service owns the port). A silent server of
some other kind passes this check; the README says so.
"""

from __future__ import annotations

import select
import time

from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory import ConfigServerDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import banner


def probe_hold(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, ConfigServerDestination)
    dl, ev = ctx.deadline, ctx.evidence
    if dest.hold >= dl.timeouts.probe:
        raise ProbeFailure(Cause.CONFIG, f"hold ({dest.hold} s) must be shorter than the probe timeout "
                           f"({dl.timeouts.probe} s)")
    with ctx.connect() as sock:
        connected = time.monotonic()
        ev.fact("configserver.depth", "passive: accepted, held, no foreign banner")
        end = connected + dest.hold
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                continue
            held = time.monotonic() - connected
            try:
                data = sock.recv(4096)
            except OSError as exc:
                failure = failure_from_os_error(exc, during=f"hold after {held:.2f} s")
                raise ProbeFailure(Cause.PROTOCOL, f"the connection was reset after {held:.2f} s; the Config "
                                   f"Server keeps client connections open ({failure.message})",
                                   phase="hold") from exc
            if not data:
                raise ProbeFailure(Cause.PROTOCOL, f"the peer closed the connection after {held:.2f} s; the "
                                   "Config Server keeps client connections open", phase="hold")
            kind = banner.identify(data)
            what = f"{banner.article(kind)} banner" if kind else "unsolicited bytes"
            ev.received(banner.describe(data))
            raise ProbeFailure(Cause.PROTOCOL, f"the peer volunteered {what} after {held:.2f} s "
                               f"({banner.describe(data)}); the Config Server waits for its client to "
                               "speak first: another service owns this port", phase="hold")
        # measured, not the setting: the test states that the connection stayed up for the whole hold
        ev.fact("configserver.held_s", round(time.monotonic() - connected, 3))
