"""A canary secret appears in no output: stdout, stderr, JUnit and every file of the reports directory,
evidence (the last protocol exchange of a failed login) included."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gvpconf_lab import Lab
from selftests.helpers import run_suite
from selftests.report.conftest import write_yaml

CANARY = "CANARY-report-7d21b4-never-print"


def test_canary_in_no_output(lab: Lab, tmp_path: Path) -> None:
    secret = tmp_path / "canary"
    secret.write_text(CANARY)
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["activemq"]["password"] = {"file": str(secret)}
    data["destinations"]["postgres"]["password"] = {"env": "GVP_CANARY_PG"}
    inventory = write_yaml(tmp_path / "inventory.yaml", data)
    reports = tmp_path / "reports"
    baseline = tmp_path / "baseline.json"
    first = run_suite(tmp_path, "--connection", "8", "--connection", "17", "--gvp-reports", str(reports),
                      inventory=inventory, env={"GVP_CANARY_PG": CANARY})
    baseline.write_text((reports / "results.json").read_text())
    run = run_suite(tmp_path, "--connection", "8", "--connection", "17", "-vv", "--tb=long", "--gvp-reports",
                    str(reports), "--gvp-baseline", str(baseline), inventory=inventory,
                    env={"GVP_CANARY_PG": CANARY})
    assert first.rc == run.rc == 1
    results = json.loads((reports / "results.json").read_text())
    stomp = next(c for row in results["connections"] for c in row["cases"] if c["probe"] == "activemq.stomp")
    assert stomp["outcome"] == "failed" and stomp["cause"] == "auth"
    assert any(d == "->" and text.startswith("CONNECT") for d, text in stomp["transcript"])  # evidence is there
    files = sorted(reports.iterdir())
    assert {f.name for f in files} >= {"report.html", "report.md", "results.json", "metrics.prom"}
    for text in (run.stdout, run.stderr, run.junit_text, first.stdout, *(f.read_text() for f in files)):
        assert CANARY not in text
