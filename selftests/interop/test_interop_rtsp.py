"""RTSP (connection 14: Nuance's MRCPv1 session control) against GStreamer's RTSP server (gst-rtsp-server, the lab's
Nuance) and VLC's (``cvlc --sout '#rtp{sdp=rtsp://...}'`` as a non-root user), with the inventory's defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gvpconf.inventory.voice import NuanceDestination
from gvpconf_lab.interop_peers import VlcRtspPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.voice import RtspServerPeer
from selftests.interop import matrix

PROTOCOL = "RTSP"


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, int, str]]]:
    wd = tmp_path_factory.mktemp("interop-rtsp")
    gst = RtspServerPeer("gst-rtsp", wd / "gst", free_port(), path="nuance")
    vlc = VlcRtspPeer("vlc-rtsp", wd / "vlc", free_port(), path="nuance")
    with running(gst, vlc):
        matrix.version("GStreamer rtsp-server", "gir1.2-gst-rtsp-server-1.0 (Debian)",
                       debian_version("gir1.2-gst-rtsp-server-1.0"))
        matrix.version("VLC", "vlc-bin + vlc-plugin-base (Debian)", vlc.version())
        yield {"GStreamer rtsp-server": (gst.host, gst.port, gst.url), "VLC": (vlc.host, vlc.port, vlc.url)}


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_rtsp_describe(cell: matrix.Cell, urls: dict[str, tuple[str, int, str]]) -> None:
    host, port, url = urls[cell.implementation]
    if cell.scenario == "unknown path":
        url = url.rsplit("/", 1)[0] + "/no-such-resource"
    r = matrix.run("rtsp.describe", 14, NuanceDestination(rtsp_urls=[url]), host, port)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("rtsp.public", "rtsp.sdp_media"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS:
        assert r.evidence.facts["rtsp.sdp_media"].startswith("audio RTP/AVP 0"), r.evidence.facts
    else:
        assert "404" in str(r.failure), r.failure
