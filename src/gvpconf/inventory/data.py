"""Destination settings of the service-discovery and database probes: Consul (6, 10), SQL Server (16)."""

from __future__ import annotations

from gvpconf.inventory.base import GenericDestination

ConsulDestination = GenericDestination
SqlServerDestination = GenericDestination
