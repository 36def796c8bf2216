"""SIP OPTIONS and the path-MTU probe's padded OPTIONS (connections 1, 4) against sipp and Kamailio (Debian's
stock kamailio.cfg), over TCP and UDP.

Kamailio answers a UDP request at the Via's port only when ``rport`` is there (RFC 3581); the probe always
sends it, and the UDP cells check that the request carried it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf.inventory import SipDestination
from gvpconf_lab.interop_peers import KamailioPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.sipp import SippPeer
from selftests.interop import matrix

PROTOCOL = "SIP"


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    wd = tmp_path_factory.mktemp("interop-sip")
    made = {
        ("sipp", "tcp"): SippPeer("sipp-tcp", wd / "sipp-tcp", free_port(), transport="tcp"),
        ("sipp", "udp"): SippPeer("sipp-udp", wd / "sipp-udp", free_port("udp"), transport="udp"),
        ("sipp", "404"): SippPeer("sipp-404", wd / "sipp-404", free_port(), transport="tcp", answer_status=404),
    }
    kamailio = KamailioPeer("kamailio", wd / "kamailio", free_port())
    with running(*made.values(), kamailio):
        matrix.version("sipp", "sip-tester (Debian)", debian_version("sip-tester"))
        matrix.version("Kamailio", "kamailio (Debian)", kamailio.version)
        made[("Kamailio", "tcp")] = made[("Kamailio", "udp")] = kamailio
        yield {f"{k[0]}/{k[1]}": v for k, v in made.items()}


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_sip_options(cell: matrix.Cell, peers: dict[str, Any]) -> None:
    transport = "udp" if "UDP" in cell.scenario else "tcp"
    key = f"{cell.implementation}/{'404' if '404' in cell.scenario else transport}"
    peer = peers[key]
    r = matrix.run(cell.probe, 1, SipDestination(transport=transport), peer.host, peer.port)
    if cell.probe == "sipmtu.options":
        got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("sipmtu.sizes", "sipmtu.largest_ok"))
        assert got == cell.expected, r.failure
        assert r.evidence.facts["sipmtu.answered"] == r.evidence.facts["sipmtu.sizes"]
        assert r.evidence.facts["sipmtu.largest_ok"] >= 1300
        return
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("sip.status", "sip.server"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS:
        assert r.evidence.facts["sip.transaction"] == "ours"
        assert r.evidence.facts["sip.transport"] == transport.upper()
    sent = [text for direction, text in r.evidence.transcript if direction == "->"]
    assert sent and ";rport" in sent[0].split("\r\n", 2)[1]  # the Via: RFC 3581, which Kamailio needs on UDP
    if cell.implementation == "Kamailio":
        assert "kamailio" in str(r.evidence.facts.get("sip.server", "")).lower()
