"""Probers: one per protocol, one signature, one registry (blackbox_exporter's ``prober/`` layout).

Every prober is ``def probe_<suffix>(ctx: ProbeContext) -> None`` (``gvpconf.probes.context``): it records
facts into ``ctx.evidence`` as it goes and returns normally when the connection is verified, or raises
``ProbeFailure`` (and nothing else) when it is not.

A probe's name says where it lives: ``<module>.<suffix>`` is ``gvpconf.probes.<module>.probe_<suffix>``
(``sip.options`` is ``gvpconf.probes.sip.probe_options``). ``PROBES`` is the one table of names, with what
each probe sends; a prober's module, and its heavy imports, load only when it is used. This module imports
nothing of the project, so the inventory can validate probe names without an import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gvpconf.probes.context import ProbeContext

#: every probe: name -> what it sends, in a few words (for ``--plan``, the reports and the README)
PROBES: dict[str, str] = {
    # foundation
    "sip.options": "one out-of-dialog SIP OPTIONS (read-only)",
    "sipmtu.options": "a few out-of-dialog SIP OPTIONS at once, padded up to mtu_size bytes (read-only)",
    "configserver.hold": "nothing: connect and hold (read-only)",
    "activemq.openwire": "an OpenWire session: login, one expiring non-persistent message through a temporary queue "
                         "of its own, acked, everything removed",
    "activemq.stomp": "STOMP CONNECT, SUBSCRIBE and one expiring message on the probe's own destination",
    "postgres.sslrequest": "PostgreSQL SSLRequest (8 bytes, no login), then a TLS handshake when the server offers it",
    "postgres.login": "login and SELECT version(), current_database() in a read-only session",
    # voice: MCP pool SIP (4), SBC RTP/RTCP (9), Nuance SIP/RTSP/RTP (14), Nuance -> MCP media (19)
    "sip.call": "a real call (opt-in): INVITE, ACK, a bounded RTP burst (media.packets), BYE",
    "sbc.call": "a real call to the SBC's echo route (opt-in): INVITE, ACK, a bounded RTP burst, BYE",
    "rtp.range": "attempts x sample small RTP packets to a seeded sample of the RTP range (safe)",
    "rtsp.describe": "RTSP OPTIONS and DESCRIBE on each configured URL (read-only)",
    "rtsp.setup": "RTSP SETUP, a bounded RTP burst to the server port, TEARDOWN (opt-in)",
    "rtp.ingress": "RTSP SETUP with our client_port and PLAY (opt-in): the server streams media.packets to us",
    # web: ORS (11), DAS (12), Nexus WSS (13), Prometheus (18), web server (20), customer system (21), TTS (22)
    "http.ors": "one configured HTTP request (GET by default)",
    "http.vxml": "one GET per configured VXML application URL (read-only)",
    "http.customer": "one configured HTTP request (GET by default; a configured body for POST/PUT)",
    "websocket.session": "an HTTP upgrade, ping frames and a close (no application message)",
    "grpc.tts_list_voices": "one TextToSpeech ListVoices call (read-only, no synthesis)",
    "prometheus.scrape": "one GET of the metrics endpoint (read-only)",
    "prometheus.target_up": "two GETs to the Prometheus HTTP API: targets and an up{} query (read-only)",
    # data: Consul (6, 10), SQL Server (16)
    "consul.cluster": "GET status/leader, acl/token/self, agent/self (read-only)",
    "consul.mcp_registration": "GET status/leader, health/service/<service> (read-only)",
    "consul.sd_catalog": "GET health/service/<service> and the tenants KV keys; with the write check, one KV key "
                         "of its own created (cas=0) and deleted",
    "mssql.prelogin": "a TDS PRELOGIN (no credentials)",
    "mssql.login": "a reader login and SELECT @@VERSION, DB_NAME() (read-only)",
}


def location(name: str) -> tuple[str, str]:
    """``sip.options`` -> ``("gvpconf.probes.sip", "probe_options")``."""
    module, _, suffix = name.partition(".")
    return f"gvpconf.probes.{module}", f"probe_{suffix}"


def get(name: str) -> Callable[[ProbeContext], None]:
    if name not in PROBES:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    module, func = location(name)
    prober: Callable[[ProbeContext], None] = getattr(importlib.import_module(module), func)
    return prober
