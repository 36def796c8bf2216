"""Destination settings of the voice probes: MCP pool (4, 19), SBC (9), Nuance (14)."""

from __future__ import annotations

from gvpconf.inventory.base import GenericDestination
from gvpconf.inventory.foundation import SipDestination

McpDestination = SipDestination
SbcDestination = GenericDestination
NuanceDestination = GenericDestination
