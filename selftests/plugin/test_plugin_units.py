"""The pieces the session is made of, without a run: verdicts from case records, JUnit test case names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvpconf.plugin import junit, verdicts
from gvpconf.report.model import CaseRecord

ALL = set(range(1, 23))


def case(outcome: str, cause: str = "", reason: str = "") -> CaseRecord:
    return CaseRecord(nodeid="x", connection=2, test="t", target="t", outcome=outcome, cause=cause, reason=reason)


@pytest.mark.parametrize(("outcomes", "verdict", "detail"), [
    (["passed", "passed"], "verified", "2/2 cases passed"),
    (["passed", "flaky"], "flaky", "2/2 cases passed; 1 flaky (passed after retries)"),
    (["passed", "waived:protocol"], "waived", "1/2 cases passed; 1 waived; causes: protocol"),
    (["waived:protocol", "failed:refused", "flaky"], "FAILED",
     "1/3 cases passed; 1 flaky (passed after retries); 1 waived; causes: protocol, refused"),
    (["error"], "FAILED", "0/1 cases passed"),
])
def test_a_row_verdict_is_derived_from_its_cases(outcomes: list[str], verdict: str, detail: str) -> None:
    records = [case(*o.split(":")) for o in outcomes]
    got = verdicts.judge(2, verdicts.Rows(implemented=ALL, selected=ALL), records)
    assert (got.verdict, got.detail, got.why) == (verdict, detail, "")


def test_rows_that_did_not_run_say_why() -> None:
    rows = verdicts.Rows(implemented=ALL - {3}, selected={1, 2, 5}, disabled={5}, opted_out={19: "opt-in ..."},
                         selection="--connection 1 2 5")
    skipped = [case("skipped", reason="not configured: the inventory has no destinations.x.targets")]
    assert verdicts.judge(3, rows, []) == verdicts.RowVerdict("not implemented yet",
                                                              why="no conformance module for this row yet")
    assert verdicts.judge(4, rows, []).why == "--connection 1 2 5"
    rows.leave_out(4, "-m intra")
    rows.leave_out(4, "opt-in call test: --gvp-calls")
    assert verdicts.judge(4, rows, []).why == "-m intra; opt-in call test: --gvp-calls"
    rows.on_disk.add(3)
    assert verdicts.judge(3, rows, []) == verdicts.RowVerdict("not selected", why="path")
    assert verdicts.judge(19, rows, []) == verdicts.RowVerdict("not selected", why="opt-in ...")
    assert verdicts.judge(1, rows, skipped) == verdicts.RowVerdict("not configured", why=skipped[0].reason)
    assert verdicts.judge(5, rows, [case("skipped", reason="disabled")]).verdict == "disabled in inventory"
    assert verdicts.judge(2, rows, []).verdict == "not run"


@pytest.mark.parametrize(("nodeid", "prefix", "expected"), [
    ("tests/intra/test_c02_rm_configserver.py::test_holds[gvp-configserver]", None,
     ("tests.intra.test_c02_rm_configserver", "test_holds[gvp-configserver]")),
    ("test_c04.py::test_options[mcp-0.zone-a]", "site", ("site.test_c04", "test_options[mcp-0.zone-a]")),
    ("a/test_x.py::Class::test_y[p::q]", None, ("a.test_x.Class", "test_y[p::q]")),
])
def test_junit_case_names_are_pytests(nodeid: str, prefix: str | None, expected: tuple[str, str]) -> None:
    assert junit.testcase_key(nodeid, prefix) == expected


def test_junit_text_never_carries_characters_xml_cannot() -> None:
    assert junit.xml_text("a\x00b\x1bc\tok") == "a#x00b#x1Bc\tok"


def test_conformance_modules_import_only_the_suite() -> None:
    """A module under tests/ reads like its row: gvpconf.suite is its whole API, never the plugin's internals."""
    import ast

    from selftests.helpers import ROOT

    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert all(not n.startswith("gvpconf") or n == "gvpconf.suite" for n in names), (path, names)


_PYTESTS_JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
                  'errors="0" failures="0" skipped="1" tests="3" time="0.5" timestamp="2026-12-02T06:00:00" '
                  'hostname="a&gt;b &quot;c&quot;">{own}<testcase classname="tests.intra.test_c04" '
                  'name="test_options[mcp-0]" time="0.001"><properties><property name="connection" value="4" />'
                  '<property name="note" value="a&#10;b &lt;c&gt; &amp;" /></properties>'
                  '<system-out>out &lt;x&gt; &amp; y</system-out></testcase><testcase classname="tests.intra.test_c04" '
                  'name="test_options[mcp-1]" time="0.002" /><testcase classname="tests.intra.test_c04" '
                  'name="test_call[mcp-0]" time="0.000"><skipped type="pytest.skip" message="opt-in">opt-in'
                  '</skipped></testcase></testsuite></testsuites>')


@pytest.mark.parametrize("own", ["", '<properties><property name="theirs" value="1" /></properties>'])
def test_junit_properties_alone_are_added_as_the_whole_rewrite_adds_them(tmp_path: Path, own: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with no per-case extra (every case passed at once, or was skipped) gets its testsuite properties
    without the file being parsed and written back: the result is the XML the full rewrite writes."""
    import xml.etree.ElementTree as ET

    cases = [CaseRecord(nodeid=f"tests/intra/test_c04.py::test_options[mcp-{i}]", connection=4,
                        test="test_options", target=f"mcp-{i}") for i in range(2)]
    cases.append(CaseRecord(nodeid="tests/intra/test_c04.py::test_call[mcp-0]", connection=4, test="test_call",
                            target="mcp-0", outcome="skipped", reason="opt-in"))
    props = [("connection.4.verdict", "verified"), ("run.error", 'a <b> & "c"\nd\x00')]
    fast, slow = tmp_path / "fast.xml", tmp_path / "slow.xml"
    for p in (fast, slow):
        p.write_text(_PYTESTS_JUNIT.format(own=own), encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(junit, "rewrite", lambda *a, **k: pytest.fail("the file was parsed"))
        assert junit.amend(fast, cases, props)
    assert junit.rewrite(slow, cases, props)
    assert ET.canonicalize(fast.read_text(encoding="utf-8")) == ET.canonicalize(slow.read_text(encoding="utf-8"))
    suite = ET.parse(fast).getroot()[0]
    assert [(p.get("name"), p.get("value")) for p in suite[0]] == ([("theirs", "1")] if own else []) + [
        ("connection.4.verdict", "verified"), ("run.error", 'a <b> & "c"\nd#x00')]


def test_junit_extras_of_a_failed_case_still_go_through_the_rewrite(tmp_path: Path) -> None:
    failed = CaseRecord(nodeid="tests/intra/test_c04.py::test_options[mcp-1]", connection=4, test="test_options",
                        target="mcp-1", outcome="failed", cause="timeout", transcript=[["->", "OPTIONS"]])
    path = tmp_path / "junit.xml"
    path.write_text(_PYTESTS_JUNIT.format(own=""), encoding="utf-8")
    assert junit.amend(path, [failed], [("connection.4.verdict", "FAILED")])
    assert "last protocol exchange" in path.read_text(encoding="utf-8")
