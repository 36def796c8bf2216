"""One place that owns timeouts.

A probe gets a ``Timeouts`` (per-phase caps, validated in the inventory) and turns it into
one ``Deadline`` when it starts. Every blocking call takes its time from the deadline:
``deadline.budget(phase_cap)`` returns the time left, capped by the phase, or raises a
``ProbeFailure(TIMEOUT)`` naming the phase when nothing is left. So a probe never runs
longer than ``Timeouts.probe`` whatever the peer does, and a blackholed target costs one
connect timeout, not one per phase.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gvpconf.errors import Cause, ProbeFailure


@dataclass(frozen=True)
class Timeouts:
    """Per-phase caps in seconds. ``probe`` bounds the whole probe."""

    connect: float = 3.0
    read: float = 3.0
    probe: float = 10.0


class Deadline:
    """An absolute point in time, measured on a monotonic clock."""

    def __init__(self, timeouts: Timeouts, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeouts = timeouts
        self._clock = clock
        self.started = clock()
        self.expires = self.started + timeouts.probe

    def remaining(self) -> float:
        return self.expires - self._clock()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def budget(self, cap: float | None, phase: str) -> float:
        """Seconds allowed for ``phase``: the time left, capped by ``cap``. Raises when none is left."""
        left = self.remaining()
        if left <= 0:
            raise ProbeFailure(Cause.TIMEOUT, f"timeout before {phase}: probe budget of "
                               f"{self.timeouts.probe:.1f} s used up", phase=phase)
        return left if cap is None else min(cap, left)

    def connect_budget(self, phase: str = "TCP connect") -> float:
        return self.budget(self.timeouts.connect, phase)

    def read_budget(self, phase: str) -> float:
        return self.budget(self.timeouts.read, phase)
