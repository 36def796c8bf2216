"""Connection 14's RTSP cases: one per RTSP URL, named after it, with defaults that stock RTSP servers pass.

Against two real servers: the lab's GStreamer RTSP server, and VLC's (the lab's ``VlcRtspPeer``), whose answer
to OPTIONS lists ``DESCRIBE,SETUP,TEARDOWN,PLAY,PAUSE,GET_PARAMETER`` but not OPTIONS itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf_lab import Lab
from gvpconf_lab.interop_peers import VlcRtspPeer, running
from gvpconf_lab.ports import free_port
from selftests.helpers import run_suite, write_inventory


@pytest.fixture(scope="module")
def vlc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VlcRtspPeer]:
    peer = VlcRtspPeer("vlc", tmp_path_factory.mktemp("vlc"), free_port(), path="nuance")
    with running(peer):
        yield peer


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
    assert sorted(c.name.split("[")[0] for c in skipped) == [  # no SIP target: neither SIP case runs
        "test_nuance_answers_sip_options", "test_nuance_takes_invite_sized_requests"]
    assert run.suite_properties["connection.14.verdict"] == "verified"


def test_vlc_passes_with_the_default_public_rule(lab: Lab, vlc: VlcRtspPeer, tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--connection", "14", inventory=write_inventory(
        tmp_path, nuance_only(lab, [vlc.url], calls=False, sip=True)))
    [case] = [c for c in run.by_connection(14) if c.properties.get("probe") == "rtsp.describe"]
    assert case.outcome == "passed", case.message
    assert "OPTIONS" not in case.properties["rtsp.public"].split(", ")  # VLC does not list it; it need not
    assert case.properties["rtsp.sdp_media"].startswith("audio ")
    assert run.rc == 0, run.stdout[-3000:]
