"""pytest glue: options, markers, per-target parametrization, concurrent probes, JUnit properties,
and the end-of-run table of the 22 connections. Fixtures live in ``gvpconf.fixtures``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gvpconf import discovery, redact
from gvpconf.catalog import BY_NUMBER, CONNECTIONS, ROLES, Connection
from gvpconf.inventory import Inventory, InventoryError, Target, load, resolve_secrets
from gvpconf.probes import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, Scheduler
from gvpconf.summary import Summary

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


STATE = pytest.StashKey[State]()
RESULT = pytest.StashKey[ProbeResult]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf", "GVP connectivity conformance")
    group.addoption("--inventory", metavar="FILE", default=None,
                    help="inventory YAML naming the deployment's targets (default: $GVP_INVENTORY)")
    group.addoption("--source", metavar="ROLE", default=None, choices=[*ROLES, "all"],
                    help="run only the connections that start at this pod's role: " + ", ".join(ROLES))
    group.addoption("--connection", metavar="N", type=int, action="append", default=None,
                    help="run only connection N of the GVP table (repeatable)")
    group.addoption("--gvp-workers", metavar="N", type=int, default=DEFAULT_WORKERS,
                    help=f"probes run concurrently (default {DEFAULT_WORKERS})")


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
    config.stash[STATE] = State(inventory, path)


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
    if state.inventory is not None and conformance:
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

    return Job(probe=str(mark.args[0]), timeouts=timeouts, make_context=make_context)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    state = _state(session.config)
    jobs = [(job_key(i), j) for i in session.items if (j := _job_for(i, state)) is not None]
    if jobs:
        state.scheduler = Scheduler(min(session.config.getoption("gvp_workers"), len(jobs)))
        for key, job in jobs:
            state.scheduler.submit(key, job)
    try:
        return (yield)
    finally:
        if state.scheduler is not None:
            state.scheduler.shutdown()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """Fail the case, in its call phase, when its probe failed: one line with the cause, no traceback."""
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
        tally = _state(item.config).summary.tallies[row.number]
        if report.passed:
            tally.passed += 1
        elif report.failed:
            tally.failed += 1
            cause = dict(item.user_properties).get("cause")
            if cause:
                tally.causes.add(str(cause))
        elif report.skipped:
            callspec = getattr(item, "callspec", None)
            target = callspec.params.get("gvp_target") if callspec is not None else None
            if isinstance(target, NotConfigured) and target.disabled:
                tally.disabled += 1
            else:
                tally.not_configured += 1
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Add the per-connection verdicts to the JUnit file as testsuite properties."""
    state = session.config.stash.get(STATE, None)
    xml = session.config.stash.get(_xml_key(), None) if _xml_key() is not None else None
    if state is None or xml is None or not state.summary.implemented:
        return
    for conn, verdict, _detail in state.summary.rows():
        xml.add_global_property(f"connection.{conn.number}.verdict", verdict)
    xml.add_global_property("connections.verified", f"{state.summary.verified_count()}/{len(CONNECTIONS)}")
    if state.inventory is not None:
        xml.add_global_property("cluster", state.inventory.cluster.name)
        xml.add_global_property("namespace", state.inventory.cluster.namespace)


def _xml_key() -> Any:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest internals moved
        return None
    return xml_key


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.summary.implemented:
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
