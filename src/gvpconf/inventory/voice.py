"""Destination settings of the voice probes: MCP pool (4, 19), SBC (9), Nuance (14).

Defaults live here. Every media exchange is bounded: ``media.packets`` (at most 5000) packets
per probe, sent at ``media.ptime_ms``; loss and jitter thresholds are per destination.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Literal

from gvpconf.inventory.base import Destination, Target, _Model
from gvpconf.inventory.foundation import SipDestination
from gvpconf.model import Field, model_validator

Port = Annotated[int, Field(ge=1, le=65535)]


class MediaSettings(_Model):
    """One RTP burst and what it must achieve (connections 4, 9, 14, 19)."""

    packets: int = Field(default=50, ge=1, le=5000, description="RTP packets sent (or expected) per probe: the bound")
    ptime_ms: int = Field(default=20, ge=1, le=200, description="packetization time: one packet every ptime_ms")
    burst: int = Field(default=1, ge=1, le=50, description="packets sent back to back at each tick")
    payload_type: Literal[0, 8] = Field(default=0, description="0 = PCMU, 8 = PCMA (RFC 3551)")
    max_loss_pct: float = Field(default=1.0, ge=0, le=100, description="fail when more of the stream is lost")
    max_jitter_ms: float = Field(default=30.0, ge=0, le=10000, description="fail when the RFC 3550 jitter is higher")
    max_rtt_ms: float | None = Field(default=None, gt=0, le=10000, description="fail when the mean echo RTT is higher")
    settle_ms: int = Field(default=500, ge=0, le=10000, description="how long to wait for the last echoes")


class PortRange(_Model):
    min: Port = 20000
    max: Port = 45000

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.min > self.max:
            raise ValueError(f"port range min {self.min} is above max {self.max} (swap them: min is the lowest "
                             "port of the range, max the highest)")
        return self


class RangeSampling(_Model):
    """Connection 9 (b): RTP to a seeded, stratified sample of the range, both ends included."""

    enabled: bool = True
    sample: int = Field(default=12, ge=2, le=256, description="ports probed (both ends of the range always)")
    seed: int | None = Field(default=None, ge=0, description="fixed seed to repeat a run; default: a new one, printed")
    attempts: int = Field(default=2, ge=1, le=5, description="datagrams per port (bounds the traffic)")
    port_timeout: float = Field(default=1.0, gt=0, le=30, description="seconds to wait for an echo or ICMP per port")
    allow_silent: bool = Field(default=False, description="pass even when some ports are silent (filtered)")


class CallRoute(_Model):
    """An opt-in test call: INVITE -> 200 -> ACK -> RTP burst -> BYE, CANCEL after ring_timeout."""

    request_uri: str | None = Field(default=None, description="default sip:<echo user>@<target host>:<port>")
    user: str = Field(default="echo", pattern=r"^[A-Za-z0-9._+*#-]+$", description="the echo/test number")
    ring_timeout: float = Field(default=5.0, gt=0, le=60, description="CANCEL when no final answer by then")
    media: MediaSettings = Field(default_factory=MediaSettings)


class IngressSettings(_Model):
    """Connection 19: have the Nuance side stream RTP to a port we listen on, in the MCP's range."""

    rtsp_url: str = Field(pattern=r"^rtsp://[^\s]+$", description="the Nuance RTSP (MRCPv1) resource URL")
    listen_port: Port | None = Field(default=None, description="default: a free even port of mcp.rtp_range")
    listen_host: str | None = Field(default=None, description="address to listen on; default: the target's host")
    media: MediaSettings = Field(default_factory=MediaSettings)


class McpDestination(SipDestination):
    """The MCP pool (4: SIP/TCP 5070 from RM; 19: RTP from Nuance, into the pod)."""

    calls: bool = Field(default=False, description="opt in to the call tests (4's INVITE, 19's RTSP PLAY) without "
                        "--gvp-calls: only for a lab or a maintenance window")
    call: CallRoute = Field(default_factory=CallRoute)
    rtp_range: PortRange = Field(default_factory=PortRange)
    ingress: IngressSettings | None = None

    def probe_targets(self, probe: str, targets: list[Target]) -> list[Target] | str:
        """19's probe listens where Nuance's media arrives, on the MCP target's own address: it runs against the
        targets that are addresses of this host (inside an MCP pod, that pod's own), unless the inventory names
        the address to listen on (``ingress.listen_host``). A DNS name stays: the probe says if it is not here."""
        if probe != "rtp.ingress":
            return super().probe_targets(probe, targets)
        if self.ingress is None:
            return "no ingress source configured (destinations.mcp.ingress.rtsp_url)"
        if self.ingress.listen_host is not None or not targets:
            return targets
        from gvpconf.net import is_local_address

        here = [t for t in targets if is_local_address(t.host) is not False]
        if not here:
            return ("none of the MCP targets is an address of this host: 19 listens where Nuance's media arrives, "
                    "inside the MCP pod (run it from an MCP pod, as `python -m gvpconf.pods run` does, or set "
                    "destinations.mcp.ingress.listen_host)")
        return here


class SbcDestination(Destination):
    """Connection 9: MCP -> SBC media. Targets are the SBC's SIP addresses (for the test call)."""

    transport: Literal["tcp", "udp"] = "udp"
    rtp_range: PortRange = Field(default_factory=PortRange)
    sampling: RangeSampling = Field(default_factory=RangeSampling)
    calls: bool = Field(default=False, description="opt in to 9's test call through the SBC without --gvp-calls")
    call: CallRoute = Field(default_factory=CallRoute)
    user_agent: str = "gvpconf"
    mtu_size: int = Field(1300, ge=600, le=8000, description="bytes of the largest padded OPTIONS of the path-MTU "
                          "probe (sipmtu.options) to the SBC's SIP address")
    media_host: str | None = Field(default=None, description="address of the SBC's media side; default: the target's")


class NuanceDestination(SipDestination):
    """Connection 14: targets are Nuance's SIP (MRCPv2) addresses; RTSP (MRCPv1) URLs are listed apart."""

    rtsp_urls: list[Annotated[str, Field(pattern=r"^rtsp://[^\s]+$")]] = Field(
        default_factory=list, description="RTSP resource URLs (ports 14000-15999): one RTSP case each, named after "
        "it, with or without SIP targets")
    rtsp_require_public: list[str] = Field(default_factory=lambda: ["DESCRIBE"], description=(
        "methods the Public header of OPTIONS must list; default: DESCRIBE, the one rtsp.describe goes on to "
        "use (OPTIONS itself need not be listed: VLC's server does not)"))
    calls: bool = Field(default=False, description="opt in to 14's RTSP SETUP + RTP without --gvp-calls")
    media: MediaSettings = Field(default_factory=lambda: MediaSettings(packets=25))

    def probe_targets(self, probe: str, targets: list[Target]) -> list[Target] | str:
        """The RTSP probes run once per RTSP URL (the target is named after it), SIP OPTIONS per SIP target."""
        if not probe.startswith("rtsp."):
            return targets
        if not self.rtsp_urls:
            return "no RTSP URL configured (destinations.nuance.rtsp_urls)"
        return [rtsp_target(url) for url in self.rtsp_urls]


def rtsp_target(url: str) -> Target:
    """The target of one RTSP URL: its host and port (554 by default), named after the URL."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 554
    except ValueError:
        port = 554  # the probe says the URL is bad (cause config)
    return Target(host=parts.hostname or url, port=port, name=url, zone=None)
