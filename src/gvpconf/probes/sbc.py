"""The SBC's call probe (connection 9, opt-in): a call through the SBC to its echo route, with the SIP user
agent of ``gvpconf.probes.sipua``; the RTP is measured end to end. The RTP range itself is ``rtp.range``."""

from __future__ import annotations

from gvpconf.inventory.voice import SbcDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.probes.sipua import place_call


def probe_call(ctx: ProbeContext) -> None:
    """Connection 9 (a, opt-in): a call through the SBC to its echo/test number; RTP measured end to end."""
    dest = ctx.destination
    assert isinstance(dest, SbcDestination)
    t = ctx.target
    place_call(ctx, t.host, t.port, dest.transport, dest.call, dest.user_agent, f"SBC {t.id} echo route",
               media_host=dest.media_host)
