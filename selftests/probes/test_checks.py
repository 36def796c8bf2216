"""The probes' checking functions, each against a peer that breaks exactly the rule it checks.

The impostors of ``test_impostors_*`` are wrong protocols; these speak the right one and get one word wrong,
so each test fails when its check is removed (mutation testing found these four checks without a test):

* a STOMP broker whose RECEIPT names another receipt (``receipt-id``, STOMP 1.2 "RECEIPT");
* a PostgreSQL server that answers the SSLRequest ``S`` and then more bytes, before any TLS handshake (bytes a
  man in the middle injected: the CVE-2021-23222 class), or ``N`` while sslmode requires TLS.

(The VoiceXML root element is in ``test_vxml.py``.)
"""

from __future__ import annotations

from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import ActiveMQDestination, Destination, PostgresDestination, Secret, Target, TlsSettings
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf.wire import postgres, stomp
from gvpconf_lab import impostors

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=3.0)


def run_probe(name: str, number: int, address: tuple[str, int], dest: Destination,
              secrets: dict[str, Any] | None = None) -> ProbeResult:
    row = catalog.connection(number)
    target = Target(host=address[0], port=address[1], name="impostor")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets=secrets or {},
                            deadline=deadline)

    return run_job(Job(name, TIMEOUTS, make))


# ---------------------------------------------------------------- STOMP: RECEIPT receipt-id


class ForeignReceipts:
    """A STOMP 1.2 broker, right in everything but the ``receipt-id`` of receipt number ``wrong`` (1-based):
    CONNECTED to CONNECT, a RECEIPT to every frame asking for one, each SEND delivered back as a MESSAGE on
    the subscription."""

    def __init__(self, wrong: int) -> None:
        self.wrong = wrong
        self.receipts = 0
        self.subscription = "0"
        self.decoder = stomp.StompDecoder()

    def __call__(self, data: bytes) -> bytes:
        self.decoder.feed(data)
        out = b""
        while (frame := self.decoder.next_message()) is not None:
            if frame.command in ("CONNECT", "STOMP"):
                out += stomp.encode(stomp.Frame("CONNECTED", (("version", "1.2"), ("server", "impostor/1.0"),
                                                              ("heart-beat", "0,0"))))
                continue
            if frame.command == "SUBSCRIBE":
                self.subscription = frame.header("id") or "0"
            if frame.command == "SEND":
                kept = [(k, v) for k, v in frame.headers if k not in ("destination", "receipt", "content-length")]
                headers = [("subscription", self.subscription), ("message-id", "m-1"),
                           ("destination", frame.header("destination") or ""), *kept]
                out += stomp.encode(stomp.Frame("MESSAGE", tuple(headers), frame.body))
            receipt = frame.header("receipt")
            if receipt is not None:
                self.receipts += 1
                named = f"not-{receipt}" if self.receipts == self.wrong else receipt
                out += stomp.encode(stomp.Frame("RECEIPT", (("receipt-id", named),)))
        return out


@pytest.mark.parametrize("wrong", [1, 2], ids=["first-receipt", "second-receipt"])
def test_stomp_receipt_for_another_request_fails(wrong: int) -> None:
    broker = ForeignReceipts(wrong)
    with impostors.answering(broker) as address:
        result = run_probe("activemq.stomp", 8, address, ActiveMQDestination(),
                           {"username": "gvp-rs", "password": Secret("impostor-pw")})
    assert result.error is None, f"prober bug: {result.error!r}"
    assert broker.receipts >= wrong, "the probe asked for fewer receipts than the impostor was set to falsify"
    assert result.failure is not None, f"FALSE PASS: a RECEIPT for another request was taken: {result.evidence.facts}"
    assert result.failure.cause is Cause.PROTOCOL, result.failure
    assert "RECEIPT" in str(result.failure), result.failure


def test_stomp_impostor_with_right_receipts_passes() -> None:
    """The impostor above with no wrong receipt: the probe passes, so the failures above are the receipt's."""
    broker = ForeignReceipts(0)
    with impostors.answering(broker) as address:
        result = run_probe("activemq.stomp", 8, address, ActiveMQDestination(),
                           {"username": "gvp-rs", "password": Secret("impostor-pw")})
    assert result.error is None and result.failure is None, result.failure or result.error
    assert broker.receipts >= 2


# ---------------------------------------------------------------- PostgreSQL: the SSLRequest answer


def _answer(reply: bytes) -> impostors.Answer:
    return lambda data: reply if data == postgres.SSL_REQUEST else None


NO_VERIFY = TlsSettings(verify=False)


@pytest.mark.parametrize("reply", [b"Sinjected", b"S\x00", b"N" + b"E" * 20],
                         ids=["S-and-text", "S-and-a-byte", "N-and-more"])
def test_postgres_bytes_after_the_answer_fail(reply: bytes) -> None:
    with impostors.answering(_answer(reply)) as address:
        result = run_probe("postgres.sslrequest", 17, address,
                           PostgresDestination(username="u", sslmode="prefer", tls=NO_VERIFY))
    assert result.failure is not None, f"FALSE PASS: {reply!r} was taken for a PostgreSQL answer"
    assert result.failure.cause is Cause.PROTOCOL, result.failure
    assert f"{len(reply) - 1} unexpected bytes after" in str(result.failure), result.failure


@pytest.mark.parametrize(("mode", "cause"), [("require", Cause.TLS), ("verify-full", Cause.TLS),
                                             ("prefer", None), ("disable", None)])
def test_postgres_n_under_each_sslmode(mode: str, cause: Cause | None) -> None:
    """``N`` (no TLS) fails where sslmode requires TLS, and is a pass where it does not."""
    with impostors.answering(_answer(b"N")) as address:
        result = run_probe("postgres.sslrequest", 17, address,
                           PostgresDestination(username="u", sslmode=mode,
                                               tls=TlsSettings() if mode == "verify-full" else NO_VERIFY))
    assert result.error is None, f"prober bug: {result.error!r}"
    if cause is None:
        assert result.failure is None, result.failure
        assert result.evidence.facts["postgres.ssl_offered"] is False
    else:
        assert result.failure is not None, f"FALSE PASS: 'N' accepted under sslmode {mode}"
        assert result.failure.cause is cause and "answered 'N'" in str(result.failure), result.failure
