"""No secret on any output path: a canary in every secret field of the inventory, the proxy's userinfo included,
a run with DEBUG logging (captured, live and to a log file), ``-rA``, ``-o junit_logging=all`` and a reflecting
peer, then every byte the run wrote is searched for the canary: the terminal (stdout and stderr), the JUnit file,
every file of the reports directory and the log file. The count must be 0.

Every destination with a secret is pointed at one reflecting peer (``impostors.http_reflector``): it answers each
request with a 403 whose body is the request, so the token, the Authorization header and the proxy's Basic
credentials come back in the answer and into the probes' failure messages. The canary is long, so that a message
cut at 200 characters (Consul's) cuts through it, and the needle searched for is its first 6 characters, so that
such a cut's remainder counts. The proxy's password is another canary, in the URL only (so no other field's
secret masks it), and the start of its Basic credentials is searched for too.
"""

from __future__ import annotations

import base64
import copy
import secrets
from pathlib import Path
from typing import Any

import yaml

from gvpconf.inventory import Inventory
from gvpconf_lab import impostors
from selftests.helpers import ROOT, run_suite, write_inventory

# the rows whose destination has a secret field: 3, 8 ActiveMQ; 6, 10 Consul; 11 ORS; 12 DAS; 13 Nexus;
# 16 SQL Server; 17 PostgreSQL; 18 metrics; 20 web; 21 customer; 22 Google TTS
ROWS = (3, 6, 8, 10, 11, 12, 13, 16, 17, 18, 20, 21, 22)
PROXIED = ("ors", "das", "web", "customer", "gvp_metrics")  # the HTTP destinations, each through a proxy
PROXY_USER = "gvp-proxy"
#: the Consul probes ask for the leader first, without the token: answered, so that the token is sent next
CONSUL_LEADER = {b"GET /v1/status/leader ": b'"127.0.0.1:8300"'}


def canary_inventory(tmp: Path, canary_file: Path, proxy_canary: str, address: tuple[str, int]) -> Path:
    """The example inventory with every target at ``address``, every secret field read from ``canary_file``
    and every HTTP destination behind a proxy at ``address`` whose password is ``proxy_canary``."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "fixtures" / "inventory.example.yaml").read_text())
    data["defaults"] = {"timeouts": {"connect": 1.0, "read": 1.0, "probe": 3.0}}
    data["retry"] = {"default": {"attempts": 1}}
    data.pop("connections", None)
    inventory = Inventory.model_validate(copy.deepcopy(data))
    planted = 0
    for name, dest in data["destinations"].items():
        dest["targets"] = [{"name": name, "host": address[0], "port": address[1]}]
        dest.get("tls", {}).pop("ca_file", None)
        model = getattr(inventory.destinations, name)
        for field in model.secret_fields():
            dest[field] = {"file": str(canary_file)}
            planted += 1
        if name in PROXIED:
            dest["proxy"] = f"http://{PROXY_USER}:{proxy_canary}@{address[0]}:{address[1]}"
            dest["scheme"] = "http"
            planted += 1
        if name == "nexus":
            dest["scheme"] = "ws"  # the reflecting peer speaks no TLS
        if name == "gvp_metrics":
            dest["prometheus_url"] = f"http://{address[0]}:{address[1]}"
    assert planted >= 20, planted  # every secret field of every destination, and five proxies
    return write_inventory(tmp, data)


def basic(password: str) -> str:
    """The proxy's Basic credentials (``Proxy-Authorization``), which a reflecting proxy echoes."""
    return base64.b64encode(f"{PROXY_USER}:{password}".encode()).decode()


def needles(proxy_canary: str) -> list[str]:
    """What must appear nowhere: the canaries' first characters (both start so), and what the proxy's Basic
    credentials start with (the user name and the password's first characters)."""
    return [proxy_canary[:6], basic(proxy_canary)[:16]]


def count_hits(needle: str, texts: dict[str, str]) -> dict[str, int]:
    return {where: text.count(needle) for where, text in texts.items() if needle in text}


def test_canary_in_no_output_with_debug_logs_and_a_reflecting_peer(tmp_path: Path) -> None:
    canary = "c4n4ry" + secrets.token_hex(150)  # 306 characters: a cut at 200 falls inside it
    proxy_canary = "c4n4ry" + secrets.token_hex(8)  # in the proxy URL only: masked on load, or it leaks
    canary_file = tmp_path / "secrets" / "canary"
    canary_file.parent.mkdir()
    canary_file.write_text(canary)
    seen: list[bytes] = []
    reports = tmp_path / "reports"
    log_file = tmp_path / "logs" / "run.log"
    with impostors.http_reflector(seen=seen, fixed=CONSUL_LEADER) as address:
        inventory = canary_inventory(tmp_path, canary_file, proxy_canary, address)
        args = [arg for n in ROWS for arg in ("--connection", str(n))]
        run = run_suite(tmp_path, *args, "-vv", "--tb=long", "--log-level=DEBUG", "--log-cli-level=DEBUG",
                        "--log-file", str(log_file), "--log-file-level=DEBUG", "-o", "junit_logging=all",
                        "--gvp-reports", str(reports), "--gvp-workers", "4", inventory=inventory, timeout=300)
    # the run reached the peer with the secrets, and wrote what is searched
    assert run.rc == 1, run.stdout[-3000:] + run.stderr[-3000:]
    requests = b"".join(seen).decode("latin-1")
    assert f"X-Consul-Token: {canary}" in requests, "the Consul probe never sent its token"
    assert f"Authorization: Bearer {canary}" in requests, "no bearer token reached the peer"
    assert "Proxy-Authorization: Basic " + basic(proxy_canary) in requests, "no proxy credentials reached the peer"
    assert "Captured log" in run.stdout and "<system-out>" in run.junit_text, "nothing captured to search"
    assert log_file.stat().st_size > 0 and sorted(p.name for p in reports.iterdir())
    assert "***" in run.junit_text  # the reflected secrets are there, masked
    texts = {"stdout": run.stdout, "stderr": run.stderr, "junit": run.junit_text,
             "log file": log_file.read_text(errors="replace")}
    texts |= {f"reports/{p.name}": p.read_text(errors="replace") for p in sorted(reports.iterdir())}
    assert "Authorization: Bearer ***" in texts["log file"]  # websockets' DEBUG log of the handshake, masked
    hits = {needle: count_hits(needle, texts) for needle in needles(proxy_canary)}
    assert hits == {needle: {} for needle in needles(proxy_canary)}, f"secrets written: {hits}"
