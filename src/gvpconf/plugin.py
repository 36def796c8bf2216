"""pytest glue: options, markers, per-target parametrization, concurrent probes (with retries), JUnit
properties and flaky/rerun failures, waivers, ``--plan``, the end-of-run table of the 22 connections and
the reports (``gvpconf.report``, imported at session end only). Fixtures live in ``gvpconf.fixtures``."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gvpconf import __version__, discovery, redact
from gvpconf.catalog import BY_NUMBER, CONNECTIONS, ROLES, Connection
from gvpconf.inventory import Inventory, InventoryError, Target, load, resolve_secrets
from gvpconf.inventory.policy import retry_for
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, Scheduler
from gvpconf.summary import Summary

if TYPE_CHECKING:
    from gvpconf.report.model import CaseRecord, RunRecord
    from gvpconf.report.waivers import Waivers

DEFAULT_WORKERS = 256


@dataclass(frozen=True)
class NotConfigured:
    """Stands in for a target when the inventory gives none: the case is skipped as 'not configured'."""

    reason: str
    disabled: bool = False


@dataclass(frozen=True)
class DiscoveryFailed:
    """Stands in for the targets when discovery failed: the case fails with cause ``config``."""

    reason: str


@dataclass
class State:
    inventory: Inventory | None
    inventory_path: str | None
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler: Scheduler | None = None
    summary: Summary = field(default_factory=Summary)
    modules: dict[int, set[str]] = field(default_factory=dict)
    waivers: Waivers | None = None
    baseline: RunRecord | None = None
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    cases: dict[str, CaseRecord] = field(default_factory=dict)  # by nodeid, in run order
    problems: list[str] = field(default_factory=list)  # run-level errors: expired waivers, ...
    notes: list[str] = field(default_factory=list)  # run-level information: reports written, ...
    run: RunRecord | None = None


STATE = pytest.StashKey[State]()
RESULT = pytest.StashKey[ProbeResult]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf", "GVP connectivity conformance")
    group.addoption("--inventory", metavar="FILE", default=None,
                    help="inventory YAML naming the deployment's targets (default: $GVP_INVENTORY)")
    group.addoption("--source", metavar="ROLE", default=None, choices=[*ROLES, "all", "auto"],
                    help="run only the connections that start at this pod's role: " + ", ".join(ROLES))
    group.addoption("--connection", metavar="N", type=int, action="append", default=None,
                    help="run only connection N of the GVP table (repeatable)")
    group.addoption("--gvp-workers", metavar="N", type=int, default=DEFAULT_WORKERS,
                    help=f"probes run concurrently (default {DEFAULT_WORKERS})")
    group.addoption("--gvp-reports", metavar="DIR", default=None,
                    help="where report.html, report.md, results.json and metrics.prom go (default: the "
                         "directory of --junitxml, else reports/; 'none': write none)")
    group.addoption("--gvp-waivers", metavar="FILE", default=None,
                    help="YAML list of accepted exceptions (connection, source, reason, owner, expires)")
    group.addoption("--gvp-baseline", metavar="RESULTS", default=None,
                    help="results.json of a previous run: report new failures, fixes, latency and fact drift")
    group.addoption("--gvp-latency-threshold", metavar="PCT", type=float, default=50.0,
                    help="latency growth, in percent, reported as drift (default 50)")
    group.addoption("--gvp-pushgateway", metavar="URL", default=None,
                    help="also push metrics.prom to this Prometheus Pushgateway")
    group.addoption("--plan", action="store_true", default=False,
                    help="print which connections and targets would be probed and what each probe sends; "
                         "send nothing")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gvp_connection(number): conformance test of connection NUMBER")
    config.addinivalue_line("markers", "gvp_probe(name): the prober whose evidence the test asserts on")
    for c in CONNECTIONS:
        config.addinivalue_line("markers", f"c{c.number:02d}: connection {c.title}")
    for cls in ("egress", "intra", "ingress"):
        config.addinivalue_line("markers", f"{cls}: {cls} connections")
    for role in ROLES:
        config.addinivalue_line("markers", f"from_{role}: connections that start at {ROLES[role]}")
    for n in config.getoption("connection") or ():
        if n not in BY_NUMBER:
            raise pytest.UsageError(f"--connection {n}: the GVP table numbers connections 1-22")
    path = config.getoption("inventory") or os.environ.get("GVP_INVENTORY") or None
    inventory = None
    if path:
        try:
            inventory = load(path)
        except InventoryError as exc:
            raise pytest.UsageError(f"inventory error: {exc}") from None
    state = State(inventory, path)
    waivers_path = config.getoption("gvp_waivers", None)
    if waivers_path:
        from gvpconf.report import waivers

        try:
            state.waivers = waivers.Waivers(waivers.load(waivers_path), str(waivers_path))
        except waivers.WaiverError as exc:
            raise pytest.UsageError(f"waiver error: {exc}") from None
    baseline_path = config.getoption("gvp_baseline", None)
    if baseline_path:
        from gvpconf.report import model

        try:
            state.baseline = model.load(baseline_path)
        except ValueError as exc:
            raise pytest.UsageError(f"baseline error: {exc} (pass the results.json of an earlier run)") from None
    state.summary.selection = _selection(config)
    config.stash[STATE] = state


def _selection(config: pytest.Config) -> str:
    parts = []
    if config.getoption("source", None) not in (None, "all"):
        parts.append(f"--source {config.getoption('source')}")
    if config.getoption("connection", None):
        parts.append("--connection " + " ".join(str(n) for n in config.getoption("connection")))
    if config.getoption("markexpr", ""):
        parts.append(f"-m {config.getoption('markexpr')!r}")
    if config.getoption("keyword", ""):
        parts.append(f"-k {config.getoption('keyword')!r}")
    return ", ".join(parts)


def _state(config: pytest.Config) -> State:
    return config.stash[STATE]


def _row_of(node: pytest.Item | pytest.Function) -> Connection | None:
    mark = node.get_closest_marker("gvp_connection")
    return BY_NUMBER[int(mark.args[0])] if mark is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gvp_target" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker("gvp_connection")
    if mark is None:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: a conformance test needs "
                                "pytestmark = connection(N)")
    row = BY_NUMBER[int(mark.args[0])]
    state = _state(metafunc.config)
    inv = state.inventory
    params: list[Any]
    ids: list[str]
    if inv is None:
        params, ids = [NotConfigured("no inventory")], ["no-inventory"]
    elif not inv.override(row.number).enabled:
        params = [NotConfigured(f"connection {row.number} is disabled in the inventory "
                                f"(connections.\"{row.number}\".enabled)", disabled=True)]
        ids = ["disabled"]
    else:
        try:
            targets = discovery.targets_for(inv, row.destination)
        except discovery.DiscoveryError as exc:
            params, ids = [DiscoveryFailed(str(exc))], ["discovery-failed"]
        else:
            if not targets:
                params = [NotConfigured(f"not configured: the inventory has no destinations.{row.destination}"
                                        ".targets")]
                ids = ["not-configured"]
            else:
                params = list(targets)
                ids = [t.id for t in targets]
    metafunc.parametrize("gvp_target", params, ids=ids, indirect=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Markers per connection, class and source role, so ``-m c08``, ``-m intra``, ``-m from_mcp`` work."""
    row = _row_of(item)
    if row is not None:
        item.add_marker(f"c{row.number:02d}")
        item.add_marker(row.suite_class)
        item.add_marker(f"from_{row.source}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    state = _state(config)
    wanted = set(config.getoption("connection") or ())
    source = config.getoption("source")
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        row = _row_of(item)
        if row is None:
            keep.append(item)
            continue
        _check_layout(item, row, state)
        state.summary.implemented.add(row.number)
        if (wanted and row.number not in wanted) or (source not in (None, "all") and row.source != source):
            dropped.append(item)
            continue
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    conformance = [i for i in items if _row_of(i) is not None]
    if conformance and state.inventory is None:
        raise pytest.UsageError("no inventory: pass --inventory FILE or set GVP_INVENTORY "
                                "(start from fixtures/inventory.example.yaml)")
    for item in conformance:
        row = _row_of(item)
        assert row is not None
        state.summary.selected.add(row.number)
    if state.inventory is not None and conformance and not config.getoption("plan", False):
        keys = {r.destination for r in (_row_of(i) for i in conformance) if r is not None}
        try:
            state.secrets = resolve_secrets(state.inventory, sorted(keys), str(state.inventory_path))
        except InventoryError as exc:
            raise pytest.UsageError(f"inventory error: {exc}") from None


def _check_layout(item: pytest.Item, row: Connection, state: State) -> None:
    """One module per connection, in the directory of its class (cilium's one-test-per-file)."""
    module = str(item.path)
    seen = state.modules.setdefault(row.number, set())
    seen.add(module)
    if len(seen) > 1:
        raise pytest.UsageError(f"connection {row.number} has more than one module: "
                                f"{', '.join(sorted(seen))} (keep one per connection)")
    if item.path.parent.name in ("egress", "intra", "ingress") and item.path.parent.name != row.suite_class:
        raise pytest.UsageError(f"{module}: connection {row.number} is {row.suite_class}, "
                                f"move the module to tests/{row.suite_class}/")


def job_key(item: pytest.Item) -> str:
    return item.nodeid


def _job_for(item: pytest.Item, state: State) -> Job | None:
    row = _row_of(item)
    mark = item.get_closest_marker("gvp_probe")
    callspec = getattr(item, "callspec", None)
    if row is None or mark is None or callspec is None or state.inventory is None:
        return None
    target = callspec.params.get("gvp_target")
    if not isinstance(target, Target):
        return None
    inv = state.inventory
    dest = inv.destination(row.destination)
    assert dest is not None
    secrets = state.secrets.get(row.destination, {})
    timeouts = inv.timeouts_for(row.number)

    def make_context(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets=secrets,
                            deadline=deadline)

    probe = str(mark.args[0])
    return Job(probe=probe, timeouts=timeouts, make_context=make_context,
               retry=retry_for(inv, row.number, probe))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    state = _state(session.config)
    # --plan and --collect-only send nothing; pytest's own loop returns early for --collect-only,
    # so the probes must not have been started before it
    idle = session.config.getoption("plan", False) or session.config.option.collectonly
    jobs = [] if idle else [(job_key(i), j) for i in session.items if (j := _job_for(i, state)) is not None]
    if jobs:
        state.scheduler = Scheduler(min(session.config.getoption("gvp_workers"), len(jobs)))
        for key, job in jobs:
            state.scheduler.submit(key, job)
    try:
        return (yield)
    finally:
        if state.scheduler is not None:
            state.scheduler.shutdown()


@pytest.hookimpl(tryfirst=True, specname="pytest_runtestloop")
def pytest_plan_runtestloop(session: pytest.Session) -> bool | None:
    """``--plan``: print what would be probed and what each probe sends, run nothing."""
    if not session.config.getoption("plan", False):
        return None
    from gvpconf.probes import PROBES
    from gvpconf.report import plan

    state = _state(session.config)
    steps: list[plan.Step] = []
    for item in session.items:
        row = _row_of(item)
        mark = item.get_closest_marker("gvp_probe")
        callspec = getattr(item, "callspec", None)
        if row is None or mark is None or callspec is None:
            continue
        probe = str(mark.args[0])
        target = callspec.params.get("gvp_target")
        if isinstance(target, Target):
            zone = f" zone {target.zone}" if target.zone else ""
            assert state.inventory is not None
            policy = retry_for(state.inventory, row.number, probe)
            steps.append(plan.Step(row, f"{target.id} ({target.address}{zone})", probe,
                                   PROBES.get(probe, "(not described)"), policy.describe(), True))
        else:
            why = getattr(target, "reason", "no target")
            steps.append(plan.Step(row, str(why), probe, "", "", False))
    summary = state.summary
    not_probed = {c.number: f"{summary.verdict(c.number)} ({summary.why(c.number)})" for c in CONNECTIONS
                  if summary.verdict(c.number) in ("not selected", "not implemented yet")}
    source = session.config.getoption("source") or "all"
    header = (f"GVP plan: source {source}, inventory {state.inventory_path}"
              f"{f' (sha256 {_digest(state.inventory_path)[:12]})' if state.inventory_path else ''}; "
              "read-only unless a probe says otherwise")
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in plan.lines(steps, not_probed, header):
        if tr is not None:
            tr.write_line(line)
        else:  # pragma: no cover - -p no:terminal
            print(line)
    return True


def _digest(path: str | None) -> str:
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """Fail the case, in its call phase, when its probe failed: one line with the cause, no traceback."""
    callspec = getattr(pyfuncitem, "callspec", None)
    target = callspec.params.get("gvp_target") if callspec is not None else None
    if isinstance(target, DiscoveryFailed):
        pyfuncitem.user_properties.append(("cause", "config"))
        pytest.fail(redact.scrub(f"discovery failed: {target.reason}"), pytrace=False)
    result = pyfuncitem.stash.get(RESULT, None)
    if result is None:
        return
    if result.error is not None:
        raise result.error
    if result.failure is not None:
        row = _row_of(pyfuncitem)
        assert row is not None
        target = pyfuncitem.callspec.params["gvp_target"]
        assert isinstance(target, Target)
        props = pyfuncitem.user_properties
        props.append(("cause", result.failure.cause.value))
        if result.failure.phase:
            props.append(("phase", result.failure.phase))
        msg = f"#{row.number} {row.source} -> {target.id} ({target.address}): {result.failure}"
        pytest.fail(redact.scrub(msg), pytrace=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    row = _row_of(item)
    if row is None:
        return
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("gvp_target") if callspec is not None else None
    props = item.user_properties
    props += [("connection", row.number), ("source", row.source_label),
              ("destination", row.destination_label), ("protocol", row.protocol),
              ("port", target.port if isinstance(target, Target) else (row.ports or "-")),
              ("classification", row.suite_class), ("seed_classification", row.seed_classification or "-")]
    if isinstance(target, Target):
        props += [("target", target.id), ("address", target.address)]
        if target.zone:
            props.append(("zone", target.zone))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    row = _row_of(item)
    if row is None:
        return report
    # secrets never reach a report, whatever raised them
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        scrubbed = redact.scrub(text)
        if scrubbed != text:
            report.longrepr = scrubbed
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _record(item, row, report)
    return report


def _props(item: pytest.Item, report: pytest.TestReport, *pairs: tuple[str, object]) -> None:
    """Add JUnit properties (the teardown report, which junitxml writes, copies the item's list)."""
    item.user_properties.extend(pairs)
    report.user_properties.extend(pairs)


def _record(item: pytest.Item, row: Connection, report: pytest.TestReport) -> None:
    """Tally the case, apply a waiver, and keep its record for the reports and the JUnit extras."""
    from gvpconf.report import model

    state = _state(item.config)
    tally = state.summary.tallies[row.number]
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("gvp_target") if callspec is not None else None
    result = item.stash.get(RESULT, None)
    mark = item.get_closest_marker("gvp_probe")
    props = dict(item.user_properties)
    if isinstance(target, Target):
        name, address, zone = target.id, target.address, target.zone or ""
    else:
        name, address, zone = getattr(callspec, "id", "") or "-", "", ""
    case = model.CaseRecord(nodeid=item.nodeid, connection=row.number, test=getattr(item, "originalname", item.name),
                            target=name, address=address, zone=zone, probe=str(mark.args[0]) if mark else "")
    if result is not None:
        case.duration_ms = round(result.duration * 1000, 1)
        case.facts = dict(result.evidence.facts)
        case.attempts = [model.Attempt(
            outcome="passed" if a.ok else ("error" if a.error is not None else "failed"),
            duration_ms=round(a.duration * 1000, 1),
            cause=a.failure.cause.value if a.failure is not None else "",
            message=redact.scrub(str(a.failure.message if a.failure is not None else a.error or "")),
            transcript=[] if a.ok else [[d, t] for d, t in a.evidence.transcript]) for a in result.attempts]
    if report.passed:
        tally.passed += 1
        if result is not None and result.flaky:
            tally.flaky += 1
            case.outcome = model.FLAKY
            report.gvp_outcome = "flaky"  # type: ignore[attr-defined]
            _props(item, report, ("flaky", "true"))
    elif report.failed:
        cause = props.get("cause")
        if cause is None:  # the probe passed, the test's own expectation on its evidence did not hold
            cause = "semantic" if result is not None and result.ok else ""
            if cause:
                _props(item, report, ("cause", cause))
        case.cause = str(cause or "")
        case.phase = str(props.get("phase", ""))
        case.message = redact.scrub(_message(report))
        case.outcome = model.ERROR if result is not None and result.error is not None else model.FAILED
        if result is not None:
            case.transcript = [[d, t] for d, t in result.evidence.transcript]
        waiver = state.waivers.match(row.number, name) if state.waivers is not None else None
        if waiver is not None:
            tally.waived += 1
            case.outcome = model.WAIVED
            case.waiver = waiver.as_dict(state.waivers.today if state.waivers else dt.date.today())
            _props(item, report, ("waived", f"{waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}"))
            report.outcome = "skipped"
            report.wasxfail = (f"waived by {waiver.owner} until {waiver.expires.isoformat()} "
                               f"({waiver.reason}): {case.message}")
            report.gvp_outcome = "waived"  # type: ignore[attr-defined]
        else:
            tally.failed += 1
        if case.cause:
            tally.causes.add(case.cause)
    elif report.skipped:
        case.outcome = model.SKIPPED
        case.reason = target.reason if isinstance(target, NotConfigured) else _message(report)
        tally.reasons.append(case.reason)
        if isinstance(target, NotConfigured) and target.disabled:
            tally.disabled += 1
        else:
            tally.not_configured += 1
    state.cases[item.nodeid] = case


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message if crash is not None else longrepr or "")
    return text.removeprefix("Failed: ").strip()


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    outcome = getattr(report, "gvp_outcome", None)
    if outcome == "flaky" and report.when == "call":
        return "flaky", "R", ("FLAKY", {"yellow": True})
    if outcome == "waived":
        return "waived", "w", ("WAIVED", {"yellow": True})
    return None


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """JUnit extras pytest's junitxml does not write: <flakyFailure>/<rerunFailure> per failed attempt
    (Surefire's elements) and the last protocol exchange of a failure in <system-out>."""
    if report.when == "teardown":
        return
    config = _CONFIG.get("config")
    if config is None:
        return
    state = config.stash.get(STATE, None)
    key = _xml_key()
    xml = config.stash.get(key, None) if key is not None else None
    case = state.cases.get(report.nodeid) if state is not None else None
    if xml is None or case is None or case.outcome == "skipped":
        return
    import xml.etree.ElementTree as ET

    from gvpconf.report.common import transcript_text

    reporter = xml.node_reporter(report)
    failed = case.failed_attempts
    if case.outcome == "flaky":
        elements = [("flakyFailure", a) for a in failed]
    elif len(case.attempts) > 1:  # the last failure is pytest's <failure>; the earlier ones are reruns
        elements = [("rerunFailure", a) for a in failed[:-1]]
    else:
        elements = []
    for tag, attempt in elements:
        el = ET.Element(tag, message=f"{attempt.cause}: {attempt.message}" if attempt.cause else attempt.message,
                        type=attempt.cause or attempt.outcome)
        ET.SubElement(el, "stackTrace").text = attempt.message
        if attempt.transcript:
            ET.SubElement(el, "system-out").text = transcript_text(attempt.transcript)
        reporter.append(el)
    if case.outcome in ("failed", "waived") and case.transcript:
        out = ET.Element("system-out")
        out.text = "last protocol exchange (secrets redacted):\n" + transcript_text(case.transcript) + "\n"
        reporter.append(out)


#: the session's config, for hooks that only get a report (pytest_runtest_logreport)
_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.started = dt.datetime.now(dt.UTC)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Verdicts into JUnit (testsuite properties), expired waivers fail the run, the reports are written."""
    state = session.config.stash.get(STATE, None)
    if state is None or not state.summary.implemented or session.config.getoption("plan", False):
        return
    if state.waivers is not None:
        state.problems += state.waivers.expired_lines()
    if state.problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state.run = _run_record(session, state)
    _write_reports(session.config, state)
    xml = session.config.stash.get(_xml_key(), None) if _xml_key() is not None else None
    if xml is None:
        return
    for conn, verdict, _detail in state.summary.rows():
        xml.add_global_property(f"connection.{conn.number}.verdict", verdict)
    xml.add_global_property("connections.verified", f"{state.summary.verified_count()}/{len(CONNECTIONS)}")
    for verdict in ("flaky", "waived", "FAILED"):
        xml.add_global_property(f"connections.{verdict.lower()}", str(state.summary.count(verdict)))
    if state.inventory is not None:
        xml.add_global_property("cluster", state.inventory.cluster.name)
        xml.add_global_property("namespace", state.inventory.cluster.namespace)
    if state.inventory_path:
        xml.add_global_property("inventory.sha256", _digest(state.inventory_path))
    xml.add_global_property("suite.version", __version__)
    for problem in state.problems:
        xml.add_global_property("run.error", problem)


def _run_record(session: pytest.Session, state: State) -> RunRecord:
    from gvpconf.probes import PROBES
    from gvpconf.report import drift, model

    finished = dt.datetime.now(dt.UTC)
    summary = state.summary
    by_row: dict[int, list[model.CaseRecord]] = {}
    for case in state.cases.values():
        by_row.setdefault(case.connection, []).append(case)
    probes_of: dict[int, set[str]] = {}
    for item in session.items:
        row, mark = _row_of(item), item.get_closest_marker("gvp_probe")
        if row is not None and mark is not None:
            probes_of.setdefault(row.number, set()).add(str(mark.args[0]))
    conns = []
    for c in CONNECTIONS:
        cases = by_row.get(c.number, [])
        verdict = summary.verdict(c.number)
        tally = summary.tallies.get(c.number)
        conns.append(model.ConnectionRecord(
            number=c.number, source=c.source, source_label=c.source_label, destination=c.destination,
            destination_label=c.destination_label, protocol=c.protocol, ports=c.ports,
            classification=c.suite_class, seed_classification=c.seed_classification, verdict=verdict,
            detail=summary.detail(c.number), why=summary.why(c.number),
            causes=sorted(tally.causes) if tally is not None else [],
            sends=[f"{p}: {PROBES.get(p, '')}" for p in sorted(probes_of.get(c.number, ()))], cases=cases))
    inv = state.inventory
    run = model.RunRecord(
        suite_version=__version__, cluster=inv.cluster.name if inv else "", namespace=inv.cluster.namespace if inv
        else "", inventory_path=str(state.inventory_path or ""), inventory_sha256=_digest(state.inventory_path),
        source_role=session.config.getoption("source") or "all",
        source_pod=os.environ.get("GVP_SOURCE_POD") or os.environ.get("HOSTNAME") or socket.gethostname(),
        source_zone=os.environ.get("GVP_SOURCE_ZONE", ""), started=state.started.isoformat(timespec="seconds"),
        finished=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - state.started).total_seconds(), 3), exit_status=int(session.exitstatus),
        selection=summary.selection, problems=list(state.problems),
        waivers=state.waivers.records() if state.waivers is not None else [], connections=conns)
    if state.baseline is not None:
        run.drift = drift.compare(state.baseline, run, str(session.config.getoption("gvp_baseline")),
                                  session.config.getoption("gvp_latency_threshold"))
    return run


def reports_dir(config: pytest.Config) -> str:
    """``--gvp-reports``, else next to ``--junitxml`` (so the reports and JUnit of one run stay together)."""
    chosen = config.getoption("gvp_reports", None)
    if chosen:
        return str(chosen)
    xmlpath = getattr(config.option, "xmlpath", None)
    return str(Path(xmlpath).parent) if xmlpath else "reports"


def _write_reports(config: pytest.Config, state: State) -> None:
    from gvpconf import report

    assert state.run is not None
    outdir = reports_dir(config)
    if outdir and outdir != "none":
        try:
            written = report.write_all(state.run, outdir)
        except OSError as exc:
            state.problems.append(f"report error: cannot write {outdir}: {exc.strerror or exc}")
        else:
            state.notes.append("reports: " + ", ".join(str(p) for p in written))
    url = config.getoption("gvp_pushgateway", None)
    if url:
        from gvpconf.report import prometheus

        try:
            prometheus.push(redact.scrub(prometheus.render(state.run)), url, instance=state.run.source_pod)
        except OSError as exc:
            state.notes.append(f"pushgateway: push to {url} failed: {exc} (metrics.prom is still written)")
        else:
            state.notes.append(f"pushgateway: pushed to {url}")


def _xml_key() -> Any:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest internals moved
        return None
    return xml_key


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.summary.implemented or config.getoption("plan", False):
        return
    terminalreporter.section("GVP connections")
    for line in state.summary.table():
        terminalreporter.write_line(line)
    if state.inventory_path:
        terminalreporter.write_line(f"inventory: {Path(state.inventory_path)}")
    if not state.summary.selected:
        source = config.getoption("source")
        why = f"no implemented connection starts at --source {source}" if source else "every case was deselected"
        terminalreporter.write_line(f"nothing was probed: {why}", red=True)
    run = state.run
    if run is not None:
        flaky = [c for c in run.cases() if c.outcome == "flaky"]
        waived = [c for c in run.cases() if c.outcome == "waived"]
        for c in flaky:
            terminalreporter.write_line(f"FLAKY #{c.connection} -> {c.target}: passed after {len(c.failed_attempts)} "
                                        f"failed attempt(s): " + "; ".join(f"{a.cause}: {a.message}"
                                                                         for a in c.failed_attempts), yellow=True)
        for c in waived:
            w = c.waiver or {}
            terminalreporter.write_line(f"WAIVED #{c.connection} -> {c.target}: {c.cause}: {c.message} "
                                        f"(waiver of {w.get('owner')} until {w.get('expires')}: {w.get('reason')})",
                                        yellow=True)
        if run.drift is not None:
            from gvpconf.report import drift

            terminalreporter.section("GVP drift")
            for line in drift.lines(run.drift):
                terminalreporter.write_line(redact.scrub(line))
    for line in state.notes:
        terminalreporter.write_line(line)
    for problem in state.problems:
        terminalreporter.write_line(problem, red=True, bold=True)
