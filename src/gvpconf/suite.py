"""What a conformance module under ``tests/`` imports. A module reads like its row of the table::

    from gvpconf.suite import call, connection, probe

    pytestmark = connection(8)

    @probe("activemq.stomp")
    def test_billing_messages_round_trip(evidence):
        assert evidence["stomp.received"] == "1 of 1"   # the message sent comes back on our own destination

    @probe("sip.options")
    def test_answers_options(evidence, expect):
        assert status_accepted(evidence["sip.status"], expect.accept_status)

``connection(N)`` ties every test of the module to row N of the catalog; ``probe(name)``
names the prober whose result the test's ``evidence`` fixture holds; ``expect`` is the inventory's section of the
destination. The rule predicates (``status_accepted``, ``within``, ``covers``, ``at_least``) are those of
``gvpconf.rules``, which the probers apply too: a test body states the rule its prober enforces. Targets come from the
inventory: each one is its own test case, with the target's name as its id.

``call`` (``opt_in("calls")``) marks a test that touches production call paths: it runs only when
opted into (``--gvp-calls``, ``$GVP_CALLS=1``, or ``calls: true`` in its destination's inventory
section); otherwise it is deselected before any probe starts, and the run says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from gvpconf import rules
from gvpconf.catalog import connection as _row
from gvpconf.plugin.optin import BY_NAME, MARKER
from gvpconf.probes import PROBES
from gvpconf.rules import at_least, covers, status_accepted, within

__all__ = ["VOICEXML_VERSIONS", "at_least", "call", "connection", "covers", "opt_in", "probe", "status_accepted",
           "within"]

#: the VoiceXML versions a fetched application may declare (those gvpconf.vxml accepts)
VOICEXML_VERSIONS = frozenset(rules.VOICEXML_VERSIONS)

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


def opt_in(name: str) -> pytest.MarkDecorator:
    """A test that runs only when opt-in ``name`` is switched on (``gvpconf.plugin.optin.OPT_INS``)."""
    known = sorted(n for n, o in BY_NAME.items() if o.marker)
    if name not in known:
        raise KeyError(f"unknown test opt-in {name!r}; known: {', '.join(known)}")
    return getattr(pytest.mark, MARKER)(name)  # type: ignore[no-any-return]


#: decorator for a call test: ``@call`` above ``@probe(...)``
call = opt_in("calls")
