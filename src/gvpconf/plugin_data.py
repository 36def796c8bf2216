"""pytest hooks and options of the data area (loaded by the root conftest.py after gvpconf.plugin)."""
