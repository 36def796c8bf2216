"""A lab run with one peer stopped (#1), one flaky peer (#2: fails once, then passes), one waived
failure (#17) and one pass with a warning (#11: its certificate within the expiry warning threshold): the
right verdicts in the terminal, JUnit, results.json, Markdown, Prometheus and HTML, and in what chromium
shows of the HTML, with every target's probed address."""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gvpconf_lab import Lab, impostors
from selftests.helpers import ROOT, Run, implemented_connections, run_suite
from selftests.report.conftest import Browser, Flaky, open_page, target, write_yaml

# `make screenshot` refreshes the README's picture; a plain test run writes to its own tmp dir
SCREENSHOT_FOR_DOCS = ROOT / "docs" / "report-screenshot.png"
HEADLINE = "2/5 selected connections verified (1 with warnings), 1 flaky, 1 waived, 1 FAILED, 17 not selected"
NOT_IMPLEMENTED = min(set(range(1, 23)) - implemented_connections(), default=None)


@pytest.fixture(scope="module")
def scenario(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path, int]:
    tmp = tmp_path_factory.mktemp("scenario")
    data: dict[str, Any] = copy.deepcopy(lab.inventory())
    with impostors.refused() as stopped, Flaky(fail_first=1) as flaky_addr, impostors.http_server() as http:
        data["destinations"]["sip_server"]["targets"] = [target(stopped, "sip-server", "zone-a")]
        data["destinations"]["configserver"]["hold"] = 0.5
        data["destinations"]["configserver"]["targets"] = [target(flaky_addr, "gvp-configserver", "zone-b")]
        data["destinations"]["postgres"]["targets"] = [target(http, "postgres-old")]
        data["retry"] = {"probes": {"configserver.hold": {"attempts": 3, "delay": 0.2}}}
        data["destinations"]["ors"]["tls"]["expiry_warning_days"] = 3650  # the lab's certificate: a warning
        inventory = write_yaml(tmp / "inventory.yaml", data)
        waivers = write_yaml(tmp / "waivers.yaml", [{
            "connection": 17, "source": "configserver", "reason": "old DB host until CHG-4711 cut-over",
            "owner": "dba@example.com", "expires": "2999-12-31"}])
        reports = tmp / "reports"
        env = {k: v for k, v in lab.environment().items() if k != "GVP_INVENTORY"}  # stand-ins, as a lab run
        run = run_suite(tmp, "--connection", "1", "--connection", "2", "--connection", "3", "--connection", "11",
                        "--connection", "17", "--gvp-reports", str(reports), "--gvp-waivers", str(waivers),
                        inventory=inventory, env=env)
    return run, reports, 0


def test_terminal_shows_failed_flaky_and_waived(scenario: tuple[Run, Path, int]) -> None:
    run, _reports, _ = scenario
    assert run.rc == 1, run.stdout + run.stderr  # #1 failed; the waived #17 does not fail the run
    table = {int(m.group(1)): m.group(0) for m in re.finditer(r"^(\d+)\s{2,}.*$", run.stdout, re.M)}
    assert re.search(r"\s(FAILED)\s+0/2 cases passed; causes: refused", table[1]), table[1]
    assert re.search(r"\sflaky\s+1/1 cases passed; 1 flaky", table[2]), table[2]
    assert re.search(r"\sverified\s+2/2 cases passed", table[3]), table[3]
    assert re.search(r"\swaived\s+0/2 cases passed; 2 waived; causes: protocol", table[17]), table[17]
    assert re.search(r"\snot selected \(--connection 1 2 3 11 17\)$", table[8]), table[8]
    assert HEADLINE in run.stdout
    assert re.search(r"^FLAKY #2 -> gvp-configserver: passed after 1 failed attempt\(s\): protocol: ", run.stdout,
                     re.M)
    assert "WAIVED #17 -> postgres-old: protocol: " in run.stdout
    assert "dba@example.com until 2999-12-31: old DB host until CHG-4711 cut-over" in run.stdout
    last = run.stdout.splitlines()[-1]
    assert re.search(r"\sverified with warnings\s+1/1 cases passed; warning: ors: tls.expiry_warning: expires in "
                     r"\d+ days \(threshold 3650\)$", table[11]), table[11]
    assert "stand-in (lab run): #2, #5, #7, #15 GVP Config Server: a silent TCP stand-in" in run.stdout
    for count in ("2 failed", "3 passed", "1 flaky", "2 waived"):  # #1's OPTIONS and its padded OPTIONS (MTU)
        assert count in last, last
    assert "PASSED" not in " ".join(line for line in run.stdout.splitlines() if "test_c17" in line)


def test_junit_has_causes_flaky_failures_and_transcripts(scenario: tuple[Run, Path, int]) -> None:
    run, _reports, _ = scenario
    props = run.suite_properties
    assert (props["connection.1.verdict"], props["connection.2.verdict"], props["connection.17.verdict"]) == (
        "FAILED", "flaky", "waived")
    assert props["connections.flaky"] == "1" and props["connections.waived"] == "1"
    assert len(props["inventory.sha256"]) == 64
    sips = run.by_connection(1)  # the OPTIONS and the padded OPTIONS of the path-MTU probe
    assert len(sips) == 2 and all(s.outcome == "failed" and s.properties["cause"] == "refused" for s in sips)
    (cfg,) = run.by_connection(2)
    assert cfg.outcome == "passed" and cfg.properties["flaky"] == "true" and cfg.properties["attempts"] == "2"
    for case in run.by_connection(17):
        assert case.outcome == "skipped" and case.message.startswith("waived by dba@example.com until 2999-12-31")
        assert case.properties["cause"] == "protocol" and "CHG-4711" in case.properties["waived"]
    root = ET.fromstring(run.junit_text)
    cfg_el = next(tc for tc in root.iter("testcase") if "test_c02" in tc.get("classname", ""))
    (flaky,) = cfg_el.findall("flakyFailure")
    assert flaky.get("type") == "protocol" and flaky.find("stackTrace") is not None
    assert cfg_el.find("failure") is None and cfg_el.findall("rerunFailure") == []
    pg = [tc for tc in root.iter("testcase") if "test_c17" in tc.get("classname", "")]
    assert all(tc.find("skipped").get("type") == "pytest.xfail" for tc in pg)  # type: ignore[union-attr]
    sslrequest = next(tc for tc in pg if "sslrequest" in tc.get("name", ""))
    out = sslrequest.find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith("last protocol exchange (secrets redacted):\n-> SSLRequest\n<- b'HTTP/1.1 400")


def test_results_json(scenario: tuple[Run, Path, int]) -> None:
    _run, reports, _ = scenario
    data = json.loads((reports / "results.json").read_text())
    verdicts = {c["number"]: c["verdict"] for c in data["connections"]}
    assert len(verdicts) == 22
    assert (verdicts[1], verdicts[2], verdicts[3], verdicts[11], verdicts[17], verdicts[5]) == (
        "FAILED", "flaky", "verified", "verified with warnings", "waived", "not selected")
    (ors,) = data["connections"][10]["cases"]
    assert ors["warnings"] and ors["warnings"][0].startswith("tls.expiry_warning: expires in ")
    if NOT_IMPLEMENTED is not None:
        assert verdicts[NOT_IMPLEMENTED] == "not implemented yet"
    by_row = {c["number"]: c for c in data["connections"]}
    (cfg,) = by_row[2]["cases"]
    assert cfg["outcome"] == "flaky" and [a["outcome"] for a in cfg["attempts"]] == ["failed", "passed"]
    assert cfg["zone"] == "zone-b"
    sips = by_row[1]["cases"]  # the OPTIONS and the padded OPTIONS of the path-MTU probe
    assert len(sips) == 2
    assert all(s["outcome"] == "failed" and s["cause"] == "refused" and "connection refused" in s["message"]
               for s in sips)
    assert {c["outcome"] for c in by_row[17]["cases"]} == {"waived"}
    assert by_row[5]["why"] == "--connection 1 2 3 11 17"
    assert data["cluster"] == "gvpconf-lab" and len(data["inventory_sha256"]) == 64
    assert data["waivers"][0]["status"] == "active"
    assert data["started"] <= data["finished"] and data["exit_status"] == 1


def test_markdown(scenario: tuple[Run, Path, int]) -> None:
    _run, reports, _ = scenario
    md = (reports / "report.md").read_text()
    table = md.split("## Connections", 1)[1].split("\n## ", 1)[0]
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\| (\d+) \|.*$", table, re.M)}
    assert len(rows) == 22
    assert rows[1].startswith("| 1 | RM pair multi-AZ | SIP Server | SIP/TCP | 5090 | egress | **FAILED** |")
    assert re.search(r"sip-server 127\.0\.0\.1:\d+ · zone zone-a · sip\.options · \d+ ms: FAILED \(refused\)", rows[1])
    assert re.search(r"\| verified with warnings: ors: tls\.expiry_warning: expires in \d+ days", rows[11]), rows[11]
    assert re.search(r"ors localhost:\d+ \(stand-in\) · http\.ors · \d+ ms: verified with warnings", rows[11])
    assert "| **flaky** |" in rows[2] and "flaky (passed at attempt 2)" in rows[2]
    assert "| **waived** |" in rows[17] and "waived (protocol)" in rows[17]
    assert "| not selected (--connection 1 2 3 11 17) |" in rows[5]
    assert "## Sign-off" in md and "| Go-live approval | | | |" in md
    assert "waived by dba@example.com until 2999-12-31: old DB host until CHG-4711 cut-over" in md


def test_prometheus_textfile(scenario: tuple[Run, Path, int]) -> None:
    _run, reports, _ = scenario
    families = {f.name: f for f in text_string_to_metric_families((reports / "metrics.prom").read_text())}

    def value(name: str, **labels: str) -> float:
        found = [s.value for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    assert value("probe_success", connection="1", source="rm", target="sip-server", probe="sip.options") == 0
    assert value("probe_failure_cause", connection="1", cause="refused", probe="sipmtu.options") == 1
    assert value("probe_success", connection="2", target="gvp-configserver") == 1
    assert value("probe_flaky", connection="2") == 1 and value("probe_attempts", connection="2") == 2
    assert value("probe_waived", connection="17", probe="postgres.login") == 1
    assert value("probe_success", connection="17", probe="postgres.login") == 0
    assert value("gvp_connection_verdict", connection="17", verdict="waived") == 1
    assert value("gvp_connection_verdict", connection="5", verdict="not selected",
                 reason="--connection 1 2 3 11 17") == 1
    assert value("gvp_connection_verdict", connection="11", verdict="verified with warnings") == 1
    assert value("probe_warning", connection="11", warning="tls.expiry_warning") == 1
    assert value("probe_duration_seconds", connection="3", probe="activemq.stomp") > 0
    assert value("probe_measurement", connection="3", probe="activemq.stomp", fact="stomp.round_trip_ms") > 0


VERDICTS_JS = """JSON.stringify(Array.from(document.querySelectorAll('#connections tbody tr')).map(tr => {
  const badge = tr.querySelector('td.verdict .v'); const r = badge.getBoundingClientRect();
  return {id: tr.id, text: tr.innerText, verdict: badge.innerText, bg: getComputedStyle(badge).backgroundColor,
          visible: r.width > 0 && r.height > 0 && getComputedStyle(badge).visibility === 'visible'};
}))"""


def test_browser_shows_the_verdicts(scenario: tuple[Run, Path, int], browser: Browser, tmp_path: Path) -> None:
    _run, reports, _ = scenario
    screenshot = SCREENSHOT_FOR_DOCS if os.environ.get("GVPCONF_UPDATE_SCREENSHOT") else tmp_path / "report.png"
    page = open_page(browser, (reports / "report.html").as_uri())
    assert page.requests == [(reports / "report.html").as_uri()]  # self-contained: nothing else fetched
    rows = {r["id"]: r for r in json.loads(page.evaluate(VERDICTS_JS))}
    assert len(rows) == 22 and all(r["visible"] for r in rows.values())
    assert [rows[k]["verdict"] for k in ("c01", "c02", "c03", "c17", "c05")] == [
        "FAILED", "flaky", "verified", "waived", "not selected (--connection 1 2 3 11 17)"]
    if NOT_IMPLEMENTED is not None:
        assert rows[f"c{NOT_IMPLEMENTED:02d}"]["verdict"] == "not implemented yet"
    colours = {rows[k]["bg"] for k in ("c01", "c02", "c03", "c17", "c05")}
    assert len(colours) == 5, colours  # each verdict looks different
    assert rows["c01"]["bg"] == "rgb(251, 212, 212)"  # red for FAILED
    assert "refused" in rows["c01"]["text"] and re.search(r"sip-server 127\.0\.0\.1:\d+ · zone zone-a",
                                                           rows["c01"]["text"])
    assert rows["c11"]["verdict"] == "verified with warnings"
    assert "tls.expiry_warning: expires in" in rows["c11"]["text"]
    assert re.search(r"ors localhost:\d+ \(stand-in\)", rows["c11"]["text"])
    assert "not selected (--connection 1 2 3 11 17)" in rows["c05"]["text"]
    body = page.evaluate("document.body.innerText")
    assert HEADLINE in body
    assert "Waived by dba@example.com until 2999-12-31: old DB host until CHG-4711 cut-over" in body
    assert "last protocol exchange (secrets redacted)" in body
    assert "Passed only after retries: 1 of 2 attempts failed." in body
    assert "Sign-off" in body and "Go-live approval" in body
    page.screenshot(screenshot)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
