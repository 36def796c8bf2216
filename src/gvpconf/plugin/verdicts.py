"""Per-connection verdicts, derived from the case records of the run (the one tally), and the end table.

Verdicts, strongest first: ``FAILED`` (a failure nobody waived), ``waived`` (every failure is
covered by a waiver: never shown as passed), ``flaky`` (every case passed, some only after a
retry), ``verified`` (every case passed at its first attempts), then the rows that were not run:
``disabled in inventory``, ``not configured``, ``not selected``, ``not implemented yet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gvpconf.catalog import CONNECTIONS
from gvpconf.report import model

VERIFIED = "verified"
FLAKY = "flaky"
WAIVED = "waived"
FAILED = "FAILED"
NOT_CONFIGURED = "not configured"
NOT_IMPLEMENTED = "not implemented yet"
NOT_SELECTED = "not selected"
DISABLED = "disabled in inventory"
NOT_RUN = "not run"

#: verdicts of rows whose cases ran
RAN = (FAILED, WAIVED, FLAKY, VERIFIED)


@dataclass
class Rows:
    """What collection and selection found out about the rows: the facts a verdict needs besides the cases."""

    implemented: set[int] = field(default_factory=set)  # rows with a conformance module
    selected: set[int] = field(default_factory=set)  # rows with at least one case left to run
    disabled: set[int] = field(default_factory=set)  # rows the inventory disables
    opted_out: dict[int, str] = field(default_factory=dict)  # rows whose cases were opt-in tests left out: why
    selection: str = ""  # how the run was narrowed ("--source rm", "--connection 1 2")


@dataclass(frozen=True)
class RowVerdict:
    verdict: str
    detail: str = ""  # "2/2 cases passed; ..." for rows that ran
    why: str = ""  # for rows that did not run
    causes: tuple[str, ...] = ()


def judge(number: int, rows: Rows, cases: Sequence[model.CaseRecord]) -> RowVerdict:
    """Row ``number``'s verdict from its case records."""
    if number not in rows.implemented:
        return RowVerdict(NOT_IMPLEMENTED, why="no conformance module for this row yet")
    if number not in rows.selected:
        why = rows.opted_out.get(number) or (f"filtered out by {rows.selection}" if rows.selection
                                             else "filtered out by the selection")
        return RowVerdict(NOT_SELECTED, why=why)
    outcomes = [c.outcome for c in cases]
    passed = sum(o in (model.PASSED, model.FLAKY) for o in outcomes)
    failed = sum(o in (model.FAILED, model.ERROR) for o in outcomes)
    flaky = outcomes.count(model.FLAKY)
    waived = outcomes.count(model.WAIVED)
    causes = tuple(sorted({c.cause for c in cases if c.cause and c.outcome in (model.FAILED, model.ERROR,
                                                                               model.WAIVED)}))
    total = passed + failed + waived
    parts = [f"{passed}/{total} cases passed"] if total else []
    if flaky:
        parts.append(f"{flaky} flaky (passed after retries)")
    if waived:
        parts.append(f"{waived} waived")
    if causes:
        parts.append("causes: " + ", ".join(causes))
    detail = "; ".join(parts)
    if failed:
        return RowVerdict(FAILED, detail, causes=causes)
    interrupted = outcomes.count(model.INTERRUPTED)
    if interrupted:
        return RowVerdict(NOT_RUN, detail, why=f"interrupted: {interrupted} of {len(cases)} case(s) did not finish",
                          causes=causes)
    if waived:
        return RowVerdict(WAIVED, detail, causes=causes)
    if flaky:
        return RowVerdict(FLAKY, detail, causes=causes)
    if passed:
        return RowVerdict(VERIFIED, detail, causes=causes)
    skipped = [c for c in cases if c.outcome == model.SKIPPED]
    if skipped:
        verdict = DISABLED if number in rows.disabled else NOT_CONFIGURED
        return RowVerdict(verdict, why=skipped[0].reason or verdict)
    return RowVerdict(NOT_RUN, why="selected, but no case ran (interrupted run?)")


def count(connections: Sequence[model.ConnectionRecord], verdict: str) -> int:
    return sum(1 for c in connections if c.verdict == verdict)


def totals_line(connections: Sequence[model.ConnectionRecord]) -> str:
    line = f"{count(connections, VERIFIED)}/{len(CONNECTIONS)} connections verified"
    extra = [f"{n} {v}" for v in (FLAKY, WAIVED, FAILED) if (n := count(connections, v))]
    return line + (", " + ", ".join(extra) if extra else "")


def table(connections: Sequence[model.ConnectionRecord]) -> list[str]:
    """The end-of-run table: every row of the GVP table with its verdict, and the totals line."""
    head = ("#", "source", "destination", "protocol", "port", "class", "verdict", "detail")
    body = [(str(c.number), c.source_label, c.destination_label, c.protocol, c.ports or "-",
             c.classification, c.verdict, c.detail or c.why) for c in connections]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head) - 1)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1]

    lines = [fmt(head), fmt((*("-" * w for w in widths), "-" * 6))]
    lines += [fmt(r).rstrip() for r in body]
    lines.append(totals_line(connections))
    return lines
