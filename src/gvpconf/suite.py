"""What a conformance module under ``tests/`` imports. A module reads like its row of the table::

    from gvpconf.suite import connection, probe

    pytestmark = connection(8)

    @probe("activemq.stomp")
    def test_billing_messages_round_trip(evidence):
        assert evidence["stomp.received"] == "1 of 1"

``connection(N)`` ties every test of the module to row N of the catalog; ``probe(name)``
names the prober whose result the test's ``evidence`` fixture holds. Targets come from the
inventory: each one is its own test case, with the target's name as its id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from gvpconf.catalog import connection as _row
from gvpconf.probes import PROBES

F = TypeVar("F", bound=Callable[..., Any])


def connection(number: int) -> pytest.MarkDecorator:
    _row(number)  # fail at import time on a number that is not in the table
    return pytest.mark.gvp_connection(number)


def probe(name: str) -> Callable[[F], F]:
    if name not in PROBES:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    mark = pytest.mark.gvp_probe(name)

    def wrap(fn: F) -> F:
        result: F = mark(fn)
        return result

    return wrap
