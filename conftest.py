"""The GVP conformance suite's pytest plugin (hooks and fixtures live in the gvpconf package)."""

pytest_plugins = [
    "gvpconf.plugin",
    "gvpconf.fixtures",
    "gvpconf.plugin_voice",
    "gvpconf.plugin_web",
    "gvpconf.plugin_data",
    "gvpconf.plugin_pods",
]
