"""A canary secret appears in no output: stdout, stderr, JUnit and every file of the reports directory,
evidence (the last protocol exchange of a failed login) included."""

from __future__ import annotations

import json
from pathlib import Path

from gvpconf_lab import Lab
from selftests.helpers import assert_absent, run_suite, with_canary

CANARY = "CANARY-report-7d21b4-never-print"


def test_canary_in_no_output(lab: Lab, tmp_path: Path) -> None:
    inventory, env = with_canary(lab.inventory(), tmp_path, CANARY, files=[("activemq", "password")],
                                 envs=[("postgres", "password", "GVP_CANARY_PG")])
    reports = tmp_path / "reports"
    baseline = tmp_path / "baseline.json"
    first = run_suite(tmp_path, "--connection", "8", "--connection", "17", "--gvp-reports", str(reports),
                      inventory=inventory, env=env)
    baseline.write_text((reports / "results.json").read_text())
    run = run_suite(tmp_path, "--connection", "8", "--connection", "17", "-vv", "--tb=long", "--gvp-reports",
                    str(reports), "--gvp-baseline", str(baseline), inventory=inventory,
                    env=env)
    assert first.rc == run.rc == 1
    results = json.loads((reports / "results.json").read_text())
    stomp = next(c for row in results["connections"] for c in row["cases"] if c["probe"] == "activemq.stomp")
    assert stomp["outcome"] == "failed" and stomp["cause"] == "auth"
    assert any(d == "->" and text.startswith("CONNECT") for d, text in stomp["transcript"])  # evidence is there
    files = sorted(reports.iterdir())
    assert {f.name for f in files} >= {"report.html", "report.md", "results.json", "metrics.prom"}
    assert_absent(CANARY, run.stdout, run.stderr, run.junit_text, first.stdout, *(f.read_text() for f in files))
