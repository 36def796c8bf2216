"""The runner: for each source role, one pod per availability zone; run the suite from each; merge.

Both runners (``python -m gvpconf.pods run`` in a cluster, ``python -m gvpconf_lab.netlab run`` in the
namespace lab) take the same options (:func:`add_run_options`) and end the same way (:func:`finish`).

A *backend* runs the suite from one pod and returns a :class:`RunOutcome` (the JUnit text, or why
there is none): ``gvpconf_lab.netlab.backend.LocalBackend`` inside a network namespace of the lab,
``gvpconf.pods.kube.KubernetesBackend`` as an ephemeral container (or a Job on the same node).
Everything is bounded: each run has ``run_timeout`` and the whole fan-out ``total_timeout``; a run
that did not finish in time is a failure in the merged report, like a pod that could not be attached.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gvpconf.catalog import CONNECTIONS, ROLES
from gvpconf.pods import junit
from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf.pods.reports import write_merged_reports

#: roles the suite can run from (external sources such as Nuance are not pods of the GVP namespace)
POD_ROLES = tuple(r for r in ROLES if r != "nuance")
#: pytest's exit status for an interrupted run; both runners use it too
INTERRUPTED = 2


class Backend(Protocol):
    name: str

    def run(self, source: SourcePod, suite_args: Sequence[str], timeout: float) -> RunOutcome:
        """Run the suite from ``source``; never raises, never runs longer than ``timeout`` (plus clean-up)."""
        ...


@dataclass(frozen=True)
class Plan:
    runs: list[SourcePod]
    missing: list[RunOutcome]  # roles/zones with pods but none runnable


def pick_per_zone(pods: Iterable[SourcePod], roles: Sequence[str] = POD_ROLES) -> Plan:
    """For each role, one pod per zone: the first ready pod by name. A zone with only unready pods is a failure."""
    by_role_zone: dict[tuple[str, str], list[SourcePod]] = {}
    for pod in pods:
        if pod.role in roles:
            by_role_zone.setdefault((pod.role, pod.zone), []).append(pod)
    runs: list[SourcePod] = []
    missing: list[RunOutcome] = []
    for (role, _zone), members in sorted(by_role_zone.items()):
        members.sort(key=lambda p: p.pod)
        ready = [p for p in members if p.ready]
        if ready:
            runs.append(ready[0])
        else:
            first = members[0]
            missing.append(RunOutcome(first, error=f"no ready {role} pod in zone {first.zone} "
                                      f"({', '.join(p.pod for p in members)} not ready)", cause="not-running"))
    return Plan(runs, missing)


def with_ingress_runs(plan: Plan, *, calls: bool) -> Plan:
    """Connection 19 (Nuance -> MCP media) from each MCP pod the plan runs from, when the call tests are opted
    into (``calls``: 19 has Nuance stream to us, so it is one). Its source, Nuance, is no pod of the GVP
    namespace; but its probe listens where the media arrives, in the MCP pod, on that pod's own address
    (``McpDestination.probe_targets``). So each of those pods also runs ``--source nuance``."""
    ingress = [dataclasses.replace(p, role="nuance") for p in plan.runs if p.role == "mcp"] if calls else []
    return Plan([*plan.runs, *ingress], plan.missing)


def calls_opted_in(inventory: dict[str, object], suite_flags: Sequence[str]) -> bool:
    """Whether 19's call test is opted into in a run from the pods, as the suite's opt-in says
    (``gvpconf.plugin.optin``): its flag among the flags every pod gets, or its key set true in the inventory section
    of 19's destination (the environment variable is the pods' own, not the runner's)."""
    from gvpconf.catalog import BY_NUMBER
    from gvpconf.plugin.optin import BY_NAME

    calls = BY_NAME["calls"]
    dests = inventory.get("destinations")
    section = dests.get(BY_NUMBER[19].destination) if isinstance(dests, dict) else None
    return calls.flag in suite_flags or (isinstance(section, dict) and section.get(calls.inventory_key) is True)


def roles_with_connections() -> list[str]:
    return [r for r in POD_ROLES if any(c.source == r for c in CONNECTIONS)]


def suite_args(role: str, *, deny_matrix: bool, extra: Sequence[str] = ()) -> list[str]:
    """The pytest arguments of one run (the inventory and report paths are the backend's)."""
    args = ["--source", role]
    # not in a nuance run (19, from an MCP pod): what that pod may not reach is the mcp run's matrix
    if deny_matrix and role in POD_ROLES:
        args.append("--deny-matrix")
    return [*args, *extra]


#: seconds the runs in flight get, after the first SIGINT/SIGTERM or the total deadline, to end their waits and
#: clean up (delete their Jobs) before the runner stops waiting for them; a second signal ends it at once
STOP_GRACE = 10.0


class Stop(threading.Event):
    """Set by the first SIGINT/SIGTERM; ``now`` is set too by a later one: stop waiting for the runs in flight
    to clean up (:data:`STOP_GRACE`)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = threading.Event()


@contextlib.contextmanager
def interruptible() -> Iterator[Stop]:
    """While inside: the first SIGINT or SIGTERM sets the event (the runs stop, what finished is kept and
    reported); a later one stops the wait for the runs in flight to clean up (the stop is bounded: the reports
    are still written). The handler only records the signal; a thread prints (print() inside a signal handler
    can re-enter the stdout buffer)."""
    stop = Stop()
    received: list[str] = []
    wake = threading.Event()
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        if stop.is_set():
            stop.now.set()
        stop.set()
        wake.set()

    def say() -> None:
        told = 0
        while True:
            wake.wait(0.5)
            wake.clear()
            for name in received[told:]:
                if told == 0:
                    print(f"{name}: stopping the runs; finished results are kept", flush=True)
                else:
                    print(f"{name}: already stopping; not waiting for runs still cleaning up; the reports are "
                          "being written", flush=True)
                told += 1
            if done.is_set():
                return

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    speaker = threading.Thread(target=say, name="gvpconf-signals", daemon=True)
    speaker.start()
    try:
        yield stop
    finally:
        done.set()
        wake.set()
        speaker.join(timeout=1.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_runs(sources: Sequence[SourcePod], work: Callable[[SourcePod], RunOutcome],
                parallel: int) -> list[tuple[SourcePod, concurrent.futures.Future[RunOutcome]]]:
    """``work`` for every source, ``parallel`` at once, in daemon threads: a run stuck in a request that the
    runner stopped waiting for never holds the process at exit (a ThreadPoolExecutor's threads are joined)."""
    runs = [(src, concurrent.futures.Future[RunOutcome]()) for src in sources]
    feed = iter(runs)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                item = next(feed, None)
            if item is None:
                return
            src, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(work(src))
            except BaseException as exc:  # handed to the waiter, who reports it
                fut.set_exception(exc)

    for i in range(min(max(1, parallel), len(runs))):
        threading.Thread(target=worker, name=f"gvpconf-run-{i}", daemon=True).start()
    return runs


def run_all(backend: Backend, plan: Plan, *, deny_matrix: bool = False, run_timeout: float = 300.0,
            total_timeout: float = 900.0, parallel: int = 4, extra: Sequence[str] = (),
            stop: threading.Event | None = None, stop_grace: float = STOP_GRACE) -> list[RunOutcome]:
    """Run from every planned pod (``parallel`` at once); outcomes in plan order, missing ones first.
    When ``stop`` is set, runs not started are ``interrupted`` and the backend's own ``stop`` (if it has
    one) ends the waits of those in flight; a run that has not returned ``stop_grace`` s later (a request to
    the cluster that does not answer), or at once if ``stop`` is a :class:`Stop` whose ``now`` is set, is
    ``interrupted`` without it. At the total deadline, the runs still going are ``timeout``; they are stopped
    the same way and get the same grace to clean up."""
    outcomes: list[RunOutcome] = list(plan.missing)
    started = time.monotonic()
    stop = stop or threading.Event()
    now = stop.now if isinstance(stop, Stop) else threading.Event()
    backend_stop = getattr(backend, "stop", None)
    winding_down: float | None = None  # when the grace after the stop ends

    def one(src: SourcePod) -> RunOutcome:
        if stop.is_set():
            return RunOutcome(src, error="interrupted before this run started", cause="interrupted",
                              backend=backend.name)
        return backend.run(src, suite_args(src.role, deny_matrix=deny_matrix, extra=extra), run_timeout)

    def stopping() -> float:
        nonlocal winding_down
        if winding_down is None:
            winding_down = time.monotonic() + stop_grace
            if isinstance(backend_stop, threading.Event):
                backend_stop.set()
        return winding_down

    runs = _start_runs(plan.runs, one, parallel)
    for src, fut in runs:
        outcome: RunOutcome | None = None
        while outcome is None:
            left = total_timeout - (time.monotonic() - started)
            grace_left = stopping() - time.monotonic() if stop.is_set() else left
            if now.is_set():  # a second signal: no run is waited for any more, not even one poll each
                grace_left = 0.0
            try:
                outcome = fut.result(timeout=max(0.0, min(left, grace_left, 0.2)))
            except concurrent.futures.TimeoutError as exc:
                if fut.done():  # the backend's own TimeoutError (the same class since Python 3.11): a backend bug
                    outcome = RunOutcome(src, error=f"backend error: {type(exc).__name__}: {exc}", cause="backend",
                                         backend=backend.name)
                elif stop.is_set() and fut.cancel():  # still queued: it never starts
                    outcome = RunOutcome(src, error="interrupted before this run started", cause="interrupted",
                                         backend=backend.name)
                elif left <= 0.2:
                    fut.cancel()
                    outcome = RunOutcome(src, error=f"no result within the runner's total deadline of "
                                         f"{total_timeout:.0f} s", cause="timeout", backend=backend.name)
                elif stop.is_set() and (now.is_set() or grace_left <= 0):
                    why = "a second signal" if now.is_set() else f"{stop_grace:g} s after the stop"
                    outcome = RunOutcome(src, error=f"interrupted: the runner stopped waiting for this run "
                                         f"({why}: a request to the cluster was still in flight; what it started "
                                         "ends on its own run timeout)", cause="interrupted", backend=backend.name)
            except Exception as exc:  # a backend bug: reported, never a silent gap
                outcome = RunOutcome(src, error=f"backend error: {type(exc).__name__}: {exc}", cause="backend",
                                     backend=backend.name)
        outcomes.append(outcome)
    going = [fut for _src, fut in runs if not fut.done()]
    if going:  # the total deadline passed (or the grace): stop them, let them clean up within the grace
        until = stopping()
        while not now.is_set() and time.monotonic() < until and not all(fut.done() for fut in going):
            concurrent.futures.wait(going, timeout=min(0.2, max(0.0, until - time.monotonic())))
    return outcomes


def summary_lines(outcomes: Sequence[RunOutcome]) -> list[str]:
    lines = []
    for o in outcomes:
        state = "ran" if o.junit is not None else f"FAILED ({o.cause}: {o.error})"
        code = f" exit {o.exit_code}" if o.exit_code is not None else ""
        lines.append(f"{o.source.role:13s} {o.source.where:30s} {state}{code} in {o.duration:.1f} s")
    return lines


def add_run_options(run: argparse.ArgumentParser, *, run_timeout: float, total_timeout: float,
                    parallel: int) -> None:
    """The options of a runner's ``run`` command that :func:`run_all` and :func:`finish` take."""
    run.add_argument("--junitxml", default="reports/junit-pods.xml", help="the merged JUnit report")
    run.add_argument("--reports", help="directory for the merged report.html, report.md, results.json and "
                     "metrics.prom (default: the directory of --junitxml)")
    run.add_argument("--deny-matrix", action="store_true", help="also run the expected-deny matrix from each pod")
    run.add_argument("--run-timeout", type=float, default=run_timeout,
                     help=f"seconds for one pod's run (default {run_timeout:.0f})")
    run.add_argument("--total-timeout", type=float, default=total_timeout,
                     help=f"seconds for all runs (default {total_timeout:.0f})")
    run.add_argument("--parallel", type=int, default=parallel, help=f"runs at once (default {parallel})")
    run.add_argument("--stop-grace", type=float, default=STOP_GRACE, metavar="SECONDS",
                     help="after a SIGINT/SIGTERM or the total deadline, how long the runs in flight get to end and "
                     f"clean up (delete their Jobs) before the runner stops waiting (default {STOP_GRACE:.0f}; a "
                     "second signal ends it at once)")
    suite = run.add_argument_group("passed to the suite in every pod")
    suite.add_argument("--gvp-calls", action="store_true", help="also place the opt-in test calls (#1, #4)")
    suite.add_argument("--gvp-waivers", metavar="FILE", help="accepted exceptions (YAML), sent to every pod")
    suite.add_argument("--gvp-baseline", metavar="RESULTS", help="the merged results.json of an earlier run from "
                       "the pods: new failures, fixes and drift per pod in the merged report")


@dataclass(frozen=True)
class SuiteOptions:
    """The suite's options of a run from the pods: flags for every pod's pytest, and files by their text."""

    args: list[str]
    files: dict[str, str]  # entrypoint environment variable -> the file's text (gvpconf.pods.entry)


def suite_options(args: argparse.Namespace) -> SuiteOptions:
    """Read and check, before any pod is touched, what ``--gvp-*`` passes to the pods. Raises ValueError
    with one line naming the file and the problem. The baseline is not sent: a pod's own cases cannot be
    matched against a merged baseline; the drift is that of the merged report (:func:`finish`)."""
    flags = ["--gvp-calls"] if getattr(args, "gvp_calls", False) else []
    files: dict[str, str] = {}
    if getattr(args, "gvp_waivers", None):
        from gvpconf.report import waivers

        try:
            waivers.load(args.gvp_waivers)
        except waivers.WaiverError as exc:
            raise ValueError(f"waiver error: {exc}") from None
        files["GVP_WAIVERS_YAML"] = Path(args.gvp_waivers).read_text(encoding="utf-8")
    if getattr(args, "gvp_baseline", None):
        from gvpconf.report import model

        try:
            model.load(args.gvp_baseline)
        except ValueError as exc:
            raise ValueError(f"baseline error: {exc} (pass the results.json of an earlier run)") from None
    return SuiteOptions(flags, files)


def check_writable(junitxml: str | os.PathLike[str], reports: str | None) -> str | None:
    """One line when the merged JUnit file or the reports directory cannot be written (checked before any
    pod is touched, so a typo costs nothing), else None. Creates the directories, as :func:`finish` would."""
    out = Path(junitxml)
    for what, directory in (("--junitxml", out.parent), ("--reports", Path(reports) if reports else out.parent)):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"{what}: cannot create the directory {directory}: {exc.strerror or exc}"
        if not os.access(directory, os.W_OK | os.X_OK):
            return f"{what}: the directory {directory} is not writable"
    if out.is_dir():
        return f"--junitxml: {out} is a directory; name a file"
    if out.exists() and not os.access(out, os.W_OK):
        return f"--junitxml: {out} is not writable"
    return None


def finish(outcomes: list[RunOutcome], junitxml: str | os.PathLike[str], *, reports: str | None = None,
           prog: str, baseline: str | None = None, notes: Sequence[str] = (),
           left_behind: Sequence[str] = ()) -> int:
    """The end of a run from the pods, the same for both runners: the per-pod JUnit reports merged into
    ``junitxml``, a line per run, the merged acceptance report into ``reports`` (default: beside
    ``junitxml``), with the runner's ``notes`` and what it ``left_behind`` in both (JUnit properties
    ``runner.note`` / ``runner.left-behind`` of the suites, notes of the merged report). Returns the exit
    status: 0 only when every run ran and sent its results and no case failed or errored."""
    tree = junit.merge(outcomes, notes=notes, left_behind=left_behind)
    out = Path(junitxml)
    out.parent.mkdir(parents=True, exist_ok=True)
    tree.write(out, encoding="utf-8", xml_declaration=True)
    for line in summary_lines(outcomes):
        print(line)
    root = tree.getroot()
    assert root is not None
    print(f"merged report: {out} ({root.get('tests')} cases, {root.get('failures')} failures, "
          f"{root.get('errors')} errors)")
    merged_ok = write_merged_reports(outcomes, reports or str(out.parent), prog, baseline=baseline,
                                     notes=[*notes, *(f"left behind: {x}" for x in left_behind)])
    ok = (merged_ok and all(o.junit is not None for o in outcomes) and root.get("failures") == "0"
          and root.get("errors") == "0")
    return 0 if ok else 1
