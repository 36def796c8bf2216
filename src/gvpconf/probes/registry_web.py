"""Probe registry of the web area: ORS (11), DAS (12), Nexus WSS (13), Prometheus (18), web server (20), customer
system (21), Google TTS gRPC (22).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words.
"""

REGISTRY: dict[str, str] = {}

SENDS: dict[str, str] = {}
