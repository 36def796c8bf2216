"""Fixtures for the plugin's own tests: pytester projects with a conformance module or two and a tiny
inventory, a port that refuses, and probers that send nothing. (``pytester`` itself is enabled in
``selftests/conftest.py``: pytest only reads ``pytest_plugins`` from a top-level conftest.)"""

from __future__ import annotations

import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import gvpconf.probes
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.probes.context import ProbeContext

C02 = '''"""#2  RM -> GVP Config Server"""
from gvpconf.suite import connection, probe

pytestmark = connection(2)


@probe("configserver.hold")
def test_config_server_holds(evidence):
    assert evidence["configserver.held_s"] > 0
'''


#: options of every run in a run: no cache, and no hypothesis plugin (its end-of-run summary imports hypothesis,
#: which pytester's in-process runs unload after each run: seconds per run, for nothing here)
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


@pytest.fixture(autouse=True)
def no_gvp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs share this process's environment: none of the developer's $GVP_* leaks in."""
    for name in list(os.environ):
        if name.startswith("GVP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def refused() -> Iterator[tuple[str, int]]:
    """A loopback TCP port bound and never listening: a connect is refused (RST), and no one else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
        yield host, port


@dataclass
class Probed:
    """One call of a fake prober: which probe, with what context."""

    probe: str
    ctx: ProbeContext


@pytest.fixture
def fake_probers(monkeypatch: pytest.MonkeyPatch) -> list[Probed]:
    """Every prober replaced by one that sends nothing and records its context (in-process runs only); a
    target whose name starts with ``down`` fails with cause ``refused``."""
    seen: list[Probed] = []

    def get(name: str) -> Any:
        def prober(ctx: ProbeContext) -> None:
            seen.append(Probed(name, ctx))
            ctx.evidence.fact("fake.opt_ins", ",".join(sorted(ctx.opt_ins)) or "none")
            if ctx.target.id.startswith("down"):
                raise ProbeFailure(Cause.REFUSED, "connection refused (fake)", phase="connect")

        return prober

    monkeypatch.setattr(gvpconf.probes, "get", get)
    return seen


def write_inventory(path: Path, destinations: dict[str, Any], **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "destinations": destinations, **extra}, sort_keys=False))
    return path


def target(address: tuple[str, int], name: str = "t") -> dict[str, Any]:
    return {"name": name, "host": address[0], "port": address[1]}


@dataclass
class Junit:
    suite: dict[str, str]  # testsuite properties
    cases: list[ET.Element]

    @classmethod
    def read(cls, path: Path) -> Junit:
        root = ET.parse(path).getroot()
        suite = root.find("testsuite")
        assert suite is not None
        return cls({p.get("name", ""): p.get("value", "") for p in suite.findall("./properties/property")},
                   list(suite.iter("testcase")))


def case_properties(testcase: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in testcase.findall("./properties/property")}
