"""Baseline drift: what changed since a previous run (``--gvp-baseline results.json``).

Cases are matched on connection, target and probe. Reported, in this order:

- ``new failure``: failed (or waived) now, passed or flaky in the baseline
- ``fixed``: passed or flaky now, failed or waived in the baseline
- ``verdict``: a row's verdict changed (``#8: verified -> flaky``)
- ``latency``: the probe's duration, or a ``*_ms`` measurement, grew by more than the threshold
  (percent, default 50) *and* by at least ``LATENCY_FLOOR_MS`` (so sub-millisecond noise is not news)
- ``changed``: a watched fact has another value (``DRIFT_FACTS``: server headers, versions, TLS and
  certificate facts, statuses)
- ``new case`` / ``gone``: a target or probe that only one of the runs has
"""

from __future__ import annotations

from fnmatch import fnmatch

from gvpconf.report.model import FAILED, FLAKY, PASSED, WAIVED, CaseRecord, Drift, DriftItem, RunRecord

LATENCY_FLOOR_MS = 5.0
DEFAULT_LATENCY_PCT = 50.0

#: facts whose value changing is news (fnmatch patterns on the fact name)
DRIFT_FACTS = ("*.server", "*.version", "*.user_agent", "*.magic", "*.allow", "*.database", "*.status",
               "tls.*", "*.tls", "*.tls_version", "*.cipher", "*.issuer", "*.subject", "*.not_after",
               "*.expiry", "*.expires", "*cert*")

_OK = (PASSED, FLAKY)
_BAD = (FAILED, WAIVED, "error")


def _watched(name: str) -> bool:
    return any(fnmatch(name, pat) for pat in DRIFT_FACTS)


def _latency(key: str, what: str, before: float, after: float, pct: float) -> DriftItem | None:
    if after - before >= LATENCY_FLOOR_MS and after > before * (1 + pct / 100):
        growth = (after / before - 1) * 100 if before > 0 else float("inf")
        return DriftItem("latency", key, what, f"{before:.1f} ms", f"{after:.1f} ms (+{growth:.0f}%)")
    return None


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def compare(baseline: RunRecord, current: RunRecord, baseline_path: str,
            latency_pct: float = DEFAULT_LATENCY_PCT) -> Drift:
    drift = Drift(baseline_path, baseline.started, latency_pct)
    before = {c.key: c for c in baseline.cases() if c.outcome != "skipped"}
    after = {c.key: c for c in current.cases() if c.outcome != "skipped"}
    items = drift.items
    pairs: list[tuple[CaseRecord, CaseRecord]] = []
    for key, now in after.items():
        old = before.get(key)
        if old is None:
            items.append(DriftItem("new case", key, "", "", now.outcome))
            continue
        pairs.append((old, now))
    for old, now in pairs:
        if old.outcome in _OK and now.outcome in _BAD:
            cause = f"{now.cause}: {now.message}" if now.cause else now.message
            items.append(DriftItem("new failure", now.key, "", old.outcome, f"{now.outcome} ({cause})"))
        elif old.outcome in _BAD and now.outcome in _OK:
            items.append(DriftItem("fixed", now.key, "", old.outcome, now.outcome))
    rows_before = {c.number: c.verdict for c in baseline.connections}
    for row in current.connections:
        old_verdict = rows_before.get(row.number)
        if old_verdict is not None and old_verdict != row.verdict:
            items.append(DriftItem("verdict", f"#{row.number}", "", old_verdict, row.verdict))
    for old, now in pairs:
        if old.outcome in _OK and now.outcome in _OK:
            if old.duration_ms and now.duration_ms is not None:
                item = _latency(now.key, "duration", old.duration_ms, now.duration_ms, latency_pct)
                if item:
                    items.append(item)
            for name, value in now.facts.items():
                prev = old.facts.get(name)
                if (name.endswith("_ms") and isinstance(value, int | float) and isinstance(prev, int | float)
                        and not isinstance(value, bool) and not isinstance(prev, bool) and prev > 0):
                    item = _latency(now.key, name, float(prev), float(value), latency_pct)
                    if item:
                        items.append(item)
        for name in sorted(set(old.facts) | set(now.facts)):
            if not _watched(name):
                continue
            a, b = old.facts.get(name), now.facts.get(name)
            if a is not None and b is not None and a != b:
                items.append(DriftItem("changed", now.key, name, _show(a), _show(b)))
    for key, old in before.items():
        if key not in after:
            items.append(DriftItem("gone", key, "", old.outcome, ""))
    order = ["new failure", "fixed", "verdict", "latency", "changed", "new case", "gone"]
    items.sort(key=lambda i: order.index(i.kind))
    return drift


def lines(drift: Drift) -> list[str]:
    head = f"compared with {drift.baseline} (run of {drift.baseline_started})"
    if not drift.items:
        return [head, "no drift: same verdicts, no latency regression, no changed facts"]
    return [head, *(i.text for i in drift.items)]
