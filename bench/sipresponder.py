"""A light SIP responder for the benchmark: answers OPTIONS with 200 OK on many TCP ports from one thread.

Not a lab peer for correctness (sipp is): it exists so the scale figure can put 200 SIP targets on
one 2-core machine. It echoes Via, From, To, Call-ID and CSeq as RFC 3261 §8.2.6 requires.

``python bench/sipresponder.py [COUNT]`` runs it in a process of its own: prints ``HOST PORT...`` on one
line, answers until its standard input closes.
"""

from __future__ import annotations

import selectors
import socket
import sys
import threading
from types import TracebackType

from gvpconf.wire import WireError, sip


class SipResponder:
    def __init__(self, count: int, host: str = "127.0.0.1") -> None:
        self.sel = selectors.DefaultSelector()
        self.listeners: list[socket.socket] = []
        for _ in range(count):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            s.listen(128)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, "listen")
            self.listeners.append(s)
        self.ports = [s.getsockname()[1] for s in self.listeners]
        self.host = host
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, name="bench-sip", daemon=True)
        self.answered = 0

    def __enter__(self) -> SipResponder:
        self._thread.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._wake_w.send(b"x")
        self._thread.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._wake_w.close()

    def _run(self) -> None:
        decoders: dict[socket.socket, sip.SipStreamDecoder] = {}
        while not self._stop.is_set():
            for key, _ in self.sel.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "wake":
                    continue
                if key.data == "listen":
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    decoders[conn] = sip.SipStreamDecoder()
                    self.sel.register(conn, selectors.EVENT_READ, "conn")
                    continue
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, ConnectionError):
                    data = b""
                if not data:
                    self.sel.unregister(sock)
                    decoders.pop(sock, None)
                    sock.close()
                    continue
                dec = decoders[sock]
                try:
                    dec.feed(data)
                    while (msg := dec.next_message()) is not None:
                        if isinstance(msg, sip.SipRequest):
                            sock.sendall(sip.encode(self._answer(msg)))
                            self.answered += 1
                except (WireError, OSError):
                    self.sel.unregister(sock)
                    decoders.pop(sock, None)
                    sock.close()

    @staticmethod
    def _answer(req: sip.SipRequest) -> sip.SipResponse:
        echo = [(n, v if n.lower() != "to" or ";tag=" in v else f"{v};tag=bench")
                for n, v in req.headers if n.lower() in ("via", "from", "call-id", "cseq", "to")]
        headers = [*echo, ("Server", "bench-responder"), ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]
        return sip.SipResponse(200, "OK", tuple(headers))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    with SipResponder(count) as responder:
        print(responder.host, *responder.ports, flush=True)
        sys.stdin.read()  # until the bench closes our standard input


if __name__ == "__main__":
    main()
