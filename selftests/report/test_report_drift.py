"""Baseline drift between two recorded runs, reported exactly: new failures, fixes, verdict changes,
latency regressions beyond the threshold and changed facts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gvpconf.report import drift
from gvpconf.report.model import CaseRecord, ConnectionRecord, RunRecord
from gvpconf_lab import Lab, impostors
from selftests.helpers import run_suite
from selftests.report.conftest import target, write_yaml


def record(cases: list[CaseRecord], verdict: str = "verified") -> RunRecord:
    row = ConnectionRecord(1, "rm", "RM", "sip_server", "SIP Server", "SIP/TCP", "5090", "egress", "Egress",
                           verdict, cases=cases)
    return RunRecord("0.1.0", "c", "gvp", "inv.yaml", "0" * 64, "all", "pod", "", "2025-01-01T00:00:00+00:00",
                     "2025-01-01T00:00:01+00:00", 1.0, connections=[row])


def case(target_name: str, outcome: str = "passed", duration: float = 10.0, **facts: str | float) -> CaseRecord:
    return CaseRecord(f"t::{target_name}", 1, "test", target_name, probe="sip.options", outcome=outcome,
                      duration_ms=duration, facts=dict(facts), cause="refused" if outcome == "failed" else "",
                      message="connection refused" if outcome == "failed" else "")


def test_compare_reports_each_kind_exactly() -> None:
    before = record([case("a", **{"sip.server": "sipp-3.6", "sip.rtt_ms": 2.0}), case("b", "failed"),
                     case("c", duration=100.0), case("d", duration=1.0), case("gone")])
    after = record([case("a", **{"sip.server": "sipp-3.7", "sip.rtt_ms": 9.0}), case("b"),
                    case("c", duration=149.0), case("d", duration=4.0), case("new", "failed")], verdict="FAILED")
    result = drift.compare(before, after, "last-night.json")
    assert [(i.kind, i.key, i.what, i.before, i.after) for i in result.items] == [
        ("fixed", "#1 b sip.options", "", "failed", "passed"),
        ("verdict", "#1", "", "verified", "FAILED"),
        ("latency", "#1 a sip.options", "sip.rtt_ms", "2.0 ms", "9.0 ms (+350%)"),
        ("changed", "#1 a sip.options", "sip.server", "'sipp-3.6'", "'sipp-3.7'"),
        ("new case", "#1 new sip.options", "", "", "failed"),
        ("gone", "#1 gone sip.options", "", "passed", ""),
    ]  # c: +49% is under the 50% threshold; d: +300% but only 3 ms, under the 5 ms floor
    assert drift.lines(drift.compare(before, before, "x.json"))[1].startswith("no drift")
    assert [i.text for i in result.items][:2] == ["fixed: #1 b sip.options: failed -> passed",
                                                  "verdict: #1: verified -> FAILED"]


def test_drift_between_two_recorded_runs(lab: Lab, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    args = ("--connection", "1", "--connection", "2", "--connection", "17", "--gvp-reports", str(reports))
    first = run_suite(tmp_path, *args, inventory=lab.inventory_path)
    assert first.rc == 0, first.stdout
    # last night: SIP Server sent another Server header, PostgreSQL was 14, #17's login failed, #2 was fast
    night = json.loads((reports / "results.json").read_text())
    for row in night["connections"]:
        for c in row["cases"]:
            if c["probe"] == "sip.options":
                c["facts"]["sip.server"] = "sipp-old"
            if c["probe"] == "postgres.login":
                c["facts"]["postgres.version"] = "PostgreSQL 14.9"
                c["outcome"], c["cause"], c["message"] = "failed", "auth", "password authentication failed"
            # every other timing was slower last night, so tonight's jitter cannot look like a regression
            c["facts"].update({k: 1e9 for k, v in c["facts"].items()
                               if k.endswith("_ms") and isinstance(v, int | float)})
            c["duration_ms"] = 100.0 if c["probe"] == "configserver.hold" else 1e9
    baseline = tmp_path / "last-night.json"
    baseline.write_text(json.dumps(night))
    data = copy.deepcopy(lab.inventory())
    with impostors.refused() as stopped:  # tonight the SIP Server is gone
        data["destinations"]["sip_server"]["targets"] = [target(stopped, "sip-server")]
        run = run_suite(tmp_path, *args, "--gvp-baseline", str(baseline),
                        inventory=write_yaml(tmp_path / "inventory.yaml", data))
    result = json.loads((reports / "results.json").read_text())["drift"]
    got = [(i["kind"], i["key"], i["what"], i["before"]) for i in result["items"]]
    assert got == [
        ("new failure", "#1 sip-server sip.options", "", "passed"),
        ("new failure", "#1 sip-server sipmtu.options", "", "passed"),
        ("fixed", "#17 postgres postgres.login", "", "failed"),
        ("verdict", "#1", "", "verified"),
        ("latency", "#2 gvp-configserver configserver.hold", "duration", "100.0 ms"),
        ("changed", "#17 postgres postgres.login", "postgres.version", "'PostgreSQL 14.9'"),
    ], got
    terminal = run.stdout.split("GVP drift", 1)[1]
    assert f"compared with {baseline}" in terminal
    assert "new failure: #1 sip-server sip.options: passed -> failed (refused: " in terminal
    assert "fixed: #17 postgres postgres.login: failed -> passed" in terminal
    assert "changed: #17 postgres postgres.login postgres.version: 'PostgreSQL 14.9' -> 'PostgreSQL 15." in terminal
    md = (reports / "report.md").read_text()
    assert "## Drift since the baseline" in md and "| new failure | #1 sip-server sip.options |" in md
