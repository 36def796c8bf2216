"""What the outputs say must be true: a deselected row says what deselected it (never "not implemented yet"),
the headline counts against the selection, listing and planning read no secret and write no report, a run
replaces the previous report set as a whole, and warnings are shown beside the verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selftests.plugin.conftest import QUIET, Junit, Probed, write_inventory
from selftests.plugin.test_plugin_optin import module

C01 = module(1, ("sip.options", "options", False))  # egress
C02 = module(2, ("configserver.hold", "holds", False))  # intra
C04 = module(4, ("sip.options", "options", False), ("sip.call", "call", True))  # intra
C19 = module(19, ("rtp.ingress", "media_arrives", True))  # ingress, opt-in only


def project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_c01_rm_sip=C01, test_c02_rm_configserver=C02, test_c04_rm_mcp=C04,
                        test_c19_nuance_mcp=C19)
    t = [{"name": "t", "host": "127.0.0.1", "port": 1}]
    return write_inventory(pytester.path / "inventory.yaml", {
        "sip_server": {"targets": t}, "configserver": {"targets": t}, "mcp": {"targets": t}})


def run(pytester: pytest.Pytester, inventory: Path, *args: str) -> tuple[pytest.RunResult, dict[str, object], Junit,
                                                                          str]:
    reports = pytester.path / "reports"
    result = pytester.runpytest("--inventory", str(inventory), "--junitxml", str(reports / "junit.xml"), *QUIET, *args)
    results = json.loads((reports / "results.json").read_text())
    return result, results, Junit.read(reports / "junit.xml"), (reports / "metrics.prom").read_text()


def verdict_of(results: dict[str, object], number: int) -> str:
    rows = results["connections"]
    assert isinstance(rows, list)
    (row,) = [r for r in rows if r["number"] == number]
    return f"{row['verdict']} ({row['why']})" if row["why"] else str(row["verdict"])


@pytest.mark.parametrize(("args", "expected"), [
    (("-m", "intra"), {1: "not selected (-m intra)", 19: "not selected (-m intra)"}),
    (("-k", "options"), {2: "not selected (-k options)", 19: "not selected (-k options)"}),
    (("--connection", "2"), {1: "not selected (--connection 2)", 4: "not selected (--connection 2)"}),
    (("test_c02_rm_configserver.py",), {1: "not selected (path)", 4: "not selected (path)", 19: "not selected (path)"}),
    ((), {19: "not selected (opt-in call test: --gvp-calls)"}),
])
def test_a_deselected_row_says_what_deselected_it(pytester: pytest.Pytester, fake_probers: list[Probed],
                                                  args: tuple[str, ...], expected: dict[int, str]) -> None:
    result, results, junit, metrics = run(pytester, project(pytester), *args)
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    for number, text in expected.items():
        assert verdict_of(results, number) == text  # results.json
        assert junit.suite[f"connection.{number}.verdict"] == text  # JUnit suite properties
        assert re.search(rf"^{number}\s+.*\s{re.escape(text)}$", out, re.M), out  # the terminal table
        reason = text.removeprefix("not selected (")[:-1]
        assert re.search(rf'gvp_connection_verdict{{connection="{number}",[^}}]*verdict="not selected",'
                         rf'[^}}]*reason="{re.escape(reason)}"', metrics), metrics
    report = (pytester.path / "reports" / "report.md").read_text() + (pytester.path / "reports" / "report.html"
                                                                         ).read_text()
    for text in expected.values():
        assert text in report
    assert "not implemented yet" not in verdict_of(results, 1) + verdict_of(results, 19)


@pytest.mark.parametrize(("args", "left_out"), [(("--connection", "2"), {1: "--connection 2", 8: "--connection 2"}),
                                                (("--source", "rm"), {8: "--source rm", 19: "--source rm"})])
def test_a_row_left_out_by_connection_or_source_is_not_even_imported(
        pytester: pytest.Pytester, fake_probers: list[Probed], args: tuple[str, ...], left_out: dict[int, str]) -> None:
    """Start-up: the modules of rows ``--connection``/``--source`` leave out are not imported (one that would fail
    to import proves it), and every output still says what left them out, never "not implemented yet"."""
    inventory = project(pytester)
    pytester.makepyfile(test_c08_mcp_rs="raise RuntimeError('a left-out module was imported')")
    result, results, junit, _ = run(pytester, inventory, *args)
    assert result.ret == 0, result.stdout.str()
    for number, reason in left_out.items():
        assert verdict_of(results, number) == f"not selected ({reason})"
        assert junit.suite[f"connection.{number}.verdict"] == f"not selected ({reason})"
    assert verdict_of(results, 2) == "verified"
    assert verdict_of(results, 5).startswith("not implemented yet")


def test_with_k_every_module_is_collected(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    """``-k``/``-m`` select among every case collected (pytest's own selection), so nothing is left uncollected."""
    inventory = project(pytester)
    result, results, _, _ = run(pytester, inventory, "--connection", "2", "-k", "options")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()
    assert verdict_of(results, 1) == "not selected (--connection 2)"  # its case matched -k
    assert verdict_of(results, 2) == "not selected (-k options)"


def test_a_module_named_after_another_row_is_a_usage_error(pytester: pytest.Pytester,
                                                           fake_probers: list[Probed]) -> None:
    """``--connection``/``--source`` leave a module out by its name: the name must be its row's."""
    inventory = project(pytester)
    pytester.makepyfile(test_c05_sd_configserver=C02.replace("connection(2)", "connection(5)"),
                        test_c07_mcp_configserver=C02.replace("connection(2)", "connection(15)"))
    result = pytester.runpytest("--inventory", str(inventory), *QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_c07_mcp_configserver.py: the module is named after connection 7 but is connection 15: rename it " \
        "test_c15_<slug>.py" in result.stderr.str()


def test_the_headline_counts_against_the_selection(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    inventory = project(pytester)
    result, results, junit, _ = run(pytester, inventory, "--connection", "2", "--connection", "4")
    # the project has four modules: the 18 other rows are in the selection, and not implemented
    line = "2/20 selected connections verified, 18 not implemented yet, 2 not selected"
    assert line in result.stdout.str()
    assert results["summary"] == line
    assert junit.suite["connections.verified"] == "2/20 selected"
    assert line in (pytester.path / "reports" / "report.md").read_text()


def test_workers_below_one_is_a_usage_error(pytester: pytest.Pytester) -> None:
    for value in ("0", "-1"):
        result = pytester.runpytest("--gvp-workers", value, *QUIET)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"--gvp-workers {value}: at least 1" in result.stderr.str()


def test_plan_names_the_opt_in(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    inventory = project(pytester)
    result = pytester.runpytest("--inventory", str(inventory), "--plan", "--connection", "19", *QUIET)
    assert "#19 not probed: not selected (opt-in call test: --gvp-calls)" in result.stdout.str()


@pytest.mark.parametrize("flag", ["--collect-only", "--plan"])
def test_listing_and_planning_read_no_secret_and_write_no_report(pytester: pytest.Pytester,
                                                                  fake_probers: list[Probed], flag: str) -> None:
    project(pytester)
    inventory = write_inventory(pytester.path / "secret.yaml", {
        "configserver": {"targets": [{"name": "t", "host": "127.0.0.1", "port": 1}]},
        "activemq": {"password": {"env": "GVP_UNSET_PASSWORD"},
                     "targets": [{"name": "t", "host": "127.0.0.1", "port": 1}]}})
    pytester.makepyfile(test_c03_rm_rs=module(3, ("activemq.openwire", "openwire", False)))
    reports = pytester.path / "reports"
    reports.mkdir()
    before = {"junit.xml": "<old/>", "report.md": "old", "results.json": "{}", "metrics.prom": "", "report.html": ""}
    for name, text in before.items():
        (reports / name).write_text(text)
    result = pytester.runpytest("--inventory", str(inventory), "--junitxml", str(reports / "junit.xml"), flag, *QUIET)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    # the plan may say where the password would come from; nothing may have tried to read it
    assert "GVP_UNSET_PASSWORD is not set" not in result.stdout.str() + result.stderr.str()
    assert "secret unusable" not in result.stdout.str() + result.stderr.str()
    assert {p.name: p.read_text() for p in reports.iterdir()} == before
    assert not fake_probers


def test_a_run_replaces_the_previous_set_as_a_whole(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    """A run without --junitxml writing into a directory that holds an older junit.xml leaves no mixed set."""
    inventory = project(pytester)
    reports = pytester.path / "reports"
    reports.mkdir()
    (reports / "junit.xml").write_text("<old/>")
    result = pytester.runpytest("--inventory", str(inventory), "--gvp-reports", str(reports), *QUIET)
    assert result.ret == 0
    names = sorted(p.name for p in reports.iterdir())
    assert names == ["metrics.prom", "report.html", "report.md", "results.json"], names
    run_id = json.loads((reports / "results.json").read_text())["run_id"]
    assert run_id and all(run_id in (reports / n).read_text() for n in names)
    assert f"reports: replaced the previous set in {reports}" in result.stdout.str()


@pytest.fixture
def warning_prober(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every prober passes and records an expiring certificate, as tlscheck does 29 days before expiry."""
    import gvpconf.probes
    from gvpconf.probes.context import ProbeContext

    def get(_name: str) -> object:
        def prober(ctx: ProbeContext) -> None:
            ctx.evidence.fact("fake.opt_ins", "none")
            ctx.evidence.fact("tls.days_left", 29)
            ctx.evidence.fact("tls.expiry_warning", "expires in 29 days (threshold 30)")

        return prober

    monkeypatch.setattr(gvpconf.probes, "get", get)


def test_warnings_are_shown_beside_the_verdict(pytester: pytest.Pytester, warning_prober: None) -> None:
    inventory = project(pytester)
    result, results, junit, metrics = run(pytester, inventory, "--connection", "2")
    assert result.ret == 0
    warning = "tls.expiry_warning: expires in 29 days (threshold 30)"
    assert re.search(rf"^2 .*\sverified with warnings\s+1/1 cases passed; warning: t: {re.escape(warning)}$",
                     result.stdout.str(), re.M), result.stdout.str()
    assert "1/19 selected connections verified (1 with warnings)" in result.stdout.str()
    rows = results["connections"]
    assert isinstance(rows, list)
    (row2,) = [r for r in rows if r["number"] == 2]
    assert row2["verdict"] == "verified with warnings" and row2["warnings"] == [f"t: {warning}"]
    assert row2["cases"][0]["warnings"] == [warning]
    assert junit.suite["connection.2.verdict"] == "verified with warnings"
    assert re.search(r'gvp_connection_verdict{connection="2",[^}]*verdict="verified with warnings"', metrics)
    assert re.search(r'probe_warning{connection="2",[^}]*warning="tls.expiry_warning"} 1', metrics), metrics
    md = (pytester.path / "reports" / "report.md").read_text()
    assert re.search(rf"\| verified with warnings: t: {re.escape(warning)} \|", md), md
    html = (pytester.path / "reports" / "report.html").read_text()
    assert re.search(r'<td class="verdict"><span class="v v-warned">verified with warnings</span>'
                     r'<div class="warning">t: tls.expiry_warning: expires in 29 days \(threshold 30\)</div>', html)


def test_strict_turns_warnings_into_failures(pytester: pytest.Pytester, warning_prober: None) -> None:
    inventory = project(pytester)
    result, results, junit, _ = run(pytester, inventory, "--connection", "2", "--gvp-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*#2 rm -> t (127.0.0.1:1): warning (--gvp-strict): tls.expiry_warning: expires in "
                                 "29 days (threshold 30)*"])
    assert junit.suite["connection.2.verdict"] == "FAILED"
    rows = results["connections"]
    assert isinstance(rows, list)
    (row2,) = [r for r in rows if r["number"] == 2]
    assert row2["cases"][0]["cause"] == "warning"


def test_a_lab_run_marks_its_stand_ins_and_its_temporary_inventory(pytester: pytest.Pytester,
                                                                    fake_probers: list[Probed],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = project(pytester)  # under the temporary directory, as the lab's is
    monkeypatch.setenv("GVP_LAB_STAND_INS", "configserver=a silent TCP stand-in;consul=a Consul stand-in")
    result, results, _, _ = run(pytester, inventory, "--connection", "2")
    out = result.stdout.str()
    assert "stand-in (lab run): #2, #5, #7, #15 GVP Config Server: a silent TCP stand-in" in out
    assert f"inventory: {inventory} (the lab's temporary file, removed when the lab stops" in out
    assert results["stand_ins"] == {"configserver": "a silent TCP stand-in", "consul": "a Consul stand-in"}
    assert "t 127.0.0.1:1 (stand-in)" in (pytester.path / "reports" / "report.md").read_text()


MIXED = '''from gvpconf.suite import connection, probe


@connection(2)
@probe("configserver.hold")
def test_holds(evidence):
    assert evidence["fake.opt_ins"]


@connection(5)
@probe("configserver.hold")
def test_sd_holds(evidence):
    assert evidence["fake.opt_ins"]
'''


def test_a_module_that_tests_two_rows_marks_each_test_with_its_own_row(
        pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    """The row markers go on a module once only when the module names its row (``pytestmark``); a module whose
    tests name their rows themselves marks each test with its own, and both rows are judged."""
    pytester.makepyfile(test_extra_rows=MIXED, test_c01_rm_sip=C01)
    t = [{"name": "t", "host": "127.0.0.1", "port": 1}]
    inventory = write_inventory(pytester.path / "inventory.yaml", {"sip_server": {"targets": t},
                                                                   "configserver": {"targets": t}})
    for args, selected in ((("-m", "c05"), {"test_sd_holds"}), (("-m", "c02"), {"test_holds"}),
                           (("-m", "from_sd"), {"test_sd_holds"}), (("-m", "c01"), {"test_options"})):
        result, results, _junit, _metrics = run(pytester, inventory, *args, "-rA")
        ran = {name for name in ("test_holds", "test_sd_holds", "test_options") if f"::{name}" in result.stdout.str()}
        assert result.ret == 0 and ran == selected, (args, ran, result.stdout.str())
    result, results, _junit, _metrics = run(pytester, inventory)
    assert result.ret == 0, result.stdout.str()
    assert verdict_of(results, 2).startswith("verified") and verdict_of(results, 5).startswith("verified"), (
        verdict_of(results, 2), verdict_of(results, 5))
