"""Fixtures for conformance modules (hooks live in ``gvpconf.plugin``)."""

from __future__ import annotations

import pytest

from gvpconf.evidence import Fact
from gvpconf.inventory import Target
from gvpconf.plugin import RESULT, STATE, DiscoveryFailed, NotConfigured, _job_for, job_key
from gvpconf.scheduler import run_job


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
    """The facts this case's probe recorded. Fails the case (one line, with its cause) when the probe failed."""
    if isinstance(gvp_target, DiscoveryFailed):
        return {}  # nothing was probed; pytest_pyfunc_call fails the case
    item = request.node
    state = item.config.stash[STATE]
    key = job_key(item)
    if state.scheduler is not None and key in state.scheduler:
        result = state.scheduler.result(key)
    else:  # e.g. a test selected after the session started: run it here
        job = _job_for(item, state)
        if job is None:
            raise pytest.UsageError(f"{item.nodeid}: a conformance test needs @probe(NAME)")
        result = run_job(job)
    props = item.user_properties
    props.append(("probe", result.probe))
    props.append(("duration_ms", round(result.duration * 1000, 1)))
    if len(result.attempts) > 1:
        props.append(("attempts", len(result.attempts)))
    props += list(result.evidence.facts.items())
    # the verdict is given in the call phase (gvpconf.plugin.pytest_pyfunc_call), so that a probe
    # failure is a JUnit <failure>, not a setup <error>
    item.stash[RESULT] = result
    facts: dict[str, Fact] = result.evidence.facts
    return facts
