"""WebSocket (connection 13) against two server implementations with the same Nexus stand-in rules (path,
Authorization header, subprotocol, echo): the ``websockets`` library and npm's ``ws`` on Node.js."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gvpconf.inventory import NexusDestination, Secret, TlsSettings
from gvpconf_lab.interop_peers import NodePeer, npm_version, running, tcp_ready
from gvpconf_lab.ports import free_port
from gvpconf_lab.tlsca import CA
from gvpconf_lab.web_servers import nexus_server, server_context
from selftests.interop import matrix

PROTOCOL = "WebSocket"
PATH = "/nexus/v3/voicebot"
SUBPROTOCOL = "nexus.voicebot.v1"
TOKEN = "interop-token-0123456789"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, ca: CA) -> Iterator[dict[str, int]]:
    import websockets

    wd = tmp_path_factory.mktemp("interop-ws")
    cert, key = ca.issue("i-ws")
    token_file = wd / "token"
    token_file.write_text(TOKEN)
    py = nexus_server("127.0.0.1", 0, ssl_context=server_context(cert, key), token=TOKEN, subprotocol=SUBPROTOCOL,
                      path=PATH)
    thread = threading.Thread(target=py.serve_forever, daemon=True)
    thread.start()
    port = free_port()
    node = NodePeer("node-ws", wd / "node-ws", port, script="ws_server.js",
                    args=["--cert", str(cert), "--key", str(key), "--token-file", str(token_file),
                          "--subprotocol", SUBPROTOCOL, "--path", PATH],
                    ready=tcp_ready("127.0.0.1", port), what="ws (Node.js) over TLS")
    try:
        with running(node):
            matrix.version("websockets", "websockets (PyPI)", websockets.__version__)
            matrix.version("ws (Node.js)", "ws (npm)", npm_version("ws"))
            yield {"websockets": int(py.socket.getsockname()[1]), "ws (Node.js)": port}
    finally:
        py.shutdown()
        thread.join(5)


@pytest.mark.parametrize("cell", matrix.cells(PROTOCOL), ids=lambda c: c.id)
def test_websocket_session(cell: matrix.Cell, servers: dict[str, int], ca: CA) -> None:
    token = "wrong-token" if cell.scenario == "wrong token" else TOKEN
    path = "/elsewhere" if cell.scenario == "wrong path" else PATH
    dest = NexusDestination(scheme="wss", path=path, subprotocol=SUBPROTOCOL,
                            tls=TlsSettings(ca_file=ca.ca_cert, expected_issuers=[ca.common_name]))
    r = matrix.run("websocket.session", 13, dest, "localhost", servers[cell.implementation],
                   secrets={"token": Secret(token)})
    got = matrix.record(cell, matrix.verdict(r), r.evidence.facts, keep=("ws.subprotocol", "ws.close_code"))
    assert got == cell.expected, r.failure
    if got == matrix.PASS:
        assert r.evidence.facts["ws.subprotocol"] == SUBPROTOCOL
        assert r.evidence.facts["ws.close_code"] == 1000
    else:
        assert ("403" if cell.scenario == "wrong token" else "404") in str(r.failure), r.failure
    assert TOKEN not in str(r.evidence.transcript)
