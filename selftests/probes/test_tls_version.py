"""The minimum TLS version is enforced: a server that tops out below it fails with cause ``tls``."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from gvpconf.errors import Cause
from gvpconf.inventory.web import OrsDestination, TlsSettings
from gvpconf_lab import Lab
from selftests.probes.test_web_probes import failed, run


@pytest.fixture
def tls12_only_server(lab: Lab) -> Iterator[int]:
    """An HTTPS server (lab CA certificate for localhost) that speaks TLS 1.2 at most and answers 200."""
    cert, key = lab.ca.issue("tls12-only")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.settimeout(2)
                        tls.recv(65536)
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=serve, name="tls12-only", daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_tls12_server_passes_with_the_default_minimum(lab: Lab, tls12_only_server: int) -> None:
    dest = OrsDestination(scheme="https", path="/", tls=TlsSettings(ca_file=lab.ca.ca_cert), http2=False)
    result = run("http.ors", 11, dest, "localhost", tls12_only_server)
    assert result.ok, result.failure
    assert result.evidence.facts["tls.version"] == "TLSv1.2"


def test_tls12_server_fails_a_tls13_minimum(lab: Lab, tls12_only_server: int) -> None:
    dest = OrsDestination(scheme="https", path="/", tls=TlsSettings(ca_file=lab.ca.ca_cert, min_version="TLSv1.3"),
                          http2=False)
    failed(run("http.ors", 11, dest, "localhost", tls12_only_server), Cause.TLS)
