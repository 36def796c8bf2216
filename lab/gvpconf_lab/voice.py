"""Lab components of the voice area: the MCP pool (4, 19), the SBC (9) and Nuance (14).

=================  =============================================================  ==================
component          peers                                                          real or stand-in
=================  =============================================================  ==================
``voice_mcp``      three sipp UAS (SIP/TCP, OPTIONS + INVITE, ``-rtp_echo``)       real SIP/RTP stacks
``voice_sbc``      rtpengine (userspace media relay), an RTP echo (sipp), and a    relay real; SIP
                   small SIP/UDP front that drives rtpengine over its ng protocol  front a stand-in
``voice_nuance``   sipp (Nuance's SIP side), GStreamer's RTSP server (PCMU live)   real
=================  =============================================================  ==================

tshark and iptables are declared here too: the project's own tests compare the RTP statistics with
tshark's and inject loss with iptables in network namespaces.
"""

from __future__ import annotations

import random
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from gvpconf_lab.base import LOOPBACK, Peer, gvpconf_env
from gvpconf_lab.component import Component
from gvpconf_lab.ports import free_port
from gvpconf_lab.sipp import SippPeer

DEBIAN_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("voice_rtsp_server.py")


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


def _gst_rtsp() -> bool:
    return Path("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib").exists() or bool(
        list(Path("/usr/lib").glob("*/girepository-1.0/GstRtspServer-1.0.typelib")))


def _mulaw() -> bool:
    return bool(list(Path("/usr/lib").glob("*/gstreamer-1.0/libgstmulaw.so")))


def media_block(size: int, low: int = 20000, high: int = 32767, attempts: int = 50) -> int:
    """The first port of ``size`` consecutive free UDP ports in ``low``-``high``.

    Below the kernel's ephemeral range (32768-60999 by default), so no client socket of another
    process lands in the SBC's range while the lab runs and turns an unreachable port silent.
    """
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - size + 2) & ~1
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise OSError(f"no block of {size} free UDP ports in {low}-{high}")


def rtsp_options(host: str, port: int, timeout: float) -> str:
    """One RTSP OPTIONS; the status line of the answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(f"OPTIONS rtsp://{host}:{port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed before answering OPTIONS")
            data += chunk
        return data.split(b"\r\n")[0].decode("utf-8", "replace")


class RtspServerPeer(Peer):
    """GStreamer's RTSP server serving a live PCMU stream at ``rtsp://host:port/<path>``."""

    kind: ClassVar[str] = "rtsp"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, path: str = "nuance", host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.path = path

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/{self.path}"

    def prepare(self) -> None:
        if not Path(DEBIAN_PYTHON).exists() or not _gst_rtsp():
            raise self.error("GStreamer's RTSP server is missing (python3-gst-1.0, gir1.2-gst-rtsp-server-1.0: "
                             "python -m gvpconf_lab install)")

    def command(self) -> Sequence[str]:
        return [DEBIAN_PYTHON, str(RTSP_SCRIPT), self.host, str(self.port), self.path]

    def probe(self, timeout: float) -> None:
        line = rtsp_options(self.host, self.port, min(timeout, 0.5))
        if not line.startswith("RTSP/1.0 200"):
            raise ConnectionError(f"OPTIONS answered {line!r}")

    def summary(self) -> str:
        return f"GStreamer RTSP server, {self.url} (live PCMU)"


class RtpenginePeer(Peer):
    """rtpengine in userspace; ``port`` is its ng control port (UDP)."""

    kind: ClassVar[str] = "rtpengine"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, port_min: int, port_max: int,
                 host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.port_min = port_min
        self.port_max = port_max

    def prepare(self) -> None:
        if not _have("rtpengine"):
            raise self.error("rtpengine not found (package rtpengine-daemon: python -m gvpconf_lab install)")

    def command(self) -> Sequence[str]:
        return ["rtpengine", "--config-file=none", "--foreground", "--log-stderr", "--table=-1",
                f"--interface={self.host}", f"--listen-ng={self.host}:{self.port}",
                f"--port-min={self.port_min}", f"--port-max={self.port_max}", "--num-threads=2",
                "--pidfile=" + str(self.workdir / "rtpengine.pid")]

    def probe(self, timeout: float) -> None:
        from gvpconf_lab.voice_sbc import NgClient

        ng = NgClient(self.host, self.port, min(timeout, 0.5))
        try:
            ng.command("ping")
        finally:
            ng.close()

    def port_kind(self) -> str:
        return "udp"

    def summary(self) -> str:
        return f"rtpengine (userspace), ng on udp/{self.port}, RTP {self.port_min}-{self.port_max}"


class SbcFrontPeer(Peer):
    """The SBC's SIP side (stand-in, ``gvpconf_lab.voice_sbc``) over UDP."""

    kind: ClassVar[str] = "sbc-sip"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, ng_port: int, echo: SippPeer, user: str = "echo",
                 host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.ng_port = ng_port
        self.echo = echo
        self.echo_port = 0
        self.user = user

    def prepare(self) -> None:
        # the echo's media port is picked when it starts (in parallel with us): wait for it, bounded
        deadline = time.monotonic() + 10.0
        while self.echo.media_port == 0:
            if time.monotonic() > deadline or (self.echo.proc is not None and self.echo.proc.poll() is not None):
                raise self.error("the RTP echo (sipp) did not start")
            time.sleep(0.01)
        self.echo_port = self.echo.media_port

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.voice_sbc", "--host", self.host, "--sip-port", str(self.port),
                "--ng-port", str(self.ng_port), "--echo-port", str(self.echo_port), "--user", self.user]

    def environment(self) -> Mapping[str, str]:
        return gvpconf_env()

    def probe(self, timeout: float) -> None:
        from gvpconf_lab.sipp import sip_options

        head = sip_options(self.host, self.port, "udp", min(timeout, 0.5))
        if not head.startswith("SIP/2.0 200 "):
            raise ConnectionError(f"OPTIONS answered {head.splitlines()[0]!r}")

    def port_kind(self) -> str:
        return "udp"

    def summary(self) -> str:
        return f"SBC SIP front (stand-in) over UDP, echo route sip:{self.user}@..., media via rtpengine"


# ---------------------------------------------------------------- components

# Lab thresholds are looser than the defaults (1%, 30 ms): the lab shares two cores with the whole suite and
# its own peers, and one 500 ms scheduling stall alone lifts the RFC 3550 jitter by 31 ms. The thresholds
# themselves are proven against impostors (selftests/probes/test_impostors_voice.py).
_MEDIA = {"packets": 50, "ptime_ms": 20, "max_loss_pct": 4.0, "max_jitter_ms": 80.0, "settle_ms": 800}


class VoiceMcpComponent(Component):
    """Connection 4 and 19's destination: an MCP pool of three sipp UAS with RTP echo."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"sip-tester": lambda: _have("sipp")}
    pool_size: ClassVar[int] = 3

    def make_peers(self) -> list[Peer]:
        self.pods = [SippPeer(f"mcp-{i}", self.workdir / f"mcp-{i}", self.port(f"mcp-{i}"), transport="tcp",
                              server_header=f"sipp-lab mcp-{i}") for i in range(self.pool_size)]
        return list(self.pods)

    def destinations(self) -> dict[str, Any]:
        section: dict[str, Any] = {
            "transport": "tcp", "calls": True,
            "call": {"user": "mcp", "ring_timeout": 5.0, "media": dict(_MEDIA)},
            "targets": [{"name": p.name, "host": p.host, "port": p.port, "zone": f"lab-{'ab'[i % 2]}"}
                        for i, p in enumerate(self.pods)]}
        nuance = self.lab.components.get("voice_nuance")
        if isinstance(nuance, VoiceNuanceComponent):
            section["ingress"] = {"rtsp_url": nuance.rtsp.url, "media": dict(_MEDIA)}
        return {"mcp": section}


class VoiceSbcComponent(Component):
    """Connection 9's destination: rtpengine relaying a test call to an RTP echo, behind a SIP front."""

    stand_ins: ClassVar[Mapping[str, str]] = {"sbc": "a SIP front stand-in before a real rtpengine"}

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {
        "rtpengine-daemon": lambda: _have("rtpengine"),
        "sip-tester": lambda: _have("sipp"),
        "tshark": lambda: _have("tshark"),  # selftests: the RTP statistics reference
        "iptables": lambda: _have("iptables"),  # selftests: loss and filtering in network namespaces
        "iproute2": lambda: _have("ip"),
    }
    range_size: ClassVar[int] = 400  # the range the inventory names (sampled by 9's rtp.range)
    call_ports: ClassVar[int] = 100  # rtpengine's own ports for the test calls, right after it

    def make_peers(self) -> list[Peer]:
        # The sampled range and the relay's call ports are disjoint so that the lab is deterministic: a
        # sampled port that a concurrent test call holds would stay silent (rtpengine ignores sources it did
        # not negotiate). In production that can happen: see docs/voice.md, "what each verdict proves".
        self.range_low = media_block(self.range_size + self.call_ports)
        call_low = self.range_low + self.range_size
        self.echo = SippPeer("sbc-echo", self.workdir / "echo", free_port("udp"), transport="udp",
                             server_header="sipp-lab sbc-echo")
        self.rtpengine = RtpenginePeer("rtpengine", self.workdir / "rtpengine", free_port("udp"), call_low,
                                       call_low + self.call_ports - 1)
        self.front = SbcFrontPeer("sbc", self.workdir / "front", self.port(kind="udp"), self.rtpengine.port, self.echo)
        return [self.echo, self.rtpengine, self.front]

    def destinations(self) -> dict[str, Any]:
        return {"sbc": {
            "transport": "udp", "calls": True,
            "rtp_range": {"min": self.range_low, "max": self.range_low + self.range_size - 1},
            "sampling": {"sample": 12, "attempts": 2, "port_timeout": 1.0},
            "call": {"user": "echo", "ring_timeout": 5.0, "media": dict(_MEDIA)},
            "targets": [{"name": "sbc", "host": self.front.host, "port": self.front.port}]}}


class VoiceNuanceComponent(Component):
    """Connection 14's destination: sipp as Nuance's SIP side, GStreamer's RTSP server as its RTSP side."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {
        "sip-tester": lambda: _have("sipp"),
        "python3-gst-1.0": lambda: Path(DEBIAN_PYTHON).exists() and _gst_rtsp(),
        "gir1.2-gst-rtsp-server-1.0": _gst_rtsp,
        "gstreamer1.0-plugins-base": lambda: bool(list(Path("/usr/lib").glob("*/gstreamer-1.0/libgstaudiotest*"))),
        "gstreamer1.0-plugins-good": _mulaw,
    }

    def make_peers(self) -> list[Peer]:
        self.sip = SippPeer("nuance-sip", self.workdir / "sip", self.port("sip"), transport="tcp",
                            server_header="sipp-lab nuance")
        self.rtsp = RtspServerPeer("nuance-rtsp", self.workdir / "rtsp", self.port("rtsp"))
        return [self.sip, self.rtsp]

    def destinations(self) -> dict[str, Any]:
        return {"nuance": {
            "transport": "tcp", "calls": True, "rtsp_urls": [self.rtsp.url],
            "media": {"packets": 25, "ptime_ms": 20},
            "targets": [{"name": "nuance-sip", "host": self.sip.host, "port": self.sip.port}]}}
