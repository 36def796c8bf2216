"""tshark, the RTP reference of the project's tests: a capture known to be running, and what it read.

``Capture(iface, bpf, pcap, netns=...)`` starts tshark (in a network namespace when given) and sets
``seen`` once it has really captured a packet: send warm-up RTP (another SSRC) until then. ``stop()``, or
leaving the ``with``, stops it by PID (SIGINT, so the pcap is complete). ``streams(pcap)`` is the ``-z rtp,streams``
table, ``rtp_times(pcap, ssrc)`` one stream's packets with their capture times.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from gvpconf_lab.base import stop_process
from gvpconf_lab.netlab.netns import exec_prefix

# a UDP-only capture is decoded as RTP only with the heuristic (or a -d hint per port)
RTP = ("-o", "rtp.heuristic_rtp:TRUE")


class Capture:
    def __init__(self, iface: str, bpf: str, pcap: Path, *, netns: str | None = None) -> None:
        prefix = exec_prefix(netns) if netns else []
        self.proc = subprocess.Popen([*prefix, "tshark", "-i", iface, "-l", "-f", bpf, "-w", str(pcap), "-P", *RTP,
                                      "-T", "fields", "-e", "rtp.ssrc"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self.proc.stdout is not None
        for _line in self.proc.stdout:
            self.seen.set()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGINT by PID (tshark then completes the pcap), SIGKILL if it is still there after 10 s."""
        stop_process(self.proc, signal.SIGINT, grace_s=10)


def _tshark(*args: str) -> str:
    return subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60, check=True).stdout


def streams(pcap: Path) -> list[dict[str, Any]]:
    """The rows of ``tshark -z rtp,streams``: ssrc, packets, lost (expected - received), min/mean/max jitter."""
    rows = []
    for line in _tshark("-r", str(pcap), "-q", *RTP, "-z", "rtp,streams").splitlines():
        cols = line.split()
        ssrcs = [i for i, c in enumerate(cols) if c.lower().startswith("0x") and len(c) == 10]
        if not ssrcs:
            continue
        i = ssrcs[0]
        lost = re.match(r"(-?\d+)", cols[i + 3])
        assert lost is not None, line
        rows.append({"ssrc": int(cols[i], 16), "packets": int(cols[i + 2]), "lost": int(lost[1]),
                     "min_jitter": float(cols[i + 8]), "mean_jitter": float(cols[i + 9]),
                     "max_jitter": float(cols[i + 10])})
    return rows


def rtp_times(pcap: Path, ssrc: int) -> list[tuple[int, int, float, bool]]:
    """Stream ``ssrc``'s packets in capture order: (sequence, RTP timestamp, capture time, marker)."""
    out = _tshark("-r", str(pcap), *RTP, "-Y", f"rtp.ssrc=={ssrc}", "-T", "fields", "-e", "rtp.seq",
                  "-e", "rtp.timestamp", "-e", "frame.time_epoch", "-e", "rtp.marker")
    rows = (line.split("\t") for line in out.splitlines() if line)
    return [(int(a), int(b), float(c), d in ("1", "True")) for a, b, c, d in rows]
