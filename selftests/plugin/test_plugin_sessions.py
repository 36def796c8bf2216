"""Two runs in one process share nothing: everything a run knows lives on its own session object."""

from __future__ import annotations

import json
import re

import pytest

import gvpconf.plugin
from gvpconf.plugin.session import NAME, SESSION
from selftests.plugin.conftest import C02, QUIET, Junit, target, write_inventory


def test_two_runs_in_one_process_share_no_state(pytester: pytest.Pytester, refused: tuple[str, int]) -> None:
    pytester.makepyfile(test_c02_rm_configserver=C02)
    failing = write_inventory(pytester.path / "failing.yaml", {"configserver": {"targets": [target(refused)]}})
    disabled = write_inventory(pytester.path / "disabled.yaml", {"configserver": {"targets": [target(refused)]}},
                               connections={"2": {"enabled": False}})
    runs = []
    for name, inventory in (("first", failing), ("second", disabled)):
        junit = pytester.path / f"{name}.xml"
        result = pytester.runpytest("--inventory", str(inventory), "--junitxml", str(junit), "--gvp-reports",
                                    str(pytester.path / name), *QUIET)
        runs.append((result, Junit.read(junit), json.loads((pytester.path / name / "results.json").read_text())))
    (first, first_junit, first_json), (second, second_junit, second_json) = runs
    assert first.ret == pytest.ExitCode.TESTS_FAILED and second.ret == pytest.ExitCode.OK
    first.assert_outcomes(failed=1)
    second.assert_outcomes(skipped=1)
    assert first_junit.suite["connection.2.verdict"] == "FAILED"
    assert [c["verdict"] for c in first_json["connections"] if c["number"] == 2] == ["FAILED"]
    assert second_junit.suite["connection.2.verdict"] == "disabled in inventory"  # nothing of the first run
    assert second_junit.suite["connections.failed"] == "0"
    (row2,) = [c for c in second_json["connections"] if c["number"] == 2]
    assert [case["outcome"] for case in row2["cases"]] == ["skipped"]
    assert "FAILED" not in "\n".join(line for line in second.outlines if line.startswith("2 "))


def test_two_configs_at_once_each_have_their_session(pytester: pytest.Pytester, refused: tuple[str, int]) -> None:
    one = write_inventory(pytester.path / "one.yaml", {"configserver": {"targets": [target(refused, "one")]}})
    two = write_inventory(pytester.path / "two.yaml", {"mcp": {"calls": True, "targets": [target(refused, "two")]}})
    a = pytester.parseconfigure("--inventory", str(one))
    b = pytester.parseconfigure("--inventory", str(two), "--gvp-calls", "--connection", "4")
    sa, sb = a.stash[SESSION], b.stash[SESSION]
    assert sa is not sb
    assert a.pluginmanager.get_plugin(NAME) is sa and b.pluginmanager.get_plugin(NAME) is sb
    assert sa.options.inventory_path == str(one) and sb.options.inventory_path == str(two)
    assert sa.options.connections == frozenset() and sb.options.connections == frozenset({4})
    assert not sa.opt_ins.enabled("calls", "mcp") and sb.opt_ins.enabled("calls", "sbc")
    assert sa.cases is not sb.cases and sa.rows is not sb.rows


def test_the_plugin_modules_hold_no_run_state() -> None:
    """Module-level containers are upper-case constant tables: no dict, list or set a run could fill (the old
    plugin kept its config in a module-level ``_CONFIG``)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(gvpconf.plugin.__path__, "gvpconf.plugin."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, dict | list | set) and not name.startswith("__"):
                assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{info.name}.{name} is mutable module state"
