"""The path-MTU probe over TCP sends its padded sizes only once the natural size was answered: a target where
nothing answers costs one connection (and one timeout), not one per size. Then the largest size goes alone, and the
ladder's sizes only when it is not answered. Real sockets on loopback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import SipDestination, Target
from gvpconf.probes import sipmtu
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf.wire import sip
from gvpconf_lab import impostors

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=5.0)


class Listener:
    """A TCP listener on loopback whose thread hands every connection it accepts to ``on_connection``."""

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
            self.on_connection(conn)

    def on_connection(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (a close alone does not, on Linux)
        self.sock.close()
        self._thread.join(5)


class Closer(Listener):
    """Accepts every connection and closes it at once, counting them."""

    def on_connection(self, conn: socket.socket) -> None:
        conn.close()


class SizedUas(Listener):
    """A SIP UAS over TCP, one thread per connection: answers an OPTIONS of at most ``largest`` bytes with 200, a
    larger one with ``above`` (None: stays silent, the connection open, as behind a path-MTU blackhole). Records
    the size of every OPTIONS it read."""

    def __init__(self, largest: int = 1 << 20, above: int | None = None, delay: float = 0.0) -> None:
        self.largest, self.above, self.delay = largest, above, delay
        self.sizes: list[int] = []
        self.conns: list[socket.socket] = []
        super().__init__()

    def on_connection(self, conn: socket.socket) -> None:
        self.conns.append(conn)
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        decoder, raw = sip.SipStreamDecoder(), b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            raw += data
            decoder.feed(data)
            msg = decoder.next_message()
            if msg is None:
                continue
            assert isinstance(msg, sip.SipRequest) and msg.method == "OPTIONS"
            self.sizes.append(len(raw))
            status = 200 if len(raw) <= self.largest else self.above
            if status is None:
                continue  # silent: the connection stays open until the probe gives up
            time.sleep(self.delay)
            headers = tuple((name, msg.header(name) or "") for name in ("Via", "From", "To", "Call-ID", "CSeq"))
            conn.sendall(sip.encode(sip.SipResponse(status, "Sized", headers)))
            raw = b""

    def close(self) -> None:
        super().close()
        for conn in self.conns:
            conn.close()


def probe(host: str, port: int, timeouts: Timeouts = TIMEOUTS) -> ProbeResult:
    row, target = catalog.connection(4), Target(host=host, port=port, name="mcp")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=SipDestination(transport="tcp"),
                            secrets={}, deadline=deadline)

    return run_job(Job("sipmtu.options", timeouts, make))


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


def test_a_path_that_carries_the_largest_size_costs_two_connections() -> None:
    uas = SizedUas()
    try:
        result = probe("127.0.0.1", uas.port)
    finally:
        uas.close()
    assert result.ok, result.failure
    facts = result.evidence.facts
    assert len(uas.sizes) == 2 and uas.sizes[0] < 576 and uas.sizes[1] >= 1300, uas.sizes  # natural, then largest
    assert facts["sipmtu.sizes"] == facts["sipmtu.answered"] == f"{uas.sizes[0]},{uas.sizes[1]}"
    assert facts["sipmtu.largest_ok"] == uas.sizes[1]


def test_an_unanswered_largest_size_sends_the_ladder_and_names_the_largest_that_passes() -> None:
    uas = SizedUas(largest=1000)
    started = time.monotonic()
    try:
        result = probe("127.0.0.1", uas.port)
    finally:
        took = time.monotonic() - started
        uas.close()
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT, f"FALSE PASS: {result}"
    message = str(result.failure)
    assert "MTU" in message and "a 1100-byte OPTIONS" in message and "largest that passed was 900 bytes" in message
    facts = result.evidence.facts
    assert facts["sipmtu.failed_size"] == 1100 and facts["sipmtu.largest_ok"] == 900
    assert [int(n) for n in str(facts["sipmtu.sizes"]).split(",")][1:] == [576, 900, 1100, 1200, 1300]
    assert sorted(uas.sizes) == [int(n) for n in str(facts["sipmtu.sizes"]).split(",")]
    # the ladder went out while the largest waited: one read timeout and a share of one in all, not two
    assert took < TIMEOUTS.read * (1 + sipmtu.LADDER_AFTER_READ_SHARE) + 0.5, took


def test_a_slow_peer_and_a_tight_budget_still_name_the_largest_size_that_passes() -> None:
    """Answers take 0.4 s, the read timeout is 2 s and the probe has 2.3 s: the ladder must go out early enough for
    its passing sizes to be answered before the deadline (sent after four of the natural size's round trips, at
    2.0 s, they were not, and the probe named 576 bytes, which passes, as the blackhole)."""
    uas = SizedUas(largest=1000, delay=0.4)
    try:
        result = probe("127.0.0.1", uas.port, Timeouts(connect=1.0, read=2.0, probe=2.3))
    finally:
        uas.close()
    assert result.failure is not None and result.failure.cause is Cause.TIMEOUT, result.failure
    facts = result.evidence.facts
    assert (facts["sipmtu.failed_size"], facts["sipmtu.largest_ok"]) == (1100, 900), (facts, str(result.failure))


def test_a_refused_largest_size_sends_the_ladder_too() -> None:
    """A 513 (Message Too Large, RFC 3261 §21.5.2) to the largest: the ladder names the largest accepted."""
    uas = SizedUas(largest=1000, above=513)
    try:
        result = probe("127.0.0.1", uas.port)
    finally:
        uas.close()
    assert result.failure is not None and result.failure.cause is Cause.SEMANTIC, result.failure
    assert "513" in str(result.failure) and "largest that passed was 900 bytes" in str(result.failure)
    assert len(uas.sizes) == 6, uas.sizes
