"""gRPC (connection 22: TextToSpeech.ListVoices over TLS) against grpcio and @grpc/grpc-js, each serving the
TextToSpeech service with the lab's rule (a bearer JWT signed by the lab's service-account key), and each also
run without the service (every call UNIMPLEMENTED)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf.inventory import GoogleTtsDestination, Secret, TlsSettings
from gvpconf_lab.interop_peers import NodePeer, npm_version, running, tcp_ready
from gvpconf_lab.ports import free_port
from gvpconf_lab.tlsca import CA
from gvpconf_lab.web import TTS_NAME, service_account_key
from gvpconf_lab.web_servers import tts_server
from selftests.interop import matrix

PROTOCOL = "gRPC"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str, str]:
    """(the server's key JSON, its public key, another key JSON the server does not know)"""
    key_json, public = service_account_key()
    return key_json, public, service_account_key()[0]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, ca: CA, keys: tuple[str, str, str]) -> Iterator[dict[str, int]]:
    import grpc  # type: ignore[import-untyped]

    wd = tmp_path_factory.mktemp("interop-grpc")
    cert, key = ca.issue("i-tts", dns=[TTS_NAME, "localhost"], ips=["127.0.0.1"])
    public_file = wd / "sa-public.pem"
    public_file.write_text(keys[1])
    py_ok, py_port = tts_server("127.0.0.1", 0, cert=cert, key=key, public_key_pem=keys[1])
    py_none, py_none_port = tts_server("127.0.0.1", 0, cert=cert, key=key, public_key_pem=keys[1], with_service=False)
    node: list[NodePeer] = []
    for service in (True, False):
        port = free_port()
        node.append(NodePeer(f"grpc-js-{len(node)}", wd / f"grpc-js-{len(node)}", port, script="grpc_server.js",
                             args=["--cert", str(cert), "--key", str(key), "--public-key", str(public_file),
                                   *([] if service else ["--no-service"])],
                             ready=tcp_ready("127.0.0.1", port), what="@grpc/grpc-js TextToSpeech"))
    try:
        with running(*node):
            matrix.version("grpcio", "grpcio (PyPI)", grpc.__version__)
            matrix.version("@grpc/grpc-js", "@grpc/grpc-js (npm)", npm_version("@grpc/grpc-js"))
            yield {"grpcio": py_port, "grpcio/none": py_none_port, "@grpc/grpc-js": node[0].port,
                   "@grpc/grpc-js/none": node[1].port}
    finally:
        py_ok.stop(0)
        py_none.stop(0)


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_grpc_list_voices(cell: matrix.Cell, servers: dict[str, int], ca: CA, keys: tuple[str, str, str]) -> None:
    secrets: dict[str, Any] = {}
    if cell.scenario.startswith("ListVoices") or "UNIMPLEMENTED" in cell.scenario:
        secrets["credentials"] = Secret(keys[0])
    elif cell.scenario.startswith("key the server"):
        secrets["credentials"] = Secret(keys[2])
    port = servers[cell.implementation + ("/none" if "UNIMPLEMENTED" in cell.scenario else "")]
    dest = GoogleTtsDestination(tls=TlsSettings(ca_file=ca.ca_cert, expected_issuers=[ca.common_name],
                                                server_name=TTS_NAME))
    r = matrix.run("grpc.tts_list_voices", 22, dest, "127.0.0.1", port, secrets=secrets)
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("grpc.status", "grpc.auth", "tts.voices"))
    assert got == cell.expected, r.failure
    facts = r.evidence.facts
    assert facts["tls.alpn"] == "h2"
    if cell.scenario.startswith("ListVoices"):
        assert facts["grpc.auth"] == "authenticated" and facts["tts.voices"] == 2  # the two en-US voices
    elif cell.scenario.startswith("without"):
        assert facts["grpc.auth"] == "unauthenticated-path-proven" and facts["grpc.status"] == "UNAUTHENTICATED"
    elif cell.scenario.startswith("key"):
        assert facts["grpc.status"] == "UNAUTHENTICATED"
    else:
        assert facts["grpc.status"] == "UNIMPLEMENTED"
