"""pytest hooks and options of the web area (loaded by the root conftest.py after gvpconf.plugin)."""
