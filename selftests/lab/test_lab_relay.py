"""The lab's delay/jitter relay (``gvpconf_lab.voice_relay``) on loopback: both ways, seeded, bounded, CLI."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time

from gvpconf_lab.base import gvpconf_env
from gvpconf_lab.voice_relay import DelayRelay, parse_hostport


def _echo() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _client(timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    return sock


def test_parse_hostport() -> None:
    assert parse_hostport("198.18.0.1:42000") == ("198.18.0.1", 42000)
    assert parse_hostport("[::1]:5") == ("::1", 5)
    for bad in ("nohost", ":5", "h:", "h:99999", "h:x"):
        try:
            parse_hostport(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_echo_behind_the_relay_works_both_ways_with_the_delay_each_way() -> None:
    far = _echo()
    with DelayRelay(("127.0.0.1", 0), far.getsockname(), delay_ms=30) as relay:
        client = _client()
        started = time.monotonic()
        client.sendto(b"ping", relay.address)
        far.settimeout(2)
        data, peer = far.recvfrom(100)
        assert data == b"ping" and time.monotonic() - started >= 0.029
        far.sendto(b"pong", peer)
        assert client.recvfrom(100) == (b"pong", relay.address)
        rtt = time.monotonic() - started
        assert 0.059 <= rtt < 1.0, rtt
        c = relay.counters()
    assert (c.received, c.forwarded, c.returned, c.dropped_full) == (2, 1, 1, 0)
    client.close()
    far.close()


def test_reordering_follows_the_seeded_delays_and_keep_order_prevents_it() -> None:
    n, seed, jitter = 40, 11, 60.0
    rng = random.Random(seed)
    delays = [max(0.0, 60.0 + rng.uniform(-jitter, jitter)) for _ in range(n)]
    for keep in (False, True):
        far = _echo()
        far.settimeout(3)
        with DelayRelay(("127.0.0.1", 0), far.getsockname(), delay_ms=60, jitter_ms=jitter, seed=seed,
                        keep_order=keep) as relay:
            client = _client()
            for i in range(n):
                client.sendto(i.to_bytes(2, "big"), relay.address)
            order = [int.from_bytes(far.recvfrom(10)[0], "big") for _ in range(n)]
            c = relay.counters()
        client.close()
        far.close()
        assert sorted(order) == list(range(n))
        if keep:
            assert order == list(range(n)) and c.reordered == 0
            continue
        assert c.reordered > 0
        pos = {k: i for i, k in enumerate(order)}
        # datagrams whose seeded delays differ clearly arrive in the order of their delays
        for i in range(n):
            for j in range(i + 1, n):
                if delays[j] < delays[i] - 5.0:
                    assert pos[j] < pos[i], (i, j, delays[i], delays[j], order)
                elif delays[j] > delays[i] + 5.0:
                    assert pos[i] < pos[j], (i, j, delays[i], delays[j], order)


def test_at_most_max_in_flight_wait_and_the_rest_are_counted_dropped() -> None:
    far = _echo()
    far.settimeout(1)
    with DelayRelay(("127.0.0.1", 0), far.getsockname(), delay_ms=300, max_in_flight=10) as relay:
        client = _client()
        for i in range(30):
            client.sendto(bytes([i]), relay.address)
        got = [far.recvfrom(10)[0][0] for _ in range(10)]
        time.sleep(0.1)
        c = relay.counters()
    assert got == list(range(10))
    assert (c.received, c.forwarded, c.dropped_full, c.max_in_flight_seen) == (30, 10, 20, 10)
    client.close()
    far.close()


def test_loss_drops_the_seeded_datagrams_of_each_client_towards_the_destination_only() -> None:
    n, seed, loss = 300, 7, 5.0
    draws = random.Random(f"loss-{seed}")
    lost = {i for i in range(n) if draws.random() * 100 < loss}
    assert 0.5 * n * loss / 100 <= len(lost) <= 1.5 * n * loss / 100  # the seeded draws are about 5%
    far = _echo()
    far.settimeout(0.5)
    with DelayRelay(("127.0.0.1", 0), far.getsockname(), loss_pct=loss, seed=seed) as relay:
        clients = [_client(timeout=2.0), _client(timeout=2.0)]
        got: list[list[int]] = [[], []]
        for i in range(n):
            for k, client in enumerate(clients):  # two streams at once, interleaved: each has its own draws
                client.sendto(i.to_bytes(2, "big"), relay.address)
                if i not in lost:
                    data, peer = far.recvfrom(10)
                    got[k].append(int.from_bytes(data, "big"))
                    far.sendto(data, peer)  # the way back is never dropped
                    assert client.recvfrom(10)[0] == data
        c = relay.counters()
    assert got[0] == got[1] == [i for i in range(n) if i not in lost]
    kept = 2 * (n - len(lost))
    assert (c.dropped_loss, c.forwarded, c.returned) == (2 * len(lost), kept, kept)
    for client in clients:
        client.close()
    far.close()


def test_command_line_prints_ready_and_its_counters_on_sigterm() -> None:
    far = _echo()
    far.settimeout(3)
    port = far.getsockname()[1]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    listen_port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, "-m", "gvpconf_lab.voice_relay", "--listen", f"127.0.0.1:{listen_port}",
                             "--to", f"127.0.0.1:{port}", "--delay-ms", "10", "--jitter-ms", "5", "--seed", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gvpconf_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"ready 127.0.0.1:{listen_port}"
        client = _client()
        client.sendto(b"x", ("127.0.0.1", listen_port))
        assert far.recvfrom(10)[0] == b"x"
        client.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    far.close()
    assert proc.returncode == 0, err
    counters = json.loads(out.strip().splitlines()[-1])
    assert counters["forwarded"] == 1 and counters["dropped_full"] == 0
