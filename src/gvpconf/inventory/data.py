"""Destination settings of the service-discovery and database probes: Consul (6, 10), SQL Server (16)."""

from __future__ import annotations

from gvpconf.inventory.base import GenericDestination, _Model

ConsulDestination = GenericDestination
SqlServerDestination = GenericDestination


class Discovery(_Model):
    """Where targets come from besides the static lists (``discovery:`` at the top of the inventory)."""
