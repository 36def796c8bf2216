"""The TLS checks every TLS probe shares (``gvpconf.probes.tlscheck``), through ``http.ors`` over https, against
two TLS stacks: Python's ssl module (the lab's ``tls_server``) and ``openssl s_server -www``.

Each stack serves a certificate from the lab CA (trusted), one from another CA (untrusted), and one capped at
TLS 1.2 that a ``min_version: TLSv1.3`` inventory must refuse.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

import pytest

from gvpconf.inventory import OrsDestination, TlsSettings
from gvpconf_lab.interop_peers import OpensslServerPeer, debian_version, running
from gvpconf_lab.ports import free_port
from gvpconf_lab.tlsca import CA, tls_server
from selftests.interop import matrix

PROTOCOL = "TLS"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
SCENARIOS = ("trusted certificate", "untrusted CA", "TLS 1.2 only, min_version TLSv1.3")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, ca: CA, untrusted_ca: CA) -> Iterator[dict[str, tuple[str, int]]]:
    wd = tmp_path_factory.mktemp("interop-tls")
    good, bad = ca.issue("i-tls"), untrusted_ca.issue("i-tls-untrusted")
    certs = {SCENARIOS[0]: (good, False), SCENARIOS[1]: (bad, False), SCENARIOS[2]: (good, True)}
    found: dict[str, tuple[str, int]] = {}
    openssl = []
    with contextlib.ExitStack() as stack:
        for scenario, ((cert, key), capped) in certs.items():
            found[f"Python ssl/{scenario}"] = stack.enter_context(tls_server(
                cert, key, reply=HTTP_OK, max_version=ssl.TLSVersion.TLSv1_2 if capped else None))
            peer = OpensslServerPeer(f"openssl-{len(openssl)}", wd / f"openssl-{len(openssl)}", free_port(),
                                     cert=cert, key=key, tls1_2_only=capped)
            openssl.append(peer)
            found[f"openssl s_server/{scenario}"] = (peer.host, peer.port)
        stack.enter_context(running(*openssl))
        matrix.version("Python ssl", "python3 (ssl module)", ssl.OPENSSL_VERSION)
        matrix.version("openssl s_server", "openssl (Debian)", debian_version("openssl"))
        yield found


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_tls_checks(cell: matrix.Cell, servers: dict[str, tuple[str, int]], ca: CA) -> None:
    _host, port = servers[f"{cell.implementation}/{cell.scenario}"]
    minimum = "TLSv1.3" if "TLSv1.3" in cell.scenario else "TLSv1.2"
    tls = TlsSettings(ca_file=ca.ca_cert, expected_issuers=[ca.common_name], min_version=minimum)
    r = matrix.run("http.ors", 11, OrsDestination(scheme="https", tls=tls), "localhost", port)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("tls.version", "tls.issuer"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS:
        assert r.evidence.facts["tls.issuer"] == f"CN={ca.common_name}"
        assert r.evidence.facts["tls.verify"] == "on"
    elif "untrusted" in cell.scenario:
        assert "untrusted CA" in str(r.failure), r.failure
    else:
        assert "TLSv1.3" in str(r.failure), r.failure
