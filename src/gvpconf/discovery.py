"""Where a destination's targets come from: the inventory's static list, or discovery.

``targets_for`` is called once per connection at collection time. Discovery back-ends (Consul's
catalog for the MCP pool, ...) plug in here; a discovery that fails or finds nothing raises
``DiscoveryError`` and the plugin turns it into a failing case, never into a run without cases.
"""

from __future__ import annotations

from gvpconf.inventory import Inventory, Target


class DiscoveryError(Exception):
    """Discovery could not produce targets. ``str()`` is one line saying why."""


def targets_for(inventory: Inventory, destination: str) -> list[Target]:
    dest = inventory.destination(destination)
    return list(dest.targets) if dest is not None else []
