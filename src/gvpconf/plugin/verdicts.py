"""Per-connection verdicts, derived from the case records of the run (the one tally), and the end table.

Verdicts, strongest first: ``FAILED`` (a failure nobody waived), ``waived`` (every failure is
covered by a waiver: never shown as passed), ``flaky`` (every case passed, some only after a
retry), ``verified with warnings`` (every case passed, some recorded a warning: an expiring
certificate, verification off, a path proven without credentials; ``--gvp-strict`` fails them),
``verified`` (every case passed at its first attempts, nothing to warn of), then the rows that were not run:
``disabled in inventory``, ``not configured``, ``not selected``, ``not implemented yet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gvpconf.report import model

VERIFIED = "verified"
VERIFIED_WITH_WARNINGS = model.VERIFIED_WITH_WARNINGS
FLAKY = "flaky"
WAIVED = "waived"
FAILED = "FAILED"
NOT_CONFIGURED = "not configured"
NOT_IMPLEMENTED = "not implemented yet"
NOT_SELECTED = "not selected"
DISABLED = "disabled in inventory"
NOT_RUN = "not run"

#: verdicts of rows whose cases ran
RAN = (FAILED, WAIVED, FLAKY, VERIFIED_WITH_WARNINGS, VERIFIED)


@dataclass
class Rows:
    """What collection and selection found out about the rows: the facts a verdict needs besides the cases."""

    implemented: set[int] = field(default_factory=set)  # rows with a conformance module
    selected: set[int] = field(default_factory=set)  # rows with at least one case left to run
    disabled: set[int] = field(default_factory=set)  # rows the inventory disables
    opted_out: dict[int, str] = field(default_factory=dict)  # rows whose cases were opt-in tests left out: why
    selection: str = ""  # how the run was narrowed ("--source rm", "--connection 1 2")
    #: what left each row's cases out, in order: "-m intra", "-k options", "path", "--connection 2",
    #: "opt-in call test: --gvp-calls"
    left_out: dict[int, list[str]] = field(default_factory=dict)
    on_disk: set[int] = field(default_factory=set)  # rows with a module the run's paths did not collect

    def leave_out(self, number: int, why: str) -> None:
        reasons = self.left_out.setdefault(number, [])
        if why not in reasons:
            reasons.append(why)


@dataclass(frozen=True)
class RowVerdict:
    verdict: str
    detail: str = ""  # "2/2 cases passed; ..." for rows that ran
    why: str = ""  # for rows that did not run
    causes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # "target: warning", of the cases that passed


def judge(number: int, rows: Rows, cases: Sequence[model.CaseRecord]) -> RowVerdict:
    """Row ``number``'s verdict from its case records."""
    if number not in rows.implemented:
        if number in rows.on_disk:
            return RowVerdict(NOT_SELECTED, why="path")
        return RowVerdict(NOT_IMPLEMENTED, why="no conformance module for this row yet")
    if number not in rows.selected:
        why = "; ".join(rows.left_out.get(number, ())) or rows.opted_out.get(number) or (
            rows.selection or "deselected")
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
    warnings = tuple(dict.fromkeys(f"{c.target}: {w}" for c in cases if c.outcome in (model.PASSED, model.FLAKY)
                                   for w in c.warnings))
    if warnings:
        parts.append(("warning: " if len(warnings) == 1 else "warnings: ") + "; ".join(warnings))
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
        return RowVerdict(FLAKY, detail, causes=causes, warnings=warnings)
    if passed:
        return RowVerdict(VERIFIED_WITH_WARNINGS if warnings else VERIFIED, detail, causes=causes, warnings=warnings)
    skipped = [c for c in cases if c.outcome == model.SKIPPED]
    if skipped:
        verdict = DISABLED if number in rows.disabled else NOT_CONFIGURED
        return RowVerdict(verdict, why=skipped[0].reason or verdict)
    return RowVerdict(NOT_RUN, why="selected, but no case ran (interrupted run?)")


def count(connections: Sequence[model.ConnectionRecord], verdict: str) -> int:
    return sum(1 for c in connections if c.verdict == verdict)


def verified_count(connections: Sequence[model.ConnectionRecord]) -> str:
    """``7/7 selected`` (counted against the selection), or ``22/22`` when nothing was left out."""
    left_out = count(connections, NOT_SELECTED)
    verified = count(connections, VERIFIED) + count(connections, model.VERIFIED_WITH_WARNINGS)
    return f"{verified}/{len(connections) - left_out}" + (" selected" if left_out else "")


def totals_line(connections: Sequence[model.ConnectionRecord]) -> str:
    from gvpconf.report import common

    return common.headline(connections)


def table(connections: Sequence[model.ConnectionRecord]) -> list[str]:
    """The end-of-run table: every row of the GVP table with its verdict, and the totals line."""
    head = ("#", "source", "destination", "protocol", "port", "class", "verdict", "detail")
    body = [(str(c.number), c.source_label, c.destination_label, c.protocol, c.ports or "-",
             c.classification, c.verdict_text, c.detail or ("" if c.verdict == NOT_SELECTED else c.why))
            for c in connections]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head) - 1)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1]

    lines = [fmt(head), fmt((*("-" * w for w in widths), "-" * 6))]
    lines += [fmt(r).rstrip() for r in body]
    lines.append(totals_line(connections))
    return lines
