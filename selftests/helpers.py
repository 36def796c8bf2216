"""Helpers for the project's own tests: run the suite as its users do and read its JUnit file."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: the verdicts of a row whose every case passed: plain, or with a warning beside it (the lab's leaf certificates
#: are valid for 30 days, inside the default 30-day expiry warning threshold)
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


def run_suite(tmp: Path, *args: str, inventory: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> Run:
    """``pytest tests --inventory ... --junitxml ...`` in a subprocess, exactly as a user runs it."""
    junit = tmp / f"junit-{os.getpid()}-{len(list(tmp.glob('junit-*')))}.xml"
    cmd = [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "--junitxml", str(junit), "-rA"]
    if inventory is not None:
        cmd += ["--inventory", str(inventory)]
    cmd += list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)
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
