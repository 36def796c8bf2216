"""Per-connection verdicts for the end-of-run table: all 22 rows, nothing silently missing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gvpconf.catalog import CONNECTIONS, Connection

VERIFIED = "verified"
FAILED = "FAILED"
NOT_CONFIGURED = "not configured"
NOT_IMPLEMENTED = "not implemented yet"
NOT_SELECTED = "not selected"
DISABLED = "disabled in inventory"
NOT_RUN = "not run"


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    not_configured: int = 0
    disabled: int = 0
    causes: set[str] = field(default_factory=set)


@dataclass
class Summary:
    implemented: set[int] = field(default_factory=set)
    selected: set[int] = field(default_factory=set)
    tallies: dict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))

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
        total = t.passed + t.failed
        parts = [f"{t.passed}/{total} cases passed"] if total else []
        if t.causes:
            parts.append("causes: " + ", ".join(sorted(t.causes)))
        return "; ".join(parts)

    def verified_count(self) -> int:
        return sum(1 for c in CONNECTIONS if self.verdict(c.number) == VERIFIED)

    def rows(self) -> list[tuple[Connection, str, str]]:
        return [(c, self.verdict(c.number), self.detail(c.number)) for c in CONNECTIONS]

    def table(self) -> list[str]:
        head = ("#", "source", "destination", "protocol", "port", "class", "verdict", "detail")
        body = [(str(c.number), c.source_label, c.destination_label, c.protocol, c.ports or "-",
                 c.suite_class, v, d) for c, v, d in self.rows()]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head) - 1)]

        def fmt(r: tuple[str, ...]) -> str:
            return "  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1]

        lines = [fmt(head), fmt((*("-" * w for w in widths), "-" * 6))]
        lines += [fmt(r).rstrip() for r in body]
        lines.append(f"{self.verified_count()}/{len(CONNECTIONS)} connections verified")
        return lines
