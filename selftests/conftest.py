"""Fixtures for the project's own tests: one real lab per session, on free ports."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from gvpconf_lab import Lab
from gvpconf_lab.base import pid_alive, processes_using

# A run started in the background by a non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored, and so do
# the processes it starts: Python then installs no KeyboardInterrupt handler and the interrupt tests' Ctrl-C is
# lost (every one of them failed that way). They play a terminal's foreground job, which gets SIGINT: a handler of
# our own here is reset to the default in every child at exec, where Python turns it into KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: the plugin's tests (selftests/plugin) run pytest in pytest (pytest_plugins is read from a top-level conftest only)
pytest_plugins = ["pytester"]

# pytester's in-process runs unload, after each run, every module first imported during it. asyncio unloaded
# while something imported during that run kept the old copy made two asyncio modules in this process: the
# WebSocket probe's ``except asyncio.CancelledError`` (the new copy) then missed the old copy's CancelledError
# raised by its event loop, and a later test saw a "prober bug" (seen in CI and here, only after the plugin's
# tests). Loaded before any run, it is never unloaded.
import asyncio  # noqa: E402,F401


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Every peer of the lab (ActiveMQ, sipp, PostgreSQL, the Config Server stand-in), started once. Its broker has
    a STOMP connector besides Debian's OpenWire one: the STOMP probe and the report tests need it."""
    workdir = tmp_path_factory.mktemp("lab")
    with Lab(workdir, activemq_stomp=True) as running:
        pids = running.processes()
        assert len(pids) > 4  # four peers, and postgres forks its workers
        yield running
    alive = [pid for pid in pids if pid_alive(pid)]
    assert alive == [], f"lab processes still alive after Lab.__exit__: {alive}"
    assert processes_using(workdir) == []
