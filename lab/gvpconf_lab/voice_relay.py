"""A small UDP relay of the lab's own that injects delay, jitter and loss (``tc netem`` is not available here).

``python -m gvpconf_lab.voice_relay --listen HOST:PORT --to HOST:PORT --delay-ms N --jitter-ms N --seed S
[--loss-pct P] [--keep-order] [--max-in-flight N] [--one-way]``

Each datagram received on ``--listen`` is sent on to ``--to`` after ``delay + uniform(-jitter, +jitter)`` ms
(clamped at 0). Replies from ``--to`` go back to the client that sent the request (one upstream socket per
client, so an echo behind the relay works both ways), delayed the same way unless ``--one-way``. The random
draws come from ``random.Random(seed)``, exactly one per datagram in the order the relay receives them, so a
run is repeatable. By default each datagram keeps its own random delay, so a later one may overtake an earlier
one (reordering, as the delays dictate); ``--keep-order`` never releases a datagram before one received earlier
in the same direction. ``--loss-pct`` drops each datagram towards ``--to`` with that probability, from
draws of their own, one sequence per client (``random.Random(f"loss-{seed}")``, one draw per datagram of that
client in arrival order): adding loss does not change the delays, and each stream loses the same datagrams
however many clients the relay serves at once, so a run is repeatable too. At most ``--max-in-flight`` datagrams
wait at once; beyond that they are dropped and counted. Runs inside a namespace with ``ip netns exec``: prints
``ready HOST:PORT`` once listening, and on SIGTERM (or SIGINT) stops and prints its counters as one JSON line.

In-process: ``DelayRelay(...)`` with ``start()`` / ``stop()`` (or as a context manager) and ``counters()``.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import random
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from types import FrameType, TracebackType

Address = tuple[str, int]

MAX_DATAGRAM = 65535


@dataclass
class RelayCounters:
    received: int = 0  # datagrams taken in, both directions
    forwarded: int = 0  # client -> destination, sent
    returned: int = 0  # destination -> client, sent
    dropped_full: int = 0  # dropped: max_in_flight datagrams were already waiting
    dropped_clients: int = 0  # dropped: a new client beyond max_clients
    dropped_loss: int = 0  # dropped on purpose: the --loss-pct draw said so (towards ``to`` only)
    send_errors: int = 0  # sends that failed (ICMP unreachable from the far end, buffer full)
    reordered: int = 0  # released before a datagram received earlier in the same direction
    max_in_flight_seen: int = 0


def parse_hostport(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class DelayRelay:
    """Delays (and jitters) every datagram between clients of ``listen`` and the destination ``to``."""

    def __init__(self, listen: Address, to: Address, *, delay_ms: float = 0.0, jitter_ms: float = 0.0,
                 seed: int = 0, keep_order: bool = False, one_way: bool = False, max_in_flight: int = 1024,
                 max_clients: int = 64, loss_pct: float = 0.0) -> None:
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("delay_ms and jitter_ms must be >= 0")
        if not 0 <= loss_pct <= 100:
            raise ValueError("loss_pct must be within 0-100")
        if max_in_flight < 1 or max_clients < 1:
            raise ValueError("max_in_flight and max_clients must be >= 1")
        self.listen, self.to = listen, to
        self.delay_ms, self.jitter_ms = delay_ms, jitter_ms
        self.keep_order, self.one_way = keep_order, one_way
        self.max_in_flight, self.max_clients = max_in_flight, max_clients
        self._rng = random.Random(seed)
        self.loss_pct = loss_pct
        self._loss_seed = f"loss-{seed}"
        self._loss_rng: dict[Address, random.Random] = {}  # per client: its own sequence of loss draws
        self._counters = RelayCounters()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._upstream: dict[Address, socket.socket] = {}  # client -> its socket towards ``to``
        self._client_of: dict[socket.socket, Address] = {}
        # (release time, order of arrival, direction, socket to send on, data, client address or None)
        self._queue: list[tuple[float, int, int, socket.socket, bytes, Address | None]] = []
        self._arrivals = 0
        self._last_release = [0.0, 0.0]  # per direction: 0 = towards ``to``, 1 = back to the client
        self._last_order = [-1, -1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def address(self) -> Address:
        """The bound listening address (the real port when ``listen`` asked for port 0)."""
        if self._sock is None:
            raise RuntimeError("the relay is not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> DelayRelay:
        family = socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(self.listen)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="voice-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> RelayCounters:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        for s in [*self._upstream.values(), *([self._sock] if self._sock else []), self._wake_r, self._wake_w]:
            s.close()
        self._upstream.clear()
        self._client_of.clear()
        return self.counters()

    def __enter__(self) -> DelayRelay:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def counters(self) -> RelayCounters:
        with self._lock:
            return RelayCounters(**asdict(self._counters))

    # ------------------------------------------------------------ the loop

    def _delay_s(self) -> float:
        """One draw per datagram (always, so the sequence of draws does not depend on the jitter)."""
        u = self._rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(0.0, self.delay_ms + u) / 1000.0

    def _upstream_for(self, client: Address) -> socket.socket | None:
        up = self._upstream.get(client)
        if up is not None:
            return up
        if len(self._upstream) >= self.max_clients:
            return None
        family = socket.AF_INET6 if ":" in self.to[0] else socket.AF_INET
        up = socket.socket(family, socket.SOCK_DGRAM)
        up.setblocking(False)
        try:
            up.connect(self.to)
        except OSError:
            up.close()
            raise
        self._upstream[client] = up
        self._client_of[up] = client
        return up

    def _enqueue(self, now: float, direction: int, out: socket.socket, data: bytes, client: Address | None,
                 source: Address | None = None) -> None:
        delay = self._delay_s()
        if direction == 1 and self.one_way:
            delay = 0.0
        c = self._counters
        if direction == 0 and self.loss_pct and source is not None:
            draws = self._loss_rng.get(source)
            if draws is None:
                draws = self._loss_rng[source] = random.Random(self._loss_seed)
            if draws.random() * 100 < self.loss_pct:
                c.dropped_loss += 1
                return
        if len(self._queue) >= self.max_in_flight:
            c.dropped_full += 1
            return
        release = now + delay
        if self.keep_order:
            release = max(release, self._last_release[direction])
        self._last_release[direction] = max(self._last_release[direction], release)
        heapq.heappush(self._queue, (release, self._arrivals, direction, out, data, client))
        self._arrivals += 1
        c.max_in_flight_seen = max(c.max_in_flight_seen, len(self._queue))

    def _release_due(self) -> None:
        assert self._sock is not None
        now = time.monotonic()
        while self._queue and self._queue[0][0] <= now:
            _t, order, direction, out, data, client = heapq.heappop(self._queue)
            with self._lock:
                if order < self._last_order[direction]:
                    self._counters.reordered += 1
                self._last_order[direction] = max(self._last_order[direction], order)
                try:
                    if client is None:
                        out.send(data)
                    else:
                        out.sendto(data, client)
                except OSError:
                    self._counters.send_errors += 1
                else:
                    if direction == 0:
                        self._counters.forwarded += 1
                    else:
                        self._counters.returned += 1

    def _receive(self, s: socket.socket) -> None:
        assert self._sock is not None
        for _ in range(64):  # bounded batch, then release what is due
            try:
                if s is self._sock:
                    data, peer = s.recvfrom(MAX_DATAGRAM)
                else:
                    data, peer = s.recv(MAX_DATAGRAM), None
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on a connected upstream socket
                with self._lock:
                    self._counters.send_errors += 1
                continue
            now = time.monotonic()
            with self._lock:
                self._counters.received += 1
                if s is self._sock:
                    client = (str(peer[0]), int(peer[1]))
                    up = self._upstream_for(client)
                    if up is None:
                        self._counters.dropped_clients += 1
                        continue
                    self._enqueue(now, 0, up, data, None, client)
                else:
                    self._enqueue(now, 1, self._sock, data, self._client_of[s])

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            self._release_due()
            wait = None if not self._queue else max(0.0, self._queue[0][0] - time.monotonic())
            readers = [self._sock, self._wake_r, *self._upstream.values()]
            try:
                ready, _w, _x = select.select(readers, [], [], wait)
            except (OSError, ValueError):  # a socket closed under us by stop()
                return
            for s in ready:
                if s is self._wake_r:
                    continue
                self._receive(s)


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.voice_relay",
                                     description="UDP relay injecting delay, jitter and loss")
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--to", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="delay varies uniformly by +- this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss-pct", type=float, default=0.0, help="drop datagrams towards --to with this "
                        "probability (percent; seeded draws of their own)")
    parser.add_argument("--keep-order", action="store_true", help="never reorder within a direction")
    parser.add_argument("--one-way", action="store_true", help="do not delay replies")
    parser.add_argument("--max-in-flight", type=int, default=1024)
    args = parser.parse_args(argv)
    try:
        listen, to = parse_hostport(args.listen), parse_hostport(args.to)
        relay = DelayRelay(listen, to, delay_ms=args.delay_ms, jitter_ms=args.jitter_ms, seed=args.seed,
                           keep_order=args.keep_order, one_way=args.one_way, max_in_flight=args.max_in_flight,
                           loss_pct=args.loss_pct)
        relay.start()
    except (ValueError, OSError) as exc:
        print(f"voice_relay: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    host, port = relay.address
    print(f"ready {host}:{port}", flush=True)
    while not done.wait(0.5):
        pass
    counters = relay.stop()
    print(json.dumps(asdict(counters)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
