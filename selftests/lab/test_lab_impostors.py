"""Each impostor behaves as documented and leaves no thread behind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from gvpconf_lab import impostors
from gvpconf_lab.impostors import HTTP_400, wait_closed


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("impostor")]
    assert left == []


def _connect(addr: tuple[str, int], timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(addr, timeout=timeout)
    sock.settimeout(timeout)
    return sock


def test_silent_accepts_reads_and_never_answers() -> None:
    with impostors.silent() as addr, _connect(addr) as sock:
        sock.sendall(b"hello?\r\n" * 100)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_closer_closes_at_once() -> None:
    with impostors.closer() as addr, _connect(addr) as sock:
        assert sock.recv(1) == b""


def test_closer_can_reset() -> None:
    # the RST can beat the end of the client's own connect(): seen there or at recv(), it is a reset
    with impostors.closer(reset=True) as addr, pytest.raises(ConnectionResetError), _connect(addr) as sock:
        sock.recv(1)


def test_http_server_answers_any_bytes_with_400_and_closes() -> None:
    with impostors.http_server() as addr, _connect(addr) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # no banner: it waits for the client
        sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16/")  # a postgres SSLRequest, not HTTP
        data = wait_closed(sock, 2.0)
        assert data == HTTP_400
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_http_banner_server_greets_on_accept() -> None:
    with impostors.http_banner_server() as addr, _connect(addr) as sock:
        assert wait_closed(sock, 2.0).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_garbage_sends_64_bytes_on_accept_and_after_each_read() -> None:
    with impostors.garbage() as addr, _connect(addr) as sock:
        first = _recv_exactly(sock, 64)
        sock.sendall(b"CONNECT\n\n\0")
        second = _recv_exactly(sock, 64)
        assert first != second
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing more, and still open


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk
        data += chunk
    return data


def test_echo_echoes() -> None:
    with impostors.echo() as addr, _connect(addr) as sock:
        sock.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        assert _recv_exactly(sock, 25) == b"OPTIONS sip:x SIP/2.0\r\n\r\n"


def test_blackhole_connect_times_out() -> None:
    with impostors.blackhole() as addr:
        for _ in range(2):  # stays a blackhole
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                socket.create_connection(addr, timeout=1.0)
            assert 0.9 <= time.monotonic() - t0 <= 1.5


def test_refused_is_refused() -> None:
    with impostors.refused() as addr, pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=1.0)


def test_udp_silent_neither_answers_nor_refuses() -> None:
    with impostors.udp_silent() as addr, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(addr)
        sock.settimeout(0.5)
        for _ in range(3):
            sock.send(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        with pytest.raises(TimeoutError):  # not ConnectionRefusedError: something is bound
            sock.recv(1)


def test_exit_closes_open_client_connections() -> None:
    with impostors.silent() as addr:
        sock = _connect(addr)
    with sock:
        assert wait_closed(sock, 2.0) == b""
