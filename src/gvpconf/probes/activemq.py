"""ActiveMQ probers (connections 3 and 8): the RS broker at depth, in OpenWire (what the RM and MCP speak).

``activemq.openwire``: an OpenWire session as an ActiveMQ JMS client drives it. Both sides exchange a
WireFormatInfo (magic ``ActiveMQ``; we send ours first: a broker on an ``auto://`` transport waits for the
client's first bytes, one on ``tcp://`` sends its own at once). We announce version 12 with tight encoding,
the marshalling cache and stack traces off, so the session is in the loose encoding at
``min(12, broker's version)``, which must be 10-12 (``openwire.VERSIONS``; ActiveMQ 5.9 and later). Then:
ConnectionInfo with the inventory's credentials (a SecurityException in the ExceptionResponse is ``auth``),
SessionInfo, a temporary queue of the connection's own (DestinationInfo), ProducerInfo, one non-persistent
BytesMessage with a TTL (``message_ttl``), ConsumerInfo; the same message must come back in a MessageDispatch
to our consumer, from our producer, with our bytes; MessageAck; then RemoveInfo of consumer and producer, the
temporary queue removed, RemoveInfo of session and connection, ShutdownInfo. Every request wants a Response
correlated with its command id (the first one random), so an echo, a replay or another client's traffic never
passes. Nothing is left on the broker: the queue is the connection's own and removed, the message acked.

``activemq.stomp`` (only where ``stomp_port`` is set): an authenticated STOMP 1.2 session: CONNECT (login by
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
from gvpconf.errors import Cause, PeerClosed, ProbeFailure
from gvpconf.inventory import ActiveMQDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.wire import WireError, banner, openwire, stomp

#: properties of the broker's WireFormatInfo worth recording
_RECORDED = ("ProviderName", "ProviderVersion", "PlatformDetails", "MaxInactivityDuration",
             "TightEncodingEnabled", "CacheEnabled", "MaxFrameSize", "StackTraceEnabled")

_AUTH_WORDS = ("password", "credential", "user name", "username", "login", "authenticat", "not authorized",
               "security", "passcode")


def probe_openwire(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, ActiveMQDestination)
    session = _OpenWireSession(ctx)
    try:
        session.handshake()
        session.round_trip(dest.message_ttl)
    finally:
        session.close()


#: broker commands that may arrive at any time and say nothing about our requests (CommandTypes)
_UNSOLICITED = frozenset({"BrokerInfo", "KeepAliveInfo", "ConnectionControl", "ConsumerControl", "ProducerAck",
                          "ControlCommand"})
STANDARD_ACK = 2  # MessageAck.STANDARD_ACK_TYPE
ADD, REMOVE = 0, 1  # DestinationInfo operation types


class _OpenWireSession:
    """One OpenWire connection, as an ActiveMQ JMS client drives it: every request that wants an answer carries
    a command id of ours and must be answered by a Response whose correlation id is that id."""

    def __init__(self, ctx: ProbeContext) -> None:
        self.ctx = ctx
        self.sock = ctx.connect()
        self.decoder = openwire.OpenWireDecoder()
        self.stack_traces = False
        # a random first command id: a Response recorded from another session cannot correlate with ours
        self.next_id = secrets.randbelow(1 << 30) + 1
        self.run_id = secrets.token_hex(6)
        self.connection_id = f"ID:gvpconf-{self.run_id}-1"
        self.dispatched: list[openwire.Structure] = []
        self._first = True

    def close(self) -> None:
        self.sock.close()

    # -- frames

    def _read(self, during: str) -> openwire.OpenWireFrame:
        check = _check_openwire_prefix if self._first else None
        self._first = False
        return net.read_message(self.sock, self.decoder, self.ctx.deadline, during, protocol="OpenWire",
                                malformed=f"malformed OpenWire frame during {during}", check_start=check,
                                start_size=13)

    def handshake(self) -> None:
        ev, dl = self.ctx.evidence, self.ctx.deadline
        ours = openwire.client_wireformat_info()
        data = openwire.encode_wireformat_info(ours)
        sent_at = time.monotonic()
        net.send_all(self.sock, data, dl, "sending WireFormatInfo")
        ev.sent(f"WireFormatInfo version={ours.version}")
        frame = self._read("WireFormatInfo")
        if openwire.encode_wireformat_info(ours)[4:] == bytes([frame.data_type]) + frame.body:
            raise ProbeFailure(Cause.PROTOCOL, f"{_NOT_WIREFORMAT_INFO}: the peer sent our own WireFormatInfo back "
                               "(an echo, not a broker)", phase="WireFormatInfo")
        try:
            info = openwire.parse_wireformat_info(frame)
        except WireError as exc:
            raise ProbeFailure(Cause.PROTOCOL, f"{_NOT_WIREFORMAT_INFO}: {exc}", phase="WireFormatInfo") from exc
        ev.fact("openwire.rtt_ms", round((time.monotonic() - sent_at) * 1000, 2))
        ev.fact("openwire.magic", "ActiveMQ")
        ev.received(f"WireFormatInfo version={info.version}")
        for name in _RECORDED:
            value = info.properties.get(name)
            if isinstance(value, str | int | float | bool):
                ev.fact(f"openwire.{name}", value)
        # OpenWireFormat.renegotiateWireFormat: the lower version, and each option only if both sides want it
        version = min(ours.version, info.version)
        ev.fact("openwire.broker_version", info.version)
        ev.fact("openwire.version", version)
        if version not in openwire.VERSIONS:
            raise ProbeFailure(Cause.SEMANTIC, f"the broker speaks OpenWire version {info.version}; the probe "
                               f"speaks versions {openwire.VERSIONS.start}-{openwire.VERSIONS.stop - 1} "
                               "(ActiveMQ 5.9 and later)", phase="WireFormatInfo")
        self.stack_traces = bool(info.properties.get("StackTraceEnabled")) and bool(
            ours.properties.get("StackTraceEnabled"))

    def send(self, command: openwire.Structure, show: str) -> None:
        self.ctx.evidence.sent(show)
        net.send_all(self.sock, openwire.encode_command(command, stack_traces=self.stack_traces),
                     self.ctx.deadline, f"sending {command.name}")

    def receive(self, during: str) -> openwire.Structure:
        """The next broker command; BrokerInfo and the like are noted and passed over."""
        while True:
            frame = self._read(during)
            try:
                command = openwire.decode_command(frame, stack_traces=self.stack_traces)
            except WireError as exc:
                raise ProbeFailure(Cause.PROTOCOL, f"malformed OpenWire command during {during}: {exc}",
                                   phase=during) from exc
            if command.name == "ConnectionError":
                error = command.throwable("exception")
                raise ProbeFailure(_cause_of(error), f"the broker sent ConnectionError during {during}: "
                                   f"{error.describe() if error else 'no exception'}", phase=during)
            if command.name == "BrokerInfo":
                self.ctx.evidence.received(f"BrokerInfo {command.text('broker_name')}")
                if command.text("broker_name"):
                    self.ctx.evidence.fact("openwire.broker_name", command.text("broker_name") or "")
                continue
            if command.name in _UNSOLICITED:
                self.ctx.evidence.received(command.name)
                continue
            return command

    def request(self, name: str, show: str, **fields: openwire.Value) -> None:
        """Send a command that wants a Response, and wait for the Response that correlates with it."""
        command_id = self.next_id
        self.next_id += 1
        try:
            command = openwire.Structure.of(name, command_id=command_id, response_required=True, **fields)
        except WireError as exc:
            raise ProbeFailure(Cause.CONFIG, f"cannot encode {name}: {exc}", phase=name) from exc
        self.send(command, f"{show} (command {command_id})")
        during = f"{name} response"
        while True:
            answer = self.receive(during)
            if answer.name == "MessageDispatch":  # a consumer's message may overtake its Response
                self.dispatched.append(answer)
                continue
            if answer.name not in ("Response", "ExceptionResponse"):
                raise ProbeFailure(Cause.PROTOCOL, f"expected a Response to {name} (command {command_id}), got "
                                   f"{answer.name}", phase=during)
            correlation = answer.number("correlation_id")
            if correlation != command_id:
                raise ProbeFailure(Cause.PROTOCOL, f"expected a Response correlated with command {command_id} "
                                   f"({name}), got one for command {correlation}: not our request",
                                   phase=during)
            if answer.name == "ExceptionResponse":
                error = answer.throwable("exception")
                self.ctx.evidence.received(f"ExceptionResponse to {command_id}: "
                                           f"{error.describe() if error else '-'}")
                raise ProbeFailure(_cause_of(error), f"the broker refused {name}: "
                                   f"{error.describe() if error else 'no exception given'}", phase=during)
            self.ctx.evidence.received(f"Response to {command_id}")
            return

    # -- the round trip

    def round_trip(self, ttl: float) -> None:
        ctx, ev = self.ctx, self.ctx.evidence
        S = openwire.Structure.of
        connection = S("ConnectionId", value=self.connection_id)
        user = ctx.secret("username") or "-"
        try:
            self.request("ConnectionInfo", f"ConnectionInfo {self.connection_id} user {user}",
                         connection_id=connection, client_id=f"gvpconf-{self.run_id}",
                         user_name=ctx.secret("username"), password=ctx.secret("password"))
        except PeerClosed as exc:
            # a broker that completed the WireFormatInfo exchange and closes on our login: ActiveMQ closes a
            # connection whose login it refused, and may close it before its ExceptionResponse is written (seen
            # against Debian's stock broker with a wrong password: now and then no response at all)
            raise ProbeFailure(Cause.AUTH, f"the broker closed the connection instead of answering our "
                               f"ConnectionInfo (login as {user}): how ActiveMQ ends a login it refuses; check the "
                               "username and password (and the broker's connection limits)",
                               phase="ConnectionInfo response") from exc
        ev.fact("openwire.login", "accepted")
        session = S("SessionId", connection_id=self.connection_id, value=1)
        self.request("SessionInfo", "SessionInfo 1", session_id=session)
        queue = S("ActiveMQTempQueue", physical_name=f"{self.connection_id}:1")
        ev.fact("openwire.destination", f"temp-queue://{self.connection_id}:1")
        self.request("DestinationInfo", "DestinationInfo add temp-queue", connection_id=connection,
                     destination=queue, operation_type=ADD)
        producer = S("ProducerId", connection_id=self.connection_id, session_id=1, value=1)
        self.request("ProducerInfo", "ProducerInfo 1", producer_id=producer, destination=queue)
        body = f"gvpconf conformance probe {self.run_id}".encode()
        now_ms = int(time.time() * 1000)
        message_id = S("MessageId", producer_id=producer, producer_sequence_id=1)
        started = time.monotonic()
        self.request("ActiveMQBytesMessage", f"message of {len(body)} bytes, non-persistent, TTL {ttl:g} s",
                     producer_id=producer, destination=queue, message_id=message_id, persistent=False,
                     expiration=now_ms + int(ttl * 1000), priority=4, timestamp=now_ms, content=body)
        consumer = S("ConsumerId", connection_id=self.connection_id, session_id=1, value=1)
        self.request("ConsumerInfo", "ConsumerInfo 1", consumer_id=consumer, destination=queue, prefetch_size=1,
                     dispatch_async=True)
        dispatch = self.dispatched.pop(0) if self.dispatched else self.receive("waiting for our message")
        received = _our_message(dispatch, consumer, producer, body)
        ev.received(f"MessageDispatch of {len(body)} bytes")
        ev.fact("openwire.round_trip_ms", round((time.monotonic() - started) * 1000, 2))
        ev.fact("openwire.received", "1 of 1")
        ev.fact("openwire.sent_bytes", len(body))
        ev.fact("openwire.received_bytes", len(body))
        self.request("MessageAck", "MessageAck standard", destination=queue, consumer_id=consumer,
                     ack_type=STANDARD_ACK, first_message_id=received, last_message_id=received, message_count=1)
        delivered = received.number("broker_sequence_id")
        self.request("RemoveInfo", "RemoveInfo consumer", object_id=consumer, last_delivered_sequence_id=delivered)
        self.request("RemoveInfo", "RemoveInfo producer", object_id=producer, last_delivered_sequence_id=-1)
        self.request("DestinationInfo", "DestinationInfo remove temp-queue", connection_id=connection,
                     destination=queue, operation_type=REMOVE)
        self.request("RemoveInfo", "RemoveInfo session", object_id=session, last_delivered_sequence_id=delivered)
        self.request("RemoveInfo", "RemoveInfo connection", object_id=connection,
                     last_delivered_sequence_id=delivered)
        self.send(openwire.Structure.of("ShutdownInfo", command_id=self.next_id), "ShutdownInfo")
        ev.fact("openwire.cleanup", "consumer, producer, temp queue, session and connection removed")


def _our_message(dispatch: openwire.Structure, consumer: openwire.Structure, producer: openwire.Structure,
                 body: bytes) -> openwire.Structure:
    """The MessageId of the dispatched message, after checking it is ours: our consumer, producer and bytes."""
    phase = "MessageDispatch"
    if dispatch.name != "MessageDispatch":
        raise ProbeFailure(Cause.PROTOCOL, f"expected the MessageDispatch of our message, got {dispatch.name}",
                           phase=phase)
    if dispatch.nested("consumer_id") != consumer:
        raise ProbeFailure(Cause.PROTOCOL, "MessageDispatch for a consumer we did not create", phase=phase)
    message = dispatch.nested("message")
    message_id = message.nested("message_id") if message is not None else None
    if message is None or message_id is None:
        raise ProbeFailure(Cause.SEMANTIC, "expected our message in the MessageDispatch, got none", phase=phase)
    if message_id.nested("producer_id") != producer or message_id.number("producer_sequence_id") != 1:
        raise ProbeFailure(Cause.SEMANTIC, "a message from another producer was dispatched to our consumer",
                           phase=phase)
    content = message.get("content")
    if content != body:
        size = len(content) if isinstance(content, bytes) else 0
        raise ProbeFailure(Cause.SEMANTIC, f"the message came back altered: sent {len(body)} bytes, received "
                           f"{size}", phase=phase)
    return message_id


def _cause_of(error: openwire.JavaThrowable | None) -> Cause:
    """A SecurityException (java.lang's, or JMS's JMSSecurityException) is the broker refusing our credentials
    or permissions; any other exception, a broker that speaks OpenWire and said no."""
    while error is not None:
        if (error.class_name or "").endswith("SecurityException"):
            return Cause.AUTH
        error = error.cause
    return Cause.SEMANTIC


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
    """STOMP on the broker's STOMP connector: the plugin gives this probe the targets at ``stomp_port``."""
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
