"""The interop cells' shared fixtures: a lab CA, and at the end of the session the results file and, with
``GVPCONF_UPDATE_INTEROP=1`` and every cell run and green, a fresh ``docs/interop.md``."""

from __future__ import annotations

import json
import os

import pytest

from gvpconf_lab.tlsca import CA, make_ca
from selftests.interop import matrix

_DURATIONS: list[float] = []
_FAILED: list[str] = []
RESULTS_FILE = matrix.ROOT / "reports" / "interop-results.json"


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return make_ca(tmp_path_factory.mktemp("interop-ca"))


@pytest.fixture(scope="session")
def untrusted_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return make_ca(tmp_path_factory.mktemp("interop-untrusted-ca"), common_name="gvpconf UNTRUSTED CA")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _DURATIONS.append(report.duration)  # setup (the peers' start), call and teardown of every case
    if report.failed:  # a cell at its verdict whose other assertions failed is no green cell
        _FAILED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not matrix.RESULTS:
        return
    runtime = sum(_DURATIONS)
    data = {"runtime_s": round(runtime, 1),
            "versions": {k: list(v) for k, v in matrix.VERSIONS.items()},
            "cells": [{"protocol": c.protocol, "implementation": c.implementation, "scenario": c.scenario,
                       "expected": c.expected, "verdict": m.verdict, "message": m.message, "facts": m.facts}
                      for c, m in matrix.RESULTS.items()]}
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(data, indent=1) + "\n")
    if os.environ.get("GVPCONF_UPDATE_INTEROP") != "1":
        return
    runnable = [c for c in matrix.CELLS if not c.not_run]
    missing = [c.id for c in runnable if c not in matrix.RESULTS]
    wrong = [c.id for c, m in matrix.RESULTS.items() if m.verdict != c.expected]
    if missing or wrong or _FAILED:
        print(f"\ndocs/interop.md NOT rewritten: cells not run {missing}, cells off their verdict {wrong}, "
              f"failed {_FAILED}")
        return
    matrix.DOC.write_text(matrix.render(matrix.RESULTS, matrix.VERSIONS, runtime))
    print(f"\n{matrix.DOC} rewritten from {len(matrix.RESULTS)} cells")
