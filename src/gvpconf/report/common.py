"""Helpers shared by the Markdown and HTML reports."""

from __future__ import annotations

import datetime as dt

from gvpconf.report.model import CaseRecord, RunRecord

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
        return "verified"
    if case.outcome == "flaky":
        return f"flaky (passed at attempt {len(case.attempts)})"
    if case.outcome == "waived":
        return f"waived ({case.cause or 'failure'})"
    if case.outcome in ("failed", "error"):
        return f"FAILED ({case.cause or 'prober error'})"
    return case.reason or "skipped"


def where(case: CaseRecord) -> str:
    zone = f" · zone {case.zone}" if case.zone else ""
    probe = f" · {case.probe}" if case.probe else ""
    return f"{case.target}{zone}{probe}"


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


def summary_line(run: RunRecord) -> str:
    counts = run.verdict_counts()
    total = len(run.connections)
    parts = [f"{counts.get('verified', 0)}/{total} connections verified"]
    for verdict in ("flaky", "waived", "FAILED", "disabled in inventory", "not configured", "not selected",
                    "not implemented yet"):
        if counts.get(verdict):
            parts.append(f"{counts[verdict]} {verdict}")
    return ", ".join(parts)
