"""Probe registry of the data area: Consul (6, 10), SQL Server (16).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words.
"""

REGISTRY: dict[str, str] = {}

SENDS: dict[str, str] = {}
