"""Merge the JUnit reports of runs from several pods into one, every case naming its pod and zone.

Each run becomes one ``<testsuite name="<role> from <pod>@<zone>">``; each of its cases gets the
properties ``source.role``, ``source.pod``, ``source.zone`` (and ``source.node``) and its classname is
prefixed with ``<pod>@<zone>.``, so CI report viewers show where a case ran. A run that produced no
report (the pod could not be attached, the run timed out, the report was unreadable) becomes one
failing case ``<pod>@<zone>.gvpconf.runner::run`` with the reason: a gap is never silent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from gvpconf.pods.model import RunOutcome, SourcePod

RUNNER_CLASS = "gvpconf.runner"
#: the cause of a run the runner stopped (SIGINT/SIGTERM): an error, not a failure
INTERRUPTED = "interrupted"


def _source_props(source: SourcePod) -> list[tuple[str, str]]:
    return [("source.role", source.role), ("source.pod", source.pod), ("source.zone", source.zone),
            ("source.node", source.node or "-")]


def _set_props(case: ET.Element, props: Iterable[tuple[str, str]]) -> None:
    holder = case.find("properties")
    if holder is None:
        holder = ET.Element("properties")
        case.insert(0, holder)
    existing = {p.get("name") for p in holder.findall("property")}
    for name, value in props:
        if name not in existing:
            ET.SubElement(holder, "property", name=name, value=value)


def _failure_suite(outcome: RunOutcome) -> ET.Element:
    """One case for a run without a report: a ``<failure>``; an interrupted run is an ``<error
    type="interrupted">`` instead (nothing failed: it did not finish), as an interrupted case inside a pod."""
    src = outcome.source
    interrupted = outcome.cause == INTERRUPTED
    suite = ET.Element("testsuite", name=f"{src.role} from {src.where}", tests="1",
                       failures="0" if interrupted else "1", errors="1" if interrupted else "0",
                       skipped="0", time=f"{outcome.duration:.3f}")
    case = ET.SubElement(suite, "testcase", classname=f"{src.where}.{RUNNER_CLASS}", name="run",
                         time=f"{outcome.duration:.3f}")
    _set_props(case, [*_source_props(src), ("cause", outcome.cause or "runner"), ("backend", outcome.backend)])
    message = f"{src.role} from {src.where}: {outcome.error}"
    element = (ET.SubElement(case, "error", message=message, type=INTERRUPTED) if interrupted
               else ET.SubElement(case, "failure", message=message))
    element.text = outcome.log[-4000:] if outcome.log else (outcome.error or "")
    return suite


def _nothing_suite(outcome: RunOutcome) -> ET.Element:
    """The run happened but selected nothing (no implemented connection starts at this role): one skipped case."""
    src = outcome.source
    suite = ET.Element("testsuite", name=f"{src.role} from {src.where}", tests="1", failures="0", errors="0",
                       skipped="1", time=f"{outcome.duration:.3f}")
    case = ET.SubElement(suite, "testcase", classname=f"{src.where}.{RUNNER_CLASS}", name="run", time="0")
    _set_props(case, [*_source_props(src), ("backend", outcome.backend)])
    ET.SubElement(case, "skipped", message=f"the run from {src.where} had no case to run (no implemented "
                  f"connection starts at {src.role})")
    return suite


def _suites_of(text: str) -> list[ET.Element]:
    root = ET.fromstring(text)
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.findall("testsuite"))
    raise ValueError(f"not a JUnit report: root element <{root.tag}>")


def _suite_props(suite: ET.Element, props: Sequence[tuple[str, str]]) -> None:
    if not props:
        return
    holder = suite.find("properties")
    if holder is None:
        holder = ET.Element("properties")
        suite.insert(0, holder)
    for name, value in props:
        ET.SubElement(holder, "property", name=name, value=value)


def merge(outcomes: Iterable[RunOutcome], name: str = "gvp-conformance-from-pods", *, notes: Sequence[str] = (),
          left_behind: Sequence[str] = ()) -> ET.ElementTree:
    """One ``<testsuites>`` with a suite per run (or a failing case per run that could not happen). The
    runner's ``notes`` (``"<pod>@<zone>: ..."``) and ``left_behind`` lines (naming the pod) become suite
    properties ``runner.note`` / ``runner.left-behind`` of the run they concern."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for outcome in outcomes:
        suites: list[ET.Element]
        if outcome.junit is None:
            suites = [_failure_suite(outcome)]
        else:
            try:
                suites = _suites_of(outcome.junit)
            except (ET.ParseError, ValueError) as exc:
                outcome.error, outcome.cause = f"unreadable JUnit report: {exc}", "no-report"
                suites = [_failure_suite(outcome)]
        src = outcome.source
        extra = [("runner.note", n) for n in notes if n.startswith(f"{src.where}: ")]
        extra += [("runner.left-behind", x) for x in left_behind if f"/{src.pod} " in x or f" {src.pod})" in x]
        for i, suite in enumerate(suites):
            if not any(True for _ in suite.iter("testcase")):
                suite = _nothing_suite(outcome)
            if i == 0:
                _suite_props(suite, extra)
            suite.set("name", f"{src.role} from {src.where}")
            suite.set("hostname", src.pod)
            for case in suite.iter("testcase"):
                if not case.get("classname", "").startswith(f"{src.where}."):
                    case.set("classname", f"{src.where}.{case.get('classname', '')}")
                _set_props(case, _source_props(src))
            for key in totals:
                totals[key] += int(suite.get(key, "0") or 0)
            root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    return ET.ElementTree(root)
