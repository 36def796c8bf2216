"""A broken inventory gives one line naming the file, the key and the fix: never a traceback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gvpconf import inventory
from selftests.helpers import ROOT, run_suite, write_inventory

GOOD_TARGET = "targets: [{name: x, host: 127.0.0.1, port: 9}]"

BROKEN = {
    "missing key": ("version: 1\ndestinations:\n  postgres:\n    " + GOOD_TARGET + "\n",
                    "destinations.postgres: missing required key 'username'"),
    "wrong type": ("version: 1\ndestinations:\n  configserver:\n    hold: soon\n    " + GOOD_TARGET + "\n",
                   "destinations.configserver.hold: Input should be a valid number"),
    "port out of range": ("version: 1\ndestinations:\n  sip_server:\n    targets: [{host: a, port: 70000}]\n",
                          "destinations.sip_server.targets.0.port"),
    "misspelt key": ("version: 1\ndestinations:\n  sip_server:\n    targets: [{hots: a, port: 5090}]\n",
                     "unknown key 'hots'"),
    "unknown destination": ("version: 1\ndestinations:\n  sbc_typo:\n    " + GOOD_TARGET + "\n",
                            "destinations: unknown key 'sbc_typo'"),
    "unknown connection": ("version: 1\nconnections:\n  \"23\": {enabled: false}\n",
                           "unknown connection '23'"),
    "bad yaml": ("version: 1\ndestinations: [\n", "YAML syntax error"),
    "not a mapping": ("- 1\n- 2\n", "the top level must be a mapping"),
    "wrong version": ("version: 2\n", "version: Input should be 1"),
    "secret ref with both": ("version: 1\ndestinations:\n  activemq:\n    password: {env: A, file: /b}\n    "
                             + GOOD_TARGET + "\n", "exactly one of 'env' or 'file'"),
    "sslmode that does not verify, verify not off": (
        "version: 1\ndestinations:\n  postgres:\n    username: u\n    sslmode: require\n    " + GOOD_TARGET + "\n",
        "destinations.postgres: sslmode require does not verify the server's certificate: say so with tls: "
        "{verify: false}"),
    "verify-ca without CA": ("version: 1\ndestinations:\n  postgres:\n    username: u\n    sslmode: verify-ca"
                             "\n    " + GOOD_TARGET + "\n", "sslmode verify-ca needs tls.ca_file"),
    "CA given twice": ("version: 1\ndestinations:\n  consul:\n    ca_file: /a.pem\n    tls: {ca_file: /b.pem}"
                       "\n    " + GOOD_TARGET + "\n", "ca_file and tls.ca_file both given"),
    "misspelt tls key": ("version: 1\ndestinations:\n  postgres:\n    username: u\n    tls: {min_verison: TLSv1.3}"
                         "\n    " + GOOD_TARGET + "\n", "destinations.postgres.tls: unknown key 'min_verison'"),
    "top-level ca_file where it never was": ("version: 1\ndestinations:\n  ors:\n    ca_file: /a.pem\n    "
                                             + GOOD_TARGET + "\n", "destinations.ors: unknown key 'ca_file'"),
    # the stricter validator: file, line and key, one line each
    "duplicate target names": ("version: 1\ndestinations:\n  sip_server:\n    targets:\n"
                               "      - {name: sip, host: 10.0.0.1, port: 5090}\n"
                               "      - {name: sip, host: 10.0.0.2, port: 5090}\n",
                               ":4: destinations.sip_server.targets: duplicate target name 'sip'"),
    "duplicate YAML key": ("version: 1\ndestinations:\n  sip_server:\n    " + GOOD_TARGET + "\n  sip_server:\n    "
                           + GOOD_TARGET + "\n", ":5: duplicate key 'sip_server' (first at line 3; keep one)"),
    "boolean port": ("version: 1\ndestinations:\n  sip_server:\n    targets:\n      - host: a\n        port: true\n",
                     ":6: destinations.sip_server.targets.0.port: a boolean where a number belongs"),
    "boolean seconds": ("version: 1\ndestinations:\n  configserver:\n    hold: yes\n    " + GOOD_TARGET + "\n",
                        ":4: destinations.configserver.hold: a boolean where a number belongs"),
    "boolean in a list of ports": ("version: 1\ndestinations:\n  consul:\n    https_ports: [8501, true]\n",
                                   ":4: destinations.consul.https_ports: a boolean where a number belongs"),
    "host with a space": ("version: 1\ndestinations:\n  sip_server:\n    targets: [{host: gvp sip, port: 5090}]\n",
                          ":4: destinations.sip_server.targets.0.host: 'gvp sip' is not a DNS name or an IP address"),
    "URL as host": ("version: 1\ndestinations:\n  das:\n    targets: [{host: 'http://das.gvp.svc:8081/', port: 80}]\n",
                    "destinations.das.targets.0.host: give the host, not a URL (host: das.gvp.svc, port: 8081)"),
    "literal secret": ("version: 1\ndestinations:\n  activemq:\n    password: hunter2-not-shown\n    "
                       + GOOD_TARGET + "\n", ":4: destinations.activemq.password: a secret is never written in the "
                       "inventory: use {env: NAME} or {file: PATH}"),
    "rtp_range upside down": ("version: 1\ndestinations:\n  mcp:\n    rtp_range: {min: 45000, max: 20000}\n",
                              "destinations.mcp.rtp_range: port range min 45000 is above max 20000 (swap them"),
}

#: secret problems fail only the connections that need them (cause config), all reported in the same run
SECRET_PROBLEMS = {
    "unreadable secret file": ({"file": "/nonexistent/amq"}, "destinations.activemq.password: secret file "
                               "/nonexistent/amq is unreadable: No such file or directory (mount the secret"),
    "secret from an unset variable": ({"env": "GVP_NO_SUCH_VAR"}, "destinations.activemq.password: environment "
                                      "variable GVP_NO_SUCH_VAR is not set (export it"),
    "binary secret file": ({"file": "BINARY"}, "is not UTF-8 text (store the secret as text"),
    "secret file over 64 KiB": ({"file": "LARGE"}, "is larger than 64 KiB (point at the secret itself"),
    "secret file that never ends": ({"file": "/dev/zero"}, "secret file /dev/zero is larger than 64 KiB"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_inventory_is_one_line(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    bad = tmp_path / "inventory.yaml"
    bad.write_text(text)
    run = run_suite(tmp_path, inventory=bad)
    assert run.rc == 4, run.stdout + run.stderr  # pytest's usage-error exit code
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert str(bad) in lines[0] and expected in lines[0], lines[0]
    assert "Traceback" not in run.stdout + run.stderr
    assert "hunter2" not in run.stdout + run.stderr  # a literal secret is never shown


def secret_ref(tmp_path: Path, ref: dict[str, str]) -> dict[str, str]:
    """``BINARY`` and ``LARGE`` stand for a binary secret file and one over 64 KiB, made here."""
    if ref.get("file") == "BINARY":
        (tmp_path / "binary").write_bytes(b"\xff\xfe\x00secret\x80")
        return {"file": str(tmp_path / "binary")}
    if ref.get("file") == "LARGE":
        (tmp_path / "large").write_text("x" * (64 * 1024 + 1))
        return {"file": str(tmp_path / "large")}
    return ref


@pytest.mark.parametrize("case", sorted(SECRET_PROBLEMS))
def test_secret_problem_fails_only_the_connections_that_need_it(tmp_path: Path, case: str) -> None:
    """#2 needs no secret and is probed (its port refuses); every case of #3 fails with cause config, one line
    naming the key, the source and the fix, for both of its broken secrets in the same run."""
    ref, expected = SECRET_PROBLEMS[case]
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        port = refused.getsockname()[1]
        t = [{"name": "t", "host": "127.0.0.1", "port": port}]
        inv = write_inventory(tmp_path, {"version": 1, "destinations": {
            "configserver": {"hold": 0.2, "targets": t},
            "activemq": {"username": {"env": "GVP_NO_SUCH_USER"}, "password": secret_ref(tmp_path, ref),
                         "stomp_port": port, "targets": t}}})  # STOMP enabled: both of #3's cases need the login
        run = run_suite(tmp_path, "--connection", "2", "--connection", "3", inventory=inv)
    out = run.stdout + run.stderr
    assert run.rc == 1, out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    (c2,) = run.by_connection(2)
    assert c2.outcome == "failed" and c2.properties["cause"] == "refused", c2
    c3 = run.by_connection(3)
    assert len(c3) == 2
    for c in c3:
        assert c.outcome == "failed" and c.properties["cause"] == "config", c
        assert expected in c.message and "destinations.activemq.username: environment variable GVP_NO_SUCH_USER " \
            "is not set" in c.message, c.message
        assert "probe" not in c.properties  # nothing was sent for it
    assert run.suite_properties["connection.3.verdict"] == "FAILED"


def test_cli_reports_every_secret_problem_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    inv = write_inventory(tmp_path, {"version": 1, "destinations": {
        "activemq": {"username": {"env": "GVP_NO_SUCH_USER"}, "password": {"file": str(tmp_path / "binary")}},
        "postgres": {"username": "u", "password": {"file": "/dev/zero"}}}})
    out = subprocess.run([sys.executable, "-m", "gvpconf.inventory", "--secrets", str(inv)], cwd=ROOT,
                         capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                               if not k.startswith("GVP_")})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 3, out.stderr
    assert all(line.startswith(f"inventory error: {inv}: destinations.") for line in lines), lines
    assert "GVP_NO_SUCH_USER" in lines[0] and "not UTF-8" in lines[1] and "larger than 64 KiB" in lines[2]


def test_a_literal_secret_is_never_echoed_by_the_cli(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("version: 1\ndestinations:\n  nexus:\n    token: s3cr3t-canary-value\n")
    out = subprocess.run([sys.executable, "-m", "gvpconf.inventory", str(inv)], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 2 and "use {env: NAME} or {file: PATH}" in out.stderr, out.stderr
    assert "s3cr3t" not in out.stdout + out.stderr


def test_a_boolean_stays_welcome_where_the_key_takes_one() -> None:
    inv = inventory.parse({"version": 1, "destinations": {"customer": {"json_field": "ok", "json_value": True}}})
    assert inv.destinations.customer is not None and inv.destinations.customer.json_value is True


@pytest.mark.parametrize("host", ["::1", "fe80::1%eth0", "2001:db8::5", "10.0.0.1", "gvp-rs.gvp.svc.cluster.local",
                                  "gvp-rs.gvp.svc.cluster.local.", "localhost", "_sip._tcp.example.com"])
def test_hosts_that_are_names_or_ip_literals_are_accepted(host: str) -> None:
    inv = inventory.parse({"version": 1, "destinations": {"sip_server": {"targets": [{"host": host, "port": 5090}]}}})
    sip = inv.destinations.sip_server
    assert sip is not None and sip.targets[0].host == host
    if ":" in host:
        assert sip.targets[0].address == f"[{host}]:5090"


def test_secrets_of_unselected_connections_are_not_read(tmp_path: Path) -> None:
    """In an MCP pod the Config Server's database secret is not mounted: --source mcp must not need it."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text("version: 1\ndestinations:\n  postgres:\n    username: u\n    password: {file: /nonexistent}"
                   "\n    " + GOOD_TARGET + "\n")
    run = run_suite(tmp_path, "--source", "mcp", inventory=inv)
    assert "nonexistent" not in run.stderr
    assert run.rc == 0, run.stdout + run.stderr  # everything from MCP is 'not configured' here


def test_missing_inventory_file_and_no_inventory(tmp_path: Path) -> None:
    run = run_suite(tmp_path, inventory=tmp_path / "nope.yaml")
    assert run.rc == 4 and "no such inventory file" in run.stderr
    run = run_suite(tmp_path)
    assert run.rc == 4 and "no inventory: pass --inventory FILE" in run.stderr


def test_example_inventory_is_valid_and_uses_gvp_names() -> None:
    inv = inventory.load(ROOT / "fixtures" / "inventory.example.yaml")
    assert inv.cluster.namespace == "gvp"
    cs = inv.destinations.configserver
    assert cs is not None and cs.targets[0].port == 8888
    amq = inv.destinations.activemq
    assert amq is not None and amq.targets[0].port == 61616
    mcp = inv.destinations.mcp
    assert mcp is not None and all(t.port == 5070 for t in mcp.targets)


def test_published_json_schema_is_current() -> None:
    published = json.loads((ROOT / "fixtures" / "inventory.schema.json").read_text())
    assert published == inventory.json_schema(), "run: make schema"


def test_cli_validates_a_file() -> None:
    out = subprocess.run([sys.executable, "-m", "gvpconf.inventory", "fixtures/inventory.example.yaml"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout


def test_timeouts_layer_connection_over_destination_over_defaults() -> None:
    inv = inventory.parse({
        "version": 1, "defaults": {"timeouts": {"connect": 4, "read": 5, "probe": 20}},
        "destinations": {"mcp": {"timeouts": {"read": 2}, "targets": []}},
        "connections": {"4": {"timeouts": {"connect": 1}}},
    })
    t = inv.timeouts_for(4)
    assert (t.connect, t.read, t.probe) == (1, 2, 20)
    assert inv.timeouts_for(1).connect == 4


def test_one_tls_model_for_every_tls_destination() -> None:
    """The same ``tls`` section everywhere; Consul's and PostgreSQL's former keys are read into it."""
    section = {"ca_file": "/etc/ca.pem", "min_version": "TLSv1.3", "expiry_warning_days": 10,
               "expected_issuers": ["DigiCert"], "server_name": "peer.example.com"}
    inv = inventory.parse({"version": 1, "destinations": {
        key: {"tls": section, **({"username": "u"} if key == "postgres" else {})}
        for key in ("ors", "das", "web", "customer", "gvp_metrics", "nexus", "google_tts", "consul", "postgres")}})
    for key in ("ors", "das", "web", "customer", "gvp_metrics", "nexus", "google_tts", "consul", "postgres"):
        dest = inv.destination(key)
        assert isinstance(dest, inventory.TlsDestination), key
        assert dest.tls == inventory.TlsSettings.model_validate(section), key
    old = inventory.parse({"version": 1, "destinations": {
        "consul": {"ca_file": "/etc/consul-ca.pem"},
        "postgres": {"username": "u", "sslmode": "verify-full", "ca_file": "/etc/pg-ca.pem"}}})
    assert old.destinations.consul is not None and str(old.destinations.consul.tls.ca_file) == "/etc/consul-ca.pem"
    pg = old.destinations.postgres
    assert pg is not None and str(pg.tls.ca_file) == "/etc/pg-ca.pem" and pg.effective_sslmode == "verify-full"


@pytest.mark.parametrize(("tls", "sslmode", "effective"), [
    ({}, None, "verify-full"),
    ({"verify": False}, None, "require"),
    ({"verify": False}, "disable", "disable"),
    ({"verify": False}, "prefer", "prefer"),
    ({"ca_file": "/ca.pem"}, "verify-ca", "verify-ca"),
])
def test_postgres_sslmode_follows_the_tls_section(tls: dict[str, object], sslmode: str | None,
                                                  effective: str) -> None:
    section: dict[str, object] = {"username": "u", "tls": tls} | ({"sslmode": sslmode} if sslmode else {})
    pg = inventory.parse({"version": 1, "destinations": {"postgres": section}}).destinations.postgres
    assert pg is not None and pg.effective_sslmode == effective


def test_postgres_sslmode_cannot_contradict_tls_verify() -> None:
    with pytest.raises(inventory.InventoryError, match=r"verifies the server but tls\.verify is false"):
        inventory.parse({"version": 1, "destinations": {"postgres": {
            "username": "u", "sslmode": "verify-full", "tls": {"verify": False}}}})


def test_example_inventory_with_one_secret_unset_probes_everything_else(tmp_path: Path) -> None:
    """The example inventory, every host moved to a loopback port that refuses (nothing leaves the machine), every
    secret given but $GVP_RS_AMQ_USER: #3 and #8 (ActiveMQ) fail with cause config naming it, before sending
    anything; every other selected case is probed; the reports say exactly which cases failed for the secret."""
    import yaml

    data = yaml.safe_load((ROOT / "fixtures" / "inventory.example.yaml").read_text())
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        port = refused.getsockname()[1]
        loopback = f"127.0.0.1:{port}"
        for key, dest in data["destinations"].items():
            for t in dest.get("targets", []):
                t["host"], t["port"] = "127.0.0.1", port
            for field in dest:
                ref = dest[field]
                if isinstance(ref, dict) and set(ref) == {"file"}:
                    (tmp_path / f"{key}-{field}").write_text(f"{key}-{field}-value")
                    ref["file"] = str(tmp_path / f"{key}-{field}")
        d = data["destinations"]
        d["das"]["proxy"] = f"http://{loopback}"
        d["gvp_metrics"]["prometheus_url"] = f"http://{loopback}"
        d["mcp"]["ingress"]["rtsp_url"] = f"rtsp://{loopback}/synthesizer"
        d["nuance"]["rtsp_urls"] = [f"rtsp://{loopback}/recognizer"]
        inv = write_inventory(tmp_path, data)
        assert "svc.cluster.local" not in inv.read_text() and "googleapis.com:" not in inv.read_text()
        reports = tmp_path / "reports"
        run = run_suite(tmp_path, "--gvp-reports", str(reports), inventory=inv,
                        env={"GVP_RS_DB_READER": "reader", "GVP_CS_DB_USER": "cs"}, timeout=300)
    out = run.stdout + run.stderr
    assert run.rc == 1 and "Traceback" not in out and "INTERNALERROR" not in out, out[-3000:]
    probed = [c for c in run.cases if c.outcome != "skipped"]
    for_secret = [c for c in probed if c.properties["connection"] in ("3", "8")]
    assert for_secret and len(for_secret) < len(probed)
    for c in for_secret:
        assert c.properties["cause"] == "config" and "probe" not in c.properties, c
        assert "destinations.activemq.username: environment variable GVP_RS_AMQ_USER is not set" in c.message
    for c in probed:
        if c not in for_secret:
            assert "probe" in c.properties, c  # probed: the missing secret took nothing else down
            assert "GVP_RS_AMQ_USER" not in c.message
    results = json.loads((reports / "results.json").read_text())
    failed_for_it = sorted(f"#{case['connection']} {case['test']}" for row in results["connections"]
                           for case in row["cases"] if "GVP_RS_AMQ_USER" in case["message"])
    assert failed_for_it == sorted(f"#{c.properties['connection']} {c.name.split('[')[0]}" for c in for_secret)
    md = (reports / "report.md").read_text()
    assert md.count("GVP_RS_AMQ_USER is not set") >= len(for_secret)
    (note,) = [n for n in results["notes"] if n.startswith("secret unusable: ")]
    assert "GVP_RS_AMQ_USER" in note and all(f"#{c.properties['connection']} {c.name}" in note for c in for_secret)
    assert all(c.properties.get("warning") is None for c in for_secret)
    assert re.search(r"^secret unusable \(failed: #3, #8\): .*GVP_RS_AMQ_USER", run.stdout, re.M), run.stdout[-3000:]
