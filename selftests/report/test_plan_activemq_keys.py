"""Every ActiveMQ inventory key does what its documentation says, and changes the plan (``--plan``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gvpconf.inventory import ActiveMQDestination, InventoryError, parse
from selftests.helpers import run_suite, write_inventory

BASE: dict[str, Any] = {"targets": [{"name": "gvp-rs", "host": "127.0.0.1", "port": 9}]}

#: key -> a value other than its default
CHANGES: dict[str, Any] = {
    "username": "gvp-billing",
    "password": {"env": "GVP_AMQ_PASSWORD"},
    "stomp_port": 61613,
    "stomp_destination": "/queue/gvpconf.billing",
    "message_ttl": 5,
}


def plan(tmp: Path, section: dict[str, Any]) -> list[str]:
    inventory = write_inventory(tmp, {"version": 1, "destinations": {"activemq": {**BASE, **section}}},
                                name=f"inv-{len(list(tmp.glob('inv-*')))}.yaml")
    run = run_suite(tmp, "--plan", "--connection", "3", inventory=inventory)
    assert run.rc == 0, run.stdout + run.stderr
    return [line.strip() for line in run.stdout.splitlines() if line.startswith("    ")]


def test_every_documented_key_is_tested_here() -> None:
    own = set(ActiveMQDestination.model_fields) - {"targets", "timeouts"}
    assert own == set(CHANGES)
    for name in own:  # and each one says what it does
        assert ActiveMQDestination.model_fields[name].description, name


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return plan(tmp_path_factory.mktemp("plan"), {})


def test_a_stock_broker_plan_probes_openwire_only(default_plan: list[str]) -> None:
    assert any("activemq.openwire: sends an OpenWire session" in line and "message TTL 30 s on a temporary queue"
               in line for line in default_plan), default_plan
    assert "not probed: STOMP not probed: destinations.activemq.stomp_port is not set (a stock broker has no STOMP)" \
        in default_plan


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_each_key_changes_the_plan(key: str, default_plan: list[str], tmp_path: Path) -> None:
    changed = plan(tmp_path, {key: CHANGES[key]} if key != "stomp_destination"
                   else {key: CHANGES[key], "stomp_port": 61613})
    if key == "stomp_destination":  # only STOMP uses it: compare with STOMP on and the default prefix
        default = plan(tmp_path, {"stomp_port": 61613})
        assert changed != default
        assert any("/queue/gvpconf.billing.<probe id>" in line for line in changed), changed
        return
    assert changed != default_plan, key
    shown = {"username": "login gvp-billing", "password": "password from env GVP_AMQ_PASSWORD",
             "stomp_port": "gvp-rs (127.0.0.1:61613): activemq.stomp", "message_ttl": "message TTL 5 s"}[key]
    assert any(shown in line for line in changed), changed


@pytest.mark.parametrize(("removed", "hint"), [("stomp", "stomp_port"), ("openwire", "connections")])
def test_removed_keys_say_what_replaced_them(removed: str, hint: str) -> None:
    with pytest.raises(InventoryError, match=f"destinations.activemq.*'{removed}' was removed.*{hint}"):
        parse({"version": 1, "destinations": {"activemq": {**BASE, removed: True}}}, "inventory.yaml")
