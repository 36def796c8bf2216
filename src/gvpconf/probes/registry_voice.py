"""Probe registry of the voice area: MCP pool SIP (4), SBC RTP/RTCP (9), Nuance SIP/RTSP/RTP (14), Nuance -> MCP
media (19).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words.
"""

REGISTRY: dict[str, str] = {}

SENDS: dict[str, str] = {}
