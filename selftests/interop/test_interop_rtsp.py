"""RTSP (connection 14: Nuance's MRCPv1 session control) against GStreamer's RTSP server (gst-rtsp-server, the lab's
Nuance) and VLC's (``cvlc --sout '#rtp{sdp=rtsp://...}'`` as a non-root user), with the inventory's defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gvpconf.inventory.voice import MediaSettings, NuanceDestination
from gvpconf_lab.interop_peers import VlcRtspPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.voice import RtspServerPeer
from selftests.interop import matrix

PROTOCOL = "RTSP"


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    wd = tmp_path_factory.mktemp("interop-rtsp")
    gst = RtspServerPeer("gst-rtsp", wd / "gst", free_port(), path="nuance")
    vlc = VlcRtspPeer("vlc-rtsp", wd / "vlc", free_port(), path="nuance")
    with running(gst, vlc):
        matrix.version("GStreamer rtsp-server", "gir1.2-gst-rtsp-server-1.0 (Debian)",
                       debian_version("gir1.2-gst-rtsp-server-1.0"))
        matrix.version("VLC", "vlc-bin + vlc-plugin-base (Debian)", vlc.version())
        yield {"GStreamer rtsp-server": gst.url, "VLC": vlc.url}


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_rtsp(cell: matrix.Cell, urls: dict[str, str]) -> None:
    url = urls[cell.implementation]
    if cell.scenario == "unknown path":
        url = url.rsplit("/", 1)[0] + "/no-such-resource"
    dest = NuanceDestination(rtsp_urls=[url], media=MediaSettings(packets=10))  # the inventory's defaults otherwise
    targets = dest.probe_targets(cell.probe, [])  # one case per URL, as the plugin plans it
    assert isinstance(targets, list) and [t.name for t in targets] == [url]
    r = matrix.run(cell.probe, 14, dest, targets[0].host, targets[0].port, name=url)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts,
                        keep=("rtsp.public", "rtsp.sdp_media", "rtsp.server_port", "rtp.sent"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS and cell.probe == "rtsp.describe":
        assert r.evidence.facts["rtsp.sdp_media"].startswith("audio RTP/AVP 0"), r.evidence.facts
    elif got == matrix.PASS:
        assert r.evidence.facts["rtp.sent"] == 10 and r.evidence.facts["rtp.unreachable"] == 0
        assert r.evidence.facts["rtsp.teardown"] == "200"
    elif got == matrix.fail("semantic"):
        assert "404" in str(r.failure), r.failure
    else:  # the 404 came back, without the CSeq that ties it to our DESCRIBE
        assert ("<-", "RTSP/1.0 404 Not found") in r.evidence.transcript, r.evidence.transcript
        assert "CSeq" in str(r.failure), r.failure
