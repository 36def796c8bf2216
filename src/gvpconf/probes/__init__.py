"""Probers: one per protocol, one signature, one registry (blackbox_exporter's layout).

Every prober is ``def prober(ctx: ProbeContext) -> None``: it records facts into
``ctx.evidence`` as it goes and returns normally when the connection is verified, or raises
``ProbeFailure`` (and nothing else) when it is not. The registry maps a probe name to
``module:function`` so that a prober's heavy imports happen only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gvpconf import redact
from gvpconf.catalog import Connection
from gvpconf.deadline import Deadline
from gvpconf.inventory import Destination, Target

Fact = str | int | float | bool


@dataclass
class Evidence:
    """What a probe saw: facts (written as JUnit properties) and the last protocol exchange."""

    facts: dict[str, Fact] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    max_transcript: int = 20

    def fact(self, name: str, value: Fact) -> None:
        self.facts[name] = redact.scrub(value) if isinstance(value, str) else value

    def sent(self, text: str) -> None:
        self._log("->", text)

    def received(self, text: str) -> None:
        self._log("<-", text)

    def _log(self, direction: str, text: str) -> None:
        self.transcript.append((direction, redact.scrub(text)))
        del self.transcript[: -self.max_transcript]


@dataclass
class ProbeContext:
    """Everything a prober may use. Secrets are resolved ``Secret`` objects, keyed by field name."""

    connection: Connection
    target: Target
    destination: Destination
    secrets: Mapping[str, Any]
    deadline: Deadline
    evidence: Evidence = field(default_factory=Evidence)


Prober = Callable[[ProbeContext], None]

#: probe name -> "module:function" (imported on first use). Each area keeps its own table
#: (gvpconf.probes.registry_<area>) and this module merges them.
_FOUNDATION: dict[str, str] = {
    "sip.options": "gvpconf.probes.sip:sip_options",
    "configserver.hold": "gvpconf.probes.configserver:tcp_hold",
    "activemq.openwire": "gvpconf.probes.activemq:openwire_handshake",
    "activemq.stomp": "gvpconf.probes.activemq:stomp_round_trip",
    "postgres.sslrequest": "gvpconf.probes.postgres:ssl_request",
    "postgres.login": "gvpconf.probes.postgres:login_query",
}

#: what each probe sends, for plans and the README ("read-only handshake", ...)
_FOUNDATION_SENDS: dict[str, str] = {
    "sip.options": "one out-of-dialog SIP OPTIONS (read-only)",
    "configserver.hold": "nothing: connect and hold (read-only)",
    "activemq.openwire": "OpenWire WireFormatInfo (handshake only)",
    "activemq.stomp": "STOMP CONNECT, SUBSCRIBE and one expiring message on the probe's own destination",
    "postgres.sslrequest": "PostgreSQL SSLRequest (8 bytes, no login)",
    "postgres.login": "login and SELECT version(), current_database() in a read-only session",
}


def _merge() -> tuple[dict[str, str], dict[str, str]]:
    from gvpconf.probes import registry_data, registry_voice, registry_web

    registry, sends = dict(_FOUNDATION), dict(_FOUNDATION_SENDS)
    for area in (registry_voice, registry_web, registry_data):
        clash = set(area.REGISTRY) & set(registry)
        if clash:
            raise RuntimeError(f"probe names registered twice: {sorted(clash)}")
        registry.update(area.REGISTRY)
        sends.update(area.SENDS)
    return registry, sends


REGISTRY, SENDS = _merge()


def get(name: str) -> Prober:
    try:
        spec = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module, _, func = spec.partition(":")
    prober: Prober = getattr(importlib.import_module(module), func)
    return prober
