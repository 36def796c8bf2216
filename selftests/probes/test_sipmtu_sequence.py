"""The path-MTU probe over TCP sends its padded sizes only once the natural size was answered: a target where
nothing answers costs one connection (and one timeout), not one per size. Real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import SipDestination, Target
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import impostors

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=5.0)


class Closer:
    """Accepts every connection and closes it at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def probe(host: str, port: int) -> ProbeResult:
    row, target = catalog.connection(4), Target(host=host, port=port, name="mcp")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=SipDestination(transport="tcp"),
                            secrets={}, deadline=deadline)

    return run_job(Job("sipmtu.options", TIMEOUTS, make))


def test_an_unanswered_natural_size_is_the_verdict_and_no_padded_size_is_sent() -> None:
    closer = Closer()
    try:
        result = probe("127.0.0.1", closer.port)
        time.sleep(0.2)  # a padded connection, had one been opened, is accepted by now
    finally:
        closer.close()
    assert result.failure is not None and result.failure.cause is Cause.PROTOCOL, result.failure
    assert closer.accepted == 1
    facts = result.evidence.facts
    assert facts["sipmtu.answered"] == ""
    assert len(str(facts["sipmtu.sizes"]).split(",")) > 1  # the sizes it would have tried are still recorded


def test_a_blackholed_target_costs_one_connect_timeout() -> None:
    with impostors.blackhole() as (host, port):
        started = time.monotonic()
        result = probe(host, port)
        took = time.monotonic() - started
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT, result.failure
    assert took < TIMEOUTS.connect + 0.5, took
