"""Destination settings of the web probes: ORS (11), DAS (12), Nexus (13), Prometheus' view (18), web server (20),
customer system (21), Google TTS (22)."""

from __future__ import annotations

from gvpconf.inventory.base import GenericDestination

OrsDestination = GenericDestination
DasDestination = GenericDestination
NexusDestination = GenericDestination
GvpMetricsDestination = GenericDestination
WebDestination = GenericDestination
CustomerDestination = GenericDestination
GoogleTtsDestination = GenericDestination
