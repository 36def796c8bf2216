"""Role detection (--source auto), the expected-deny matrix data, and the JUnit merge (no network)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gvpconf.catalog import CONNECTIONS
from gvpconf.plugin.options import resolve_source
from gvpconf.pods import deny, junit, roles, runner
from gvpconf.pods.entry import encode_junit, encode_results, extract_junit, extract_results
from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf.report.model import RunRecord


def test_env_wins_then_downward_labels_then_hostname(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text('app.kubernetes.io/name="gvp-mcp"\npod-template-hash="7d9f"\n')
    env = {"GVP_PODINFO_LABELS": str(labels)}
    assert roles.detect({**env, "GVP_SOURCE_ROLE": "rs"}, hostname="gvp-rm-0").role == "rs"
    found = roles.detect(env, hostname="gvp-rm-0")
    assert (found.role, found.how.split(" (")[0]) == ("mcp", "label app.kubernetes.io/name=gvp-mcp")
    labels.write_text('gvpconf.io/role="configserver"\napp="gvp-mcp"\n')
    assert roles.detect(env, hostname="x").role == "configserver"
    missing = {"GVP_PODINFO_LABELS": str(tmp_path / "none")}
    assert roles.detect(missing, hostname="gvp-mcp-3").role == "mcp"
    assert roles.detect(missing, hostname="gvp-sd-7d9f8b7c6-x2x4z").role == "sd"


def test_nothing_found_is_an_error_naming_what_was_looked_at(tmp_path: Path) -> None:
    with pytest.raises(roles.RoleError) as err:
        roles.detect({"GVP_PODINFO_LABELS": str(tmp_path / "none")}, hostname="debugger")
    assert "GVP_SOURCE_ROLE" in str(err.value) and "'debugger'" in str(err.value)
    with pytest.raises(roles.RoleError, match="not a role"):
        roles.detect({"GVP_SOURCE_ROLE": "mcpp"})


def test_plugin_resolves_source_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVP_SOURCE_ROLE", "mcp")
    assert resolve_source("auto")[0] == "mcp"
    monkeypatch.setenv("GVP_SOURCE_ROLE", "")
    monkeypatch.setenv("GVP_PODINFO_LABELS", "/nonexistent")
    monkeypatch.setattr(roles.socket, "gethostname", lambda: "laptop")
    with pytest.raises(pytest.UsageError, match="cannot tell this pod's role"):
        resolve_source("auto")


def test_deny_matrix_is_the_complement_of_the_table() -> None:
    assert "sqlserver" in deny.denied_destinations("mcp")  # MCP -> SQL Server 1433
    assert "sbc" in deny.denied_destinations("rs")  # RS -> SBC
    assert "postgres" in deny.denied_destinations("mcp") and "postgres" not in deny.denied_destinations(
        "configserver")
    for c in CONNECTIONS:
        assert c.destination not in deny.denied_destinations(c.source), c.number


def test_junit_merge_names_pod_and_zone_and_reports_gaps() -> None:
    ok = RunOutcome(SourcePod("mcp", "gvp-mcp-1", "zone-b"), junit=(
        '<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0" skipped="0">'
        '<testcase classname="tests.intra.test_c07" name="t[a]"/>'
        '<testcase classname="tests.intra.test_c08" name="t[b]"><failure message="x"/></testcase>'
        '</testsuite></testsuites>'))
    gone = RunOutcome(SourcePod("rm", "gvp-rm-0", "zone-a"), error="cannot attach: 403 Forbidden", cause="attach")
    empty = RunOutcome(SourcePod("prometheus", "prom-0", "zone-a"),
                       junit='<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    root = junit.merge([ok, gone, empty]).getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 4
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["source.pod"] and props["source.zone"] and props["source.role"]
        assert case.get("classname", "").startswith(f"{props['source.pod']}@{props['source.zone']}.")
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("classname") for c in failed} == {"gvp-mcp-1@zone-b.tests.intra.test_c08",
                                                    "gvp-rm-0@zone-a.gvpconf.runner"}
    assert "403 Forbidden" in (failed[1].find("failure").get("message") or "")  # type: ignore[union-attr]
    assert root.get("failures") == "2" and root.get("tests") == "4"
    garbage = RunOutcome(SourcePod("sd", "sd-0"), junit="<html>not junit")
    assert junit.merge([garbage]).getroot().get("failures") == "1"  # type: ignore[union-attr]


def test_pick_per_zone_one_ready_pod_per_zone_and_unready_zone_fails() -> None:
    pods = [SourcePod("mcp", "mcp-2", "a"), SourcePod("mcp", "mcp-0", "a"), SourcePod("mcp", "mcp-1", "b"),
            SourcePod("rm", "rm-1", "b", ready=False), SourcePod("rm", "rm-0", "a")]
    plan = runner.pick_per_zone(pods)
    assert [p.pod for p in plan.runs] == ["mcp-0", "mcp-1", "rm-0"]
    assert [(m.source.pod, m.cause) for m in plan.missing] == [("rm-1", "not-running")]


def test_connection_19_runs_in_each_planned_mcp_pod_when_calls_are_opted_into() -> None:
    """19's source (Nuance) is no pod; its probe listens in the MCP pod: each MCP pod the plan runs from also runs
    ``--source nuance`` (without the deny matrix: that pod's own is the mcp run's), only when calls are on."""
    pods = [SourcePod("mcp", "mcp-0", "a"), SourcePod("mcp", "mcp-1", "b"), SourcePod("rm", "rm-0", "a")]
    plan = runner.pick_per_zone(pods)
    assert runner.with_ingress_runs(plan, calls=False).runs == plan.runs
    runs = runner.with_ingress_runs(plan, calls=True).runs
    assert [(p.role, p.pod, p.zone) for p in runs] == [("mcp", "mcp-0", "a"), ("mcp", "mcp-1", "b"),
                                                       ("rm", "rm-0", "a"), ("nuance", "mcp-0", "a"),
                                                       ("nuance", "mcp-1", "b")]
    assert runner.suite_args("nuance", deny_matrix=True) == ["--source", "nuance"]
    assert runner.suite_args("mcp", deny_matrix=True) == ["--source", "mcp", "--deny-matrix"]
    assert runner.calls_opted_in({"destinations": {"mcp": {"calls": True}}}, [])
    assert runner.calls_opted_in({"destinations": {"mcp": {}}}, ["--gvp-calls"])
    assert not runner.calls_opted_in({"destinations": {"mcp": {"calls": "yes"}, "sbc": {"calls": True}}}, [])
    assert not runner.calls_opted_in({}, [])


def test_report_travels_through_a_container_log() -> None:
    xml = '<testsuites><testsuite name="x" tests="1"><testcase name="t"/></testsuite></testsuites>'
    log = "collected 1 item\n" + encode_junit(xml.encode()) + "\n"
    assert extract_junit(log) == xml
    assert extract_junit(log.replace("END GVPCONF", "END")) is None
    assert extract_junit("no report here") is None
    both = log + "1 passed\n" + encode_results(b'{"format": "gvpconf-results/1"}') + "\n"
    assert extract_junit(both) == xml and extract_results(both) == '{"format": "gvpconf-results/1"}'
    assert extract_results(log) is None
    ET.fromstring(extract_junit(log) or "")


def test_finish_is_the_one_runner_tail_merged_reports_and_exit_status(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Both runners end with runner.finish: the merged JUnit, a line per run, the merged acceptance report."""
    passed = ('<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0" skipped="0">'
              '<testcase classname="tests.intra.test_c07" name="t"/></testsuite></testsuites>')
    results = RunRecord(suite_version="0.1.0", cluster="c", namespace="gvp", inventory_path="/inv.yaml",
                        inventory_sha256="a" * 64, source_role="mcp", source_pod="mcp-0", source_zone="zone-a",
                        started="2025-06-01T02:00:00+00:00", finished="2025-06-01T02:01:00+00:00",
                        duration_s=60.0).to_json()
    ok = RunOutcome(SourcePod("mcp", "mcp-0", "zone-a"), junit=passed, results=results, backend="netns")
    out = tmp_path / "merged" / "junit.xml"
    assert runner.finish([ok], out, prog="test") == 0
    printed = capsys.readouterr().out
    assert f"merged report: {out} (1 cases, 0 failures, 0 errors)" in printed
    assert printed.splitlines()[0].startswith("mcp           mcp-0@zone-a")
    assert {p.name for p in out.parent.iterdir()} == {"junit.xml", "report.html", "report.md", "results.json",
                                                      "metrics.prom"}
    # a passing JUnit without the pod's results.json, or a run that could not happen: exit status 1
    elsewhere = tmp_path / "reports"
    assert runner.finish([dataclasses.replace(ok, results=None)], out, reports=str(elsewhere), prog="test") == 1
    assert (elsewhere / "report.html").exists()
    gone = RunOutcome(SourcePod("rm", "rm-0", "zone-a"), error="cannot attach: 403", cause="attach")
    assert runner.finish([ok, gone], out, prog="test") == 1
    assert "rm-0@zone-a" in out.read_text()


def test_an_interrupted_pod_is_an_error_and_its_rows_not_run_with_the_runners_notes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pod run the runner stopped is ``<error type="interrupted">`` in the merged JUnit and its rows are
    "not run" (interrupted) in the merged report, as an interrupted case inside a pod; the runner's notes and
    left-behind lines are in the merged report and in the JUnit's properties, not only on stdout."""
    import json

    stopped = RunOutcome(SourcePod("rm", "rm-1", "zone-b"), error="interrupted: the runner stopped waiting",
                         cause="interrupted", backend="ephemeral-container")
    out = tmp_path / "junit.xml"
    note = "rm-1@zone-b: secret not mapped: destinations.x.password {env: X}"
    left = "ephemeral container gvpconf-abc in pod gvp/rm-1 (cannot be removed)"
    runner.finish([stopped], out, prog="test", notes=[note], left_behind=[left])
    root = ET.parse(out).getroot()
    (case,) = root.iter("testcase")
    assert case.find("failure") is None
    error = case.find("error")
    assert error is not None and error.get("type") == "interrupted"
    assert root.get("errors") == "1" and root.get("failures") == "0"
    props = {(p.get("name"), p.get("value")) for p in root.iter("property")}
    assert ("runner.note", note) in props and ("runner.left-behind", left) in props
    merged = json.loads((tmp_path / "results.json").read_text())
    rm_rows = [r for r in merged["connections"] if r["source"] == "rm"]
    assert rm_rows and {r["verdict"] for r in rm_rows} <= {"not run", "not implemented yet"}, \
        {r["verdict"] for r in rm_rows}
    assert any("interrupted" in (r.get("why") or "") for r in rm_rows)
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "secret not mapped: destinations.x.password" in text and "gvpconf-abc" in text, name


class _StuckBackend:
    """A backend whose runs never return by themselves, whatever its ``stop`` says (a request to an API server
    that never answers); ``release`` lets them go."""

    name = "stuck"

    def __init__(self) -> None:
        import threading

        self.stop = threading.Event()
        self.release = threading.Event()
        self.started: list[str] = []

    def run(self, source: SourcePod, suite_args: object, timeout: float) -> RunOutcome:
        self.started.append(source.pod)
        self.release.wait(60)
        return RunOutcome(source, error="released", cause="backend", backend=self.name)


def test_a_second_signal_ends_the_wait_for_every_stuck_run_at_once() -> None:
    """Twelve runs stuck at once: after a second signal none is waited for, not one poll (0.2 s) each (2.4 s)."""
    import threading
    import time

    pods = [SourcePod(role="mcp", pod=f"gvp-mcp-{i}", zone="z", ready=True) for i in range(12)]
    backend = _StuckBackend()
    stop = runner.Stop()
    box: list[list[RunOutcome]] = []
    worker = threading.Thread(target=lambda: box.append(runner.run_all(
        backend, runner.Plan(pods, []), parallel=12, stop=stop, stop_grace=30.0, total_timeout=60.0)), daemon=True)
    try:
        worker.start()
        while len(backend.started) < 12:
            time.sleep(0.01)
        stop.set()
        time.sleep(0.3)  # the first signal: in the grace, every run still waited for
        assert worker.is_alive()
        sent = time.monotonic()
        stop.now.set()
        worker.join(10)
        took = time.monotonic() - sent
        assert not worker.is_alive() and took < 0.6, took
        assert {o.cause for o in box[0]} == {"interrupted"} and len(box[0]) == 12
    finally:
        backend.release.set()


@pytest.mark.parametrize("how", ["grace", "second-signal", "total-deadline"])
def test_the_runner_stops_waiting_for_a_stuck_run_within_the_grace(how: str) -> None:
    """A run that does not return (its backend stuck in a request) holds neither the runner nor the process's
    exit: after the stop (or the total deadline) it gets ``stop_grace``, after a second signal nothing."""
    import threading
    import time

    pods = [SourcePod(role="mcp", pod=f"gvp-mcp-{i}", zone=f"z{i}", ready=True) for i in range(3)]
    backend = _StuckBackend()
    stop = runner.Stop()
    box: list[list[RunOutcome]] = []
    worker = threading.Thread(target=lambda: box.append(runner.run_all(
        backend, runner.Plan(pods, []), parallel=2, stop=stop, stop_grace=1.0,
        total_timeout=1.0 if how == "total-deadline" else 60.0)), daemon=True)
    try:
        worker.start()
        while len(backend.started) < 2:
            time.sleep(0.01)
        sent = time.monotonic()
        if how != "total-deadline":
            stop.set()
            if how == "second-signal":
                stop.now.set()
        worker.join(10)
        took = time.monotonic() - sent
        assert not worker.is_alive(), "run_all still waiting"
        assert backend.stop.is_set()  # the backend was told to end its waits
        outcomes = box[0]
        assert [o.source.pod for o in outcomes] == ["gvp-mcp-0", "gvp-mcp-1", "gvp-mcp-2"]
        if how == "total-deadline":  # 1 s deadline, then the 1 s grace for the stuck runs to clean up
            assert 1.5 < took < 3.5, took
            assert {o.cause for o in outcomes} == {"timeout"}, outcomes
            return
        assert (0.8 < took < 2.5) if how == "grace" else took < 0.6, took
        assert {o.cause for o in outcomes} == {"interrupted"}, outcomes
        why = "a second signal" if how == "second-signal" else "1 s after the stop"
        assert all(f"stopped waiting for this run ({why}" in (o.error or "") for o in outcomes[:2]), outcomes
        assert outcomes[2].error == "interrupted before this run started"
        # the stuck runs' threads are daemons: they do not hold the process at exit
        assert all(t.daemon for t in threading.enumerate() if t.name.startswith("gvpconf-run"))
    finally:
        backend.release.set()


def test_a_backend_raising_timeouterror_is_a_backend_error_at_once() -> None:
    """Since Python 3.11 ``concurrent.futures.TimeoutError`` is the built-in one: a backend that raises it must
    not pass for the runner's own wait running out (it spun until the total deadline)."""
    import time

    class Raising:
        name = "raising"

        def run(self, source: SourcePod, suite_args: object, timeout: float) -> RunOutcome:
            raise TimeoutError("the backend's own")

    started = time.monotonic()
    (outcome,) = runner.run_all(Raising(), runner.Plan([SourcePod(role="mcp", pod="gvp-mcp-0", zone="a")], []),
                                total_timeout=20.0)
    assert time.monotonic() - started < 2.0
    assert outcome.cause == "backend" and "the backend's own" in (outcome.error or ""), outcome
