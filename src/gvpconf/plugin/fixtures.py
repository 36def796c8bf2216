"""The fixtures of conformance modules: ``gvp_target`` (the case's target) and ``evidence`` (its probe's facts).

Hooks live on the session object (``gvpconf.plugin.session``); these only hand its answers to the tests.
"""

from __future__ import annotations

import pytest

from gvpconf.evidence import Fact
from gvpconf.inventory import Target
from gvpconf.plugin.params import DiscoveryFailed, NotConfigured
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
