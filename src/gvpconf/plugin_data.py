"""pytest hooks and options of the data area (loaded by the root conftest.py after gvpconf.plugin).

``--consul-write-check``: connection 6 also proves Consul KV write access (a check-and-set create of a key
under ``destinations.consul.write_prefix``, read back and deleted). Off by default: the suite is read-only
unless asked. The same switch exists in the inventory (``destinations.consul.write_check: true``).
"""

from __future__ import annotations

import pytest

from gvpconf.inventory.data import ConsulDestination
from gvpconf.plugin import STATE


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf", "GVP connectivity conformance")
    group.addoption("--consul-write-check", action="store_true", default=False,
                    help="connection 6: also create, read back and delete one Consul KV key under the "
                         "write_prefix (off by default: read-only)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Fold the command-line switch into the inventory, the one place probes read settings from."""
    if not config.getoption("consul_write_check", False):
        return
    state = config.stash.get(STATE, None)
    if state is None or state.inventory is None:
        return
    inv = state.inventory
    consul = inv.destinations.consul
    if not isinstance(consul, ConsulDestination):
        return
    destinations = inv.destinations.model_copy(update={"consul": consul.model_copy(update={"write_check": True})})
    state.inventory = inv.model_copy(update={"destinations": destinations})
