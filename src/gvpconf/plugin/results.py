"""The run as data (``RunRecord``), built from the case records at session end, and where it goes: the
report files, a Pushgateway, the JUnit testsuite properties."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gvpconf import __version__, redact
from gvpconf.catalog import CONNECTIONS
from gvpconf.inventory import Inventory
from gvpconf.plugin import verdicts
from gvpconf.plugin.options import Options
from gvpconf.report import model

if TYPE_CHECKING:
    from gvpconf.report import Staged
    from gvpconf.report.waivers import Waivers


def digest(path: str | None) -> str:
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class RunFacts:
    """What the session knows of the run besides its cases."""

    options: Options
    inventory: Inventory | None
    rows: verdicts.Rows
    probes_of: Mapping[int, set[str]]  # the probes each row's selected cases use
    started: dt.datetime
    exit_status: int
    problems: Sequence[str]
    waivers: Waivers | None
    baseline: model.RunRecord | None


def connections(rows: verdicts.Rows, cases: Sequence[model.CaseRecord],
                probes_of: Mapping[int, set[str]]) -> list[model.ConnectionRecord]:
    """All 22 rows, each with its verdict derived from its cases."""
    from gvpconf.probes import PROBES

    by_row: dict[int, list[model.CaseRecord]] = {}
    for case in cases:
        by_row.setdefault(case.connection, []).append(case)
    out = []
    for c in CONNECTIONS:
        row_cases = by_row.get(c.number, [])
        v = verdicts.judge(c.number, rows, row_cases)
        out.append(model.ConnectionRecord(
            number=c.number, source=c.source, source_label=c.source_label, destination=c.destination,
            destination_label=c.destination_label, protocol=c.protocol, ports=c.ports,
            classification=c.suite_class, seed_classification=c.seed_classification, verdict=v.verdict,
            detail=v.detail, why=v.why, causes=list(v.causes), warnings=list(v.warnings),
            sends=[f"{p}: {PROBES.get(p, '')}" for p in sorted(probes_of.get(c.number, ()))], cases=row_cases))
    return out


def run_record(facts: RunFacts, cases: Sequence[model.CaseRecord]) -> model.RunRecord:
    from gvpconf.report import common, drift

    finished = dt.datetime.now(dt.UTC)
    inv, opts = facts.inventory, facts.options
    run = model.RunRecord(
        suite_version=__version__, cluster=inv.cluster.name if inv else "",
        namespace=inv.cluster.namespace if inv else "", inventory_path=inventory_name(opts.inventory_path),
        inventory_sha256=digest(opts.inventory_path), source_role=opts.source or "all",
        source_pod=os.environ.get("GVP_SOURCE_POD") or os.environ.get("HOSTNAME") or socket.gethostname(),
        source_zone=os.environ.get("GVP_SOURCE_ZONE", ""), started=facts.started.isoformat(timespec="seconds"),
        finished=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - facts.started).total_seconds(), 3), exit_status=facts.exit_status,
        selection=facts.rows.selection, problems=list(facts.problems),
        waivers=facts.waivers.records() if facts.waivers is not None else [],
        connections=connections(facts.rows, cases, facts.probes_of))
    run.stand_ins = stand_ins(os.environ.get("GVP_LAB_STAND_INS", ""))
    run.inventory_note = inventory_note(opts.inventory_path, bool(run.stand_ins))
    run.summary = common.summary_line(run)
    run.run_id = uuid.uuid4().hex[:12]
    if facts.baseline is not None and opts.baseline:
        run.drift = drift.compare(facts.baseline, run, opts.baseline, opts.latency_threshold)
    return run


def secret_notes(run: model.RunRecord, problems: Mapping[str, Sequence[str]]) -> list[str]:
    """One note per unusable secret, naming the cases it failed (they carry the same line as their message)."""
    notes = []
    for lines in problems.values():
        failed = [c for c in run.cases() if c.cause == "config" and c.address
                  and any(line in c.message for line in lines)]
        which = ", ".join(f"#{c.connection} {c.test}[{c.target}]" for c in failed) or "no case ran"
        notes += [f"secret unusable: {line}; failed: {which}" for line in lines]
    return notes


def stand_ins(text: str) -> dict[str, str]:
    """``$GVP_LAB_STAND_INS`` (set by the lab's ``run``): ``key=what;key=what`` -> {destination key: what}."""
    pairs = (item.partition("=") for item in text.split(";") if item.strip())
    return {key.strip(): what.strip() for key, _, what in pairs if key.strip()}


def inventory_note(path: str | None, lab: bool) -> str:
    """Said beside the inventory path when the file will not outlive the run (a temporary file, the lab's)."""
    if not path:
        return ""
    resolved = Path(path).resolve()
    # the temporary directories by name only: tempfile.gettempdir() probes them by writing a file, and the
    # probe container has a read-only root with no writable directory at all
    temp_dirs = {os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")} | {"/tmp", "/var/tmp"}
    if any(resolved.is_relative_to(Path(d).resolve()) for d in temp_dirs if d):
        whose = "the lab's temporary file, removed when the lab stops" if lab else "a temporary file"
        return f"{whose}: it may be gone after the run; its sha256 identifies the content"
    return ""


def suite_properties(run: model.RunRecord, problems: Sequence[str]) -> list[tuple[str, str]]:
    """The JUnit testsuite properties: every row's verdict, the counts, where the run ran, its errors."""
    props = [(f"connection.{c.number}.verdict", c.verdict_text) for c in run.connections]
    props.append(("connections.verified", verdicts.verified_count(run.connections)))
    props.append(("connections.summary", run.summary))
    for verdict in (verdicts.FLAKY, verdicts.WAIVED, verdicts.FAILED):
        props.append((f"connections.{verdict.lower()}", str(verdicts.count(run.connections, verdict))))
    if run.cluster:
        props += [("cluster", run.cluster), ("namespace", run.namespace)]
    if run.inventory_path:
        props.append(("inventory.sha256", run.inventory_sha256))
    props.append(("suite.version", run.suite_version))
    props.append(("run.id", run.run_id))
    props += [("run.error", problem) for problem in problems]
    return props


def stage(run: model.RunRecord, options: Options) -> tuple[Staged | None, list[str]]:
    """Render and write the report set to temporary files (``commit`` moves them in with the JUnit file):
    (the staged set, problems). When it cannot be written, the previous set is removed rather than left beside
    this run's junit.xml."""
    from gvpconf import report

    outdir = options.reports_dir
    if not outdir or outdir == "none":
        return None, []
    try:
        return report.Staged(run, outdir), []
    except OSError as exc:
        with contextlib.suppress(OSError):
            report.remove_set(outdir, keep=junit_path(options))
        return None, [f"report error: cannot write {outdir}: {exc.strerror or exc} (the previous reports there "
                      "were removed, so no mixed set is left)"]


def junit_path(options: Options) -> Path | None:
    return Path(os.path.expanduser(os.path.expandvars(options.xmlpath))) if options.xmlpath else None


def commit(run: model.RunRecord, staged: Staged | None, options: Options) -> tuple[list[str], list[str]]:
    """Move the staged set in (and push the metrics when asked): (notes, problems) for the end of the run."""
    notes: list[str] = []
    problems: list[str] = []
    if staged is not None:
        try:
            written = staged.commit(junit_path(options))
        except OSError as exc:
            staged.discard()
            problems.append(f"report error: cannot write {staged.outdir}: {exc.strerror or exc}")
        else:
            names = ", ".join(p.name for p in written)
            junit = junit_path(options)
            together = " and junit.xml" if junit is not None and junit.parent.resolve() == staged.outdir.resolve() \
                else ""
            notes.append(f"reports: replaced the previous set in {staged.outdir}: {names}{together} (run id "
                         f"{run.run_id})")
    url = options.pushgateway
    if url:
        from gvpconf.report import prometheus

        try:
            prometheus.push(redact.scrub(prometheus.render(run)), url, instance=run.source_pod)
        except OSError as exc:
            notes.append(f"pushgateway: push to {url} failed: {exc} (metrics.prom is still written)")
        else:
            notes.append(f"pushgateway: pushed to {url}")
    return notes, problems


def write(run: model.RunRecord, options: Options) -> tuple[list[str], list[str]]:
    """Stage and commit at once (no JUnit file to wait for)."""
    staged, problems = stage(run, options)
    notes, more = commit(run, staged, options)
    return notes, problems + more


def inventory_name(path: object) -> str:
    """How the inventory is named in the reports: ``$GVP_INVENTORY_NAME`` when the file is an anonymous one
    (the probe container hands pytest ``/proc/self/fd/N``), else its path."""
    import os

    return os.environ.get("GVP_INVENTORY_NAME") or str(path or "")
