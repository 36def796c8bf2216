"""One opt-in mechanism: a test-level opt-in (the call tests) is deselected before any probe starts and
reported as opt-in; a probe-level one (Consul's write check) reaches the probe through its context. Either
is switched on by flag, environment variable or the destination's inventory key."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gvpconf.plugin.optin import OPT_INS
from selftests.plugin.conftest import QUIET, Junit, Probed, write_inventory


def module(number: int, *tests: tuple[str, str, bool]) -> str:
    """A conformance module for row ``number``: (probe, test name, is a call test) each asserting on the fake
    prober's ``fake.opt_ins`` fact."""
    lines = ["from gvpconf.suite import call, connection, probe", "", f"pytestmark = connection({number})", ""]
    for probe, name, is_call in tests:
        lines += ["", *(["@call"] if is_call else []), f"@probe({probe!r})", f"def test_{name}(evidence):",
                  '    assert evidence["fake.opt_ins"]', ""]
    return "\n".join(lines)


C04 = module(4, ("sip.options", "options", False), ("sip.call", "call", True))
C19 = module(19, ("rtp.ingress", "media_arrives", True))
C06 = module(6, ("consul.sd_catalog", "catalog", False))

def run_opted_in(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, how: str, key: str,
                 section: dict[str, Any]) -> pytest.RunResult:
    """Run with opt-in ``name`` switched on ``how``: "off", "flag", "environment" or "inventory" (in
    destination ``key``), the one way every opt-in is switched on (``OPT_INS``)."""
    (opt,) = [o for o in OPT_INS if o.name == name]
    inventory = write_inventory(pytester.path / "inventory.yaml",
                                {key: {**section, opt.inventory_key: how == "inventory"}})
    args = ["--inventory", str(inventory), "--gvp-reports", "none", *QUIET]
    if how == "flag":
        args.append(opt.flag)
    if how == "environment":
        monkeypatch.setenv(opt.env, "yes")
    return pytester.runpytest(*args)


# 19 has a Nuance source to stream from (without one, its case is "not configured")
MCP = {"targets": [{"name": "mcp-0", "host": "127.0.0.1", "port": 1}],
       "ingress": {"rtsp_url": "rtsp://127.0.0.1:1/media/speechsynthesizer"}}
CONSUL = {"targets": [{"name": "consul-0", "host": "127.0.0.1", "port": 1}]}


def test_call_tests_left_out_are_reported_as_opt_in(pytester: pytest.Pytester, fake_probers: list[Probed]) -> None:
    pytester.makepyfile(test_c04_rm_mcp_pool=C04, test_c19_nuance_mcp_media=C19)
    inventory = write_inventory(pytester.path / "inventory.yaml", {"mcp": MCP})
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--inventory", str(inventory), "--junitxml", str(junit), "--gvp-reports",
                                str(pytester.path / "r"), *QUIET)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, deselected=2)
    assert [p.probe for p in fake_probers] == ["sip.options"]  # nothing was started for the call tests
    out = result.stdout.str()
    assert ("2 call test(s) deselected: call tests are opt-in (--gvp-calls, $GVP_CALLS=1, or calls: true in the "
            "destination's inventory section); nothing was sent for them") in out
    assert re.search(r"^4 .*\sverified\s+1/1 cases passed$", out, re.M)
    assert re.search(r"^19 .*\snot selected \(opt-in call test: --gvp-calls\)$", out, re.M)
    assert Junit.read(junit).suite["connection.19.verdict"] == "not selected (opt-in call test: --gvp-calls)"
    (row19,) = [c for c in json.loads((pytester.path / "r" / "results.json").read_text())["connections"]
                if c["number"] == 19]
    assert row19["verdict"] == "not selected" and row19["why"] == "opt-in call test: --gvp-calls"


@pytest.mark.parametrize("how", ["flag", "environment", "inventory"])
def test_calls_opted_into(pytester: pytest.Pytester, fake_probers: list[Probed], monkeypatch: pytest.MonkeyPatch,
                          how: str) -> None:
    pytester.makepyfile(test_c04_rm_mcp_pool=C04, test_c19_nuance_mcp_media=C19)
    result = run_opted_in(pytester, monkeypatch, "calls", how, "mcp", MCP)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=3)
    assert sorted(p.probe for p in fake_probers) == ["rtp.ingress", "sip.call", "sip.options"]
    assert "deselected" not in result.stdout.str()
    assert re.search(r"^19 .*\sverified\s+1/1 cases passed$", result.stdout.str(), re.M)


def test_an_opt_in_in_one_destination_is_for_that_destination_only(pytester: pytest.Pytester,
                                                                    fake_probers: list[Probed]) -> None:
    pytester.makepyfile(test_c04_rm_mcp_pool=C04)
    inventory = write_inventory(pytester.path / "inventory.yaml", {"mcp": MCP, "sbc": {"calls": True}})
    result = pytester.runpytest("--inventory", str(inventory), "--gvp-reports", "none", *QUIET)
    result.assert_outcomes(passed=1, deselected=1)


@pytest.mark.parametrize("how", ["off", "flag", "environment", "inventory"])
def test_consul_write_check_reaches_the_probe_context(pytester: pytest.Pytester, fake_probers: list[Probed],
                                                      monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    pytester.makepyfile(test_c06_sd_consul=C06)
    result = run_opted_in(pytester, monkeypatch, "consul_write_check", how, "consul", CONSUL)
    result.assert_outcomes(passed=1)
    (probed,) = fake_probers
    assert probed.probe == "consul.sd_catalog"
    assert probed.ctx.opted_in("consul_write_check") is (how != "off")
    assert probed.ctx.destination.write_check is (how == "inventory")  # the inventory as written


def test_every_opt_in_has_a_flag_an_environment_variable_and_an_inventory_key() -> None:
    from gvpconf.inventory import Destinations

    keys = {f for model in Destinations.model_fields.values() for t in [model.annotation]
            for f in getattr(getattr(t, "__args__", [None])[0], "model_fields", {})}
    for o in OPT_INS:
        assert o.flag.startswith("--") and o.env.startswith("GVP_") and o.inventory_key in keys, o
