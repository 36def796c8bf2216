"""One test case per target: the inventory's targets (or discovery's) become the ``gvp_target`` parameter.

A destination may give a probe targets of its own (``Destination.probe_targets``): STOMP at the broker's
``stomp_port``, or not at all; one RTSP case per RTSP URL.

A row with no target still gets one case, so that the end of the run can say why nothing was probed:
``NotConfigured`` (skipped: no inventory section, or the row disabled) or ``DiscoveryFailed`` (fails in its
call phase with cause ``config``). And the few questions every part of the plugin asks of an item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gvpconf import discovery
from gvpconf.catalog import BY_NUMBER, Connection
from gvpconf.inventory import Inventory, Target

#: the fixture every conformance test reaches its target through
FIXTURE = "gvp_target"


@dataclass(frozen=True)
class NotConfigured:
    """Stands in for a target when the inventory gives none: the case is skipped with this reason."""

    reason: str
    disabled: bool = False


@dataclass(frozen=True)
class DiscoveryFailed:
    """Stands in for the targets when discovery failed: the case fails with cause ``config``."""

    reason: str


Param = Target | NotConfigured | DiscoveryFailed


def parametrize(metafunc: pytest.Metafunc, inventory: Inventory | None, found: discovery.Discovery | None) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    row = row_of(metafunc.definition)
    if row is None:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: a conformance test needs "
                                "pytestmark = connection(N)")
    params: list[Param]
    ids: list[str]
    if inventory is None or found is None:
        params, ids = [NotConfigured("no inventory")], ["no-inventory"]
    elif not inventory.override(row.number).enabled:
        params = [NotConfigured(f"connection {row.number} is disabled in the inventory "
                                f"(connections.\"{row.number}\".enabled)", disabled=True)]
        ids = ["disabled"]
    else:
        try:
            targets = found.targets_for(row.destination)
        except discovery.DiscoveryError as exc:
            params, ids = [DiscoveryFailed(str(exc))], ["discovery-failed"]
        else:
            dest, probe = inventory.destination(row.destination), probe_of(metafunc.definition)
            chosen = dest.probe_targets(probe, targets) if dest is not None and probe is not None else targets
            if isinstance(chosen, str):  # the destination says why this probe has no target
                params, ids = [NotConfigured(chosen)], ["not-configured"]
            elif chosen:
                params, ids = list(chosen), [t.id for t in chosen]
            else:
                params = [NotConfigured(f"not configured: the inventory has no destinations.{row.destination}"
                                        ".targets")]
                ids = ["not-configured"]
    metafunc.parametrize(FIXTURE, params, ids=ids, indirect=True)


_ROW = pytest.StashKey[Connection | None]()


def row_of(node: pytest.Item | pytest.Function | Any) -> Connection | None:
    """The row of the table a conformance item tests (``connection(N)``), None for any other item. Kept in the
    node's stash once found: the hooks ask about 16 times per case, and each marker walk climbs the node's
    parents (3% of the main thread's time with 1000 targets)."""
    stash = getattr(node, "stash", None)
    if stash is not None and _ROW in stash:
        cached: Connection | None = stash[_ROW]
        return cached
    mark = node.get_closest_marker("gvp_connection")
    row = BY_NUMBER[int(mark.args[0])] if mark is not None else None
    if stash is not None:
        stash[_ROW] = row
    return row


_PROBE = pytest.StashKey[str | None]()


def probe_of(item: pytest.Item | pytest.Function | Any) -> str | None:
    """The prober a conformance item's test asserts on (``@probe(NAME)``); kept in the node's stash as ``row_of``
    keeps the row (asked by the job, the case record and the end of the run)."""
    stash = getattr(item, "stash", None)
    if stash is not None and _PROBE in stash:
        cached: str | None = stash[_PROBE]
        return cached
    mark = item.get_closest_marker("gvp_probe")
    probe = str(mark.args[0]) if mark is not None else None
    if stash is not None:
        stash[_PROBE] = probe
    return probe


def param_of(item: pytest.Item) -> Param | None:
    callspec = getattr(item, "callspec", None)
    param: Param | None = callspec.params.get(FIXTURE) if callspec is not None else None
    return param


def target_name(item: pytest.Item) -> str:
    """The target's name, or the case's id when it has no target (``not-configured``, ``discovery-failed``)."""
    param = param_of(item)
    if isinstance(param, Target):
        return param.id
    callspec = getattr(item, "callspec", None)
    return getattr(callspec, "id", "") or "-"
