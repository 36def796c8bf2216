"""A library loads only when a selected connection needs it: ``--collect-only`` and ``--plan`` load no protocol
library, ``--connection 1`` (SIP: plain sockets) loads none either, ``--connection 22`` loads h2 (the gRPC
probe speaks HTTP/2 itself: no grpcio, no google-cloud types, no google-auth) and still nothing of the other
areas. Start-up time and RSS follow from these imports (measured by ``bench/``); this checks the behaviour behind
the figures, in a fresh process each time."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: the heavy libraries of the probes, and those of the pods runner
HEAVY = ("grpc", "google.cloud.texttospeech_v1", "google.auth", "kubernetes", "pymssql", "psycopg", "cryptography",
         "httpx", "httpcore", "h2", "anyio", "websockets", "consul", "requests", "stomp", "prometheus_client",
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


def test_grpc_connection_loads_h2_and_nothing_of_other_areas(tmp_path: Path) -> None:
    loaded = loaded_after(tmp_path, "--connection", "22")
    assert "h2" in loaded
    assert not loaded & {"grpc", "google.cloud.texttospeech_v1", "google.auth"}
    assert not loaded & {"kubernetes", "pymssql", "psycopg", "httpx", "websockets", "consul", "stomp"}
