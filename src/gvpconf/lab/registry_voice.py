"""Lab components of the voice area (MCP pool SIP (4), SBC RTP/RTCP (9), Nuance SIP/RTSP/RTP (14), Nuance -> MCP
media (19)): name -> "module:Class".
"""

COMPONENTS: dict[str, str] = {
    "voice_nuance": "gvpconf.lab.voice:VoiceNuanceComponent",
    "voice_mcp": "gvpconf.lab.voice:VoiceMcpComponent",
    "voice_sbc": "gvpconf.lab.voice:VoiceSbcComponent",
}
