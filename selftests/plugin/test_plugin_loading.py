"""The plugin comes with the package: the ``pytest11`` entry point loads it, no conftest needed, for a
plain directory of conformance modules and for ``--pyargs``."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import gvpconf.plugin
from gvpconf.plugin.session import NAME, SESSION, GvpSession
from selftests.plugin.conftest import C02, QUIET, Junit, case_properties, target, write_inventory


def test_entry_point_loads_it_without_a_conftest(pytester: pytest.Pytester, refused: tuple[str, int]) -> None:
    """A user's project: tests/intra/test_c02_*.py and an inventory, nothing else; a fresh process."""
    (pytester.path / "tests" / "intra").mkdir(parents=True)
    (pytester.path / "tests" / "intra" / "test_c02_rm_configserver.py").write_text(C02)
    inventory = write_inventory(pytester.path / "inventory.yaml", {"configserver": {"targets": [target(refused)]}})
    assert not list(pytester.path.rglob("conftest.py"))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("tests", "--inventory", str(inventory), "--junitxml", str(junit),
                                           *QUIET)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert re.search(r"^plugins: .*gvpconf-0\.1\.0", result.stdout.str(), re.M)  # the distribution's entry point
    result.assert_outcomes(failed=1)
    assert re.search(r"^2 .*\sFAILED\s+0/1 cases passed; causes: refused$", result.stdout.str(), re.M)
    found = Junit.read(junit)
    (case,) = found.cases
    failure = case.find("failure")
    assert failure is not None and case_properties(case)["cause"] == "refused"
    assert failure.get("message", "").startswith(f"Failed: #2 rm -> t ({refused[0]}:{refused[1]}): refused: ")
    assert found.suite["connection.2.verdict"] == "FAILED"
    assert found.suite["connection.1.verdict"] == "not implemented yet"
    assert found.suite["connections.verified"] == "0/22"


def test_the_session_is_one_registered_object(pytester: pytest.Pytester) -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "gvpconf"]
    assert entry.value == "gvpconf.plugin" and entry.dist is not None and entry.dist.name == "gvpconf"
    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("gvpconf") is gvpconf.plugin
    session = config.stash[SESSION]
    assert isinstance(session, GvpSession) and config.pluginmanager.get_plugin(NAME) is session
    assert config.pluginmanager.get_plugin("gvpconf.plugin.fixtures") is not None


def test_p_no_gvpconf_switches_it_off(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:gvpconf", "--inventory", "x.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --inventory" in result.stderr.str()


def make_site_package(root: Path) -> Path:
    """A package of conformance modules, importable from ``root`` (as if pip-installed)."""
    pkg = root / "gvp_site_checks"
    (pkg / "intra").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "intra" / "__init__.py").write_text("")
    (pkg / "intra" / "test_c02_rm_configserver.py").write_text(C02)
    return pkg


def test_pyargs(pytester: pytest.Pytester, refused: tuple[str, int]) -> None:
    """``pytest --pyargs PACKAGE``: the modules are found by import, the plugin by its entry point; the
    JUnit extras find their test cases (a waived failure's message) whatever the rootdir and prefix."""
    site = pytester.path / "site"
    make_site_package(site)
    pytester.syspathinsert(site)
    inventory = write_inventory(pytester.path / "inventory.yaml", {"configserver": {"targets": [target(refused)]}})
    waivers = pytester.path / "waivers.yaml"
    waivers.write_text("- {connection: 2, source: rm, reason: CHG-1, owner: ops, expires: 2999-01-01}\n")
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--pyargs", "gvp_site_checks", "--inventory", str(inventory), "--junitxml",
                                str(junit), "--junit-prefix", "site", "--gvp-waivers", str(waivers),
                                "--gvp-reports", "none", *QUIET)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "1 waived" in result.outlines[-1]
    assert re.search(r"^2 .*\swaived\s+0/1 cases passed; 1 waived; causes: refused$", result.stdout.str(), re.M)
    found = Junit.read(junit)
    (case,) = found.cases
    assert case.get("classname", "").startswith("site.")
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest.xfail"
    message = skipped.get("message", "")
    assert message.startswith("waived by ops until 2999-01-01 (CHG-1): #2 rm -> t (127.0.0.1:"), message
    assert "): refused: connection refused" in message
    assert case_properties(case)["waived"] == "ops until 2999-01-01: CHG-1"
    assert found.suite["connection.2.verdict"] == "waived"
