"""Run every selected probe concurrently, as soon as the test session starts.

Each test case then only waits for its own probe's result, so a run costs about the slowest
probe rather than the sum of all of them: a pool of blackholed targets fails in one timeout.

Retries happen inside the job (``Job.retry``, from the inventory's ``retry`` section): the probe
is re-run in the same worker, so concurrency is kept, and every attempt is kept in
``ProbeResult.attempts``. A result that passed only after a failed attempt is ``flaky``.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gvpconf import probes
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.errors import ProbeFailure
from gvpconf.evidence import Evidence
from gvpconf.inventory.policy import RetryPolicy
from gvpconf.probes.context import ProbeContext


@dataclass
class ProbeResult:
    probe: str
    evidence: Evidence
    duration: float  # seconds of the attempt that gave the verdict
    failure: ProbeFailure | None = None
    error: BaseException | None = None  # an unexpected exception: a bug in a prober
    #: every attempt, in order (the verdict's own attempt included); one item without retries
    attempts: list[ProbeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.error is None

    @property
    def flaky(self) -> bool:
        """Passed, but only after at least one failed attempt."""
        return self.ok and any(not a.ok for a in self.attempts)

    @property
    def elapsed(self) -> float:
        """Seconds of all attempts together (delays between them excluded)."""
        return sum(a.duration for a in self.attempts) if self.attempts else self.duration


@dataclass
class Job:
    probe: str
    timeouts: Timeouts
    make_context: Callable[[Deadline], ProbeContext]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: the inventory's destination the probe goes to: what its prober module's ``preload`` looks at
    destination: object = None


def _attempt(job: Job) -> ProbeResult:
    """Run the probe once under its own deadline; never raises."""
    ctx: ProbeContext | None = None
    prober = probes.get(job.probe)  # imports happen before the clock starts
    deadline = Deadline(job.timeouts)
    try:
        ctx = job.make_context(deadline)
        prober(ctx)
    except ProbeFailure as exc:
        ev = ctx.evidence if ctx is not None else Evidence()
        return ProbeResult(job.probe, ev, deadline.elapsed(), failure=exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a prober bug (asyncio's CancelledError too): a test error, never a pass
        ev = ctx.evidence if ctx is not None else Evidence()
        return ProbeResult(job.probe, ev, deadline.elapsed(), error=exc)
    return ProbeResult(job.probe, ctx.evidence, deadline.elapsed())


def run_job(job: Job, sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    """Run a probe as its retry policy says; never raises.

    Stops as soon as ``pass_threshold`` attempts passed, or when that can no longer happen, or
    on a prober bug (retrying a bug hides it). The verdict's attempt is the last passing one
    when the threshold was reached, else the last failing one.
    """
    policy = job.retry
    attempts: list[ProbeResult] = []
    passes = 0
    for n in range(policy.attempts):
        if n and policy.delay > 0:
            sleep(policy.delay)
        result = _attempt(job)
        attempts.append(result)
        if result.error is not None:
            break
        passes += result.ok
        left = policy.attempts - n - 1
        if passes >= policy.pass_threshold or passes + left < policy.pass_threshold:
            break
    if passes >= policy.pass_threshold:
        final = next(a for a in reversed(attempts) if a.ok)
    else:
        final = next(a for a in reversed(attempts) if not a.ok)
    return ProbeResult(final.probe, final.evidence, final.duration, final.failure, final.error, attempts)


#: file descriptors a running probe may hold at once (the padded OPTIONS over TCP: one connection per size, up to
#: 6, once the natural size was answered; a client library's socket and wake-up pair) and what the process holds
#: besides (pytest, reports, the DNS pool)
FDS_PER_PROBE = 8
FDS_BASE = 128


def fd_headroom(workers: int) -> int:
    """Make room for ``workers`` concurrent probes under ``ulimit -n``: the soft limit is raised towards the hard
    one when it is short (an unprivileged process may do so). Returns the soft limit now in force; a probe that
    still runs out of descriptors fails with a message naming this limit (``errors.failure_from_os_error``)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FDS_BASE + FDS_PER_PROBE * workers
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if new > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
                soft = new
            except (ValueError, OSError):
                pass
    return int(soft)


#: probes that run at once without waiting (a few per core), and how long any other waits for one of them to
#: finish before it runs anyway (``Scheduler.submit``)
EAGER = 16
EAGER_WAIT = 0.05


class Scheduler:
    def __init__(self, workers: int) -> None:
        from gvpconf import net

        net.allow_sockets()  # a run after an interrupted one (in the same process) opens sockets again
        self.fd_limit = fd_headroom(workers)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers),
                                                           thread_name_prefix="gvpconf-probe")
        self._prestart(max(1, workers))
        self._futures: dict[str, concurrent.futures.Future[ProbeResult]] = {}
        self._eager = threading.BoundedSemaphore(EAGER)
        self._aborted = False
        self.started = time.monotonic()

    def _prestart(self, workers: int) -> None:
        """Start every worker thread now, while none runs a probe. The executor starts them lazily, one per
        ``submit`` while none is idle, and each start waits until the new thread holds the GIL: with a pool of
        1000 targets that meant 256 starts each queued behind the probes already running (seconds of the main
        thread's time, in a profile). Each thread parks on a gate, so each submit has to start a new one; once the
        gate opens they are idle, and ``submit`` hands jobs to them."""
        gate = threading.Event()
        parked = [self._pool.submit(gate.wait) for _ in range(workers)]
        gate.set()
        concurrent.futures.wait(parked)

    def submit(self, key: str, job: Job) -> None:
        if key not in self._futures:
            probes.get(job.probe)  # the prober's module (and its libraries) imported here, on the main thread:
            # an import on a worker thread raced pytest iterating module dictionaries ("dictionary changed size")
            self._futures[key] = self._pool.submit(self._run, job)

    def _run(self, job: Job) -> ProbeResult:
        """``run_job``, once one of the ``EAGER`` slots is free or ``EAGER_WAIT`` has passed (before its deadline
        starts). Against fast peers the slots turn over in milliseconds and a few threads do the work; against slow
        or silent ones nobody waits more than 50 ms, and the pool's every thread waits on its own peer. With 1000
        answering targets, 256 threads all runnable at once spent a third more CPU time handing the GIL round than
        32 did (17-22 s against 14-15 s of process CPU time, same run)."""
        slot = self._eager.acquire(timeout=EAGER_WAIT)
        try:
            if self._aborted:  # interrupted while this one waited: it sends nothing now
                return ProbeResult(job.probe, Evidence(), 0.0, error=RuntimeError("not started: the run was "
                                                                                  "interrupted"))
            return run_job(job)
        finally:
            if slot:
                self._eager.release()

    def submit_all(self, jobs: list[tuple[str, Job]]) -> None:
        """Import every prober module the jobs need, and what each module's ``preload(destinations)`` (if it has
        one) says its probes of these destinations will load; then submit the jobs in the run's order.

        The imports happen here, on the main thread, before any probe: a probe's connect comes after all the CPU
        time spent before it under the GIL, so the probes start their connects together, a tenth of a second
        apart at most, instead of each after the imports that happened to run before it (an all-blackholed run
        ends its connect timeout after its last connect). The libraries a probe may load after its own connect
        (``net.EarlyConnect``) are not preloaded: they load during the handshakes."""
        import sys

        by_module: dict[str, list[Job]] = {}
        for _key, job in jobs:
            by_module.setdefault(probes.location(job.probe)[0], []).append(job)
        for module, its in by_module.items():
            if module not in sys.modules:
                probes.get(its[0].probe)
            preload = getattr(sys.modules.get(module), "preload", None)
            if callable(preload):
                preload([job.destination for job in its])
        for key, job in jobs:
            self.submit(key, job)

    def result(self, key: str) -> ProbeResult:
        return self._futures[key].result()

    def __contains__(self, key: str) -> bool:
        return key in self._futures

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """The run was interrupted: probes not started never start, running ones have their sockets shut
        down (they end within a connect timeout at most), and nobody waits for them."""
        from gvpconf import net

        self._aborted = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        net.abort_open_sockets()

    def finished(self, key: str) -> ProbeResult | None:
        """The result of ``key``'s probe if it finished (an interrupted run keeps those), else None."""
        fut = self._futures.get(key)
        if fut is None or not fut.done() or fut.cancelled():
            return None
        return fut.result()
