"""Probe registry of the voice area: MCP pool SIP (4), SBC RTP/RTCP (9), Nuance SIP/RTSP/RTP (14), Nuance -> MCP
media (19).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words. Connections 4 and
14 reuse the foundation's ``sip.options`` for their SIP OPTIONS.
"""

REGISTRY: dict[str, str] = {
    "sip.call": "gvpconf.probes.sipua:mcp_call",
    "sbc.call": "gvpconf.probes.sipua:sbc_call",
    "rtp.range": "gvpconf.probes.rtp:rtp_range",
    "rtsp.describe": "gvpconf.probes.rtsp:rtsp_describe",
    "rtsp.setup": "gvpconf.probes.rtsp:rtsp_setup",
    "rtp.ingress": "gvpconf.probes.rtsp:media_ingress",
}

SENDS: dict[str, str] = {
    "sip.call": "a real call (opt-in): INVITE, ACK, a bounded RTP burst (media.packets), BYE",
    "sbc.call": "a real call to the SBC's echo route (opt-in): INVITE, ACK, a bounded RTP burst, BYE",
    "rtp.range": "attempts x sample small RTP packets to a seeded sample of the RTP range (safe)",
    "rtsp.describe": "RTSP OPTIONS and DESCRIBE on each configured URL (read-only)",
    "rtsp.setup": "RTSP SETUP, a bounded RTP burst to the server port, TEARDOWN (opt-in)",
    "rtp.ingress": "RTSP SETUP with our client_port and PLAY (opt-in): the server streams media.packets to us",
}
