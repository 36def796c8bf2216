"""Connection 14's RTSP cases: one per RTSP URL, named after it, with defaults that stock RTSP servers pass.

Against two real servers: the lab's GStreamer RTSP server, and VLC's (Debian's ``vlc``), whose answer to
OPTIONS lists ``DESCRIBE,SETUP,TEARDOWN,PLAY,PAUSE,GET_PARAMETER`` but not OPTIONS itself.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import socket
import struct
import tempfile
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gvpconf_lab import Lab
from gvpconf_lab.base import Peer
from gvpconf_lab.ports import free_port
from selftests.helpers import run_suite, write_inventory

CVLC = shutil.which("cvlc") or "/usr/bin/cvlc"


class VlcRtspServer(Peer):
    """VLC streaming a PCMU tone over its own RTSP server, as an unprivileged user (VLC refuses root)."""

    kind = "vlc-rtsp"

    def __init__(self, name: str, workdir: Path, port: int) -> None:
        super().__init__(name, workdir, port)
        self.dir = Path(tempfile.mkdtemp(prefix="gvpconf-vlc-"))  # readable by the unprivileged user
        self.url = f"rtsp://{self.host}:{self.port}/nuance"

    def prepare(self) -> None:
        os.chmod(self.dir, 0o755)
        tone = self.dir / "tone.wav"
        with wave.open(str(tone), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(8000 * 60)))
        os.chmod(tone, 0o644)

    def command(self) -> Sequence[str]:
        sout = f"#transcode{{acodec=ulaw,channels=1,samplerate=8000}}:rtp{{sdp={self.url}}}"
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "env", f"HOME={self.dir}",
                CVLC, "-I", "dummy", "--no-video", str(self.dir / "tone.wav"), "--loop", "--sout", sout,
                "--sout-keep"]

    def probe(self, timeout: float) -> None:
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"DESCRIBE {self.url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode())
            if not sock.recv(4096).startswith(b"RTSP/1.0 200"):  # 500 until its stream has started
                raise ConnectionError("VLC's RTSP server is not describing the stream yet")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def vlc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VlcRtspServer]:
    peer = VlcRtspServer("vlc", tmp_path_factory.mktemp("vlc"), free_port())
    peer.start()
    try:
        peer.wait_ready(20.0)
        yield peer
    finally:
        peer.stop()


def nuance_only(lab: Lab, urls: list[str], *, calls: bool, sip: bool = False) -> dict[str, Any]:
    """The lab's nuance section with these RTSP URLs, and its SIP target only with ``sip``."""
    section = copy.deepcopy(lab.inventory()["destinations"]["nuance"])
    section.update(rtsp_urls=urls, calls=calls)
    if not sip:
        section["targets"] = []
    section.pop("rtsp_require_public", None)  # the defaults are what is tested
    return {"version": 1, "destinations": {"nuance": section}}


def test_one_rtsp_case_per_url_even_without_sip_targets(lab: Lab, tmp_path: Path) -> None:
    url = lab.inventory()["destinations"]["nuance"]["rtsp_urls"][0]
    run = run_suite(tmp_path, "--connection", "14", inventory=write_inventory(tmp_path, nuance_only(lab, [url],
                                                                                                   calls=True)))
    assert run.rc == 0, run.stdout[-3000:]
    by_probe = {c.properties.get("probe"): c for c in run.by_connection(14) if c.outcome != "skipped"}
    for probe in ("rtsp.describe", "rtsp.setup"):
        case = by_probe[probe]
        assert case.outcome == "passed", case.message
        assert case.name.endswith(f"[{url}]"), case.name  # named after its URL
        assert case.properties["target"] == url
        assert case.properties["address"] == url.split("/")[2]
    skipped = [c for c in run.by_connection(14) if c.outcome == "skipped"]
    assert [c.name.split("[")[0] for c in skipped] == ["test_nuance_answers_sip_options"]  # no SIP target
    assert run.suite_properties["connection.14.verdict"] == "verified"


def test_vlc_passes_with_the_default_public_rule(lab: Lab, vlc: VlcRtspServer, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--connection", "14", inventory=write_inventory(
        tmp_path, nuance_only(lab, [vlc.url], calls=False, sip=True)))
    [case] = [c for c in run.by_connection(14) if c.properties.get("probe") == "rtsp.describe"]
    assert case.outcome == "passed", case.message
    assert "OPTIONS" not in case.properties["rtsp.public"].split(", ")  # VLC does not list it; it need not
    assert case.properties["rtsp.sdp_media"].startswith("audio ")
    assert run.rc == 0, run.stdout[-3000:]
