"""ActiveMQ probers (connections 3 and 8): the RS broker at depth.

``activemq.openwire``: both sides exchange an OpenWire WireFormatInfo (magic ``ActiveMQ``,
version, properties). We send ours first: a broker on an ``auto://`` transport waits for the
client's first bytes, one on ``tcp://`` sends its own at once; both answer.

``activemq.stomp``: an authenticated STOMP 1.2 session on the same port: CONNECT (login by
reference), SUBSCRIBE to the probe's own destination, SEND one non-persistent message with an
``expires`` header and a receipt, receive it back, UNSUBSCRIBE, DISCONNECT with a receipt. The
destination is the configured prefix plus a unique suffix; the default prefix is a
``/temp-queue/``, which the broker deletes when the connection closes, so nothing is left behind.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from gvpconf import net
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import ActiveMQDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, banner, openwire, stomp

#: properties of the broker's WireFormatInfo worth recording
_RECORDED = ("ProviderName", "ProviderVersion", "PlatformDetails", "MaxInactivityDuration",
             "TightEncodingEnabled", "CacheEnabled", "MaxFrameSize", "StackTraceEnabled")

_AUTH_WORDS = ("password", "credential", "user name", "username", "login", "authenticat", "not authorized",
               "security", "passcode")


def probe_openwire(ctx: ProbeContext) -> None:
    dl, ev = ctx.deadline, ctx.evidence
    with ctx.connect() as sock:
        ours = openwire.client_wireformat_info()
        sent_at = time.monotonic()
        net.send_all(sock, openwire.encode_wireformat_info(ours), dl, "sending WireFormatInfo")
        ev.sent(f"WireFormatInfo version={ours.version}")
        frame = net.read_message(sock, openwire.OpenWireDecoder(), dl, "WireFormatInfo", protocol="OpenWire",
                                 malformed=_NOT_WIREFORMAT_INFO, check_start=_check_openwire_prefix, start_size=13)
        try:
            info = openwire.parse_wireformat_info(frame)
        except WireError as exc:
            raise ProbeFailure(Cause.PROTOCOL, f"{_NOT_WIREFORMAT_INFO}: {exc}", phase="WireFormatInfo") from exc
        ev.fact("openwire.rtt_ms", round((time.monotonic() - sent_at) * 1000, 2))
        ev.fact("openwire.magic", "ActiveMQ")
        ev.fact("openwire.version", info.version)
        ev.received(f"WireFormatInfo version={info.version}")
        for name in _RECORDED:
            value = info.properties.get(name)
            if isinstance(value, str | int | float | bool):
                ev.fact(f"openwire.{name}", value)


_NOT_WIREFORMAT_INFO = "expected an OpenWire WireFormatInfo"


def _check_openwire_prefix(head: bytes) -> None:
    """Reject a non-OpenWire peer as soon as its first bytes say so, instead of waiting for a frame."""
    head = head[:13]  # size, data type, magic
    if len(head) >= 5 and head[4] != 1:
        raise net.other_protocol(head, "an OpenWire WireFormatInfo (data type 1)", "OpenWire", "WireFormatInfo")
    if len(head) >= 13 and head[5:13] != b"ActiveMQ":
        raise ProbeFailure(Cause.PROTOCOL, f"OpenWire magic is not 'ActiveMQ': {banner.describe(head)}",
                           phase="WireFormatInfo")


class _StompSession:
    """A minimal STOMP 1.2 client over one socket, bounded by the probe's deadline."""

    def __init__(self, ctx: ProbeContext) -> None:
        self.ctx = ctx
        self.sock = net.connect_tcp(ctx.target.host, ctx.target.port, ctx.deadline)
        self.decoder = stomp.StompDecoder()
        # the first frame tells a STOMP broker from a peer of another protocol
        self._check: Callable[[bytes], None] | None = net.expect_prefix(
            _SERVER_COMMANDS, expected="a STOMP frame", protocol="STOMP", phase="STOMP CONNECT", skip=b"\r\n")

    def close(self) -> None:
        self.sock.close()

    def send(self, frame: stomp.Frame, during: str) -> None:
        self.ctx.evidence.sent(_show(frame))
        net.send_all(self.sock, stomp.encode(frame), self.ctx.deadline, during)

    def receive(self, during: str) -> stomp.Frame:
        frame = net.read_message(self.sock, self.decoder, self.ctx.deadline, during, protocol="STOMP",
                                 malformed=f"malformed STOMP frame during {during}", check_start=self._check)
        self._check = None
        self.ctx.evidence.received(_show(frame))
        if frame.command == "ERROR":
            message = frame.header("message") or frame.body.decode("utf-8", "replace")[:200]
            cause = Cause.AUTH if any(w in message.lower() for w in _AUTH_WORDS) else Cause.SEMANTIC
            raise ProbeFailure(cause, f"the broker answered ERROR during {during}: {message.strip()}",
                               phase=during)
        return frame


_SERVER_COMMANDS = (b"CONNECTED", b"MESSAGE", b"RECEIPT", b"ERROR")


def _show(frame: stomp.Frame) -> str:
    """A frame for the transcript, without credentials."""
    headers = "\n".join(f"{k}:{'***' if k == 'passcode' else v}" for k, v in frame.headers)
    return f"{frame.command}\n{headers}\n\n{frame.body[:200].decode('utf-8', 'replace')}"


def probe_stomp(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, ActiveMQDestination)
    ev = ctx.evidence
    probe_id = secrets.token_hex(8)
    destination = f"{dest.stomp_destination}.{probe_id}"
    session = _StompSession(ctx)
    try:
        ev.fact("tcp.connect_ms", round(ctx.deadline.elapsed() * 1000, 2))
        headers = [("accept-version", "1.2"), ("host", ctx.target.host), ("heart-beat", "0,0")]
        login, passcode = ctx.secret("username"), ctx.secret("password")
        if login is not None:
            headers.append(("login", login))
        if passcode is not None:
            headers.append(("passcode", passcode))
        session.send(stomp.Frame("CONNECT", tuple(headers)), "STOMP CONNECT")
        connected = session.receive("STOMP CONNECT")
        if connected.command != "CONNECTED":
            raise ProbeFailure(Cause.PROTOCOL, f"expected CONNECTED after CONNECT, got {connected.command}",
                               phase="STOMP CONNECT")
        version = connected.header("version") or "1.0"
        ev.fact("stomp.version", version)
        if connected.header("server"):
            ev.fact("stomp.server", connected.header("server") or "")
        if version != "1.2":
            raise ProbeFailure(Cause.SEMANTIC, f"expected STOMP 1.2, the broker negotiated {version}",
                               phase="STOMP CONNECT")
        ev.fact("stomp.destination", destination)
        started = time.monotonic()
        session.send(stomp.Frame("SUBSCRIBE", (("id", "gvpconf-0"), ("destination", destination),
                                               ("ack", "auto"), ("receipt", "sub"))), "SUBSCRIBE")
        _expect_receipt(session.receive("SUBSCRIBE"), "sub")
        body = f"gvpconf conformance probe {probe_id}".encode()
        expires = int((time.time() + dest.message_ttl) * 1000)
        session.send(stomp.Frame("SEND", (("destination", destination), ("receipt", "send"),
                                          ("persistent", "false"), ("expires", str(expires)),
                                          ("content-type", "text/plain"), ("gvpconf-probe-id", probe_id)),
                                 body), "SEND")
        got_receipt = got_message = False
        received_bytes = 0
        while not (got_receipt and got_message):
            frame = session.receive("waiting for the message and its receipt")
            if frame.command == "RECEIPT" and frame.header("receipt-id") == "send":
                got_receipt = True
            elif frame.command == "MESSAGE":
                if frame.header("subscription") != "gvpconf-0":
                    raise ProbeFailure(Cause.PROTOCOL, "MESSAGE for a subscription we did not make: "
                                       f"{frame.header('subscription')!r}", phase="MESSAGE")
                if frame.body != body:
                    raise ProbeFailure(Cause.SEMANTIC, f"the message came back altered: sent {len(body)} "
                                       f"bytes, received {len(frame.body)}", phase="MESSAGE")
                got_message = True
                received_bytes = len(frame.body)
            else:
                raise ProbeFailure(Cause.PROTOCOL, f"unexpected {frame.command} frame during the round trip",
                                   phase="MESSAGE")
        ev.fact("stomp.round_trip_ms", round((time.monotonic() - started) * 1000, 2))
        ev.fact("stomp.received", "1 of 1")
        ev.fact("stomp.sent_bytes", len(body))
        ev.fact("stomp.received_bytes", received_bytes)
        session.send(stomp.Frame("UNSUBSCRIBE", (("id", "gvpconf-0"),)), "UNSUBSCRIBE")
        session.send(stomp.Frame("DISCONNECT", (("receipt", "bye"),)), "DISCONNECT")
        _expect_receipt(session.receive("DISCONNECT"), "bye")
    finally:
        session.close()


def _expect_receipt(frame: stomp.Frame, receipt: str) -> None:
    if frame.command != "RECEIPT" or frame.header("receipt-id") != receipt:
        raise ProbeFailure(Cause.PROTOCOL, f"expected RECEIPT {receipt!r}, got {frame.command} "
                           f"{frame.header('receipt-id') or ''}".rstrip(), phase=receipt)
