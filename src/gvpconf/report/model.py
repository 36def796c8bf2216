"""What a run produced, as plain data: written as ``results.json`` and read back as a drift baseline.

Everything here is already scrubbed of secrets (facts, messages and transcripts are redacted
when recorded); the writers scrub once more before anything reaches a file.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gvpconf.evidence import Fact

FORMAT = "gvpconf-results/1"


#: case outcomes
PASSED, FLAKY, FAILED, WAIVED, ERROR, SKIPPED = "passed", "flaky", "failed", "waived", "error", "skipped"
#: a case the run did not finish: SIGINT/SIGTERM came first (its probe may have finished, its rule was not checked)
INTERRUPTED = "interrupted"
#: the row verdict of a row whose cases all passed, some with a warning (expiring certificate, verification off...)
VERIFIED_WITH_WARNINGS = "verified with warnings"
NOT_SELECTED = "not selected"


@dataclass
class Attempt:
    outcome: str  # passed / failed / error
    duration_ms: float
    cause: str = ""
    message: str = ""
    transcript: list[list[str]] = field(default_factory=list)  # [direction, text]


@dataclass
class CaseRecord:
    nodeid: str
    connection: int
    test: str
    target: str
    address: str = ""
    zone: str = ""
    probe: str = ""
    outcome: str = PASSED
    cause: str = ""
    phase: str = ""
    message: str = ""
    duration_ms: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    facts: dict[str, Fact] = field(default_factory=dict)
    transcript: list[list[str]] = field(default_factory=list)  # the last exchange, kept for failures
    waiver: dict[str, str] | None = None
    reason: str = ""  # why a skipped case did not run
    #: what passed but deserves attention: ``tls.expiry_warning: expires in 29 days (threshold 30)``...
    warnings: list[str] = field(default_factory=list)
    #: where the case ran from: set in a merged report only (a single run's pod is RunRecord.source_pod)
    source_pod: str = ""
    source_zone: str = ""

    @property
    def key(self) -> str:
        """Identity across runs: connection, target and probe (drift matches on it); the pod too when merged."""
        where = f" from {self.source_pod}" if self.source_pod else ""
        return f"#{self.connection} {self.target} {self.probe or self.test}{where}"

    @property
    def source(self) -> str:
        """``pod@zone`` in a merged report, else empty."""
        return pod_at_zone(self.source_pod, self.source_zone) if self.source_pod else ""

    @property
    def failed_attempts(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome != PASSED]


def pod_at_zone(pod: str, zone: str) -> str:
    return f"{pod}@{zone}" if zone else pod


@dataclass
class SourceVerdict:
    """A row's verdict from one source pod (merged reports only)."""

    pod: str
    zone: str
    role: str
    verdict: str  # FAILED / waived / flaky / verified, or why it did not run there (not selected...)
    causes: list[str] = field(default_factory=list)
    detail: str = ""  # "2/2 cases passed", or why not run, or why the pod could not run

    @property
    def where(self) -> str:
        return pod_at_zone(self.pod, self.zone)

    @property
    def text(self) -> str:
        """``verified``, ``FAILED (timeout)``, ``FAILED (could not run: ...)``, ``not selected``..."""
        if self.verdict in ("FAILED", "waived") and self.causes:
            return f"{self.verdict} ({', '.join(self.causes)})"
        return self.verdict


@dataclass
class SourceRun:
    """One run merged into a deployment-wide report: a source pod's run, or why it could not run."""

    pod: str
    zone: str
    role: str
    started: str = ""
    finished: str = ""
    duration_s: float = 0.0
    exit_status: int | None = None
    inventory_path: str = ""
    inventory_sha256: str = ""
    cluster: str = ""
    namespace: str = ""
    suite_version: str = ""
    selection: str = ""
    results: str = ""  # the results.json it came from
    error: str = ""  # the run could not happen / produced no results: why
    cause: str = ""  # attach | timeout | no-report | not-running | backend
    digest_differs: bool = False

    @property
    def where(self) -> str:
        return pod_at_zone(self.pod, self.zone)


@dataclass
class ConnectionRecord:
    number: int
    source: str
    source_label: str
    destination: str
    destination_label: str
    protocol: str
    ports: str
    classification: str
    seed_classification: str
    verdict: str
    detail: str = ""
    why: str = ""  # for rows not run
    causes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # its cases' warnings, each "target: warning"
    sends: list[str] = field(default_factory=list)  # what its probes send
    cases: list[CaseRecord] = field(default_factory=list)
    per_source: list[SourceVerdict] = field(default_factory=list)  # merged reports only

    @property
    def verdict_text(self) -> str:
        """The verdict as every output shows it: ``not selected (-m intra)`` says what left the row out."""
        if self.verdict == NOT_SELECTED and self.why:
            return f"{self.verdict} ({self.why})"
        return self.verdict


@dataclass
class DriftItem:
    kind: str  # new failure / fixed / latency / changed / verdict / new case / gone
    key: str  # CaseRecord.key, or "#N" for a row
    what: str = ""  # the fact or measurement
    before: str = ""
    after: str = ""

    @property
    def text(self) -> str:
        what = f" {self.what}" if self.what else ""
        change = f": {self.before} -> {self.after}" if self.before or self.after else ""
        return f"{self.kind}: {self.key}{what}{change}"


@dataclass
class Drift:
    baseline: str  # the file compared with
    baseline_started: str
    latency_threshold_pct: float
    items: list[DriftItem] = field(default_factory=list)

    def of(self, kind: str) -> list[DriftItem]:
        return [i for i in self.items if i.kind == kind]


@dataclass
class RunRecord:
    suite_version: str
    cluster: str
    namespace: str
    inventory_path: str
    inventory_sha256: str
    source_role: str  # --source, or "all"
    source_pod: str
    source_zone: str
    started: str  # ISO 8601, UTC
    finished: str
    duration_s: float
    exit_status: int = 0
    selection: str = ""
    problems: list[str] = field(default_factory=list)  # run-level errors (expired waivers...)
    waivers: list[dict[str, str]] = field(default_factory=list)
    connections: list[ConnectionRecord] = field(default_factory=list)
    drift: Drift | None = None
    #: merged reports only: every run merged (one per source pod), and notices that do not fail the run
    sources: list[SourceRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""  # the headline, as the terminal and the reports say it
    #: a lab run: destination key -> what plays it, for the peers that are stand-ins (``$GVP_LAB_STAND_INS``)
    stand_ins: dict[str, str] = field(default_factory=dict)
    inventory_note: str = ""  # e.g. the inventory was the lab's temporary file: it is gone after the run
    run_id: str = ""  # the same in every file of one run's report set (junit.xml, report.*, results.json, metrics)
    format: str = FORMAT

    @property
    def merged(self) -> bool:
        return bool(self.sources)

    def cases(self) -> list[CaseRecord]:
        return [case for c in self.connections for case in c.cases]

    def verdict_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.connections:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        return counts

    def to_json(self) -> str:
        """Indented down to the cases; each case one compact line. json.dumps with ``indent`` runs the pure-Python
        encoder, and for a pool of 1000 targets that was most of writing the report set; a line per case goes
        through the C one (4x faster), and stays readable and diffable line by line."""
        data = _plain(self)
        lines: list[str] = []
        for conn in data["connections"]:
            cases = conn["cases"]
            conn["cases"] = [_Raw(len(lines) + i) for i in range(len(cases))]
            lines += [json.dumps(c) for c in cases]
        nonce = uuid.uuid4().hex  # no text of the run can be mistaken for a placeholder

        def placeholder(value: Any) -> str:
            if isinstance(value, _Raw):
                return f"{nonce}:{value.index}"
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

        text = json.dumps(data, indent=2, sort_keys=False, default=placeholder)
        return re.sub(f'"{nonce}:(\\d+)"', lambda m: lines[int(m.group(1))], text) + "\n"


class _Raw:
    """A placeholder in ``RunRecord.to_json``'s indented text for one case's compact line."""

    def __init__(self, index: int) -> None:
        self.index = index


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copy of every leaf (the same JSON; half of writing results.json for
    a pool of 1000 targets went into copying strings and numbers that json.dumps only reads)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def from_dict(data: dict[str, Any]) -> RunRecord:
    if data.get("format") != FORMAT:
        raise ValueError(f"not a gvpconf results file (format {data.get('format')!r}, expected {FORMAT!r})")
    conns = []
    for c in data.get("connections", []):
        cases = []
        for case in c.get("cases", []):
            case = dict(case, attempts=[_build(Attempt, a) for a in case.get("attempts", [])])
            cases.append(_build(CaseRecord, case))
        per_source = [_build(SourceVerdict, v) for v in c.get("per_source", [])]
        conns.append(_build(ConnectionRecord, dict(c, cases=cases, per_source=per_source)))
    drift = data.get("drift")
    if drift is not None:
        drift = _build(Drift, dict(drift, items=[_build(DriftItem, i) for i in drift.get("items", [])]))
    sources = [_build(SourceRun, s) for s in data.get("sources", [])]
    run: RunRecord = _build(RunRecord, dict(data, connections=conns, drift=drift, sources=sources))
    return run


def load(path: str | Path) -> RunRecord:
    """Read a ``results.json``. Raises ValueError with one line naming the file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{p}: no such results file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not a readable results.json ({exc})") from None
    try:
        return from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{p}: {exc}") from None
