"""The merged acceptance report: several pods' ``results.json`` into one report for the whole deployment,
every row with its verdict per source pod and zone, in JSON, Markdown, HTML (and in chromium), Prometheus."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gvpconf.catalog import CONNECTIONS
from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf.pods.reports import merged_record
from gvpconf.report import merge, model, write_all
from gvpconf.report.model import CaseRecord, ConnectionRecord, RunRecord
from gvpconf_lab import Lab
from selftests.helpers import ROOT, run_suite
from selftests.report.conftest import Browser, open_page, write_yaml

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64
WAIVER = {"connection": "17", "source": "configserver", "target": "postgres", "reason": "old DB until CHG-4711",
          "owner": "dba@example.com", "expires": "2999-12-31", "status": "active"}


def case(n: int, target: str, probe: str, outcome: str = "passed", cause: str = "", message: str = "") -> CaseRecord:
    return CaseRecord(nodeid=f"tests/x/test_c{n:02d}.py::t[{target}]", connection=n, test="t", target=target,
                      address=f"{target}:1", probe=probe, outcome=outcome, cause=cause, message=message,
                      duration_ms=12.0, facts={f"{probe}.rtt_ms": 1.5})


def record(pod: str, zone: str, role: str, ran: dict[int, tuple[str, list[CaseRecord], str]],
           digest: str = DIGEST_A, started: str = "2025-06-01T02:00:00+00:00") -> RunRecord:
    """A run from ``pod`` whose rows are ``ran`` (verdict, cases, why); every other row filtered out by --source."""
    rows = []
    for c in CONNECTIONS:
        verdict, cases, why = ran.get(c.number, ("not selected", [], f"filtered out by --source {role}"))
        causes = sorted({k.cause for k in cases if k.cause})
        rows.append(ConnectionRecord(
            number=c.number, source=c.source, source_label=c.source_label, destination=c.destination,
            destination_label=c.destination_label, protocol=c.protocol, ports=c.ports,
            classification=c.suite_class, seed_classification=c.seed_classification, verdict=verdict,
            detail=f"{sum(k.outcome == 'passed' for k in cases)}/{len(cases)} cases passed" if cases else "",
            why=why, causes=causes, cases=cases))
    return RunRecord(suite_version="0.1.0", cluster="prod-eu", namespace="gvp", inventory_path="/inv.yaml",
                     inventory_sha256=digest, source_role=role, source_pod=pod, source_zone=zone, started=started,
                     finished=(dt.datetime.fromisoformat(started) + dt.timedelta(minutes=1)).isoformat(),
                     duration_s=60.0,
                     exit_status=1 if any(v == "FAILED" for v, _, _ in ran.values()) else 0,
                     selection=f"--source {role}", connections=rows,
                     waivers=[WAIVER] if role == "configserver" else [])


def scenario_runs() -> list[RunRecord]:
    mcp0 = record("mcp-0", "zone-a", "mcp", {
        7: ("verified", [case(7, "gvp-configserver", "configserver.hold")], ""),
        8: ("verified", [case(8, "gvp-rs", "activemq.stomp")], "")})
    mcp1 = record("mcp-1", "zone-b", "mcp", {
        7: ("not configured", [], "no configserver target in the inventory"),
        8: ("FAILED", [case(8, "gvp-rs", "activemq.stomp", "failed", "timeout", "no answer within 5 s")], "")},
        started="2025-06-01T02:05:00+00:00")
    cfg = record("cfg-0", "zone-a", "configserver", {
        17: ("waived", [case(17, "postgres", "postgres.login", "waived", "protocol", "not PostgreSQL")], "")},
        digest=DIGEST_B)
    return [mcp0, mcp1, cfg]


@pytest.fixture
def merged(tmp_path: Path) -> tuple[RunRecord, Path]:
    paths = []
    for run in scenario_runs():
        p = tmp_path / f"results-{run.source_pod}.json"
        p.write_text(run.to_json())
        paths.append(str(p))
    out = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "gvpconf.report", "merge", *paths, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # #8 FAILED from mcp-1
    assert "merged from 3 source pods" in proc.stdout
    return model.load(out / "results.json"), out


def test_per_pod_and_overall_verdicts_in_json(merged: tuple[RunRecord, Path]) -> None:
    run, _ = merged
    rows = {r.number: r for r in run.connections}
    assert len(rows) == 22 and run.merged
    # one pod verified, one FAILED: FAILED overall, both pods named with their verdicts
    assert rows[8].verdict == "FAILED"
    assert [(v.where, v.text) for v in rows[8].per_source] == [("mcp-0@zone-a", "verified"),
                                                              ("mcp-1@zone-b", "FAILED (timeout)")]
    assert {(c.source, c.outcome) for c in rows[8].cases} == {("mcp-0@zone-a", "passed"),
                                                              ("mcp-1@zone-b", "failed")}
    # a row only one pod ran: verified (mcp-1 did not run it, and says why)
    assert rows[7].verdict == "verified"
    assert [(v.where, v.verdict) for v in rows[7].per_source] == [("mcp-0@zone-a", "verified"),
                                                                 ("mcp-1@zone-b", "not configured")]
    assert "not run from mcp-1@zone-b (no configserver target in the inventory)" in rows[7].detail
    # waived stays waived, never passed
    assert rows[17].verdict == "waived" and rows[17].per_source[0].text == "waived (protocol)"
    # rows of a role no merged run came from say why; rows of the roles that ran but not this row keep the reason
    assert rows[15].verdict == "not run" and "no run from a rs source was merged" in rows[15].why
    assert rows[9].verdict == "not selected" and rows[9].why == "filtered out by --source mcp"
    # environment: every run, the differing inventory digest flagged
    assert [(s.where, s.role, s.digest_differs) for s in run.sources] == [
        ("mcp-0@zone-a", "mcp", False), ("mcp-1@zone-b", "mcp", False), ("cfg-0@zone-a", "configserver", True)]
    assert run.started == "2025-06-01T02:00:00+00:00" and run.finished == "2025-06-01T02:06:00+00:00"
    assert run.inventory_sha256 == "differs between the runs"
    assert any("different inventories" in n and "cfg-0@zone-a bbbbbbbbbbbb" in n for n in run.notes)
    assert run.waivers == [WAIVER] and run.exit_status == 1


def test_markdown_shows_a_verdict_per_pod(merged: tuple[RunRecord, Path]) -> None:
    _, out = merged
    md = (out / "report.md").read_text()
    table = md.split("## Connections", 1)[1].split("\n## ", 1)[0]
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\| (\d+) \| .*$", table, re.M)}
    assert len(rows) == 22
    assert "| **FAILED** | mcp-0@zone-a verified<br>mcp-1@zone-b FAILED (timeout) |" in rows[8]
    assert "mcp-1@zone-b → gvp-rs gvp-rs:1 · activemq.stomp · 12 ms: FAILED (timeout)" in rows[8]
    assert "mcp-1@zone-b: timeout: no answer within 5 s" in rows[8]
    assert "| verified | mcp-0@zone-a verified<br>mcp-1@zone-b not configured |" in rows[7]
    assert "| **waived** | cfg-0@zone-a waived (protocol) |" in rows[17]
    assert "| not run |" in rows[15] and "no run from a rs source was merged" in rows[15]
    assert "## Source pod runs" in md and "(DIFFERS from the other runs)" in md
    assert "> **Note:** the runs used different inventories" in md
    assert "### #8 mcp from mcp-1@zone-b -> gvp-rs (gvp-rs:1): FAILED (timeout)" in md


def test_prometheus_has_a_series_per_pod(merged: tuple[RunRecord, Path]) -> None:
    _, out = merged
    families = {f.name: f for f in text_string_to_metric_families((out / "metrics.prom").read_text())}
    success = {s.labels["source_pod"]: s.value for s in families["probe_success"].samples
               if s.labels["connection"] == "8"}
    assert success == {"mcp-0": 1, "mcp-1": 0}
    per_pod = {(s.labels["source_pod"], s.labels["verdict"]) for s in families["gvp_connection_source_verdict"].samples
               if s.labels["connection"] == "8"}
    assert per_pod == {("mcp-0", "verified"), ("mcp-1", "FAILED")}
    assert [s.labels["verdict"] for s in families["gvp_connection_verdict"].samples
            if s.labels["connection"] == "8"] == ["FAILED"]


def test_a_pod_that_could_not_run_fails_its_role(tmp_path: Path) -> None:
    runs = scenario_runs()
    outcomes = [RunOutcome(SourcePod(r.source_role, r.source_pod, r.source_zone), junit="<testsuites/>",
                           results=r.to_json(), backend="netns") for r in runs]
    outcomes.append(RunOutcome(SourcePod("rm", "rm-1", "zone-b"), error="cannot attach: 403 Forbidden",
                               cause="attach"))
    outcomes.append(RunOutcome(SourcePod("sd", "sd-0", "zone-a"), junit="<testsuites/>", exit_code=3))
    run = merged_record(outcomes)
    rows = {r.number: r for r in run.connections}
    for n in (1, 2, 3, 4):
        assert rows[n].verdict == "FAILED", n
        (v,) = rows[n].per_source
        assert (v.where, v.text) == ("rm-1@zone-b", "FAILED (could not run: cannot attach: 403 Forbidden)")
    assert rows[5].verdict == "FAILED" and "the run produced no results.json (exit 3)" in rows[5].per_source[0].detail
    assert rows[8].verdict == "FAILED" and rows[7].verdict == "verified"  # the other pods' rows are unchanged
    assert "rm-1@zone-b (rm) could not run: cannot attach: 403 Forbidden" in run.problems
    write_all(run, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert ("| rm-1@zone-b | rm | - | - | - | - | **FAILED: could not run (attach): cannot attach: 403 Forbidden** |"
            in md)
    row1 = next(line for line in md.split("## Connections", 1)[1].splitlines() if line.startswith("| 1 | "))
    assert "rm-1@zone-b FAILED (could not run: cannot attach: 403 Forbidden)" in row1
    assert "rm-1@zone-b: could not run: cannot attach: 403 Forbidden" in row1


def test_merge_rejects_garbage_and_merged_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json: not a gvpconf results file"):
        merge.load_inputs([str(bad)])
    merged = merge.merge([merge.Input(r) for r in scenario_runs()])
    with pytest.raises(ValueError, match="already a merged report"):
        merge.merge([merge.Input(merged, path="m.json")])


PER_SOURCE_JS = """JSON.stringify(Array.from(document.querySelectorAll('#connections tbody tr')).map(tr => ({
  id: tr.id, verdict: tr.querySelector('td.verdict .v').innerText,
  pods: Array.from(tr.querySelectorAll('td.per-source li')).map(li => {
    const b = li.querySelector('.v'); const r = b.getBoundingClientRect();
    return {text: li.innerText, bg: getComputedStyle(b).backgroundColor, visible: r.width > 0 && r.height > 0};
  })})))"""


def test_browser_shows_per_pod_verdicts(merged: tuple[RunRecord, Path], browser: Browser) -> None:
    _, out = merged
    url = (out / "report.html").as_uri()
    page = open_page(browser, url)
    assert page.requests == [url]
    rows = {r["id"]: r for r in json.loads(page.evaluate(PER_SOURCE_JS))}
    assert len(rows) == 22
    c08 = rows["c08"]
    assert c08["verdict"] == "FAILED"
    assert [p["text"] for p in c08["pods"]] == ["mcp-0@zone-a verified", "mcp-1@zone-b FAILED (timeout)"]
    assert all(p["visible"] for p in c08["pods"])
    assert c08["pods"][1]["bg"] == "rgb(251, 212, 212)" and c08["pods"][0]["bg"] != c08["pods"][1]["bg"]
    assert [p["text"] for p in rows["c17"]["pods"]] == ["cfg-0@zone-a waived (protocol)"]
    body = page.evaluate("document.body.innerText")
    assert "merged from 3 source pods" in body
    runs = page.evaluate("document.getElementById('runs').innerText")
    for where in ("mcp-0@zone-a", "mcp-1@zone-b", "cfg-0@zone-a"):
        assert where in runs
    assert "DIFFERS from the other runs" in runs
    assert "Note: the runs used different inventories" in body


CANARY = "CANARY-merge-5e0c91-never-print"


def test_recorded_runs_from_two_pods_merge_without_secrets(lab: Lab, tmp_path: Path) -> None:
    """Two real runs of #8 (a STOMP login failing with a canary password, so its CONNECT frame is evidence),
    as pods mcp-0@zone-a and mcp-1@zone-b, merged by the CLI: both pods shown, the canary nowhere."""
    secret = tmp_path / "canary"
    secret.write_text(CANARY)
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["activemq"]["password"] = {"file": str(secret)}
    inventory = write_yaml(tmp_path / "inventory.yaml", data)
    results = []
    for pod, zone in (("mcp-0", "zone-a"), ("mcp-1", "zone-b")):
        reports = tmp_path / f"reports-{pod}"
        run = run_suite(tmp_path, "--connection", "8", "--source", "mcp", "--gvp-reports", str(reports),
                        inventory=inventory, env={"GVP_SOURCE_POD": pod, "GVP_SOURCE_ZONE": zone})
        assert run.rc == 1, run.stdout[-2000:]
        results.append(str(reports / "results.json"))
    out = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "gvpconf.report", "merge", *results, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    merged_run = model.load(out / "results.json")
    (row,) = [r for r in merged_run.connections if r.number == 8]
    assert row.verdict == "FAILED"
    assert [v.text for v in row.per_source] == ["FAILED (auth)", "FAILED (auth)"]
    assert [v.where for v in row.per_source] == ["mcp-0@zone-a", "mcp-1@zone-b"]
    stomp = [c for c in row.cases if c.probe == "activemq.stomp"]
    assert {c.source for c in stomp} == {"mcp-0@zone-a", "mcp-1@zone-b"}
    assert all(any(text.startswith("CONNECT") for _d, text in c.transcript) for c in stomp)  # evidence is there
    html = (out / "report.html").read_text()
    assert "mcp-0@zone-a" in html and "mcp-1@zone-b" in html
    files = sorted(out.iterdir())
    assert {f.name for f in files} == {"report.html", "report.md", "results.json", "metrics.prom"}
    for text in (proc.stdout, proc.stderr, *(f.read_text() for f in files)):
        assert CANARY not in text


def test_a_pod_that_verified_with_warnings_counts_as_having_run() -> None:
    from gvpconf.report import merge as m

    warned = record("mcp-0", "zone-a", "mcp", {11: ("verified with warnings", [case(11, "ors", "http.ors")], "")})
    warned.connections[10].warnings = ["ors: tls.expiry_warning: expires in 29 days (threshold 30)"]
    clean = record("mcp-1", "zone-b", "mcp", {11: ("verified", [case(11, "ors", "http.ors")], "")})
    row = m.merge([m.Input(warned), m.Input(clean)]).connections[10]
    assert row.verdict == "verified with warnings"
    assert row.detail == "2/2 source pods verified (1 with warnings)"
    assert row.warnings == ["mcp-0@zone-a: ors: tls.expiry_warning: expires in 29 days (threshold 30)"]
