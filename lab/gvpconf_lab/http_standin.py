"""What the lab's HTTP stand-ins share (Consul's API in ``data_consul``, the Kubernetes API in ``standin_api``).

``RoutingHandler`` sends every request method to one ``route(method)``, replies with a Content-Length
and reads a request body whole; ``InThread`` serves a server from a daemon thread and, on ``stop()``,
shuts it down, closes it and checks that the thread really ended.
"""

from __future__ import annotations

import http.server
import socketserver
import threading
from collections.abc import Mapping


class RoutingHandler(http.server.BaseHTTPRequestHandler):
    def route(self, method: str) -> None:
        """Answer the request (``self.path``, ``self.headers``); every method comes here."""
        raise NotImplementedError

    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def do_PUT(self) -> None:
        self.route("PUT")

    def do_PATCH(self) -> None:
        self.route("PATCH")

    def do_DELETE(self) -> None:
        self.route("DELETE")

    def reply(self, code: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        """The whole request body (so a refused request leaves nothing behind in a kept-alive stream)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class InThread:
    """``server`` served from a daemon thread named ``name``."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Shut the server down and close it; raises RuntimeError if its thread did not end."""
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.thread.is_alive():
            raise RuntimeError(f"{self.thread.name}: the server thread did not stop")
