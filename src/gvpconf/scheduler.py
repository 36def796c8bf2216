"""Run every selected probe concurrently, as soon as the test session starts.

Each test case then only waits for its own probe's result, so a run costs about the slowest
probe rather than the sum of all of them: a pool of blackholed targets fails in one timeout.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass

from gvpconf import probes
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import ProbeFailure
from gvpconf.probes import Evidence, ProbeContext


@dataclass
class ProbeResult:
    probe: str
    evidence: Evidence
    duration: float
    failure: ProbeFailure | None = None
    error: BaseException | None = None  # an unexpected exception: a bug in a prober

    @property
    def ok(self) -> bool:
        return self.failure is None and self.error is None


@dataclass
class Job:
    probe: str
    timeouts: Timeouts
    make_context: Callable[[Deadline], ProbeContext]


def run_job(job: Job) -> ProbeResult:
    """Run one probe under its own deadline; never raises."""
    ctx: ProbeContext | None = None
    prober = probes.get(job.probe)  # imports happen before the clock starts
    deadline = Deadline(job.timeouts)
    try:
        ctx = job.make_context(deadline)
        prober(ctx)
    except ProbeFailure as exc:
        ev = ctx.evidence if ctx is not None else Evidence()
        return ProbeResult(job.probe, ev, deadline.elapsed(), failure=exc)
    except Exception as exc:  # a prober bug: surfaced as a test error, never as a pass
        ev = ctx.evidence if ctx is not None else Evidence()
        return ProbeResult(job.probe, ev, deadline.elapsed(), error=exc)
    return ProbeResult(job.probe, ctx.evidence, deadline.elapsed())


class Scheduler:
    def __init__(self, workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers),
                                                           thread_name_prefix="gvpconf-probe")
        self._futures: dict[str, concurrent.futures.Future[ProbeResult]] = {}
        self.started = time.monotonic()

    def submit(self, key: str, job: Job) -> None:
        if key not in self._futures:
            self._futures[key] = self._pool.submit(run_job, job)

    def result(self, key: str) -> ProbeResult:
        return self._futures[key].result()

    def __contains__(self, key: str) -> bool:
        return key in self._futures

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
