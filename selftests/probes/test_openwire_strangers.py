"""activemq.openwire against peers that speak OpenWire but are not our session's broker: a replayed session, a
peer that answers with the wrong correlation ids, one that dispatches another producer's message, one that
answers without ever dispatching. Each must fail, with the expectation that broke; a faithful one passes.

The scripted peers use the project's own codec (``gvpconf.wire.openwire``) over a socket of the impostor server.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import ActiveMQDestination, Secret, Target
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf.wire import openwire
from gvpconf.wire.openwire import Structure
from gvpconf_lab import impostors

BROKER_WFI = openwire.WireFormatInfo(12, {"ProviderName": "ActiveMQ", "ProviderVersion": "5.17.2",
                                          "StackTraceEnabled": False, "TightEncodingEnabled": False,
                                          "CacheEnabled": False})

Script = Callable[[Structure], list[Structure] | None]  # None: close the connection


def broker(behaviour: str) -> Script:
    """What the scripted peer answers to each command it receives."""
    state: dict[str, Any] = {}

    def answer(cmd: Structure) -> list[Structure] | None:
        if behaviour == f"closes-on-{cmd.name}":
            return None
        out: list[Structure] = []
        if cmd.name == "ActiveMQBytesMessage":
            state["message"] = cmd
        cid = cmd.number("command_id")
        if cmd["response_required"]:
            correlation = {"replay": 1 + len(state.setdefault("seen", [])), "off-by-one": cid + 1}.get(behaviour, cid)
            state.setdefault("seen", []).append(cid)
            out.append(Structure.of("Response", correlation_id=correlation))
        if cmd.name == "ConsumerInfo" and behaviour != "never-dispatches":
            message = state["message"]
            if behaviour == "stranger-message":
                stranger = Structure.of("ProducerId", connection_id="ID:someone-else-1", value=1, session_id=1)
                message = Structure(message.data_type, {**message.fields, "message_id": Structure.of(
                    "MessageId", producer_id=stranger, producer_sequence_id=1)})
            out.append(Structure.of("MessageDispatch", consumer_id=cmd["consumer_id"],
                                    destination=cmd["destination"], message=message))
        return out

    return answer


def serve(script: Script) -> impostors._TcpImpostor:
    decoders: dict[int, openwire.OpenWireDecoder] = {}

    def on_accept(conn: socket.socket) -> impostors.Action:
        decoders[conn.fileno()] = openwire.OpenWireDecoder()
        conn.sendall(openwire.encode_wireformat_info(BROKER_WFI))
        return "keep"

    def on_data(conn: socket.socket, data: bytes) -> impostors.Action:
        decoder = decoders[conn.fileno()]
        decoder.feed(data)
        while (frame := decoder.next_message()) is not None:
            if frame.data_type == openwire.WIREFORMAT_INFO:
                continue
            replies = script(openwire.decode_command(frame))
            if replies is None:
                return "close"
            for reply in replies:
                conn.sendall(openwire.encode_command(reply))
        return "keep"

    return impostors._TcpImpostor("openwire-script", on_accept=on_accept, on_data=on_data)


def run(address: tuple[str, int]) -> ProbeResult:
    target = Target(host=address[0], port=address[1], name="scripted")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(8), target=target, destination=ActiveMQDestination(),
                            secrets={"username": "gvp-rs", "password": Secret("pw")}, deadline=deadline)

    result = run_job(Job("activemq.openwire", Timeouts(connect=1.0, read=1.0, probe=3.0), make))
    assert result.error is None, repr(result.error)
    return result


def test_a_faithful_scripted_broker_passes() -> None:
    """The control: the same script, answering as a broker does, passes (so the failures below are the rules')."""
    with serve(broker("faithful")) as address:
        result = run(address)
    assert result.ok, result.failure
    assert result.evidence.facts["openwire.received"] == "1 of 1"


@pytest.mark.parametrize(("behaviour", "cause", "words"), [
    ("replay", Cause.PROTOCOL, "correlated with command"),  # a recorded session's Responses: ids 1, 2, 3...
    ("off-by-one", Cause.PROTOCOL, "not our request"),
    ("stranger-message", Cause.SEMANTIC, "another producer"),
    ("never-dispatches", Cause.TIMEOUT, "waiting for our message"),
    # ActiveMQ refusing a login may close before its ExceptionResponse is written (Debian's stock broker, now and
    # then, with a wrong password): a close on our ConnectionInfo is the login refused; on a later step, not
    ("closes-on-ConnectionInfo", Cause.AUTH, "instead of answering our ConnectionInfo (login as gvp-rs)"),
    ("closes-on-SessionInfo", Cause.PROTOCOL, "peer closed the connection during SessionInfo response"),
])
def test_strangers_never_pass(behaviour: str, cause: Cause, words: str) -> None:
    with serve(broker(behaviour)) as address:
        result = run(address)
    assert result.failure is not None, f"FALSE PASS: {behaviour}: {result.evidence.facts}"
    assert result.failure.cause is cause, result.failure
    assert words in str(result.failure), result.failure
