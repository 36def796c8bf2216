"""sipp variants for negative tests: other OPTIONS answers, UDP, another Server header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gvpconf_lab import SippPeer
from gvpconf_lab.base import pid_alive
from gvpconf_lab.ports import free_port
from gvpconf_lab.sipp import sip_options


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SippPeer]]:
    base = tmp_path_factory.mktemp("sipp-variants")
    peers = {
        "404-tcp": SippPeer("sip404", base / "sip404", free_port("tcp"), transport="tcp", answer_status=404),
        "503-udp": SippPeer("sip503", base / "sip503", free_port("udp"), transport="udp", answer_status=503,
                            server_header="GVP-Lab-Proxy/9.0"),
        "200-udp": SippPeer("sip200u", base / "sip200u", free_port("udp"), transport="udp",
                            server_header="Acme SBC 1.2"),
    }
    try:
        for peer in peers.values():
            peer.start()
        for peer in peers.values():
            peer.wait_ready(10.0)
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()
    for peer in peers.values():
        assert peer.pid is not None and not pid_alive(peer.pid)


def _status_and_server(head: str) -> tuple[str, str]:
    lines = head.split("\r\n")
    server = next(ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("server:"))
    return lines[0], server


def test_404_variant_answers_options_with_404(variants: dict[str, SippPeer]) -> None:
    peer = variants["404-tcp"]
    assert _status_and_server(sip_options(peer.host, peer.port, "tcp", 3.0)) == ("SIP/2.0 404 Not Found",
                                                                               "sipp-lab")


def test_503_variant_over_udp_with_its_own_server_header(variants: dict[str, SippPeer]) -> None:
    peer = variants["503-udp"]
    assert _status_and_server(sip_options(peer.host, peer.port, "udp", 3.0)) == (
        "SIP/2.0 503 Service Unavailable", "GVP-Lab-Proxy/9.0")


def test_udp_variant_answers_200_with_configured_server(variants: dict[str, SippPeer]) -> None:
    peer = variants["200-udp"]
    head = sip_options(peer.host, peer.port, "udp", 3.0)
    assert _status_and_server(head) == ("SIP/2.0 200 OK", "Acme SBC 1.2")
    assert "Acme SBC 1.2" in peer.describe()


def test_each_instance_has_its_own_ports_and_directory(variants: dict[str, SippPeer]) -> None:
    control = {p.control_port for p in variants.values()}
    media = {p.media_port for p in variants.values()}
    assert len(control) == len(media) == len(variants)
    for peer in variants.values():
        assert peer.scenario_path.parent == peer.workdir
        assert Path(peer.workdir).is_dir()
