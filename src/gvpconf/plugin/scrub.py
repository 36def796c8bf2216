"""The one scrubbing point of a run: nothing leaves the process without going through ``gvpconf.redact.scrub``.

What a pytest run writes, and where it is scrubbed:

==========================  ==========================================================================
logging, every handler      when the record is made (``logging.setLogRecordFactory``): its message, its
                            arguments and its traceback text; so caplog, live logs, ``--log-file`` and
                            "Captured log" hold scrubbed text whatever library logged it
captured stdout/stderr      each report's sections, before any reporter reads the report
failure text                each report's ``longrepr`` (tracebacks, ``pytest.fail`` messages, skip reasons)
JUnit properties            each report's ``user_properties`` (and the item's, which later reports copy)
the terminal                the terminal writer's stream: whatever a reporter or plugin writes through it
the JUnit file              once written and amended: every attribute and text of the XML
report files                the files of ``--gvp-reports`` rewritten scrubbed (``gvpconf.report`` scrubs
                            them when it writes them; this pass makes sure)
==========================  ==========================================================================

Secrets are registered with ``gvpconf.redact`` when the inventory resolves them (and a proxy URL's userinfo
when the inventory is loaded), so everything after ``pytest_configure`` is covered.
"""

from __future__ import annotations

import logging
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TextIO

import pytest

from gvpconf import redact

NAME = "gvpconf-scrub"
#: (``redact.generation()``, the item's properties as scrubbed at it)
_SCRUBBED = pytest.StashKey[tuple[int, list[tuple[str, object]]]]()


class _ScrubbedStream:
    """A text stream whose every write is scrubbed (the terminal writer's file)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        return self._inner.write(redact.scrub(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _scrubbed_record_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # the handler would print msg and args in its error report: print neither
            message = f"(unformattable log message from {record.name})"
        record.msg, record.args = redact.scrub(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = redact.scrub(record.stack_info)
        return record

    make.gvpconf_scrubs = True  # type: ignore[attr-defined]
    return make


def _scrub_value(value: object) -> object:
    return redact.scrub(value) if isinstance(value, str) else value


def scrub_report(report: pytest.TestReport | pytest.CollectReport,
                 properties: list[tuple[str, object]] | None = None) -> None:
    """A report's failure text, captured sections and properties, scrubbed in place. ``properties``: its
    properties scrubbed already (the item's, when the report's are a copy of them)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], redact.scrub(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        scrubbed = redact.scrub(text)
        if scrubbed != text:
            report.longrepr = scrubbed
    report.sections = [(title, redact.scrub(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = properties if properties is not None else [
            (name, _scrub_value(value)) for name, value in report.user_properties]


def scrub_xml(path: Path) -> None:
    """Every attribute and text of the XML file at ``path``, scrubbed; the file rewritten if anything changed."""
    if not redact.known():
        return  # nothing to mask: not read at all
    try:
        root = ET.fromstring(path.read_text(encoding="utf-8"))
    except (OSError, ET.ParseError, UnicodeDecodeError):
        if path.exists():  # not XML: scrub it as text
            scrub_text_file(path)
        return
    changed = False
    for el in root.iter():
        for attr in ("text", "tail"):
            value = getattr(el, attr)
            if value and (clean := redact.scrub(value)) != value:
                setattr(el, attr, clean)
                changed = True
        for key, value in el.attrib.items():
            if (clean := redact.scrub(value)) != value:
                el.set(key, clean)
                changed = True
    if changed:
        path.write_text('<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode"),
                        encoding="utf-8")


def scrub_text_file(path: Path) -> None:
    if not redact.known():
        return
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    clean = redact.scrub(text)
    if clean != text:
        path.write_text(clean, encoding="utf-8", errors="surrogateescape")


class Scrubber:
    """Registered by the plugin's ``pytest_configure``; its methods are hooks."""

    def __init__(self, config: pytest.Config, reports_dir: str | None) -> None:
        self.config = config
        self.reports_dir = reports_dir
        self.started = time.time()
        self._factory: Callable[..., logging.LogRecord] | None = None

    def install(self) -> None:
        """Scrub log records from now on (undone by ``pytest_unconfigure``)."""
        current = logging.getLogRecordFactory()
        if not getattr(current, "gvpconf_scrubs", False):
            self._factory = current
            logging.setLogRecordFactory(_scrubbed_record_factory(current))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The terminal writer exists from ``pytest_configure`` on; wrap its stream before the header."""
        if self.config.pluginmanager.get_plugin("terminalreporter") is None:
            return
        writer = self.config.get_terminal_writer()
        stream = getattr(writer, "_file", None)
        if stream is not None and not isinstance(stream, _ScrubbedStream):
            writer._file = _ScrubbedStream(stream)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None],
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if redact.known():  # else scrubbing is the identity: a pool of 1000 targets scrubbed 200000 values for nothing
            # the item's properties grow phase by phase and each report copies them: each value is scrubbed once
            # (again only when a secret was registered since), and the report's copy takes the scrubbed list
            props = item.user_properties
            generation = redact.generation()
            seen, clean = item.stash.get(_SCRUBBED, (-1, []))
            done = len(clean) if seen == generation and props[:len(clean)] == clean else 0
            before = list(props)
            props[done:] = [(name, _scrub_value(value)) for name, value in props[done:]]
            item.stash[_SCRUBBED] = (generation, list(props))
            scrub_report(report, list(props) if report.user_properties == before else None)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector,
                                   ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        scrub_report(report)
        return report

    def finish(self, config: pytest.Config) -> None:
        """After every writer has written: the JUnit file and the report files, scrubbed once more."""
        xmlpath = config.getoption("xmlpath", None)
        junit = Path(os.path.expanduser(os.path.expandvars(str(xmlpath)))) if xmlpath else None
        if junit is not None:
            scrub_xml(junit)
        outdir = Path(self.reports_dir) if self.reports_dir and self.reports_dir != "none" else None
        if outdir is not None and outdir.is_dir():
            for path in outdir.iterdir():
                if junit is not None and path.name == junit.name and path.resolve() == junit.resolve():
                    continue  # scrubbed just above (parsing a 2 MB junit.xml twice cost a second at 1000 targets)
                if path.is_file() and path.stat().st_mtime >= self.started - 1:  # this run's
                    if path.suffix == ".xml":
                        scrub_xml(path)
                    else:
                        scrub_text_file(path)
        if self._factory is not None:
            if getattr(logging.getLogRecordFactory(), "gvpconf_scrubs", False):
                logging.setLogRecordFactory(self._factory)
            self._factory = None
