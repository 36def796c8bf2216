"""Connections 4, 9, 14, 19 run as users run them (pytest tests --inventory ...) against the lab.

Verified with measured facts in JUnit; call tests opted in by the lab inventory's ``calls: true``; without any
opt-in they are deselected, nothing is sent for them, and the run says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gvpconf_lab import Lab
from selftests.helpers import VERIFIED, Run, run_suite

VOICE = ("4", "9", "14", "19")


@pytest.fixture(scope="module")
def voice_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_suite(tmp_path_factory.mktemp("voice"), *(a for n in VOICE for a in ("--connection", n)),
                     inventory=lab.inventory_path)


def test_voice_connections_verified_with_media_facts(voice_run: Run) -> None:
    assert voice_run.rc == 0, voice_run.stdout[-3000:] + voice_run.stderr[-2000:]
    for n in VOICE:
        assert voice_run.suite_properties[f"connection.{n}.verdict"] in VERIFIED
    calls = [c for c in voice_run.cases if "call" in c.name or "ingress" in c.name or "media_arrives" in c.name]
    assert len(voice_run.by_connection(4)) == 9  # OPTIONS, padded OPTIONS (MTU) and a call to each of the three pods
    for case in calls:
        props = case.properties
        assert int(props["rtp.received"]) > 0 and float(props["rtp.loss_pct"]) <= 4.0, props
        assert "rtp.jitter_ms" in props
    sbc_call = next(c for c in voice_run.by_connection(9) if "call" in c.name)
    assert float(sbc_call.properties["rtp.rtt_ms"]) > 0
    rng = next(c for c in voice_run.by_connection(9) if "range" in c.name)
    ports = rng.properties["rtp.range_ports"].split(",")
    low, high = rng.properties["rtp.range"].split("-")
    assert ports[0] == low and ports[-1] == high and rng.properties["rtp.range_seed"].isdigit()


def test_call_tests_are_deselected_without_opt_in(lab: Lab, tmp_path: Path) -> None:
    data = yaml.safe_load(lab.inventory_path.read_text())
    for key in ("mcp", "sbc", "nuance"):
        data["destinations"][key]["calls"] = False
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(data))
    run = run_suite(tmp_path, "--connection", "4", "--connection", "19", inventory=inv)
    assert run.rc == 0, run.stdout[-2000:]
    names = [c.name for c in run.cases]
    assert names and not any("call" in n or "media_arrives" in n for n in names), names
    assert "call test(s) deselected" in run.stdout and "--gvp-calls" in run.stdout
    assert run.suite_properties["connection.19.verdict"] == "not selected (opt-in call test: --gvp-calls)"
    opted = run_suite(tmp_path, "--connection", "19", "--gvp-calls", inventory=inv)
    assert opted.suite_properties["connection.19.verdict"] == "verified", opted.stdout[-2000:]
