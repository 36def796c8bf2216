"""The fixtures of conformance modules: ``gvp_target`` (the case's target), ``evidence`` (its probe's facts) and
``expect`` (what the inventory expects of its destination).

Hooks live on the session object (``gvpconf.plugin.session``); these only hand its answers to the tests.
``evidence`` and ``expect`` are methods of ``CaseFixtures``, registered beside the session for the run
(``pytest_configure``), so that neither asks pytest for ``request``: pytest builds a fixture definition (an
``inspect.signature`` included) each time a fixture asks for ``request``, seven times per case when all three did,
a tenth of the main thread's time per case in a 1000-target run; three times now, all for ``gvp_target``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gvpconf.evidence import Fact
from gvpconf.inventory import Destination, Target
from gvpconf.plugin.params import DiscoveryFailed, NotConfigured, row_of

if TYPE_CHECKING:
    from gvpconf.plugin.session import GvpSession

#: the name ``CaseFixtures`` is registered under
NAME = "gvpconf-case-fixtures"


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


class CaseFixtures:
    """``evidence`` and ``expect`` of the case the session is setting up (``GvpSession.case``)."""

    def __init__(self, session: GvpSession) -> None:
        self._session = session

    @pytest.fixture
    def evidence(self, gvp_target: Target | DiscoveryFailed) -> dict[str, Fact]:
        """The facts this case's probe recorded. The case fails (one line, with its cause) when the probe failed."""
        if isinstance(gvp_target, DiscoveryFailed):
            return {}  # nothing was probed; the session fails the case in its call phase
        return self._session.evidence(self._session.case())

    @pytest.fixture
    def expect(self, gvp_target: Target | DiscoveryFailed) -> Destination | None:
        """The inventory's section of this case's destination (accepted statuses, thresholds, the database...):
        what a test body states its rule against, with the predicates of ``gvpconf.rules``."""
        row = row_of(self._session.case())
        inventory = self._session.inventory
        if row is None or inventory is None or isinstance(gvp_target, DiscoveryFailed):
            return None
        return inventory.destination(row.destination)
