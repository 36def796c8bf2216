"""Never a false pass: every probe fails against impostors on its port, with the right cause, in time.

Each probe is run exactly as the plugin runs it (``scheduler.run_job``) against an impostor from
``gvpconf_lab.impostors``: a socket that accepts and stays silent, one that accepts and closes, an
HTTP server (answering what it receives, or greeting first), one that sends garbage, a port with
nothing listening, and a blackholed port where SYNs go unanswered.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import (
    ActiveMQDestination,
    ConfigServerDestination,
    Destination,
    PostgresDestination,
    Secret,
    SipDestination,
    Target,
    TlsSettings,
)
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import impostors

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=3.0)
NO_VERIFY = TlsSettings(verify=False)  # sslmode prefer does not verify: the inventory must say so

PROBES: dict[str, tuple[int, Destination, dict[str, Any]]] = {
    "sip.options": (1, SipDestination(), {}),
    "sipmtu.options": (1, SipDestination(), {}),
    "configserver.hold": (2, ConfigServerDestination(hold=0.5), {}),
    "activemq.openwire": (3, ActiveMQDestination(), {}),
    "activemq.stomp": (8, ActiveMQDestination(), {"username": "gvp-rs", "password": Secret("impostor-pw")}),
    "postgres.sslrequest": (17, PostgresDestination(username="u", sslmode="prefer", tls=NO_VERIFY), {}),
    "postgres.login": (17, PostgresDestination(username="u", sslmode="prefer", tls=NO_VERIFY),
                       {"username": "u", "password": Secret("impostor-pw")}),
}


P, T, R = Cause.PROTOCOL, Cause.TIMEOUT, Cause.REFUSED
# What each probe must conclude about each impostor. The Config Server probe is passive (the
# proprietary protocol's client speaks first), so a silent peer, an echo server, or an HTTP server waiting
# for a request, is indistinguishable from the real server: that limit is asserted too, not hidden.
EXPECTED: dict[str, dict[str, Cause | None]] = {
    "sip.options": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                    "refused": R, "blackhole": T},
    "sipmtu.options": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                       "refused": R, "blackhole": T},
    "configserver.hold": {"silent": None, "closer": P, "http": None, "http-banner": P, "garbage": P,
                          "echo": None, "refused": R, "blackhole": T},
    "activemq.openwire": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                          "refused": R, "blackhole": T},
    "activemq.stomp": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                       "refused": R, "blackhole": T},
    "postgres.sslrequest": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                            "refused": R, "blackhole": T},
    "postgres.login": {"silent": T, "closer": P, "http": P, "http-banner": P, "garbage": P, "echo": P,
                       "refused": R, "blackhole": T},
}


def run_probe(name: str, address: tuple[str, int], timeouts: Timeouts = TIMEOUTS,
              destination: Destination | None = None, secrets: dict[str, Any] | None = None) -> ProbeResult:
    number, dest, default_secrets = PROBES[name]
    row = catalog.connection(number)
    target = Target(host=address[0], port=address[1], name="impostor")
    dest = destination or dest
    sec = default_secrets if secrets is None else secrets

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets=sec, deadline=deadline)

    return run_job(Job(name, timeouts, make))


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_against_impostor(probe: str, impostor: tuple[str, tuple[str, int]]) -> None:
    kind, address = impostor
    started = time.monotonic()
    result = run_probe(probe, address)
    elapsed = time.monotonic() - started
    expected = EXPECTED[probe][kind]
    assert result.error is None, f"prober bug: {result.error!r}"
    # within its timeout plus one second, whatever the impostor does
    assert elapsed <= TIMEOUTS.probe + 1.0, f"{probe} took {elapsed:.2f} s against {kind}"
    if expected is None:
        assert result.ok, f"{probe} vs {kind}: {result.failure}"
        assert result.evidence.facts["configserver.depth"].startswith("passive")
        return
    assert result.failure is not None, f"FALSE PASS: {probe} accepted a {kind} impostor: {result.evidence.facts}"
    assert result.failure.cause is expected, f"{probe} vs {kind}: {result.failure}"
    message = str(result.failure)
    assert "\n" not in message and len(message) < 400, message
    if kind in ("http", "http-banner") and probe != "postgres.login":
        assert "HTTP" in message, message  # says which expectation broke: the peer speaks HTTP


def test_blackhole_costs_one_connect_timeout_not_the_probe_budget() -> None:
    with impostors.blackhole() as address:
        started = time.monotonic()
        result = run_probe("sip.options", address, Timeouts(connect=0.5, read=2.0, probe=5.0))
        elapsed = time.monotonic() - started
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT
    assert "TCP connect" in str(result.failure)
    assert elapsed < 1.5, elapsed


def test_unresolvable_name_is_dns() -> None:
    result = run_probe("sip.options", ("no-such-host.invalid", 5090))
    assert result.failure is not None and result.failure.cause is Cause.DNS, result.failure


def test_sip_udp_silent_peer_retransmits_then_times_out() -> None:
    with impostors.udp_silent() as address:
        started = time.monotonic()
        result = run_probe("sip.options", address, Timeouts(connect=1.0, read=1.0, probe=2.0),
                           destination=SipDestination(transport="udp"))
        elapsed = time.monotonic() - started
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT
    assert "3 transmissions" in str(result.failure)  # T1 timer: at 0, 0.5 and 1.5 s
    assert elapsed <= 3.0


def test_sip_udp_closed_port_is_refused() -> None:
    with impostors.refused() as (host, port):
        result = run_probe("sip.options", (host, port), destination=SipDestination(transport="udp"))
    assert result.failure is not None and result.failure.cause is Cause.REFUSED, result.failure
