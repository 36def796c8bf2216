"""One acceptance report for the whole deployment, merged from the runs of several source pods.

Each pod's run writes its own ``results.json`` (the pod and zone from ``$GVP_SOURCE_POD`` /
``$GVP_SOURCE_ZONE``); ``merge`` combines them into one :class:`RunRecord` whose rows carry a verdict
per source pod and zone (``ConnectionRecord.per_source``), whose cases name the pod they ran from,
and whose ``sources`` list every run (pod, zone, role, start/end, inventory digest) and every pod
that could not run (:class:`Unrun`, a failure of its role's rows, with the reason).

A row's overall verdict, strongest first: ``FAILED`` when any pod failed it (or a pod of its source
role could not run), ``waived``, ``flaky``, ``verified with warnings`` (a pod verified it with a warning),
``verified`` only when every pod that ran it verified it;
a row no pod ran keeps the pods' reason (``not selected``, ``not implemented yet``...) or says that
no run from its source role was merged.

``python -m gvpconf.report merge a.json b.json ... --out DIR`` writes the four report files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gvpconf.catalog import CONNECTIONS
from gvpconf.report.model import (
    CaseRecord,
    ConnectionRecord,
    RunRecord,
    SourceRun,
    SourceVerdict,
)

FAILED, WAIVED, FLAKY, VERIFIED = "FAILED", "waived", "flaky", "verified"
WARNED = "verified with warnings"
RAN = (FAILED, WAIVED, FLAKY, WARNED, VERIFIED)
NOT_RUN = "not run"
#: the cause of a pod's run the runner stopped (SIGINT/SIGTERM): its rows are "not run", not FAILED
INTERRUPTED = "interrupted"
#: rows no pod runs whatever happens (no module, disabled in the inventory)
MOOT = ("not implemented yet", "disabled in inventory")
ALL_ROLES = ("all", "", None)


@dataclass
class Unrun:
    """A source pod whose run did not happen or produced no results (the runner's failure)."""

    role: str
    pod: str
    zone: str
    error: str
    cause: str = ""
    duration_s: float = 0.0


@dataclass
class Input:
    """One run to merge: its record, and optionally the pod/zone/role the runner knows it by (authoritative)."""

    run: RunRecord
    path: str = ""
    pod: str = ""
    zone: str = ""
    role: str = ""


def _parse(iso: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(iso)
    except ValueError:
        return None


def _joined(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(v for v in values if v))


def _source_of(item: Input) -> SourceRun:
    run = item.run
    return SourceRun(pod=item.pod or run.source_pod, zone=item.zone or run.source_zone,
                     role=item.role or run.source_role, started=run.started, finished=run.finished,
                     duration_s=run.duration_s, exit_status=run.exit_status, inventory_path=run.inventory_path,
                     inventory_sha256=run.inventory_sha256, cluster=run.cluster, namespace=run.namespace,
                     suite_version=run.suite_version, selection=run.selection, results=item.path)


def _relevant(source: SourceRun, row_source: str, verdict: str) -> bool:
    """Whether a run speaks for a row: it ran from the row's source role (or every role), or it ran the row."""
    return source.role in ALL_ROLES or source.role == row_source or verdict in RAN


def _overall(verdicts: Sequence[SourceVerdict]) -> str:
    for v in RAN:  # strongest first; "verified" only when every pod that ran it verified (nothing stronger)
        if any(s.verdict == v for s in verdicts):
            return v
    return ""


def _not_run(row_source: str, verdicts: Sequence[SourceVerdict], sources: Sequence[SourceRun]) -> tuple[str, str]:
    """Verdict and reason of a row no pod ran."""
    if not verdicts:
        merged = _joined(s.where for s in sources)
        return NOT_RUN, f"no run from a {row_source} source was merged (runs merged: {merged or 'none'})"
    ran = [v for v in verdicts if not v.verdict.startswith("could not run")] or list(verdicts)
    kinds = list(dict.fromkeys(v.verdict for v in ran))
    whys = list(dict.fromkeys(v.detail for v in ran if v.detail))
    if len(kinds) == 1 and len(whys) <= 1:
        return kinds[0], whys[0] if whys else kinds[0]
    return NOT_RUN, "; ".join(f"{v.where}: {v.detail or v.verdict}" for v in verdicts)


def _case_copy(case: CaseRecord, source: SourceRun) -> CaseRecord:
    data = dict(case.__dict__)
    data.update(source_pod=source.pod, source_zone=source.zone)
    return CaseRecord(**data)


def _detail(verdicts: Sequence[SourceVerdict]) -> str:
    ran = [v for v in verdicts if v.verdict in RAN]
    counts = {k: sum(1 for v in ran if v.verdict == k) for k in RAN}
    parts = [f"{counts[VERIFIED] + counts[WARNED]}/{len(ran)} source pods verified"
             + (f" ({counts[WARNED]} with warnings)" if counts[WARNED] else "")]
    parts += [f"{counts[k]} {k}" for k in (FLAKY, WAIVED, FAILED) if counts[k]]
    return "; ".join(parts)


def merge(inputs: Sequence[Input], unrun: Sequence[Unrun] = ()) -> RunRecord:
    """The deployment-wide record of several runs (and of the pods that could not run)."""
    if not inputs and not unrun:
        raise ValueError("nothing to merge: no results and no failed source")
    for item in inputs:
        if item.run.merged:
            raise ValueError(f"{item.path or 'input'}: already a merged report; merge the per-pod results.json "
                             "files instead")
    sources = [_source_of(i) for i in inputs]
    failed_sources = [SourceRun(pod=u.pod, zone=u.zone, role=u.role, duration_s=u.duration_s, error=u.error,
                                cause=u.cause or "runner") for u in unrun]
    notes: list[str] = []
    digests = list(dict.fromkeys(s.inventory_sha256 for s in sources if s.inventory_sha256))
    if len(digests) > 1:
        common = max(digests, key=lambda d: sum(1 for s in sources if s.inventory_sha256 == d))
        for s in sources:
            s.digest_differs = s.inventory_sha256 != common
        notes.append("the runs used different inventories (sha256 " + ", ".join(d[:12] for d in digests)
                     + "): " + ", ".join(f"{s.where} {s.inventory_sha256[:12]}" for s in sources)
                     + "; their verdicts may not be comparable")
    seen: dict[str, int] = {}
    for s in sources:
        seen[s.where] = seen.get(s.where, 0) + 1
    notes += [f"{where} appears in {n} of the merged runs" for where, n in seen.items() if n > 1]
    for what in ("cluster", "namespace", "suite_version"):
        values = list(dict.fromkeys(getattr(s, what) for s in sources if getattr(s, what)))
        if len(values) > 1:
            notes.append(f"the runs differ in {what.replace('_', ' ')}: {', '.join(values)}")

    rows: list[ConnectionRecord] = []
    by_number = [{c.number: c for c in i.run.connections} for i in inputs]
    for conn in CONNECTIONS:
        verdicts: list[SourceVerdict] = []
        cases: list[CaseRecord] = []
        sends: list[str] = []
        warnings: list[str] = []
        for source, rows_of in zip(sources, by_number, strict=True):
            row = rows_of.get(conn.number)
            if row is None:
                continue
            if not _relevant(source, conn.source, row.verdict):
                continue
            detail = row.detail if row.verdict in RAN else (row.why or row.verdict)
            verdicts.append(SourceVerdict(source.pod, source.zone, source.role, row.verdict, list(row.causes),
                                          detail))
            cases += [_case_copy(c, source) for c in row.cases]
            sends += row.sends
            warnings += [f"{source.where}: {w}" for w in row.warnings]
        # a row no pod could run anyway (no module for it, disabled in the inventory) does not fail because a
        # pod of its role could not run; that pod is still listed, and fails every other row of its role
        moot = bool(verdicts) and all(v.verdict in MOOT for v in verdicts)
        for failed in failed_sources:
            if failed.cause == INTERRUPTED and (failed.role == conn.source or failed.role in ALL_ROLES):
                # stopped by SIGINT/SIGTERM: nothing failed, the row was not run from that pod (as in a pod)
                verdicts.append(SourceVerdict(failed.pod, failed.zone, failed.role, NOT_RUN, [],
                                              f"interrupted: {failed.error}"))
            elif failed.role == conn.source or failed.role in ALL_ROLES:
                verdicts.append(SourceVerdict(failed.pod, failed.zone, failed.role,
                                              f"could not run ({failed.cause})" if moot else FAILED,
                                              [f"could not run: {failed.error}"], failed.error))
        overall = _overall(verdicts)
        why = ""
        if overall:
            ran = [v for v in verdicts if v.verdict in RAN]
            detail = _detail(verdicts)
            # the pods of this role that did not run it (filtered, not configured there): say so
            not_ran = [v for v in verdicts if v.verdict not in RAN]
            if not_ran:
                detail += "; not run from " + ", ".join(f"{v.where} ({v.detail or v.verdict})" for v in not_ran)
            verdicts = ran + not_ran
        else:
            overall, why = _not_run(conn.source, verdicts, sources)
            detail = ""
        causes = sorted({c for v in verdicts if v.verdict in (FAILED, WAIVED) for c in v.causes})
        rows.append(ConnectionRecord(
            number=conn.number, source=conn.source, source_label=conn.source_label, destination=conn.destination,
            destination_label=conn.destination_label, protocol=conn.protocol, ports=conn.ports,
            classification=conn.suite_class, seed_classification=conn.seed_classification, verdict=overall,
            detail=detail, why=why, causes=causes, warnings=warnings if overall in (WARNED, FLAKY) else [],
            sends=list(dict.fromkeys(sends)), cases=cases, per_source=verdicts))

    all_sources = sources + failed_sources
    starts = [t for s in sources if (t := _parse(s.started)) is not None]
    ends = [t for s in sources if (t := _parse(s.finished)) is not None]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started, finished = (min(starts) if starts else now), (max(ends) if ends else now)
    problems = [f"{s.where} ({s.role}) was interrupted: {s.error}" if s.cause == INTERRUPTED else
                f"{s.where} ({s.role}) could not run: {s.error}" for s in failed_sources]
    for item, source in zip(inputs, sources, strict=True):
        problems += [f"{source.where}: {p}" for p in item.run.problems]
    failed_rows = any(r.verdict == FAILED for r in rows)
    exit_status = max([1 if failed_rows or problems else 0, *(s.exit_status or 0 for s in sources)])
    return RunRecord(
        suite_version=_joined(s.suite_version for s in sources), cluster=_joined(s.cluster for s in sources),
        namespace=_joined(s.namespace for s in sources), inventory_path=_joined(s.inventory_path for s in sources),
        inventory_sha256=digests[0] if len(digests) == 1 else "differs between the runs" if digests else "",
        source_role=_joined(s.role for s in all_sources), source_pod="merged",
        source_zone=_joined(s.zone for s in all_sources),
        started=started.isoformat(timespec="seconds"), finished=finished.isoformat(timespec="seconds"),
        duration_s=round(max(0.0, (finished - started).total_seconds()), 3), exit_status=exit_status,
        selection=f"merged from {len(all_sources)} source pod run(s): "
                  + ", ".join(f"{s.where} ({s.role})" for s in all_sources),
        problems=problems, waivers=_waivers(i.run for i in inputs), connections=rows, sources=all_sources,
        notes=notes)


_STATUS_RANK = ("expired", "active", "active (unused)")


def _waivers(runs: Iterable[RunRecord]) -> list[dict[str, str]]:
    """Every waiver once; its status the most telling over the runs (expired > used > unused)."""
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for run in runs:
        for w in run.waivers:
            key = tuple(str(w.get(k, "")) for k in ("connection", "source", "target", "owner", "expires", "reason"))
            prev = out.get(key)
            if prev is None:
                out[key] = dict(w)
                continue
            ranks = [_STATUS_RANK.index(s) if s in _STATUS_RANK else len(_STATUS_RANK)
                     for s in (prev.get("status", ""), w.get("status", ""))]
            if ranks[1] < ranks[0]:
                prev["status"] = w.get("status", "")
    return list(out.values())




def load_inputs(paths: Sequence[str]) -> list[Input]:
    """Read each ``results.json`` (ValueError with one line naming a bad file)."""
    from gvpconf.report.model import load

    return [Input(load(p), path=str(p)) for p in paths]
