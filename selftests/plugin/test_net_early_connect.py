"""``net.EarlyConnect``: a TCP connect begun before a probe loads the library that will connect by itself. It must
give the verdicts :func:`net.connect_tcp` gives (refused, timed out within the connect budget, the other
addresses of a name tried), cost no extra wait, and leave the peer a connection closed before any byte."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from gvpconf import net
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import Cause, ProbeFailure
from gvpconf_lab import impostors


def deadline(connect: float = 1.0) -> Deadline:
    return Deadline(Timeouts(connect=connect, read=1.0, probe=5.0))


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A listening socket whose accepted connections are read to their end: what each peer sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                got.append(data)

    threading.Thread(target=serve, daemon=True).start()
    yield srv, got
    srv.close()


def test_reached_leaves_the_peer_a_connection_closed_before_any_byte(
        listener: tuple[socket.socket, list[bytes]]) -> None:
    srv, got = listener
    with net.EarlyConnect("127.0.0.1", srv.getsockname()[1], deadline()) as early:
        early.failed_already()  # connecting or connected: nothing to say yet
        early.reached()
    until = time.monotonic() + 5
    while not got and time.monotonic() < until:
        time.sleep(0.01)
    assert got == [b""]


def test_connected_hands_over_a_blocking_socket_that_works(listener: tuple[socket.socket, list[bytes]]) -> None:
    srv, got = listener
    with net.EarlyConnect("127.0.0.1", srv.getsockname()[1], deadline()) as early:
        sock = early.connected()
    with sock:
        assert sock.getblocking()
        sock.sendall(b"hello")
    until = time.monotonic() + 5
    while not got and time.monotonic() < until:
        time.sleep(0.01)
    assert got == [b"hello"]


def test_a_refusal_is_told_before_the_import_and_the_socket_is_closed() -> None:
    early = net.EarlyConnect("127.0.0.1", refused_port(), deadline())
    with pytest.raises(ProbeFailure) as caught:
        early.failed_already()
    assert caught.value.cause is Cause.REFUSED and caught.value.phase == "TCP connect"
    with pytest.raises(AssertionError):
        early.connected()  # taken (and closed) by the failure


def test_a_blackholed_peer_times_out_within_the_budget_counted_from_the_start() -> None:
    with impostors.blackhole() as (host, port):
        started = time.monotonic()
        with net.EarlyConnect(host, port, deadline(connect=0.5)) as early:
            early.failed_already()  # still waiting: not a failure yet
            time.sleep(0.3)  # the library's import, overlapping the wait
            with pytest.raises(ProbeFailure) as caught:
                early.reached()
        took = time.monotonic() - started
    assert caught.value.cause is Cause.TIMEOUT
    assert 0.45 < took < 0.8, took  # the budget, not the import plus the budget


def test_connected_tries_the_other_addresses_of_a_name_after_a_refusal(
        listener: tuple[socket.socket, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, got = listener
    addresses = [(socket.AF_INET, ("127.0.0.1", refused_port())), (socket.AF_INET, srv.getsockname())]
    monkeypatch.setattr(net, "resolve", lambda *_a, **_k: addresses)
    with net.EarlyConnect("gvp.example", 5432, deadline()) as early:
        early.failed_already()  # not said while another address is left
        with early.connected() as sock:
            sock.sendall(b"second")
    until = time.monotonic() + 5
    while not got and time.monotonic() < until:
        time.sleep(0.01)
    assert got == [b"second"]


@pytest.mark.parametrize("first", ["refused", "blackholed"])
def test_for_a_name_with_several_addresses_the_library_decides(monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """libpq and urllib3 try each address of a name with its own timeout (a filtered IPv6 address, then IPv4):
    the early connect to the first one says nothing then, and the library's own verdict stands."""
    with impostors.blackhole() as (host, port):
        head = (socket.AF_INET, ("127.0.0.1", refused_port()) if first == "refused" else (host, port))
        monkeypatch.setattr(net, "resolve", lambda *_a, **_k: [head, (socket.AF_INET, ("127.0.0.1", 9))])
        started = time.monotonic()
        with net.EarlyConnect("db.example", 5432, deadline(connect=0.3)) as early:
            early.failed_already()
            early.reached()  # no ProbeFailure
        assert time.monotonic() - started < 0.8
