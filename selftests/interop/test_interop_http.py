"""HTTP (connection 20: VoiceXML fetched and parsed) against nginx and lighttpd, and the DAS fetch proxy
(connection 12) through squid and tinyproxy, each allowing the DAS origin and denying another one.

The origins serve the same files: ``/das/app.vxml`` (VoiceXML 2.1) and ``/bad/error.vxml`` (an HTML page). The
proxies allow only the DAS origin (squid: nginx's port; tinyproxy: its URL): a request for the lighttpd origin is
the proxy's to deny.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf.inventory import DasDestination, WebDestination
from gvpconf_lab.interop_peers import LighttpdPeer, SquidPeer, TinyproxyPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.tlsca import CA
from gvpconf_lab.web import _HTML_ERROR, _VXML, VXML_NS, NginxPeer
from selftests.interop import matrix

APP = "/das/app.vxml"
FILES = {APP: _VXML.format(ns=VXML_NS, version="2.1", form="das_main"), "/bad/error.vxml": _HTML_ERROR}


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory, ca: CA, untrusted_ca: CA) -> Iterator[dict[str, Any]]:
    wd = tmp_path_factory.mktemp("interop-http")
    certs = {"ok": ca.issue("i-nginx"), "expired": ca.issue("i-nginx-old", expired=True),
             "wronghost": ca.issue("i-nginx-wrong", dns=["wrong.invalid"], ips=[]),
             "untrusted": untrusted_ca.issue("i-nginx-untrusted"), "ca": (ca.ca_cert, ca.ca_cert)}
    nginx = NginxPeer("nginx", wd / "nginx", free_port(), tls_port=free_port(), expired_port=free_port(),
                      wronghost_port=free_port(), untrusted_port=free_port(), certs=certs)
    lighttpd = LighttpdPeer("lighttpd", wd / "lighttpd", free_port(), FILES)
    squid = SquidPeer("squid", wd / "squid", free_port(), das_ports=[nginx.port])
    tinyproxy = TinyproxyPeer("tinyproxy", wd / "tinyproxy", free_port(),
                              allowed_prefix=f"http://{nginx.host}:{nginx.port}/")
    with running(nginx, lighttpd, squid, tinyproxy):
        for package in ("nginx", "lighttpd", "squid", "tinyproxy"):
            matrix.version(package, f"{package} (Debian)", debian_version(package))
        yield {"nginx": nginx, "lighttpd": lighttpd, "squid": squid, "tinyproxy": tinyproxy}


@pytest.mark.parametrize("cell", matrix.cells("HTTP"), ids=lambda c: c.id)
def test_http_vxml(cell: matrix.Cell, peers: dict[str, Any]) -> None:
    origin = peers[cell.implementation]
    path = {"VoiceXML application": APP, "missing application (404)": "/das/missing.vxml",
            "HTML page instead of VoiceXML": "/bad/error.vxml"}[cell.scenario]
    r = matrix.run("http.vxml", 20, WebDestination(applications=[path]), origin.host, origin.port)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("http.status", "vxml.version"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS:
        assert r.evidence.facts["vxml.parsed"] == 1 and r.evidence.facts["vxml.version"] == "2.1"
    elif "404" in cell.scenario:
        assert r.evidence.facts["http.status"] == 404
    else:
        assert "VoiceXML" in str(r.failure), r.failure


@pytest.mark.parametrize("cell", matrix.cells("DAS fetch proxy"), ids=lambda c: c.id)
def test_das_through_proxy(cell: matrix.Cell, peers: dict[str, Any]) -> None:
    das, other = peers["nginx"], peers["lighttpd"]
    if cell.implementation == "nginx posing as a proxy":
        proxy, origin_host, origin_port = das, "gvp-das.invalid", 80
    else:
        proxy = peers[cell.implementation]
        origin = das if cell.scenario.startswith("allowed") else other
        origin_host, origin_port = origin.host, origin.port
    proxy_url = f"http://{proxy.host}:{proxy.port}"
    r = matrix.run("http.vxml", 12, DasDestination(proxy=proxy_url, applications=[APP]), origin_host, origin_port)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("http.status", "http.proxy_via"))
    assert got == cell.expected, r.failure
    facts = r.evidence.facts
    if got == matrix.PASS:  # forwarded, and the proxy said so (RFC 9110 §7.6.3)
        assert facts["vxml.parsed"] == 1
        assert facts["http.proxy"] == proxy_url
        assert cell.implementation in str(facts["http.proxy_via"]), facts
    else:
        assert proxy_url in str(r.failure), r.failure  # the message names the proxy
    if cell.scenario.startswith("denied"):
        assert "the DAS was not reached" in str(r.failure), r.failure
