"""Helpers for the project's own tests: run the suite as its users do and read its JUnit file."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: the verdicts of a row whose every case passed: plain, or with a warning beside it (an inventory without
#: credentials for a row, verification switched off; the lab's leaf certificates, valid for 90 days, warn no more)
VERIFIED = ("verified", "verified with warnings")


def warned(run: Run, number: int) -> bool:
    """Whether a case of row ``number`` recorded a warning (what makes a row 'verified with warnings')."""
    return any(name.endswith("expiry_warning") or (name.endswith("tls.verify") and value.startswith("off"))
               or (name.endswith(".auth") and value == "unauthenticated-path-proven")
               for c in run.by_connection(number) for name, value in c.properties.items())


@dataclass
class Case:
    name: str
    classname: str
    outcome: str  # passed / failed / error / skipped
    message: str
    properties: dict[str, str]
    time: float


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    junit_text: str
    cases: list[Case]
    suite_properties: dict[str, str]

    def by_connection(self, number: int) -> list[Case]:
        return [c for c in self.cases if c.properties.get("connection") == str(number)]


def parse_junit(path: Path) -> tuple[list[Case], dict[str, str]]:
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    suite_props = {p.get("name", ""): p.get("value", "") for p in suite.findall("./properties/property")}
    cases = []
    for tc in suite.iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in tc.findall("./properties/property")}
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = el.get("message", "") + (el.text or "")
                break
        cases.append(Case(tc.get("name", ""), tc.get("classname", ""), outcome, message, props,
                          float(tc.get("time", "0"))))
    return cases, suite_props


def suite_command(junit: Path, inventory: Path | None, *args: str) -> list[str]:
    """argv of ``pytest tests --junitxml ... --inventory ...`` as a user runs it (this interpreter)."""
    cmd = [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "--junitxml", str(junit)]
    return cmd + (["--inventory", str(inventory)] if inventory is not None else []) + list(args)


def suite_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without the caller's ``GVP_*`` settings, plus ``env``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GVP_")} | (env or {})


def run_suite(tmp: Path, *args: str, inventory: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> Run:
    """``pytest tests --inventory ... --junitxml ...`` in a subprocess, exactly as a user runs it."""
    junit = tmp / f"junit-{os.getpid()}-{len(list(tmp.glob('junit-*')))}.xml"
    cmd = suite_command(junit, inventory, "-rA", *args)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=suite_env(env))
    if junit.exists():
        text = junit.read_text(encoding="utf-8")
        cases, props = parse_junit(junit)
    else:
        text, cases, props = "", [], {}
    return Run(proc.returncode, proc.stdout, proc.stderr, text, cases, props)


def implemented_connections() -> set[int]:
    """Connection numbers that have a module under tests/ (test_cNN_*.py)."""
    import re

    found = set()
    for path in (ROOT / "tests").rglob("test_c*.py"):
        m = re.match(r"test_c(\d\d)_", path.name)
        if m:
            found.add(int(m.group(1)))
    return found


def write_inventory(tmp: Path, data: dict[str, Any], name: str = "inventory.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def with_canary(inventory: dict[str, Any], tmp: Path, canary: str, *, files: Iterable[tuple[str, str]] = (),
                envs: Iterable[tuple[str, str, str]] = ()) -> tuple[Path, dict[str, str]]:
    """A copy of ``inventory`` whose secrets ``files`` (destination, field) are read from a file holding ``canary``
    and ``envs`` (destination, field, variable) from an environment variable holding it: the inventory's path
    and the environment to run the suite with. The canary must then appear in no output."""
    secret = tmp / "canary"
    secret.write_text(canary)
    data = copy.deepcopy(inventory)
    for dest, field in files:
        data["destinations"][dest][field] = {"file": str(secret)}
    env = {}
    for dest, field, variable in envs:
        data["destinations"][dest][field] = {"env": variable}
        env[variable] = canary
    return write_inventory(tmp, data), env


def assert_absent(secret: str, *texts: str) -> None:
    """``secret`` is in none of ``texts`` (outputs, reports): secrets never appear in any output."""
    for text in texts:
        assert secret not in text


#: the connections #1's probes open to one *silent* SIP/TCP target: the OPTIONS, and the padded OPTIONS' natural
#: size (it opens one per larger size only once that one was answered, which a silent peer never does). An
#: interrupt test waits for both; the signal during the fan-out is test_plugin_interrupt's own case.
SIP_TCP_CONNECTIONS = 2


def start_suite(junit: Path, inventory: Path, *args: str) -> subprocess.Popen[str]:
    """The suite started as ``run_suite`` runs it, its output (stdout and stderr) in one pipe: for a test that
    signals it while it runs (see ``interrupt``)."""
    return subprocess.Popen(suite_command(junit, inventory, *args), cwd=ROOT, env=suite_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(event: Callable[[], object], what: str, *, within: float = 60.0,
             proc: subprocess.Popen[str] | None = None) -> float:
    """Poll ``event()`` until it is true (never a fixed sleep): the seconds it took. Fails naming ``what`` after
    ``within`` s, or as soon as ``proc`` has exited (with the end of its output, which says why)."""
    started = time.monotonic()
    while not event():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before {what}")
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@dataclass
class Stopped:
    """How a signalled process ended."""

    returncode: int
    output: str
    #: seconds from the (first) signal to the process's exit, its output read
    took: float
    #: seconds from the signal to ``interrupt``'s ``then`` event (None without one)
    then_after: float | None = None


class _Drain:
    """Reads a pipe to its end in a thread: what it has read so far, at any time."""

    def __init__(self, pipe: Any) -> None:
        self._chunks: list[bytes] = []
        self._fd = pipe.fileno()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while chunk := os.read(self._fd, 65536):
            self._chunks.append(chunk)

    def text(self, wait_s: float = 0.0) -> str:
        if wait_s:
            self._thread.join(wait_s)
        return b"".join(self._chunks).decode("utf-8", "replace")


def interrupt(proc: subprocess.Popen[str], *signals: signal.Signals, when: Callable[[], object], what: str,
              in_output: str | None = None, within: float = 60.0, group: bool = False,
              then: Callable[[], object] | None = None, then_within: float = 30.0,
              exit_within: float = 30.0) -> Stopped:
    """The signal-and-wait of the interrupt tests: wait until ``when()`` (the event the test needs: ``what``) and,
    with ``in_output``, until ``proc``'s output shows that text; send ``signals`` in turn to ``proc`` by PID (with
    ``group``, to the process group it leads, as a terminal's Ctrl-C does); time ``then()`` if given (an effect
    expected before the exit); read ``proc``'s output until it exits. ``proc`` is killed, whatever happens, if it
    is still there at the end."""
    out = _Drain(proc.stdout)
    err = _Drain(proc.stderr) if proc.stderr is not None else None  # drained: a full pipe would stall proc
    try:
        try:
            wait_for(lambda: when() and (in_output is None or in_output in out.text()), what, within=within,
                     proc=proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its output: {out.text()[-2000:]}") from None
        sent = time.monotonic()
        for sig in signals:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        if then is not None:
            wait_for(then, "the effect awaited after the signal", within=then_within)
        then_after = None if then is None else time.monotonic() - sent
        try:
            proc.wait(timeout=exit_within)
        except subprocess.TimeoutExpired:  # where it hangs: a child run with PYTHONFAULTHANDLER dumps its threads
            proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
            raise AssertionError(f"still running {exit_within:.0f} s after {[s.name for s in signals]}; its "
                                 f"output: {out.text(wait_s=2.0)[-6000:]}") from None
        output = out.text(wait_s=5.0)
        return Stopped(proc.returncode, output, time.monotonic() - sent, then_after)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if err is not None:
            err.text(wait_s=5.0)
