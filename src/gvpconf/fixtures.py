"""Fixtures for conformance modules (hooks live in ``gvpconf.plugin``)."""

from __future__ import annotations

import pytest

from gvpconf import redact
from gvpconf.inventory import Target
from gvpconf.plugin import STATE, NotConfigured, _job_for, _row_of, job_key
from gvpconf.probes import Fact
from gvpconf.scheduler import run_job


@pytest.fixture
def gvp_target(request: pytest.FixtureRequest) -> Target:
    """The target of this case (parametrized from the inventory by the plugin)."""
    target = request.param
    if isinstance(target, NotConfigured):
        pytest.skip(target.reason)
    assert isinstance(target, Target)
    return target


@pytest.fixture
def evidence(request: pytest.FixtureRequest, gvp_target: Target) -> dict[str, Fact]:
    """The facts this case's probe recorded. Fails the case (one line, with its cause) when the probe failed."""
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
    props += list(result.evidence.facts.items())
    if result.error is not None:
        raise result.error
    if result.failure is not None:
        row = _row_of(item)
        assert row is not None
        props.append(("cause", result.failure.cause.value))
        if result.failure.phase:
            props.append(("phase", result.failure.phase))
        msg = (f"#{row.number} {row.source} -> {gvp_target.id} ({gvp_target.address}): "
               f"{result.failure}")
        pytest.fail(redact.scrub(msg), pytrace=False)
    facts: dict[str, Fact] = result.evidence.facts
    return facts


