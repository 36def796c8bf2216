"""Probe registry of the web area: ORS (11), DAS (12), Nexus WSS (13), Prometheus (18), web server (20), customer
system (21), Google TTS gRPC (22).

``REGISTRY``: probe name -> "module:function"; ``SENDS``: what the probe sends, in a few words.
"""

REGISTRY: dict[str, str] = {
    "http.ors": "gvpconf.probes.http:ors_request",
    "http.vxml": "gvpconf.probes.http:vxml_fetch",
    "http.customer": "gvpconf.probes.http:customer_request",
    "websocket.session": "gvpconf.probes.websocket:ws_session",
    "grpc.tts_list_voices": "gvpconf.probes.grpc_tts:list_voices",
    "prometheus.scrape": "gvpconf.probes.prometheus:scrape",
    "prometheus.target_up": "gvpconf.probes.prometheus:target_up",
}

SENDS: dict[str, str] = {
    "http.ors": "one configured HTTP request (GET by default)",
    "http.vxml": "one GET per configured VXML application URL (read-only)",
    "http.customer": "one configured HTTP request (GET by default; a configured body for POST/PUT)",
    "websocket.session": "an HTTP upgrade, ping frames and a close (no application message)",
    "grpc.tts_list_voices": "one TextToSpeech ListVoices call (read-only, no synthesis)",
    "prometheus.scrape": "one GET of the metrics endpoint (read-only)",
    "prometheus.target_up": "two GETs to the Prometheus HTTP API: targets and an up{} query (read-only)",
}
