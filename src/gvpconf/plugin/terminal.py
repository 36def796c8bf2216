"""The end of the run in the terminal: the 22 rows with their verdicts, flaky and waived cases, drift,
what the opt-ins left out, the expected-deny matrix, notes and run-level errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gvpconf import redact
from gvpconf.catalog import BY_NUMBER
from gvpconf.plugin import verdicts
from gvpconf.plugin.optin import BY_NAME
from gvpconf.report import common

if TYPE_CHECKING:
    from gvpconf.plugin.session import GvpSession


def write(tr: pytest.TerminalReporter, gvp: GvpSession) -> None:
    run = gvp.run
    if run is not None:
        tr.section("GVP connections")
        for line in verdicts.table(run.connections):
            tr.write_line(line)
        if gvp.options.inventory_path:
            from gvpconf.plugin.results import inventory_name

            note = f" ({run.inventory_note})" if run.inventory_note else ""
            tr.write_line(f"inventory: {inventory_name(Path(gvp.options.inventory_path))}{note}")
        for line in common.stand_in_lines(run):
            tr.write_line(f"stand-in (lab run): {line}")
        if not gvp.rows.selected:
            source = gvp.options.source
            why = f"no implemented connection starts at --source {source}" if source else "every case was deselected"
            tr.write_line(f"nothing was probed: {why}", red=True)
        for c in run.cases():
            if c.outcome == "flaky":
                tr.write_line(f"FLAKY #{c.connection} -> {c.target}: passed after {len(c.failed_attempts)} "
                              "failed attempt(s): " + "; ".join(f"{a.cause}: {a.message}" for a in c.failed_attempts),
                              yellow=True)
        for c in run.cases():
            if c.outcome == "waived":
                w = c.waiver or {}
                tr.write_line(f"WAIVED #{c.connection} -> {c.target}: {c.cause}: {c.message} "
                              f"(waiver of {w.get('owner')} until {w.get('expires')}: {w.get('reason')})", yellow=True)
        if run.drift is not None:
            from gvpconf.report import drift

            tr.section("GVP drift")
            for line in drift.lines(run.drift):
                tr.write_line(redact.scrub(line))
    for dest, lines in gvp.secret_problems.items():
        rows = sorted({c.connection for c in run.cases() if c.cause == "config"
                       and BY_NUMBER[c.connection].destination == dest}) if run is not None else []
        failed = f" (failed: {', '.join(f'#{n}' for n in rows)})" if rows else ""
        for line in lines:
            tr.write_line(f"secret unusable{failed}: {line}", red=True)
    for name, nodeids in gvp.left_out.items():
        o = BY_NAME[name]
        tr.write_line(f"{len(nodeids)} {o.what} deselected: {o.what.removesuffix('(s)')}s are opt-in ({o.how}); "
                      "nothing was sent for them", yellow=True)
    if gvp.deny is not None and gvp.deny.results:
        tr.section("expected-deny matrix")
        for line in gvp.deny.lines():
            tr.write_line(line)
    for line in gvp.notes:
        tr.write_line(line)
    for problem in gvp.problems:
        tr.write_line(problem, red=True, bold=True)
