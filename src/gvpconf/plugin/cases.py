"""One ``CaseRecord`` per conformance case, from its report and its probe's result: the run's one tally.

Verdicts (``gvpconf.plugin.verdicts``), the terminal table, the JUnit extras and the reports all read
these records; nothing else counts outcomes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from gvpconf import redact
from gvpconf.catalog import Connection
from gvpconf.evidence import Fact
from gvpconf.inventory import Target
from gvpconf.plugin import params
from gvpconf.report import model
from gvpconf.scheduler import ProbeResult

if TYPE_CHECKING:
    from gvpconf.report.waivers import Waiver


def warnings_of(facts: Mapping[str, Fact]) -> list[str]:
    """What a passing probe recorded that deserves attention beside its verdict: a certificate about to expire,
    verification switched off by the inventory, a gRPC path proven without credentials."""
    out = []
    for name, value in facts.items():
        text = str(value)
        if (name.endswith("expiry_warning") or (name.endswith("tls.verify") and text.startswith("off"))
                or (name.endswith(".auth") and text == "unauthenticated-path-proven")):
            out.append(f"{name}: {text}")
    return out


def record(item: pytest.Item, row: Connection, report: pytest.TestReport, result: ProbeResult | None,
           waiver: Waiver | None, today: dt.date | None, warnings: list[str] | None = None) -> model.CaseRecord:
    """The case's record. ``waiver``: the one its collection-time xfail mark came from, if any; ``today``: the
    date its waiver is judged on (today's when None); ``warnings``: ``warnings_of`` the result's facts, when the
    caller has them already."""
    target = params.param_of(item)
    if isinstance(target, Target):
        address, zone = target.address, target.zone or ""
    else:
        address, zone = "", ""
    case = model.CaseRecord(nodeid=item.nodeid, connection=row.number,
                            test=getattr(item, "originalname", item.name), target=params.target_name(item),
                            address=address, zone=zone, probe=params.probe_of(item) or "")
    if result is not None:
        case.duration_ms = round(result.duration * 1000, 1)
        case.facts = dict(result.evidence.facts)
        case.warnings = list(warnings) if warnings is not None else warnings_of(case.facts)
        case.attempts = [model.Attempt(
            outcome="passed" if a.ok else ("error" if a.error is not None else "failed"),
            duration_ms=round(a.duration * 1000, 1),
            cause=a.failure.cause.value if a.failure is not None else "",
            message=redact.scrub(str(a.failure.message if a.failure is not None else a.error or "")),
            transcript=[] if a.ok else [[d, t] for d, t in a.evidence.transcript]) for a in result.attempts]
    real_skip = isinstance(report.longrepr, tuple)  # pytest.skip(): (path, line, reason)
    if report.passed:
        case.outcome = model.FLAKY if result is not None and result.flaky else model.PASSED
    elif report.failed or (report.skipped and waiver is not None and not real_skip):
        props = dict(item.user_properties)
        cause = props.get("cause")
        if cause is None:  # the probe passed, the test's own expectation on its evidence did not hold
            cause = "semantic" if result is not None and result.ok else ""
        case.cause = str(cause or "")
        case.phase = str(props.get("phase", ""))
        case.message = redact.scrub(message(report))
        case.outcome = model.ERROR if result is not None and result.error is not None else model.FAILED
        if result is not None:
            case.transcript = [[d, t] for d, t in result.evidence.transcript]
        if report.skipped and waiver is not None:  # its xfail mark turned the failure into a skip
            case.outcome = model.WAIVED
            case.waiver = waiver.as_dict(today or dt.date.today())
    else:
        case.outcome = model.SKIPPED
        param = params.param_of(item)
        case.reason = param.reason if isinstance(param, params.NotConfigured) else message(report)
    return case


def unfinished(item: pytest.Item, row: Connection, result: ProbeResult | None) -> model.CaseRecord:
    """The record of a case an interrupt left without a report. A probe that had already failed is that
    failure (it stands, whatever the test would have checked); otherwise the case is ``interrupted``:
    its probe did not finish, or it passed but the test's own rule on its evidence was never checked."""
    target = params.param_of(item)
    address, zone = (target.address, target.zone or "") if isinstance(target, Target) else ("", "")
    case = model.CaseRecord(nodeid=item.nodeid, connection=row.number,
                            test=getattr(item, "originalname", item.name), target=params.target_name(item),
                            address=address, zone=zone, probe=params.probe_of(item) or "")
    if result is not None:
        case.duration_ms = round(result.duration * 1000, 1)
        case.facts = dict(result.evidence.facts)
    if result is not None and result.failure is not None:
        case.outcome, case.cause, case.phase = model.FAILED, result.failure.cause.value, result.failure.phase or ""
        case.message = redact.scrub(str(result.failure))
        case.transcript = [[d, t] for d, t in result.evidence.transcript]
        return case
    case.outcome = model.INTERRUPTED
    case.reason = ("interrupted: the probe passed, the test's rule on its evidence was not checked"
                   if result is not None and result.ok else "interrupted before its probe finished")
    return case


def message(report: pytest.TestReport) -> str:
    """The one-line message of a failed or skipped report."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message if crash is not None else longrepr or "")
    return text.removeprefix("Failed: ").strip()


def waiver_reason(waiver: Waiver) -> str:
    """The reason of a waived case's xfail mark (JUnit's ``<skipped message>`` adds the failure to it)."""
    return f"waived by {waiver.owner} until {waiver.expires.isoformat()} ({waiver.reason})"
