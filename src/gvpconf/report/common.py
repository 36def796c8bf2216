"""Helpers shared by the Markdown and HTML reports."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Sequence

from gvpconf.report.model import NOT_SELECTED, VERIFIED_WITH_WARNINGS, CaseRecord, ConnectionRecord, RunRecord

#: facts shown in the table's evidence column first (the rest are in the details)
KEY_FACTS = ("status", "server", "user_agent", "version", "tls", "rtt_ms", "latency_ms", "loss", "jitter_ms",
             "held_s", "received", "database", "issuer", "not_after", "magic")
MAX_KEY_FACTS = 5

SIGN_OFF_ROLES = ("Prepared by (conformance run)", "Network / platform owner", "GVP operations",
                  "Security", "Go-live approval")


def key_facts(case: CaseRecord) -> list[tuple[str, str]]:
    def rank(name: str) -> int:
        tail = name.rsplit(".", 1)[-1]
        return KEY_FACTS.index(tail) if tail in KEY_FACTS else len(KEY_FACTS)

    names = sorted((n for n in case.facts if rank(n) < len(KEY_FACTS)), key=rank)[:MAX_KEY_FACTS]
    return [(n, str(case.facts[n])) for n in names]


def case_outcome(case: CaseRecord) -> str:
    """What a reader sees for one case: ``verified``, ``flaky (2 attempts)``, ``FAILED (refused)``..."""
    if case.outcome == "passed":
        return "verified with warnings" if case.warnings else "verified"
    if case.outcome == "flaky":
        return f"flaky (passed at attempt {len(case.attempts)})"
    if case.outcome == "waived":
        return f"waived ({case.cause or 'failure'})"
    if case.outcome in ("failed", "error"):
        return f"FAILED ({case.cause or 'prober error'})"
    return case.reason or "skipped"


def where(case: CaseRecord, stand_in: bool = False) -> str:
    """``sip-server 10.0.0.5:5090 · zone zone-a · sip.options · 12 ms``: the address really probed; in a merged report
    prefixed with the source ``mcp-0@zone-a → ``; ``(stand-in)`` after the address of a lab stand-in."""
    address = f" {case.address}" if case.address and case.address != case.target else ""
    marked = " (stand-in)" if stand_in else ""
    zone = f" · zone {case.zone}" if case.zone else ""
    probe = f" · {case.probe}" if case.probe else ""
    took = f" · {case.duration_ms:.0f} ms" if case.duration_ms is not None else ""
    source = f"{case.source} → " if case.source_pod else ""
    return f"{source}{case.target}{address}{marked}{zone}{probe}{took}"


def target_facts(cases: list[CaseRecord]) -> list[tuple[str, str]]:
    """The key facts of each case, under its own target: (target, "name = value, ..."), one per case."""
    out = []
    per_target = collections.Counter(k.target for k in cases)  # counted once: a pool of 1000 is not 10^6 steps
    for c in cases:
        facts = ", ".join(f"{n} = {v}" for n, v in key_facts(c))
        if facts:
            out.append((c.target + (f" ({c.probe})" if per_target[c.target] > 1 else ""), facts))
    return out


def zones(run: RunRecord) -> list[tuple[str, int, int, int, int]]:
    """Per zone of the targets: (zone, cases, verified, failed, other: waived/flaky), zone-less cases last."""
    table: dict[str, list[int]] = {}
    for c in run.cases():
        if c.outcome == "skipped":
            continue
        counts = table.setdefault(c.zone or "(no zone)", [0, 0, 0, 0])
        counts[0] += 1
        counts[1 if c.outcome == "passed" else 2 if c.outcome in ("failed", "error") else 3] += 1
    order = sorted(table, key=lambda z: (z == "(no zone)", z))
    return [(z, *table[z]) for z in order]  # type: ignore[misc]


ZONES_HEAD = ("zone", "cases", "verified", "FAILED", "waived / flaky / other")


def stand_in_lines(run: RunRecord) -> list[str]:
    """``#6, #10 Consul: the Consul HTTP API stand-in``: the rows a lab run's stand-ins answered."""
    out = []
    for key, what in run.stand_ins.items():
        rows = [c for c in run.connections if c.destination == key]
        if rows:
            out.append(f"{', '.join(f'#{c.number}' for c in rows)} {rows[0].destination_label}: {what}")
    return out


def inventory_text(run: RunRecord) -> str:
    return run.inventory_path + (f" ({run.inventory_note})" if run.inventory_note else "")


def targets_header(run: RunRecord) -> str:
    zone = f", zone {run.source_zone}" if run.source_zone else ""
    return "per target (source pod → target)" if run.merged else f"per target (from pod {run.source_pod}{zone})"


def source_run_rows(run: RunRecord) -> list[tuple[str, ...]]:
    """The merged report's runs table: pod@zone, role, started, finished, exit, inventory digest, results/error."""
    rows: list[tuple[str, ...]] = []
    for s in run.sources:
        if s.error:
            rows.append((s.where, s.role, "-", "-", "-", "-", f"FAILED: could not run ({s.cause}): {s.error}"))
            continue
        digest = f"sha256 {s.inventory_sha256}" + (" (DIFFERS from the other runs)" if s.digest_differs else "")
        rows.append((s.where, s.role, when(s.started), f"{when(s.finished)} ({s.duration_s:.1f} s)",
                     str(s.exit_status), digest, s.results or "-"))
    return rows


SOURCE_RUN_HEAD = ("pod@zone", "role", "started", "finished", "exit status", "inventory digest", "results")


def failure_text(case: CaseRecord) -> str:
    """``cause: message`` (a prober bug has no cause: ``prober error: ...``)."""
    return f"{case.cause or 'prober error'}: {case.message}"


def row_facts(cases: list[CaseRecord]) -> list[tuple[str, str]]:
    """The key facts of a row's cases, each (name, value) once."""
    return list(dict.fromkeys(f for c in cases for f in key_facts(c)))


def duration(run: RunRecord) -> str:
    return f"{run.duration_s:.1f} s"


def when(iso: str) -> str:
    try:
        return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return iso


def transcript_text(lines: list[list[str]]) -> str:
    return "\n".join(f"{d} {t.rstrip()}" for d, t in lines)


def headline(connections: Sequence[ConnectionRecord]) -> str:
    """``7/7 selected connections verified, 15 not selected``: counted against the selection."""
    counts: dict[str, int] = {}
    for c in connections:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    left_out = counts.get(NOT_SELECTED, 0)
    warned = counts.get(VERIFIED_WITH_WARNINGS, 0)
    verified = counts.get("verified", 0) + warned
    parts = [f"{verified}/{len(connections) - left_out} {'selected ' if left_out else ''}connections verified"
             + (f" ({warned} with warnings)" if warned else "")]
    for verdict in ("flaky", "waived", "FAILED", "interrupted", "disabled in inventory", "not configured",
                    "not implemented yet", "not run", NOT_SELECTED):
        if counts.get(verdict):
            parts.append(f"{counts[verdict]} {verdict}")
    return ", ".join(parts)


def summary_line(run: RunRecord) -> str:
    line = headline(run.connections)
    if run.merged:
        failed = sum(1 for s in run.sources if s.error)
        line += f" (merged from {len(run.sources)} source pods" + (f", {failed} could not run)" if failed else ")")
    return line


def row_causes(row: ConnectionRecord) -> list[str]:
    """A row's failure causes as text, each case's (prefixed with its source pod when merged) and every pod that
    could not run."""
    out = [(f"{c.source}: " if c.source_pod else "") + failure_text(c) for c in row.cases
           if c.outcome in ("failed", "waived", "error")]
    out += [f"{v.where}: could not run: {v.detail}" for v in row.per_source
            if v.causes and v.causes[0].startswith("could not run")]
    return out
