"""What the JUnit file carries beyond pytest's own ``--junitxml``, added once pytest has written it.

* testsuite properties: every row's verdict (``connection.N.verdict``), ``connections.verified`` and the
  other counts, cluster, namespace, inventory digest, suite version, run-level errors;
* per failed attempt, Surefire's ``<flakyFailure>`` (a flaky pass) or ``<rerunFailure>`` (the attempts
  before the last failure), each with its ``<stackTrace>`` and protocol exchange;
* a failure's last protocol exchange in ``<system-out>``;
* a waived case's ``<skipped>`` message: the waiver (its xfail mark's reason) and the failure it covers.

Test cases are found as pytest names them: classname from the node id's path and class, name with
the parameters.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

from gvpconf.report import model
from gvpconf.report.common import transcript_text


def testcase_key(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """(classname, name) of a node id, as pytest's junitxml writes them."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    classname = ".".join(names[:-1])
    if prefix:
        classname = f"{prefix}.{classname}"
    return classname, names[-1]


_ILLEGAL = re.compile("[^\u0009\u000A\u000D\u0020-\u007E\u0080-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def xml_text(text: str) -> str:
    """Text XML 1.0 can carry: illegal characters written as ``#xNN`` (as pytest's junitxml does)."""
    return _ILLEGAL.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def _attempt_element(tag: str, attempt: model.Attempt) -> ET.Element:
    message = f"{attempt.cause}: {attempt.message}" if attempt.cause else attempt.message
    el = ET.Element(tag, message=xml_text(message), type=attempt.cause or attempt.outcome)
    ET.SubElement(el, "stackTrace").text = xml_text(attempt.message)
    if attempt.transcript:
        ET.SubElement(el, "system-out").text = xml_text(transcript_text(attempt.transcript))
    return el


def add_case_extras(testcase: ET.Element, case: model.CaseRecord) -> None:
    failed = case.failed_attempts
    if case.outcome == model.FLAKY:
        elements = [_attempt_element("flakyFailure", a) for a in failed]
    elif len(case.attempts) > 1 and case.outcome != model.PASSED:  # the last failure is pytest's own
        elements = [_attempt_element("rerunFailure", a) for a in failed[:-1]]
    else:
        elements = []
    testcase.extend(elements)
    if case.outcome == model.WAIVED:
        skipped = testcase.find("skipped")
        if skipped is not None:
            skipped.set("message", f"{skipped.get('message', '')}: {xml_text(case.message)}")
    if case.outcome in (model.FAILED, model.WAIVED) and case.transcript:
        text = xml_text("last protocol exchange (secrets redacted):\n" + transcript_text(case.transcript) + "\n")
        out = testcase.find("system-out")
        if out is None:
            ET.SubElement(testcase, "system-out").text = text
        else:
            out.text = (out.text or "") + text


def add_suite_properties(suite: ET.Element, properties: Iterable[tuple[str, str]]) -> None:
    found = suite.find("properties")
    props = found if found is not None else ET.Element("properties")
    if found is None:
        suite.insert(0, props)
    for name, value in properties:
        ET.SubElement(props, "property", name=name, value=xml_text(value))


def add_unfinished(suite: ET.Element, case: model.CaseRecord, prefix: str | None) -> None:
    """A case an interrupted run never reported: an ``<error type="interrupted">``, or the ``<failure>`` its
    probe had already given; the suite's counts follow."""
    classname, name = testcase_key(case.nodeid, prefix)
    testcase = ET.SubElement(suite, "testcase", classname=classname, name=name,
                             time=f"{(case.duration_ms or 0) / 1000:.3f}")
    props = ET.SubElement(testcase, "properties")
    for key, value in (("connection", str(case.connection)), ("target", case.target),
                       ("cause", case.cause or model.INTERRUPTED)):
        ET.SubElement(props, "property", name=key, value=value)
    if case.outcome == model.FAILED:
        ET.SubElement(testcase, "failure", message=case.message, type=case.cause)
        counter = "failures"
    else:
        ET.SubElement(testcase, "error", message=case.reason, type=model.INTERRUPTED)
        counter = "errors"
    for key in ("tests", counter):
        suite.set(key, str(int(suite.get(key, "0") or 0) + 1))


def _has_extras(case: model.CaseRecord) -> bool:
    """Whether ``add_case_extras`` changes the case's element, or the case may be missing from pytest's file (a
    case an interrupt left without a report is a failure or ``interrupted``)."""
    if case.outcome in (model.FLAKY, model.WAIVED, model.FAILED, model.INTERRUPTED):
        return True
    return len(case.attempts) > 1 and case.outcome != model.PASSED and len(case.failed_attempts) > 1


#: the first ``<testsuite>`` start tag, attributes quoted as XML has them (``>`` may occur inside quotes)
_SUITE_TAG = re.compile(r"""<testsuite(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*>""")


def _insert_suite_properties(text: str, properties: Sequence[tuple[str, str]]) -> str | None:
    """``text`` with the testsuite properties added as ``add_suite_properties`` adds them, or None when its
    first testsuite's start tag is not found (then the file is parsed)."""
    m = _SUITE_TAG.search(text)
    if m is None:
        return None
    suite = ET.Element("testsuite")
    add_suite_properties(suite, properties)
    props = suite[0]
    at = m.end()
    if text.startswith("<properties>", at):  # pytest's own (record_testsuite_property): ours go after them
        end = text.find("</properties>", at)
        if end < 0:
            return None
        inner = "".join(ET.tostring(el, encoding="unicode") for el in props)
        return text[:end] + inner + text[end:]
    if text.startswith("<properties />", at) or text.startswith("<properties/>", at):
        return None
    return text[:at] + ET.tostring(props, encoding="unicode") + text[at:]


def amend(path: str | Path, cases: Sequence[model.CaseRecord], properties: Sequence[tuple[str, str]],
          prefix: str | None = None) -> bool:
    """Add the extras to the JUnit file at ``path``; False when there is no such file to amend.

    When no case has an extra (every case passed at its first attempt, or was skipped: a healthy run), only the
    testsuite properties are added, into the text as pytest wrote it: parsing and writing back the 1 MB file of a
    1000-target run cost 140-150 ms of CPU (5 ms now). It says what the full rewrite says (a selftest compares)."""
    p = Path(os.path.expanduser(os.path.expandvars(str(path))))
    if not any(_has_extras(c) for c in cases):
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        whole = text.rstrip().endswith(("</testsuites>", "</testsuite>"))  # else parsed: it may not be XML
        amended = _insert_suite_properties(text, properties) if whole else None
        if amended is not None:
            p.write_text(amended, encoding="utf-8")
            return True
    return rewrite(p, cases, properties, prefix)


def rewrite(p: Path, cases: Sequence[model.CaseRecord], properties: Sequence[tuple[str, str]],
            prefix: str | None = None) -> bool:
    """``amend`` by parsing the file and writing it back whole."""
    try:
        tree = ET.parse(p)
    except (OSError, ET.ParseError):
        return False
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return False
    testcases: dict[tuple[str, str], ET.Element] = {}
    for tc in suite.iter("testcase"):
        testcases.setdefault((tc.get("classname", ""), tc.get("name", "")), tc)
    for case in cases:
        found = testcases.get(testcase_key(case.nodeid, prefix))
        if found is not None:
            add_case_extras(found, case)
        elif case.outcome in (model.INTERRUPTED, model.FAILED):  # left without a report by an interrupt
            add_unfinished(suite, case, prefix)
    add_suite_properties(suite, properties)
    p.write_text('<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode"),
                 encoding="utf-8")
    return True
