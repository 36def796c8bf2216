"""The 22 connections of the GVP private edition architecture page, as data.

Source: Genesys Voice Platform Private Edition Guide, "Architecture", connections table
(a copy of the page's text is ``fixtures/gvp-architecture.txt``). ``seed_classification`` keeps the page's own column
verbatim (row 19 has none); ``suite_class`` is where the conformance module lives:
``intra`` for connections between two GVP services (RM, MCP, RS, SD, GVP Config Server),
``egress`` for connections out of GVP, ``ingress`` for 18 and 19.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SuiteClass = Literal["egress", "intra", "ingress"]

#: Source roles: the pod (or external system) a connection starts at. ``--source`` takes these.
ROLES: dict[str, str] = {
    "rm": "RM pair multi-AZ",
    "mcp": "MCP pool multi-AZ",
    "rs": "RS",
    "sd": "Service Discovery",
    "configserver": "GVP Config Server",
    "prometheus": "Prometheus",
    "nuance": "Nuance",
}

#: Destination keys: each names a section of the inventory's ``destinations``.
DESTINATIONS: dict[str, str] = {
    "sip_server": "SIP Server",
    "configserver": "GVP Config Server",
    "activemq": "RS (ActiveMQ)",
    "mcp": "MCP pool multi-AZ",
    "consul": "Consul",
    "sbc": "SBC",
    "ors": "ORS",
    "das": "DAS",
    "nexus": "Nexus",
    "nuance": "Nuance",
    "sqlserver": "SQL Server",
    "postgres": "PostgreSQL",
    "gvp_metrics": "GVP namespace",
    "web": "Web server",
    "customer": "Customer system",
    "google_tts": "Google API",
}


@dataclass(frozen=True, slots=True)
class Connection:
    number: int
    source: str  # a key of ROLES
    destination: str  # a key of DESTINATIONS
    protocol: str  # as the page writes it
    ports: str  # as the page writes it: "5090", "8500/8501", "20000-45000"
    seed_classification: str  # "Egress", "Ingress" or "" (row 19)
    suite_class: SuiteClass
    purpose: str

    @property
    def source_label(self) -> str:
        return ROLES[self.source]

    @property
    def destination_label(self) -> str:
        return DESTINATIONS[self.destination]

    @property
    def title(self) -> str:
        return (f"#{self.number} {self.source_label} -> {self.destination_label} "
                f"{self.protocol} {self.ports}")


def _c(number: int, source: str, destination: str, protocol: str, ports: str, seed: str,
       suite: SuiteClass, purpose: str) -> Connection:
    return Connection(number, source, destination, protocol, ports, seed, suite, purpose)


CONNECTIONS: tuple[Connection, ...] = (
    _c(1, "rm", "sip_server", "SIP/TCP", "5090", "Egress", "egress", "SIP Protocol messages."),
    _c(2, "rm", "configserver", "TCP", "8888", "Egress", "intra",
       "TCP messages. RM connects to GVP Configuration Server to get configuration data."),
    _c(3, "rm", "activemq", "TCP", "61616", "Egress", "intra", "ActiveMQ messages RM posts billing data to RS."),
    _c(4, "rm", "mcp", "SIP/TCP", "5070", "Egress", "intra", "SIP Protocol messages."),
    _c(5, "sd", "configserver", "TCP", "8888", "Egress", "intra",
       "TCP messages. SD connects to configuration server to Check/Add/Delete MCP applications."),
    _c(6, "sd", "consul", "TCP", "8500/8501", "Egress", "egress",
       "TCP messages. SD periodically syncs with Consul to get information of MCPs registered in Consul. "
       "SD writes tenant-related information to Consul KV."),
    _c(7, "mcp", "configserver", "TCP", "8888", "Egress", "intra",
       "TCP messages. MCP connects to configuration server to get recording certificate details."),
    _c(8, "mcp", "activemq", "TCP", "61616", "Egress", "intra", "ActiveMQ messages. MCP posts billing data to RS."),
    _c(9, "mcp", "sbc", "RTP/RTCP", "20000-45000", "Egress", "egress", "RTP messages."),
    _c(10, "mcp", "consul", "TCP", "8500/8501", "Egress", "egress",
       "TCP messages. Service Handler container inside MCP Registers MCP to the Consul."),
    _c(11, "mcp", "ors", "HTTP/HTTPS", "11200", "Egress", "egress", "HTTP messages"),
    _c(12, "mcp", "das", "HTTP/HTTPS", "80", "Egress", "egress",
       "HTTP messages. MCP connects to DAS to fetch vxml applications."),
    _c(13, "mcp", "nexus", "WebSocket", "443", "Egress", "egress",
       "Websocket messages. MCP connects to Nexus for Voicebot and Agent Assist services."),
    _c(14, "mcp", "nuance", "SIP/TCP", "5060", "Egress", "egress",
       "SIP Messages (port is 5060). Also, RTSP messages (port range is 14000-15999) and RTP (port range is "
       "20000-45000). MCP connects to Nuance for ASR/TTS services."),
    _c(15, "rs", "configserver", "TCP", "8888", "Egress", "intra",
       "TCP messages. RS connects to configuration server to fetch configuration data."),
    _c(16, "rs", "sqlserver", "TCP", "1433", "Egress", "egress", "TCP Messages. RS connection to database."),
    _c(17, "configserver", "postgres", "TCP", "5432", "Egress", "egress",
       "TCP messages. GVP Config Server connection to database."),
    _c(18, "prometheus", "gvp_metrics", "HTTP", "", "Ingress", "ingress", "HTTP messages"),
    _c(19, "nuance", "mcp", "RTP/RTCP", "20000-45000/14000-15999", "", "ingress",
       "Nuance provides ASR/TTS services. RTSP messages (port range is 14000-15999) and RTP (port range is "
       "20000-45000)."),
    _c(20, "mcp", "web", "HTTP/HTTPS", "80", "Egress", "egress",
       "HTTP messages. MCP connects to web server to fetch vxml applications."),
    _c(21, "mcp", "customer", "HTTP/HTTPS", "80", "Egress", "egress", "HTTP messages."),
    _c(22, "mcp", "google_tts", "gRPC", "443", "Egress", "egress",
       "GRPC messages. MCP connects to Google APIs for TTS service."),
)

BY_NUMBER: dict[int, Connection] = {c.number: c for c in CONNECTIONS}


def connection(number: int) -> Connection:
    try:
        return BY_NUMBER[number]
    except KeyError:
        raise KeyError(f"no connection #{number} in the GVP architecture table (1-22)") from None
