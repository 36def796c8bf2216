"""Servers of the web area's lab, built on the real libraries, each runnable as its own process::

    python -m gvpconf_lab.web_servers metrics --port N --families rmPRStatus,rmPRActiveCalls
    python -m gvpconf_lab.web_servers nexus --port N --cert C --key K --token-file F --subprotocol S --path P
    python -m gvpconf_lab.web_servers tts --port N --cert C --key K --public-key F [--no-service]
    python -m gvpconf_lab.web_servers proxy --port N --log F

* ``metrics``: a prometheus_client registry with GVP-like families, served by prometheus_client's own server.
* ``nexus``: STAND-IN for Genesys Nexus: a TLS WebSocket server on the websockets library (the real protocol)
  that enforces the auth header (401 missing, 403 wrong), the path (404) and the subprotocol, and echoes.
* ``tts``: STAND-IN for texttospeech.googleapis.com: a grpcio TLS server with the real
  ``google.cloud.texttospeech.v1.TextToSpeech`` service definition (ListVoices), which requires a bearer JWT
  signed by the lab's service-account key (UNAUTHENTICATED otherwise; each token checked in full by google-auth
  the first time, its verdict kept until its exp), and the standard ``grpc.health.v1.Health`` service (SERVING;
  blackbox_exporter's grpc prober calls it in the bench). ``--no-service``: same server without either service
  (every call UNIMPLEMENTED).
* ``proxy``: a forward HTTP proxy (absolute-form requests and CONNECT tunnels) that logs every request line,
  so tests can prove the probes really went through it.

The same builders (``nexus_server``, ``tts_server``) run in-process in the project's own negative tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TTS_SERVICE = "google.cloud.texttospeech.v1.TextToSpeech"
TTS_AUDIENCE = "https://texttospeech.googleapis.com/"
#: the standard gRPC health service, which blackbox_exporter's grpc prober calls
HEALTH_SERVICE = "grpc.health.v1.Health"
#: HealthCheckResponse {status: SERVING (1)}
HEALTH_SERVING = b"\x08\x01"
VOICES = (("en-US", "en-US-Standard-A", "FEMALE"), ("en-US", "en-US-Standard-B", "MALE"),
          ("fr-FR", "fr-FR-Standard-A", "FEMALE"), ("de-DE", "de-DE-Standard-A", "FEMALE"))


# -- metrics ---------------------------------------------------------------------------------------------------

def serve_metrics(host: str, port: int, families: Sequence[str]) -> Any:
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

    registry = CollectorRegistry()
    for i, name in enumerate(families):
        if name.endswith("TotalCalls"):
            Counter(name, f"{name} (gvpconf lab)", registry=registry).inc(10 + i)
        else:
            Gauge(name, f"{name} (gvpconf lab)", registry=registry).set(i + 1)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


# -- Nexus stand-in ---------------------------------------------------------------------------------------------

def server_context(cert: Path, key: Path, alpn: Sequence[str] = ("http/1.1",)) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def nexus_server(host: str, port: int, *, ssl_context: ssl.SSLContext | None, token: str, subprotocol: str,
                 path: str = "/", header: str = "Authorization", scheme: str = "Bearer",
                 force_status: int | None = None, select_subprotocol: bool = True) -> Any:
    """A websockets server (call ``serve_forever()`` in a thread, ``shutdown()`` to stop)."""
    from websockets.sync.server import ServerConnection, serve
    from websockets.typing import Subprotocol

    expected = f"{scheme} {token}".strip()

    def process_request(connection: ServerConnection, request: Any) -> Any:
        if force_status is not None:
            return connection.respond(http.HTTPStatus(force_status), "gvpconf lab: forced status\n")
        if request.path.split("?")[0] != path:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no WebSocket endpoint here\n")
        got = request.headers.get(header)
        if got is None:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing credentials\n")
        if got != expected:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "invalid credentials\n")
        return None

    def choose(_connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return Subprotocol(subprotocol) if select_subprotocol and subprotocol in offered else None

    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for message in ws:
                ws.send(message)

    return serve(handler, host, port, ssl=ssl_context, process_request=process_request,
                 select_subprotocol=choose, compression=None, ping_interval=None)


# -- Google TTS stand-in ----------------------------------------------------------------------------------------

def tts_server(host: str, port: int, *, cert: Path, key: Path, public_key_pem: str | None,
               with_service: bool = True) -> tuple[Any, int]:
    """A started grpcio server (``stop(0)`` to stop) and its port (``port=0``: a free one)."""
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]
    from google.cloud.texttospeech_v1.types import cloud_tts

    # tokens google-auth verified (signature, algorithm, audience, iat, exp), until their exp: a token comes back
    # on every call of its hour, and a front end caches its verdict (Envoy's jwt_authn jwt_cache_config) rather
    # than check the RSA signature again; a token is verified in full the first time it is seen
    verified: dict[str, float] = {}

    def list_voices(request: Any, context: Any) -> Any:
        auth = dict(context.invocation_metadata()).get("authorization", "")
        if not auth.startswith("Bearer "):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "Request is missing required authentication credential.")
        token = auth[7:]
        expires = verified.get(token)
        if expires is None or expires < time.time():  # expired since: checked again, and refused by google-auth
            try:
                from google.auth import jwt

                claims = jwt.decode(token, certs=public_key_pem, audience=TTS_AUDIENCE)  # type: ignore[no-untyped-call]
                until = float(claims["exp"])  # an exp float() cannot hold is refused, not kept
            except Exception as exc:  # any invalid token
                context.abort(grpc.StatusCode.UNAUTHENTICATED, f"Request had invalid authentication credentials: "
                              f"{type(exc).__name__}")
            if len(verified) >= 64:
                verified.clear()
            verified[token] = until
        return answers(request.language_code)

    @functools.lru_cache(maxsize=64)
    def answers(language_code: str) -> bytes:
        # the serialized ListVoicesResponse of a language code, built once: the voices are fixed, and a server
        # that builds proto-plus messages on every call spends more than its JWT check (the bench times the call)
        voices = [cloud_tts.Voice(language_codes=[lang], name=name,
                                  ssml_gender=getattr(cloud_tts.SsmlVoiceGender, gender),
                                  natural_sample_rate_hertz=24000)
                  for lang, name, gender in VOICES if not language_code or lang == language_code]
        return bytes(cloud_tts.ListVoicesResponse.serialize(cloud_tts.ListVoicesResponse(voices=voices)))

    def health_check(request: bytes, context: Any) -> bytes:
        # grpc.health.v1.Health/Check (grpc/grpc doc/health-checking.md): HealthCheckRequest {string service = 1}
        # raw (no generated module); "" (the server) or the TTS service: SERVING, another service: NOT_FOUND
        try:
            service = _health_service(request)
        except ValueError as exc:  # what protobuf's parser refuses: INVALID_ARGUMENT, never SERVING
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed HealthCheckRequest: {exc}")
        if service not in ("", TTS_SERVICE):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {service}")
        return HEALTH_SERVING

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if with_service:
        handler = grpc.unary_unary_rpc_method_handler(
            list_voices, request_deserializer=cloud_tts.ListVoicesRequest.deserialize)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(TTS_SERVICE,
                                                                             {"ListVoices": handler}),))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(HEALTH_SERVICE, {
            "Check": grpc.unary_unary_rpc_method_handler(health_check)}),))
    creds = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
    bound = server.add_secure_port(f"{host}:{port}", creds)
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    server.start()
    return server, bound


def _health_service(request: bytes) -> str:
    """The ``service`` of a serialized HealthCheckRequest, read by protobuf itself (the lab's, from
    google-cloud-texttospeech): ``StringValue`` has HealthCheckRequest's layout (field 1, a string), so no generated
    health module is needed. What protobuf refuses is a ValueError."""
    from google.protobuf import message, wrappers_pb2  # type: ignore[import-untyped]

    try:
        return str(wrappers_pb2.StringValue.FromString(request).value)
    except message.DecodeError as exc:
        raise ValueError(str(exc) or "not a HealthCheckRequest") from None


# -- forward proxy -----------------------------------------------------------------------------------------------

class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def _log(self, line: str) -> None:
        with self.server.lock, open(self.server.log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def handle(self) -> None:
        self.connection.settimeout(10)
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if not line:
            return
        head: list[str] = []
        while True:
            h = self.rfile.readline(8192).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            head.append(h)
        method, target, _version = [*line.split(" ", 2), "", ""][:3]
        self._log(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(upstream)
            return
        if not target.startswith("http://"):
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        rest = target[len("http://"):]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "80")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        kept = [h for h in head if not h.lower().startswith(("proxy-", "connection:"))]
        upstream.sendall(f"{method} /{path} HTTP/1.1\r\n".encode("latin-1") + "".join(kept).encode("latin-1")
                         + b"Connection: close\r\nVia: 1.1 gvpconf-lab-proxy\r\n\r\n")
        # RFC 9110 §7.6.3: a proxy adds Via to the response it forwards too
        upstream.settimeout(10)
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in answer and len(answer) < 65536:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head_end = answer.find(b"\r\n\r\n")
        if head_end >= 0:
            answer = answer[:head_end] + b"\r\nVia: 1.1 gvpconf-lab-proxy" + answer[head_end:]
        self.wfile.write(answer)
        self._pipe(upstream)

    def _pipe(self, upstream: socket.socket) -> None:
        with upstream:
            socks = [self.connection, upstream]
            while True:
                readable, _, _ = select.select(socks, [], [], 10)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], log_path: Path) -> None:
        super().__init__(address, _ProxyHandler)
        self.log_path = log_path
        self.lock = threading.Lock()


def proxy_server(host: str, port: int, log_path: Path) -> _ProxyServer:
    return _ProxyServer((host, port), log_path)


# -- command line ------------------------------------------------------------------------------------------------

def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.web_servers")
    sub = parser.add_subparsers(dest="which", required=True)
    for name in ("metrics", "nexus", "tts", "proxy"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        if name == "metrics":
            p.add_argument("--families", required=True)
        if name in ("nexus", "tts"):
            p.add_argument("--cert", type=Path, required=True)
            p.add_argument("--key", type=Path, required=True)
        if name == "nexus":
            p.add_argument("--token-file", type=Path, required=True)
            p.add_argument("--subprotocol", required=True)
            p.add_argument("--path", default="/")
        if name == "tts":
            p.add_argument("--public-key", type=Path)
            p.add_argument("--no-service", action="store_true")
        if name == "proxy":
            p.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.which == "metrics":
        server = serve_metrics(args.host, args.port, args.families.split(","))
        print(f"metrics on {args.host}:{args.port}: {args.families}", flush=True)
        _wait_for_signal()
        server.shutdown()
    elif args.which == "nexus":
        ws = nexus_server(args.host, args.port, ssl_context=server_context(args.cert, args.key),
                          token=args.token_file.read_text().strip(), subprotocol=args.subprotocol, path=args.path)
        thread = threading.Thread(target=ws.serve_forever, daemon=True)
        thread.start()
        print(f"nexus stand-in (wss) on {args.host}:{args.port}{args.path}", flush=True)
        _wait_for_signal()
        ws.shutdown()
    elif args.which == "tts":
        pem = args.public_key.read_text() if args.public_key else None
        grpc_server, _port = tts_server(args.host, args.port, cert=args.cert, key=args.key, public_key_pem=pem,
                                 with_service=not args.no_service)
        print(f"TextToSpeech stand-in (gRPC/TLS) on {args.host}:{args.port}", flush=True)
        _wait_for_signal()
        grpc_server.stop(0)
    else:
        proxy = proxy_server(args.host, args.port, args.log)
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        print(f"HTTP proxy on {args.host}:{args.port}, log {args.log}", flush=True)
        _wait_for_signal()
        proxy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
