"""Waivers: validated like the inventory (one line naming file, key, fix); an expired one fails the run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gvpconf_lab import Lab
from selftests.helpers import run_suite
from selftests.report.conftest import write_yaml

GOOD = {"connection": 2, "source": "rm", "reason": "r", "owner": "o", "expires": "2999-01-01"}

BROKEN = {
    "missing owner": ([{k: v for k, v in GOOD.items() if k != "owner"}], "waivers[0].owner: missing required key"),
    "bad date": ([dict(GOOD, expires="soon")], "waivers[0].expires: Input should be a valid date"),
    "wrong source": ([dict(GOOD, source="mcp")], "connection 2 starts at 'rm', not 'mcp'"),
    "unknown key": ([dict(GOOD, ownr="x")], "waivers[0].ownr: unknown key (remove it or check its spelling)"),
    "not a list": ({"connection": 2}, "the top level must be a list of waivers"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_waivers_file_is_one_line(lab: Lab, tmp_path: Path, case: str) -> None:
    data, expected = BROKEN[case]
    path = write_yaml(tmp_path / "waivers.yaml", data)
    run = run_suite(tmp_path, "--gvp-waivers", str(path), "--gvp-reports", str(tmp_path / "r"),
                    inventory=lab.inventory_path)
    assert run.rc == 4, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: waiver error: {path}: "), run.stderr
    assert expected in lines[0], lines[0]


def test_expired_waiver_fails_the_run_and_waives_nothing(lab: Lab, tmp_path: Path) -> None:
    data = copy.deepcopy(lab.inventory())
    data["destinations"]["sip_server"]["accept_status"] = ["404"]  # -> #1 fails (semantic)
    inventory = write_yaml(tmp_path / "inventory.yaml", data)
    waivers = write_yaml(tmp_path / "waivers.yaml", [
        {"connection": 1, "source": "rm", "reason": "SIP 404 accepted during migration", "owner": "voice-team",
         "expires": "2000-01-31"},
        {"connection": 2, "source": "rm", "reason": "not needed", "owner": "ops", "expires": "2999-01-01"}])
    reports = tmp_path / "reports"
    run = run_suite(tmp_path, "--connection", "1", "--connection", "2", "--gvp-waivers", str(waivers),
                    "--gvp-reports", str(reports), inventory=inventory)
    assert run.rc == 1
    line = (f"waiver error: {waivers}: waivers[0] (connection 1 from rm, owner voice-team) expired on 2000-01-31 "
            "(renew it with a new 'expires' date or remove it)")
    assert [x for x in run.stdout.splitlines() if x.startswith("waiver error:")] == [line]
    assert run.suite_properties["connection.1.verdict"] == "FAILED"  # an expired waiver waives nothing
    assert run.suite_properties["run.error"] == line
    md = (reports / "report.md").read_text()
    assert f"> **Run failed:** {line}" in md
    assert "| 2 | rm | * | ops | 2999-01-01 | active (unused) | not needed |" in md


def test_expired_waiver_alone_fails_a_passing_run(lab: Lab, tmp_path: Path) -> None:
    waivers = write_yaml(tmp_path / "waivers.yaml", [dict(GOOD, expires="2001-02-03")])
    run = run_suite(tmp_path, "--connection", "2", "--gvp-waivers", str(waivers), "--gvp-reports",
                    str(tmp_path / "r"), inventory=lab.inventory_path)
    assert run.suite_properties["connection.2.verdict"] == "verified"
    assert run.rc == 1, run.stdout
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("waiver error:")]
    assert "waivers[0] (connection 2 from rm, owner o) expired on 2001-02-03" in line
