"""``GvpSession``: the plugin as one object, made and registered in ``pytest_configure`` (as pytest-xdist
registers its ``DSession``); its hooks are its methods, and everything a run knows lives on it.

The run, hook by hook: targets become parameters (``params``); collection tags every case with its
row's markers; selection keeps the cases of ``--connection``/``--source`` and the opted-into tests,
and marks the waived ones ``xfail`` (``selection``); every selected probe starts when the run starts
(``gvpconf.scheduler``); each case asserts on its own probe's result (``fixtures``); its report
becomes a case record (``cases``), the one tally that the verdicts, the end table (``verdicts``), the
reports (``results``) and the JUnit extras (``junit``) are derived from.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gvpconf import discovery, redact
from gvpconf.catalog import CONNECTIONS, Connection
from gvpconf.evidence import Fact
from gvpconf.inventory import Inventory, InventoryError, Target, load, secret_problems
from gvpconf.inventory.policy import retry_for
from gvpconf.plugin import cases, params, selection, verdicts
from gvpconf.plugin.optin import OptIns
from gvpconf.plugin.options import Options
from gvpconf.probes.context import ProbeContext
from gvpconf.report import model
from gvpconf.scheduler import Job, ProbeResult, Scheduler, run_job

if TYPE_CHECKING:
    from gvpconf.plugin.deny import DenyMatrix
    from gvpconf.report import Staged
    from gvpconf.report.waivers import Waiver, Waivers

#: where the session is kept (``config.stash[SESSION]``) and the name it is registered under
SESSION = pytest.StashKey["GvpSession"]()
NAME = "gvpconf-session"

Status = tuple[str, str, str | tuple[str, dict[str, bool]]]


class GvpSession:
    def __init__(self, config: pytest.Config, options: Options, inventory: Inventory | None = None,
                 waivers: Waivers | None = None, baseline: model.RunRecord | None = None) -> None:
        self.config = config
        self.options = options
        self.inventory = inventory
        self.discovery = discovery.Discovery(inventory) if inventory is not None else None
        self.memo: dict[str, Any] = {}  # what probes keep for the run (ProbeContext.memo)
        self.waivers = waivers
        self.baseline = baseline
        self.opt_ins = OptIns.resolve(config, inventory)
        disabled = {c.number for c in CONNECTIONS if inventory is not None and not inventory.override(c.number).enabled}
        self.rows = verdicts.Rows(disabled=disabled, selection=options.selection)
        self.left_out: dict[str, list[str]] = {}  # opt-in name -> node ids of the tests it left out
        self.modules: dict[int, set[str]] = {}  # row -> its module(s)
        self.secrets: dict[str, dict[str, Any]] = {}
        #: destination -> its unusable secrets, one line each: its cases fail with cause config, nothing is sent
        self.secret_problems: dict[str, list[str]] = {}
        self.waiver_of: dict[str, Waiver] = {}  # node id -> the waiver of its xfail mark
        self.scheduler: Scheduler | None = None
        self.item: pytest.Item | None = None  # the case being set up, run or torn down (``case``)
        self.deny: DenyMatrix | None = None
        self.results: dict[str, ProbeResult] = {}  # node id -> its probe's result
        self.warnings: dict[str, list[str]] = {}  # node id -> its probe's warnings (cases.warnings_of), said once
        self.cases: dict[str, model.CaseRecord] = {}  # node id -> its record, in run order
        self.statuses: dict[tuple[str, str], Status] = {}  # (node id, phase) -> how the terminal shows it
        self.problems: list[str] = []  # run-level errors: expired waivers, unwritable reports
        self.notes: list[str] = []  # run-level information: reports written, ...
        self.started = dt.datetime.now(dt.UTC)
        self.run: model.RunRecord | None = None
        self.interrupted = False  # SIGINT (KeyboardInterrupt) or SIGTERM during the run
        self.kept: dict[str, ProbeResult] = {}  # probes that had finished when the run was interrupted
        self._sigterm: Any = None  # the SIGTERM handler this session replaced
        self.staged: Staged | None = None  # the report set, written aside until the JUnit file is amended
        self.collected_dirs: set[Path] = set()  # where conformance modules were collected from
        #: the modules that got their row's markers, and the row each module names itself (pytest_itemcollected)
        self._marked: set[pytest.Module] = set()
        self._module_rows: dict[pytest.Module, int | None] = {}
        self.ignored: dict[Path, Connection] = {}  # modules --connection/--source left uncollected: their rows
        self.deselected: list[list[pytest.Item]] = []  # pytest's own -k/-m deselection, one batch per call
        self.selecting = False  # between our first and last pytest_collection_modifyitems

    @classmethod
    def from_config(cls, config: pytest.Config) -> GvpSession:
        """Read and check the options and the files they name; a problem is a one-line usage error."""
        options = Options.from_config(config)
        inventory = None
        if options.inventory_path:
            try:
                inventory = load(options.inventory_path)
            except InventoryError as exc:
                raise pytest.UsageError(f"inventory error: {exc}") from None
        waivers = None
        if options.waivers:
            from gvpconf.report import waivers as w

            try:
                waivers = w.Waivers(w.load(options.waivers), options.waivers)
            except w.WaiverError as exc:
                raise pytest.UsageError(f"waiver error: {exc}") from None
        baseline = None
        if options.baseline:
            try:
                baseline = model.load(options.baseline)
            except ValueError as exc:
                raise pytest.UsageError(f"baseline error: {exc} (pass the results.json of an earlier run)") from None
        return cls(config, options, inventory, waivers, baseline)

    # -- collection --------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        found = self.options.detected
        return [f"gvpconf: --source auto -> {found.role} ({found.how})"] if found is not None else []

    @pytest.hookimpl(trylast=True)  # pytest's own --ignore, conftest collect_ignore... decide first
    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        """The module of a row that ``--connection``/``--source`` leave out is neither imported nor collected (a
        tenth of start-up for ``--connection 1``): its row counts as implemented and left out, as when its cases
        were collected and deselected. Not with ``-k``/``-m``: pytest applies them first, to every case collected,
        and a row they leave out says so ("not selected (-k options)")."""
        row = selection.row_of_module(collection_path)
        if row is None or self.options.pytest_selects:
            return None
        by = self.options.left_out_by(row.source, row.number)
        if not by:
            return None
        self.ignored[collection_path] = row
        self.rows.implemented.add(row.number)
        self.rows.leave_out(row.number, by)
        self.collected_dirs.add(collection_path.parent)
        return True

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        params.parametrize(metafunc, self.inventory, self.discovery)

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Markers per connection, class and source role, so ``-m c08``, ``-m intra``, ``-m from_mcp`` work. When the
        row is the module's own (``pytestmark = connection(N)``), on the module, once: its items inherit them, for
        ``-m`` and ``-k`` alike (three ``add_marker`` calls per item were a tenth of collecting a pool of 1000).
        A test that names its row itself (a module may test several) gets its own."""
        row = params.row_of(item)
        if row is None:
            return
        self.rows.implemented.add(row.number)
        self.collected_dirs.add(item.path.parent)
        holder: pytest.Item | pytest.Module = item
        module = item.parent
        if isinstance(module, pytest.Module):
            if module not in self._module_rows:
                self._module_rows[module] = next((int(m.args[0]) for m in module.own_markers
                                                  if m.name == "gvp_connection" and m.args), None)
            if self._module_rows[module] == row.number:
                if module in self._marked:
                    return
                self._marked.add(module)
                holder = module
        holder.add_marker(f"c{row.number:02d}")
        holder.add_marker(row.suite_class)
        holder.add_marker(f"from_{row.source}")

    @pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_first(self) -> None:
        """From here to our last ``pytest_collection_modifyitems``, a deselection is pytest's ``-k``/``-m``."""
        self.selecting = True

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        if self.selecting:
            self.deselected.append(list(items))

    @pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_deny(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """``--deny-matrix``: its generated cases join before ``-m`` and ``-k`` select."""
        if not self.options.deny_matrix:
            return
        role = self.options.source
        if role is None:
            raise pytest.UsageError("--deny-matrix needs --source ROLE (or auto): the matrix is what one pod's "
                                    "role must not reach")
        if self.inventory is None:
            raise pytest.UsageError("--deny-matrix needs an inventory (--inventory FILE or $GVP_INVENTORY)")
        from gvpconf.plugin.deny import DenyMatrix  # only with --deny-matrix

        self.deny = DenyMatrix(role, self.inventory, self.options.deny_timeout)
        items.extend(self.deny.items(session))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """After ``-m``/``-k``: ``--connection``, ``--source`` and the opt-ins select; waivers mark; secrets load."""
        self.selecting = False
        markexpr, keyword = str(config.getoption("markexpr", "") or ""), str(config.getoption("keyword", "") or "")
        for i, batch in enumerate(self.deselected):
            why = selection.deselected_by(markexpr, keyword, i, len(self.deselected))
            for row in (params.row_of(item) for item in batch):
                if row is not None:
                    self.rows.leave_out(row.number, why)
        for path, row in self.ignored.items():
            selection.check_module(path, row, self.modules)
        self.rows.on_disk = selection.modules_on_disk(
            self.collected_dirs, {c.number for c in CONNECTIONS} - self.rows.implemented)
        chosen = selection.select(self, items)
        if chosen.dropped:
            config.hook.pytest_deselected(items=chosen.dropped)
            items[:] = chosen.kept
        conformance = [i for i in items if params.row_of(i) is not None]
        if conformance and self.inventory is None:
            raise pytest.UsageError("no inventory: pass --inventory FILE or set GVP_INVENTORY "
                                    "(start from fixtures/inventory.example.yaml)")
        if self.inventory is None or not conformance:
            return
        if self.waivers is not None:
            selection.mark_waived(self, conformance)
        if not (self.options.plan or self.options.collect_only):  # listing and planning read no secret
            keys = {r.destination for r in (params.row_of(i) for i in conformance) if r is not None}
            self.secrets, self.secret_problems = secret_problems(self.inventory, sorted(keys),
                                                                 str(self.options.inventory_path))

    # -- running -----------------------------------------------------------------------------------

    def job_for(self, item: pytest.Item) -> Job | None:
        row, probe, target = params.row_of(item), params.probe_of(item), params.param_of(item)
        inv = self.inventory
        if row is None or probe is None or not isinstance(target, Target) or inv is None:
            return None
        if row.destination in self.secret_problems:
            return None  # its case fails with cause config (pytest_pyfunc_call): nothing is sent
        dest = inv.destination(row.destination)
        assert dest is not None
        secrets = self.secrets.get(row.destination, {})
        opt_ins = self.opt_ins.for_destination(row.destination)

        def make_context(deadline: Any) -> ProbeContext:
            return ProbeContext(connection=row, target=target, destination=dest, secrets=secrets,
                                deadline=deadline, opt_ins=opt_ins, memo=self.memo)

        return Job(probe=probe, timeouts=inv.timeouts_for(row.number), make_context=make_context,
                   retry=retry_for(inv, row.number, probe), destination=dest)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Start every selected probe (and expected-deny check) at once; each case then awaits its own."""
        # --plan and --collect-only send nothing; pytest's own loop returns early for --collect-only,
        # so the probes must not have been started before it
        idle = self.options.plan or self.options.collect_only
        jobs = [] if idle else [(i.nodeid, j) for i in session.items if (j := self.job_for(i)) is not None]
        if jobs:
            self.scheduler = Scheduler(min(self.options.workers, len(jobs)))
        try:
            # inside the try: a signal while the probes are being submitted (the main thread imports each prober
            # as its first job is submitted, and the first probes already send) stops them like one in the loop
            if self.scheduler is not None:
                self.scheduler.submit_all(jobs)
            if self.deny is not None and not idle:
                self.deny.start(session.items)
            return (yield)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (see pytest_sessionstart)
            self.interrupted = True
            # raised afresh: pytest renders the interrupt's traceback, and the probes' deep one took seconds
            raise session.Interrupted(str(exc) or "SIGINT received") from None
        finally:
            if self.scheduler is not None:
                if self.interrupted:  # keep what finished before the probes' sockets are shut down
                    self.kept = {key: r for key in self.results.keys() | {i.nodeid for i in session.items}
                                 if (r := self.scheduler.finished(key)) is not None}
                    self.scheduler.abort()
                else:
                    self.scheduler.shutdown()
            if self.deny is not None:
                self.deny.stop()

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtestloop")
    def pytest_runtestloop_plan(self, session: pytest.Session) -> bool | None:
        """``--plan``: print what would be probed and what each probe sends, run nothing."""
        if not self.options.plan:
            return None
        from gvpconf.plugin import plan

        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        for line in plan.lines(session.items, self.inventory, self.options, self.rows):
            if tr is not None:
                tr.write_line(line)
            else:  # pragma: no cover - -p no:terminal
                print(line)
        return True

    def evidence(self, item: pytest.Item) -> dict[str, Fact]:
        """The facts of this case's probe (awaited, or run now if it was not started), into JUnit."""
        row = params.row_of(item)
        if row is not None and row.destination in self.secret_problems:
            return {}  # nothing was probed; the session fails the case in its call phase
        if self.scheduler is not None and item.nodeid in self.scheduler:
            result = self.scheduler.result(item.nodeid)
        else:  # e.g. a test selected after the session started: run it here
            job = self.job_for(item)
            if job is None:
                raise pytest.UsageError(f"{item.nodeid}: a conformance test needs @probe(NAME)")
            result = run_job(job)
        props = item.user_properties
        props.append(("probe", result.probe))
        props.append(("duration_ms", round(result.duration * 1000, 1)))
        if len(result.attempts) > 1:
            props.append(("attempts", len(result.attempts)))
        props.extend(result.evidence.facts.items())
        warnings = self.warnings[item.nodeid] = cases.warnings_of(result.evidence.facts)
        props.extend(("warning", w) for w in warnings)
        # the verdict is given in the call phase (pytest_pyfunc_call), so that a probe failure is a JUnit
        # <failure>, not a setup <error>
        self.results[item.nodeid] = result
        facts: dict[str, Fact] = result.evidence.facts
        return facts

    def case(self) -> pytest.Item:
        """The case whose fixtures are being set up (``gvpconf.plugin.fixtures.CaseFixtures``)."""
        if self.item is None:
            raise RuntimeError("evidence and expect are fixtures of a conformance case: no case is being set up")
        return self.item

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.item = item  # before any fixture of its is set up (pytest's own setup hook runs after this one)
        row = params.row_of(item)
        if row is None:
            return
        target = params.param_of(item)
        props = item.user_properties
        props += [("connection", row.number), ("source", row.source_label),
                  ("destination", row.destination_label), ("protocol", row.protocol),
                  ("port", target.port if isinstance(target, Target) else (row.ports or "-")),
                  ("classification", row.suite_class), ("seed_classification", row.seed_classification or "-")]
        if isinstance(target, Target):
            props += [("target", target.id), ("address", target.address)]
            if target.zone:
                props.append(("zone", target.zone))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> None:
        """Fail the case, in its call phase, when its probe failed: one line with the cause, no traceback."""
        target = params.param_of(pyfuncitem)
        if isinstance(target, params.DiscoveryFailed):
            pyfuncitem.user_properties.append(("cause", "config"))
            pytest.fail(redact.scrub(f"discovery failed: {target.reason}"), pytrace=False)
        row = params.row_of(pyfuncitem)
        if row is not None and isinstance(target, Target) and row.destination in self.secret_problems:
            pyfuncitem.user_properties.append(("cause", "config"))
            pytest.fail(f"#{row.number} {row.source} -> {target.id} ({target.address}): config: a secret is "
                        "unusable, nothing was sent: " + "; ".join(self.secret_problems[row.destination]),
                        pytrace=False)
        result = self.results.get(pyfuncitem.nodeid)
        if result is None:
            return
        if result.error is not None:
            raise result.error
        if result.failure is not None:
            assert row is not None and isinstance(target, Target)
            props = pyfuncitem.user_properties
            props.append(("cause", result.failure.cause.value))
            if result.failure.phase:
                props.append(("phase", result.failure.phase))
            msg = f"#{row.number} {row.source} -> {target.id} ({target.address}): {result.failure}"
            pytest.fail(redact.scrub(msg), pytrace=False)
        warnings = self.warnings.get(pyfuncitem.nodeid, []) if self.options.strict else []
        if warnings and row is not None and isinstance(target, Target):
            pyfuncitem.user_properties.append(("cause", "warning"))
            msg = (f"#{row.number} {row.source} -> {target.id} ({target.address}): warning (--gvp-strict): "
                   + "; ".join(warnings))
            pytest.fail(redact.scrub(msg), pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None],
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        row = params.row_of(item)
        if row is None:
            return report
        # secrets never reach a report, whatever raised them
        if report.longrepr is not None and not isinstance(report.longrepr, tuple):
            text = str(report.longrepr)
            scrubbed = redact.scrub(text)
            if scrubbed != text:
                report.longrepr = scrubbed
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self._record(item, row, report)
        return report

    def _record(self, item: pytest.Item, row: Connection, report: pytest.TestReport) -> None:
        nodeid = item.nodeid
        waiver = self.waiver_of.get(nodeid)  # only ever set when the run has waivers
        today = self.waivers.today if self.waivers is not None else None
        case = cases.record(item, row, report, self.results.get(nodeid), waiver, today, self.warnings.get(nodeid))
        extra: list[tuple[str, object]] = []
        failed = case.outcome in (model.FAILED, model.ERROR, model.WAIVED)
        if failed and case.cause and "cause" not in dict(item.user_properties):
            extra.append(("cause", case.cause))
        key = (item.nodeid, report.when)
        if case.outcome == model.FLAKY:
            extra.append(("flaky", "true"))
            if report.when == "call":
                self.statuses[key] = ("flaky", "R", ("FLAKY", {"yellow": True}))
        elif case.outcome == model.WAIVED and waiver is not None:
            assert self.waivers is not None
            self.waivers.match(row.number, case.target)  # counts it as used
            extra.append(("waived", f"{waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}"))
            self.statuses[key] = ("waived", "w", ("WAIVED", {"yellow": True}))
        elif case.outcome == model.PASSED and waiver is not None:  # its xfail mark: not an "XPASS"
            self.statuses[key] = ("passed", ".", "PASSED")
        # JUnit properties: the teardown report, which junitxml writes, copies the item's list
        item.user_properties.extend(extra)
        report.user_properties.extend(extra)
        self.cases[item.nodeid] = case

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Status | None:
        return self.statuses.get((report.nodeid, report.when))

    # -- the end -----------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = dt.datetime.now(dt.UTC)
        # SIGTERM (a pod deleted, a Job's deadline, the entrypoint's timeout) stops the run as Ctrl-C does
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._sigterm = signal.signal(signal.SIGTERM, _terminated)

    def _restore_sigterm(self) -> None:
        if self._sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Verdicts from the case records; expired waivers fail the run; the reports are staged (moved in with the
        JUnit file, ``pytest_sessionfinish_junit``). Listing and planning write nothing."""
        self._restore_sigterm()
        if not self.rows.implemented or self.options.plan or self.options.collect_only:
            return
        if self.interrupted or session.exitstatus == pytest.ExitCode.INTERRUPTED:
            for item in session.items:
                row = params.row_of(item)
                if row is not None and item.nodeid not in self.cases:
                    self.cases[item.nodeid] = cases.unfinished(item, row, self.kept.get(item.nodeid))
        if self.waivers is not None:
            self.problems += self.waivers.expired_lines()
        if self.problems and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        from gvpconf.plugin import results  # the reports: at the end only (start-up, bench/)

        probes_of: dict[int, set[str]] = {}
        for item in session.items:
            row, probe = params.row_of(item), params.probe_of(item)
            if row is not None and probe is not None:
                probes_of.setdefault(row.number, set()).add(probe)
        facts = results.RunFacts(self.options, self.inventory, self.rows, probes_of, self.started,
                                 int(session.exitstatus), list(self.problems), self.waivers, self.baseline)
        self.run = results.run_record(facts, list(self.cases.values()))
        self.run.notes += results.secret_notes(self.run, self.secret_problems)
        self.staged, problems = results.stage(self.run, self.options)
        self.problems += problems

    @pytest.hookimpl(trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_junit(self, session: pytest.Session) -> None:
        """Once pytest's junitxml has written ``--junitxml``: the verdicts and extras into it, and the staged reports
        moved in beside it: one run's set."""
        if self.run is None:
            return
        from gvpconf.plugin import results

        if self.options.xmlpath is not None:
            from gvpconf.plugin import junit

            prefix = self.config.getoption("junitprefix", None)
            junit.amend(self.options.xmlpath, self.run.cases(), results.suite_properties(self.run, self.problems),
                        prefix=str(prefix) if prefix else None)
        notes, problems = results.commit(self.run, self.staged, self.options)
        self.staged = None
        self.notes += notes
        self.problems += problems

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int,
                                config: pytest.Config) -> None:
        from gvpconf.plugin import terminal

        terminal.write(terminalreporter, self)


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")
