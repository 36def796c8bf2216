"""Lab components of the web area (ORS (11), DAS (12), Nexus WSS (13), Prometheus (18), web server (20), customer
system (21), Google TTS gRPC (22)): name -> "module:Class".
"""

COMPONENTS: dict[str, str] = {
    "web_http": "gvpconf.lab.web:WebHttpComponent",
    "nexus": "gvpconf.lab.web:NexusComponent",
    "google_tts": "gvpconf.lab.web:GoogleTtsComponent",
    "gvp_metrics": "gvpconf.lab.web:GvpMetricsComponent",
}
