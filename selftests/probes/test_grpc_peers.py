"""The gRPC probe (22) against scripted peers behind a real TLS handshake with ALPN ``h2``: each one speaks
HTTP/2 (``h2``, server side) and breaks one rule of gRPC over HTTP/2 (grpc/grpc ``doc/PROTOCOL-HTTP2.md``), or
follows it where the lab's two gRPC servers do not go (Trailers-Only with each status, a message split over
DATA frames, a percent-encoded grpc-message). Never a false pass; each failure has its cause. The request the
probe sends is checked against the specification here too (the servers record it)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import GoogleTtsDestination, Secret, TlsSettings
from gvpconf.wire import grpc as wire
from gvpconf_lab.tlsca import CA, make_ca
from gvpconf_lab.web import TTS_NAME, service_account_key
from gvpconf_lab.web_servers import server_context
from selftests.probes.test_web_probes import failed, run

#: what a scripted server does once it has the whole request: (its connection, the stream) -> nothing
Script = Callable[[h2.connection.H2Connection, int], None]

OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]
VOICES = wire.ListVoicesResponse((wire.Voice(("en-US",), "en-US-Standard-A", 2, 24000),))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return make_ca(tmp_path_factory.mktemp("grpc-peers-ca"))


@pytest.fixture(scope="module")
def tls_files(ca: CA) -> tuple[Path, Path]:
    return ca.issue("grpc-peer", dns=[TTS_NAME], ips=[])


def dest(ca: CA) -> GoogleTtsDestination:
    return GoogleTtsDestination(tls=TlsSettings(ca_file=ca.ca_cert, server_name=TTS_NAME))


class Peer:
    """One TLS listener (ALPN h2) on loopback; each connection runs ``serve``. Records the requests' headers."""

    def __init__(self, tls_files: tuple[Path, Path], serve: Callable[[ssl.SSLSocket, Peer], None]) -> None:
        self.context = server_context(*tls_files, alpn=("h2",))
        self.serve = serve
        self.requests: list[dict[str, str]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError, ssl.SSLError, h2.exceptions.H2Error), raw:
                raw.settimeout(5)
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    self.serve(tls, self)


@contextlib.contextmanager
def peer(tls_files: tuple[Path, Path], serve: Callable[[ssl.SSLSocket, Peer], None]) -> Iterator[Peer]:
    p = Peer(tls_files, serve)
    p.thread.start()
    try:
        yield p
    finally:
        p.stop.set()
        p.listener.close()
        p.thread.join(5)


def h2_script(script: Script) -> Callable[[ssl.SSLSocket, Peer], None]:
    """An HTTP/2 server (h2) that reads one whole request, records its headers, runs ``script``, flushes, and
    keeps the connection until the client closes it."""

    def serve(tls: ssl.SSLSocket, p: Peer) -> None:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False,
                                                                           header_encoding="utf-8"))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        headers: dict[str, str] = {}
        done = False
        while True:
            data = tls.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = dict(event.headers)
                    p.requests.append(headers)
                elif isinstance(event, h2.events.StreamEnded) and not done:
                    done = True
                    script(conn, event.stream_id)
            tls.sendall(conn.data_to_send())

    return serve


def raw_bytes(reply: bytes) -> Callable[[ssl.SSLSocket, Peer], None]:
    """A TLS server (ALPN h2) that sends ``reply`` after the handshake, whatever the client says."""

    def serve(tls: ssl.SSLSocket, p: Peer) -> None:
        tls.sendall(reply)
        with contextlib.suppress(OSError):
            while tls.recv(65536):
                pass

    return serve


def trailers_only(status: int, message: str = "") -> Script:
    def script(conn: h2.connection.H2Connection, stream: int) -> None:
        extra = [("grpc-message", message)] if message else []
        conn.send_headers(stream, [*OK_HEADERS, ("grpc-status", str(status)), *extra], end_stream=True)

    return script


def answer(body: bytes | None, trailers: list[tuple[str, str]] | None, split: int = 0,
           headers: list[tuple[str, str]] | None = None) -> Script:
    """Response-Headers, ``body`` in DATA frames of ``split`` bytes (0: one frame), then ``trailers`` (None:
    END_STREAM on the last DATA frame instead)."""

    def script(conn: h2.connection.H2Connection, stream: int) -> None:
        conn.send_headers(stream, headers or OK_HEADERS)
        chunks = [body[i : i + split] for i in range(0, len(body), split)] if body and split else [body or b""]
        for n, chunk in enumerate(chunks):
            conn.send_data(stream, chunk, end_stream=trailers is None and n == len(chunks) - 1)
        if trailers is not None:
            conn.send_headers(stream, trailers, end_stream=True)

    return script


def probe(ca: CA, port: int, creds: bool = False, timeouts: Timeouts | None = None) -> Any:
    secrets = {"credentials": Secret(service_account_key()[0])} if creds else None
    kwargs = {"timeouts": timeouts} if timeouts is not None else {}
    return run("grpc.tts_list_voices", 22, dest(ca), "127.0.0.1", port, secrets, **kwargs)


# -- what passes ---------------------------------------------------------------------------------------------------

def test_a_conforming_answer_split_over_data_frames_lists_voices(ca: CA, tls_files: tuple[Path, Path]) -> None:
    body = wire.encode_message(VOICES.encode())
    with peer(tls_files, h2_script(answer(body, [("grpc-status", "0")], split=7))) as p:
        r = probe(ca, p.port, creds=True)
    assert r.ok, r.failure
    assert r.evidence.facts["grpc.status"] == "OK" and r.evidence.facts["tts.voices"] == 1
    assert r.evidence.facts["tts.first_voice"] == "en-US-Standard-A"
    request = p.requests[0]
    # the request as the specification writes it
    assert request[":method"] == "POST" and request[":scheme"] == "https"
    assert request[":path"] == "/google.cloud.texttospeech.v1.TextToSpeech/ListVoices"
    assert request[":authority"] == TTS_NAME and request["te"] == "trailers"
    assert request["content-type"] == "application/grpc"
    timeout = request["grpc-timeout"]
    assert 1 <= len(timeout) <= 9 and timeout[:-1].isdigit() and timeout[-1] in "HMSmun"
    assert request["authorization"].startswith("Bearer ") and request["authorization"].count(".") == 2
    names = list(request)
    assert names.index("grpc-timeout") == 4, names  # right after the pseudo-headers, as the spec asks


def test_trailers_only_unauthenticated_without_credentials_proves_the_path(ca: CA,
                                                                           tls_files: tuple[Path, Path]) -> None:
    script = trailers_only(16, "Request%20is%20missing%20required%20authentication%20credential.")
    with peer(tls_files, h2_script(script)) as p:
        r = probe(ca, p.port)
    assert r.ok, r.failure
    assert r.evidence.facts["grpc.auth"] == "unauthenticated-path-proven"
    assert "authorization" not in p.requests[0]


# -- what fails, and why -------------------------------------------------------------------------------------------

STATUS_CASES = [
    (16, True, Cause.AUTH, "missing required"),
    (7, True, Cause.AUTH, "PERMISSION_DENIED"),
    (12, False, Cause.SEMANTIC, "UNIMPLEMENTED"),
    (4, False, Cause.TIMEOUT, "DEADLINE_EXCEEDED"),
    (14, False, Cause.PROTOCOL, "UNAVAILABLE"),
    (13, False, Cause.SEMANTIC, "INTERNAL"),
    (99, False, Cause.SEMANTIC, "UNKNOWN (99)"),
]


@pytest.mark.parametrize(("status", "creds", "cause", "word"), STATUS_CASES)
def test_trailers_only_statuses(ca: CA, tls_files: tuple[Path, Path], status: int, creds: bool, cause: Cause,
                                word: str) -> None:
    with peer(tls_files, h2_script(trailers_only(status, "Request%20is%20missing%20required"))) as p:
        r = probe(ca, p.port, creds=creds)
    failed(r, cause, word)


PROTOCOL_CASES: dict[str, tuple[Callable[[ssl.SSLSocket, Peer], None], str]] = {
    "HTTP/2 web server (404 text/html)": (h2_script(answer(b"<html>not found</html>", None, headers=[
        (":status", "404"), ("content-type", "text/html")])), "not a gRPC server"),
    "HTTP/2 web server (200 text/html)": (h2_script(answer(b"<html>hello</html>", None, headers=[
        (":status", "200"), ("content-type", "text/html")])), "text/html"),
    "proxy 503 before gRPC": (h2_script(answer(b"upstream down", None, headers=[
        (":status", "503"), ("content-type", "text/plain")])), "UNAVAILABLE"),
    "no trailers (END_STREAM on DATA)": (h2_script(answer(wire.encode_message(VOICES.encode()), None)),
                                         "grpc-status"),
    "trailers without grpc-status": (h2_script(answer(wire.encode_message(VOICES.encode()),
                                                      [("x-other", "1")])), "grpc-status"),
    "grpc-status not a number": (h2_script(answer(None, [("grpc-status", "OK")])),
                                 "decimal"),
    "OK without a message": (h2_script(answer(None, [("grpc-status", "0")])), "0 messages"),
    "OK with two messages": (h2_script(answer(wire.encode_message(b"") * 2, [("grpc-status", "0")])),
                             "2 messages"),
    "OK with a broken protobuf": (h2_script(answer(wire.encode_message(b"\x0a\x09short"), [("grpc-status", "0")])),
                                  "malformed"),
    "message cut short": (h2_script(answer(wire.encode_message(VOICES.encode())[:-3], [("grpc-status", "0")])),
                          "inside a gRPC message"),
    "bad Compressed-Flag": (h2_script(answer(b"\x07\x00\x00\x00\x00", [("grpc-status", "0")])), "Compressed-Flag"),
    "RST_STREAM": (h2_script(lambda conn, stream: conn.reset_stream(stream, 2)), "reset the stream"),
    "GOAWAY before our stream": (h2_script(lambda conn, stream: conn.close_connection(0, last_stream_id=0)),
                                 "GOAWAY"),
    "garbage after TLS": (raw_bytes(bytes(range(256)) * 4), "HTTP/2"),
    "HTTP/1.1 after ALPN h2": (raw_bytes(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), "HTTP/2"),
    "closes after TLS": (lambda tls, p: None, "closed the connection"),
}


@pytest.mark.parametrize("case", PROTOCOL_CASES)
def test_peers_that_break_grpc_over_http2_are_protocol(ca: CA, tls_files: tuple[Path, Path], case: str) -> None:
    serve, word = PROTOCOL_CASES[case]
    with peer(tls_files, serve) as p:
        r = probe(ca, p.port, creds=True)
    failed(r, Cause.PROTOCOL, word)


def test_silent_after_tls_is_a_timeout_within_the_budget(ca: CA, tls_files: tuple[Path, Path]) -> None:
    def silent(tls: ssl.SSLSocket, p: Peer) -> None:
        with contextlib.suppress(OSError):
            while tls.recv(65536):
                pass

    with peer(tls_files, silent) as p:
        r = probe(ca, p.port, timeouts=Timeouts(connect=1.0, read=0.5, probe=2.0))
    failed(r, Cause.TIMEOUT)
