"""The pods lab's inventory rewrite: every file the lab's inventory names outside the pods' view becomes a key of
the Secret ``gvp-lab-files`` and is named there; the role Secrets' paths are left as they are. Pure."""

from __future__ import annotations

from gvpconf_lab.netlab.cluster import FILES_SECRET, SECRETS_ROOT, _relocated, lab_files


def test_files_and_ca_files_become_keys_once_each_and_the_inventory_names_them_in_the_secret() -> None:
    inv = {"destinations": {
        "nexus": {"token": {"file": "/tmp/lab/nexus-token"}, "tls": {"ca_file": "/tmp/lab/ca.pem"}},
        "google_tts": {"credentials": {"file": "/tmp/lab/tts.json"}, "tls": {"ca_file": "/tmp/lab/ca.pem"}},
        "postgres": {"password": {"file": f"{SECRETS_ROOT}/gvp-pg/password"}, "tls": {"ca_file": "/x/pg-ca.crt"}},
        "mcp": {"targets": [{"name": "m", "host": "10.0.0.1", "port": 5070}]},
    }}
    files = lab_files(inv)
    assert files == {"/tmp/lab/nexus-token": "00-nexus-token", "/tmp/lab/ca.pem": "01-ca.pem",
                     "/tmp/lab/tts.json": "02-tts.json", "/x/pg-ca.crt": "03-pg-ca.crt"}
    moved = _relocated(inv["destinations"], files)
    root = f"{SECRETS_ROOT}/{FILES_SECRET}"
    assert moved["nexus"] == {"token": {"file": f"{root}/00-nexus-token"}, "tls": {"ca_file": f"{root}/01-ca.pem"}}
    assert moved["google_tts"]["tls"]["ca_file"] == f"{root}/01-ca.pem"
    assert moved["postgres"]["password"] == {"file": f"{SECRETS_ROOT}/gvp-pg/password"}  # a role Secret's own
    assert moved["mcp"] == inv["destinations"]["mcp"]


def test_an_inventory_without_lab_files_gives_no_secret() -> None:
    assert lab_files({"destinations": {"mcp": {"targets": []}}}) == {}
