"""Waivers are xfail marks added at collection to the cases a waiver covers (its connection, its target if it
names one): a covered failure is waived, a covered pass stays a plain pass, an uncovered failure fails."""

from __future__ import annotations

import json
import re

import pytest

from selftests.plugin.conftest import QUIET, Junit, Probed, case_properties, write_inventory

C02 = '''
from gvpconf.suite import connection, probe

pytestmark = connection(2)


@probe("configserver.hold")
def test_holds(evidence):
    assert evidence["fake.opt_ins"]
'''


def run(pytester: pytest.Pytester, targets: list[str], waiver: dict[str, str]) -> tuple[pytest.RunResult, Junit,
                                                                                          dict[str, object]]:
    pytester.makepyfile(test_c02_rm_configserver=C02)
    inventory = write_inventory(pytester.path / "inventory.yaml", {"configserver": {"targets": [
        {"name": name, "host": "127.0.0.1", "port": 1} for name in targets]}})
    waivers = pytester.path / "waivers.yaml"
    waivers.write_text(json.dumps([{"connection": 2, "source": "rm", "reason": "CHG-7", "owner": "ops",
                                    "expires": "2999-01-01", **waiver}]))
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--inventory", str(inventory), "--gvp-waivers", str(waivers), "--junitxml",
                                str(junit), "--gvp-reports", str(pytester.path / "r"), "-rA", *QUIET)
    return result, Junit.read(junit), json.loads((pytester.path / "r" / "results.json").read_text())


def test_a_covered_pass_is_a_plain_pass(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    result, junit, results = run(pytester, ["up-0"], {})
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1)  # not "xpassed"
    assert "XPASS" not in result.stdout.str()
    (case,) = junit.cases
    assert list(case) and case.find("skipped") is None and "waived" not in case_properties(case)
    assert junit.suite["connection.2.verdict"] == "verified"
    assert results["waivers"] == [{"connection": "2", "source": "rm", "target": "*", "reason": "CHG-7",
                                   "owner": "ops", "expires": "2999-01-01", "status": "active (unused)"}]


def test_a_waiver_naming_a_target_covers_that_target_only(pytester: pytest.Pytester,
                                                          fake_probers: list[Probed]) -> None:
    result, junit, results = run(pytester, ["down-a", "down-b"], {"target": "down-a"})
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert re.search(r"^\d+ failed, \d+ waived in ", result.outlines[-1].strip("= ")), result.outlines[-1]
    by_name = {c.get("name"): c for c in junit.cases}
    waived, failed = by_name["test_holds[down-a]"], by_name["test_holds[down-b]"]
    skipped = waived.find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest.xfail"
    assert skipped.get("message") == ("waived by ops until 2999-01-01 (CHG-7): #2 rm -> down-a (127.0.0.1:1): "
                                      "refused: connection refused (fake)")
    assert case_properties(waived)["cause"] == "refused"
    assert failed.find("failure") is not None and "waived" not in case_properties(failed)
    assert junit.suite["connection.2.verdict"] == "FAILED"
    assert results["waivers"][0]["status"] == "active"
    assert re.search(r"^2 .*\sFAILED\s+0/2 cases passed; 1 waived; causes: refused$", result.stdout.str(), re.M)
    assert "WAIVED #2 -> down-a: refused: " in result.stdout.str()
