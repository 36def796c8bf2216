"""Retries happen inside the scheduler job: the probe is re-run, each attempt is kept, and a pass
after a failed attempt is flaky, never a clean pass."""

from __future__ import annotations

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.inventory import ConfigServerDestination, InventoryError, Target, parse
from gvpconf.inventory.policy import RetryPolicy, retry_for
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from selftests.report.conftest import Flaky


def hold_job(address: tuple[str, int], retry: RetryPolicy) -> Job:
    row = catalog.connection(2)
    target = Target(host=address[0], port=address[1], name="flaky")

    def make_context(deadline: object) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=ConfigServerDestination(hold=0.2),
                            secrets={}, deadline=deadline)  # type: ignore[arg-type]

    return Job("configserver.hold", Timeouts(connect=1.0, read=1.0, probe=3.0), make_context, retry)


def run(fail_first: int, retry: RetryPolicy) -> tuple[ProbeResult, list[float]]:
    sleeps: list[float] = []
    with Flaky(fail_first) as address:
        return run_job(hold_job(address, retry), sleep=sleeps.append), sleeps


def test_single_attempt_fails_without_retry() -> None:
    result, _ = run(1, RetryPolicy())
    assert not result.ok and not result.flaky and len(result.attempts) == 1
    assert result.failure is not None and result.failure.cause == "protocol"


def test_pass_after_a_failed_attempt_is_flaky() -> None:
    result, sleeps = run(1, RetryPolicy(attempts=3, delay=0.25))
    assert result.ok and result.flaky
    assert [a.ok for a in result.attempts] == [False, True]  # stops at the first pass (threshold 1)
    assert sleeps == [0.25]


def test_clean_pass_is_not_flaky() -> None:
    result, sleeps = run(0, RetryPolicy(attempts=3, delay=0.25))
    assert result.ok and not result.flaky and len(result.attempts) == 1 and sleeps == []


def test_pass_threshold_counts_passing_attempts() -> None:
    result, _ = run(1, RetryPolicy(attempts=3, pass_threshold=2))
    assert result.ok and result.flaky and [a.ok for a in result.attempts] == [False, True, True]


def test_stops_when_the_threshold_can_no_longer_be_reached() -> None:
    result, _ = run(5, RetryPolicy(attempts=3, pass_threshold=2))
    assert not result.ok and [a.ok for a in result.attempts] == [False, False]


def test_policy_layers_and_validation() -> None:
    inv = parse({"version": 1, "retry": {"default": {"attempts": 2}, "probes": {"sip.options": {"delay": 1.5}},
                                         "connections": {"1": {"attempts": 4, "pass_threshold": 2}}}})
    assert retry_for(inv, 1, "sip.options") == RetryPolicy(attempts=4, delay=1.5, pass_threshold=2)
    assert retry_for(inv, 2, "configserver.hold") == RetryPolicy(attempts=2)
    for bad, message in [({"probes": {"sip.option": {"attempts": 2}}}, "unknown probe 'sip.option'"),
                         ({"connections": {"23": {"attempts": 2}}}, "unknown connection '23'"),
                         ({"default": {"attempts": 2, "pass_threshold": 3}}, "pass_threshold 3 is more than"),
                         ({"default": {"attempts": 0}}, "retry.default.attempts"),
                         ({"default": {"tries": 2}}, "unknown key 'tries'")]:
        with pytest.raises(InventoryError, match=message.replace("(", r"\(")):
            parse({"version": 1, "retry": bad}, "inv.yaml")
