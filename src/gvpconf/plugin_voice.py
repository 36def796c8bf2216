"""pytest hooks and options of the voice area (loaded by the root conftest.py after gvpconf.plugin)."""
