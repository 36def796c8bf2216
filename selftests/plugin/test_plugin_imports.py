"""A library loads only when a selected connection needs it: ``--collect-only`` and ``--plan`` load no protocol
library, ``--connection 1`` (SIP: plain sockets) loads none either, ``--connection 22`` loads hpack (the gRPC
probe speaks HTTP/2 itself, with our codec: no h2, no grpcio, no google-cloud types, no google-auth) and still
nothing of the other areas. Start-up time and RSS follow from these imports (measured by ``bench/``); this checks
the behaviour behind the figures, in a fresh process each time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: the heavy libraries of the probes, and those of the pods runner
HEAVY = ("grpc", "google.cloud.texttospeech_v1", "google.auth", "kubernetes", "pymssql", "psycopg", "cryptography",
         "httpx", "httpcore", "h2", "hpack", "anyio", "websockets", "consul", "requests", "stomp", "prometheus_client",
         "defusedxml", "scapy")

_RUN = """
import json, sys, pytest
rc = pytest.main(sys.argv[2:])
heavy = json.loads(sys.argv[1])
print("LOADED=" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on return: nothing listens there


def loaded_after(tmp_path: Path, *args: str) -> set[str]:
    port = refused_port()
    inv = {"version": 1, "defaults": {"timeouts": {"connect": 1.0, "read": 1.0, "probe": 2.0}},
           "destinations": {
               "sip_server": {"targets": [{"name": "sip", "host": "127.0.0.1", "port": port}]},
               "google_tts": {"targets": [{"name": "tts", "host": "127.0.0.1", "port": port}]},
               "sqlserver": {"targets": [{"name": "sql", "host": "127.0.0.1", "port": port}]},
               "customer": {"scheme": "http", "path": "/",
                            "targets": [{"name": "crm", "host": "127.0.0.1", "port": port}]}}}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(HEAVY), "tests", "-q", "-p", "no:cacheprovider",
                           "--inventory", str(path), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("LOADED=")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return set(json.loads(lines[-1][len("LOADED="):]))


@pytest.mark.parametrize("mode", ["--collect-only", "--plan"])
def test_collect_and_plan_load_no_protocol_library(tmp_path: Path, mode: str) -> None:
    assert loaded_after(tmp_path, mode) == set()


def test_sip_connection_loads_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_after(tmp_path, "--connection", "1") == set()


def test_grpc_connection_loads_hpack_and_nothing_of_other_areas(tmp_path: Path) -> None:
    loaded = loaded_after(tmp_path, "--connection", "22")
    assert "hpack" in loaded
    assert not loaded & {"h2", "grpc", "google.cloud.texttospeech_v1", "google.auth"}
    assert not loaded & {"kubernetes", "pymssql", "psycopg", "httpx", "websockets", "consul", "stomp"}


def test_a_silent_or_refusing_peer_costs_no_library_its_probe_loads_after_connecting(tmp_path: Path) -> None:
    """13's websockets (and asyncio) and 18's prometheus_client parser load once a connection is up: against a port
    that refuses, neither is imported (in an all-blackholed run every import before the last connect delays the
    run's end)."""
    port = refused_port()
    inv = {"version": 1, "defaults": {"timeouts": {"connect": 1.0, "read": 1.0, "probe": 2.0}},
           "destinations": {
               "nexus": {"scheme": "ws", "path": "/nexus", "targets": [{"name": "nexus", "host": "127.0.0.1",
                                                                         "port": port}]},
               "gvp_metrics": {"targets": [{"name": "gvp-mcp-0", "host": "127.0.0.1", "port": port}]}}}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    heavy = [*HEAVY, "asyncio"]
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(heavy), "tests", "-q", "-p", "no:cacheprovider",
                           "--inventory", str(path), "--connection", "13", "--connection", "18"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "refused" in proc.stdout, proc.stdout[-2000:]  # both probed, both refused
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("LOADED=")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not set(json.loads(lines[-1][len("LOADED="):])) & {"websockets", "asyncio", "prometheus_client"}


def test_a_library_that_connects_by_itself_loads_during_the_probes_own_handshake(tmp_path: Path) -> None:
    """psycopg (17) and py-consul with requests (6, plain http) open their own connections: each probe starts a
    TCP handshake of its own before loading its library (``net.EarlyConnect``), so against a port that refuses the
    probe fails there, refused, and the library is never imported. 12's plain http through its fetch proxy goes
    on h11 over our own connection: no httpx at all."""
    port = refused_port()
    inv = {"version": 1, "defaults": {"timeouts": {"connect": 1.0, "read": 1.0, "probe": 2.0}},
           "destinations": {
               "postgres": {"database": "gvp", "username": {"env": "GVP_TEST_PG_USER"},
                            "tls": {"verify": False}, "sslmode": "disable",
                            "targets": [{"name": "pg", "host": "127.0.0.1", "port": port}]},
               "consul": {"targets": [{"name": "consul", "host": "127.0.0.1", "port": port}]},
               "das": {"proxy": f"http://127.0.0.1:{port}", "applications": ["/main.vxml"],
                       "targets": [{"name": "das", "host": "127.0.0.1", "port": 8081}]}}}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(HEAVY), "tests", "-q", "-p", "no:cacheprovider",
                           "--inventory", str(path), "--connection", "17", "--connection", "6", "--connection", "12",
                           "-rA"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GVP_TEST_PG_USER": "gvp"})
    out = proc.stdout
    for row in ("#17 ", "#6 ", "#12 "):  # each row's probes ran and were refused
        assert any(line.startswith(row) and ": refused: " in line for line in out.splitlines()), (row, out[-3000:])
    lines = [ln for ln in out.splitlines() if ln.startswith("LOADED=")]
    assert lines, out[-2000:] + proc.stderr[-2000:]
    assert not set(json.loads(lines[-1][len("LOADED="):])) & {"psycopg", "consul", "requests", "httpx"}


_REWRITTEN = """
import json, sys, pytest
from _pytest.assertion.rewrite import AssertionRewritingHook
rc = pytest.main(sys.argv[1:])
rewritten = sorted(name for name, mod in list(sys.modules.items())
                   if name.startswith(("gvpconf", "test_c")) and isinstance(getattr(mod, "__loader__", None),
                                                                         AssertionRewritingHook))
print("REWRITTEN=" + json.dumps(rewritten))
"""


def test_product_modules_are_not_assertion_rewritten(tmp_path: Path) -> None:
    """pytest would parse and rewrite every ``gvpconf`` module at each start (its plugin's distribution), past the
    bytecode compiled into the image; only ``gvpconf``, ``gvpconf.plugin`` (loaded before the plugin can say
    otherwise) and its small ``fixtures`` (a ``pytest_plugins`` entry, marked by pytest after it) are.
    The conformance modules are rewritten: a failed ``assert`` still shows its values."""
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "destinations": {
        "sip_server": {"targets": [{"name": "sip", "host": "127.0.0.1", "port": refused_port()}]}}}))
    proc = subprocess.run([sys.executable, "-c", _REWRITTEN, "tests", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "--inventory", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("REWRITTEN=")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    rewritten = set(json.loads(lines[-1][len("REWRITTEN="):]))
    assert {m for m in rewritten if m.startswith("gvpconf")} <= {"gvpconf", "gvpconf.plugin", "gvpconf.plugin.fixtures"}
    assert "test_c01_rm_sip_server" in rewritten and len([m for m in rewritten if m.startswith("test_c")]) == 22
