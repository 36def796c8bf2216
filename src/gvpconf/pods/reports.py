"""The merged acceptance report of a run from the pods: every pod's ``results.json`` into one report.

Next to the merged JUnit, the runner writes ``report.html``, ``report.md``, ``results.json`` and
``metrics.prom`` for the whole deployment (``gvpconf.report.merge``): each row with its verdict per
source pod and zone. A pod whose run did not happen, or produced no ``results.json``, is a failure of
every row of its role, with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from gvpconf.pods.model import RunOutcome
from gvpconf.report import model
from gvpconf.report.merge import Input, Unrun, merge
from gvpconf.report.model import RunRecord


def merged_record(outcomes: Sequence[RunOutcome]) -> RunRecord:
    inputs: list[Input] = []
    unrun: list[Unrun] = []
    for o in outcomes:
        src = o.source
        if o.error is not None or o.results is None:
            if o.error is not None:
                error, cause = o.error, o.cause or "runner"
            else:
                exit_code = f" (exit {o.exit_code})" if o.exit_code is not None else ""
                error, cause = f"the run produced no results.json{exit_code}", "no-report"
            unrun.append(Unrun(src.role, src.pod, src.zone, error, cause, round(o.duration, 3)))
            continue
        try:
            run = model.from_dict(json.loads(o.results))
        except (ValueError, TypeError, AttributeError) as exc:
            unrun.append(Unrun(src.role, src.pod, src.zone, f"unreadable results.json: {exc}", "no-report",
                               round(o.duration, 3)))
            continue
        inputs.append(Input(run, path=f"{src.where} ({o.backend or 'runner'})", pod=src.pod, zone=src.zone,
                            role=src.role))
    return merge(inputs, unrun)


def write_merged(outcomes: Sequence[RunOutcome], outdir: str | os.PathLike[str],
                 baseline: str | None = None, notes: Sequence[str] = ()) -> tuple[RunRecord, list[Path]]:
    """The merged reports; with ``baseline`` (the merged results.json of an earlier run from the pods) the
    drift of every case, matched per pod, in them too."""
    from gvpconf.report import drift, write_all

    run = merged_record(outcomes)
    run.notes += [f"runner: {n}" for n in notes]
    if baseline:
        run.drift = drift.compare(model.load(baseline), run, baseline)
    return run, write_all(run, outdir)


def write_merged_reports(outcomes: list[RunOutcome], outdir: str, prog: str, baseline: str | None = None,
                         notes: Sequence[str] = ()) -> bool:
    """The deployment-wide acceptance report next to the merged JUnit, for both runners (cluster and
    namespace lab); prints where it went. False when it could not be written or a pod gave no results."""
    import sys

    from gvpconf.report import common

    try:
        run, written = write_merged(outcomes, outdir, baseline, notes)
    except (OSError, ValueError) as exc:
        print(f"{prog}: cannot write the merged reports into {outdir}: {exc}", file=sys.stderr)
        return False
    print(f"merged acceptance report: {common.summary_line(run)}")
    print("merged reports: " + ", ".join(str(p) for p in written))
    return all(o.results is not None for o in outcomes)
