"""Per-connection verdicts for the end-of-run table: all 22 rows, nothing silently missing.

Verdicts, strongest first: ``FAILED`` (a failure nobody waived), ``waived`` (every failure is
covered by a waiver: never shown as passed), ``flaky`` (every case passed, some only after a
retry), ``verified`` (every case passed at its first attempts), then the rows that were not run:
``disabled in inventory``, ``not configured``, ``not selected``, ``not implemented yet``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gvpconf.catalog import CONNECTIONS, Connection

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
class Tally:
    passed: int = 0  # clean passes and flaky passes
    failed: int = 0  # failures nobody waived
    flaky: int = 0
    waived: int = 0
    not_configured: int = 0
    disabled: int = 0
    causes: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)  # why cases were skipped


@dataclass
class Summary:
    implemented: set[int] = field(default_factory=set)
    selected: set[int] = field(default_factory=set)
    tallies: dict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))
    #: how the run was narrowed ("--source rm", "--connection 1 2"), for "not selected" rows
    selection: str = ""

    def verdict(self, number: int) -> str:
        if number not in self.implemented:
            return NOT_IMPLEMENTED
        if number not in self.selected:
            return NOT_SELECTED
        t = self.tallies.get(number)
        if t is None:
            return NOT_RUN
        if t.failed:
            return FAILED
        if t.waived:
            return WAIVED
        if t.flaky:
            return FLAKY
        if t.passed:
            return VERIFIED
        if t.disabled:
            return DISABLED
        if t.not_configured:
            return NOT_CONFIGURED
        return NOT_RUN

    def detail(self, number: int) -> str:
        t = self.tallies.get(number)
        if t is None:
            return ""
        total = t.passed + t.failed + t.waived
        parts = [f"{t.passed}/{total} cases passed"] if total else []
        if t.flaky:
            parts.append(f"{t.flaky} flaky (passed after retries)")
        if t.waived:
            parts.append(f"{t.waived} waived")
        if t.causes:
            parts.append("causes: " + ", ".join(sorted(t.causes)))
        return "; ".join(parts)

    def why(self, number: int) -> str:
        """For a row that was not run: why not, in words a reader can act on."""
        verdict = self.verdict(number)
        if verdict == NOT_IMPLEMENTED:
            return "no conformance module for this row yet"
        if verdict == NOT_SELECTED:
            return f"filtered out by {self.selection}" if self.selection else "filtered out by the selection"
        if verdict in (DISABLED, NOT_CONFIGURED):
            t = self.tallies.get(number)
            return t.reasons[0] if t is not None and t.reasons else verdict
        if verdict == NOT_RUN:
            return "selected, but no case ran (interrupted run?)"
        return ""

    def count(self, verdict: str) -> int:
        return sum(1 for c in CONNECTIONS if self.verdict(c.number) == verdict)

    def verified_count(self) -> int:
        return self.count(VERIFIED)

    def rows(self) -> list[tuple[Connection, str, str]]:
        return [(c, self.verdict(c.number), self.detail(c.number) or self.why(c.number)) for c in CONNECTIONS]

    def totals_line(self) -> str:
        line = f"{self.verified_count()}/{len(CONNECTIONS)} connections verified"
        extra = [f"{n} {v}" for v in (FLAKY, WAIVED, FAILED) if (n := self.count(v))]
        return line + (", " + ", ".join(extra) if extra else "")

    def table(self) -> list[str]:
        head = ("#", "source", "destination", "protocol", "port", "class", "verdict", "detail")
        body = [(str(c.number), c.source_label, c.destination_label, c.protocol, c.ports or "-",
                 c.suite_class, v, d) for c, v, d in self.rows()]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head) - 1)]

        def fmt(r: tuple[str, ...]) -> str:
            return "  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1]

        lines = [fmt(head), fmt((*("-" * w for w in widths), "-" * 6))]
        lines += [fmt(r).rstrip() for r in body]
        lines.append(self.totals_line())
        return lines
