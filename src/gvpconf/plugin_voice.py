"""pytest hooks and options of the voice area (loaded by the root conftest.py after gvpconf.plugin).

Call tests (a real INVITE, an RTSP SETUP/PLAY) touch production call paths, so they are opt-in: a test
marked ``@call`` runs only with ``--gvp-calls`` (or ``$GVP_CALLS=1``), or when the inventory section of its
destination says ``calls: true`` (a lab, a maintenance window). Otherwise it is deselected before any probe
starts (nothing is sent) and the end of the run says which and why.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from gvpconf.catalog import BY_NUMBER

#: decorator for a call test: ``@call`` above ``@probe(...)``
call = pytest.mark.gvp_call

_DESELECTED = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf", "GVP connectivity conformance")
    group.addoption("--gvp-calls", action="store_true", default=False,
                    help="run the call tests (INVITE/ACK/BYE with RTP, RTSP SETUP/PLAY): they touch call paths "
                         "(default: off; also $GVP_CALLS=1 or calls: true in a destination's inventory section)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gvp_call: a call test (opt-in: --gvp-calls, or calls: true in the "
                            "inventory section of its destination)")


def calls_enabled(config: pytest.Config, destination: str) -> bool:
    if config.getoption("gvp_calls") or os.environ.get("GVP_CALLS", "") not in ("", "0", "false", "no"):
        return True
    from gvpconf.plugin import STATE

    state = config.stash.get(STATE, None)
    inv = state.inventory if state is not None else None
    dest = inv.destination(destination) if inv is not None else None
    return bool(getattr(dest, "calls", False))


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> Generator[None, None, None]:
    """After gvpconf.plugin's own selection: drop the call tests not opted into (before any probe starts)."""
    yield
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker("gvp_connection")
        if item.get_closest_marker("gvp_call") is not None and mark is not None:
            row = BY_NUMBER[int(mark.args[0])]
            if not calls_enabled(config, row.destination):
                dropped.append(item)
                continue
        keep.append(item)
    if not dropped:
        return
    config.stash[_DESELECTED] = [i.nodeid for i in dropped]
    config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    # a connection left with no case at all (19 has only a call test) is "not selected", not "not run"
    from gvpconf.plugin import STATE

    state = config.stash.get(STATE, None)
    if state is not None:
        remaining = {int(m.args[0]) for i in keep if (m := i.get_closest_marker("gvp_connection")) is not None}
        for item in dropped:
            mark = item.get_closest_marker("gvp_connection")
            if mark is not None and int(mark.args[0]) not in remaining:
                state.summary.selected.discard(int(mark.args[0]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    dropped = config.stash.get(_DESELECTED, [])
    if dropped:
        terminalreporter.write_line(
            f"{len(dropped)} call test(s) deselected: call tests are opt-in (--gvp-calls, or calls: true in the "
            "destination's inventory section); nothing was sent for them", yellow=True)
