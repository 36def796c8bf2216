"""The fixtures of conformance modules: ``gvp_target`` (the case's target), ``evidence`` (its probe's facts) and
``expect`` (what the inventory expects of its destination).

Hooks live on the session object (``gvpconf.plugin.session``); these only hand its answers to the tests.
"""

from __future__ import annotations

import pytest

from gvpconf.evidence import Fact
from gvpconf.inventory import Destination, Target
from gvpconf.plugin.params import DiscoveryFailed, NotConfigured, row_of
from gvpconf.plugin.session import SESSION


@pytest.fixture
def gvp_target(request: pytest.FixtureRequest) -> Target | DiscoveryFailed:
    """The target of this case (parametrized from the inventory by the plugin).

    A failed discovery is passed through: the case fails in its call phase (a JUnit <failure>).
    """
    target = request.param
    if isinstance(target, NotConfigured):
        pytest.skip(target.reason)
    assert isinstance(target, Target | DiscoveryFailed)
    return target


@pytest.fixture
def evidence(request: pytest.FixtureRequest, gvp_target: Target | DiscoveryFailed) -> dict[str, Fact]:
    """The facts this case's probe recorded. The case fails (one line, with its cause) when the probe failed."""
    if isinstance(gvp_target, DiscoveryFailed):
        return {}  # nothing was probed; the session fails the case in its call phase
    return request.config.stash[SESSION].evidence(request.node)


@pytest.fixture
def expect(request: pytest.FixtureRequest, gvp_target: Target | DiscoveryFailed) -> Destination | None:
    """The inventory's section of this case's destination (accepted statuses, thresholds, the database...): what a
    test body states its rule against, with the predicates of ``gvpconf.rules``."""
    row = row_of(request.node)
    inventory = request.config.stash[SESSION].inventory
    if row is None or inventory is None or isinstance(gvp_target, DiscoveryFailed):
        return None
    return inventory.destination(row.destination)
