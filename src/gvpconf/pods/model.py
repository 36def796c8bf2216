"""What the runner works with: a source pod (role, pod, zone) and the outcome of one run from it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourcePod:
    """A pod the suite runs from. ``location`` is backend-specific (a Kubernetes namespace, a netns name)."""

    role: str
    pod: str
    zone: str = "unknown"
    location: str = ""
    node: str = ""
    ready: bool = True
    labels: tuple[tuple[str, str], ...] = ()
    ip: str = ""

    @property
    def where(self) -> str:
        return f"{self.pod}@{self.zone}"


@dataclass
class RunOutcome:
    """One run of the suite from one pod: its JUnit XML text, or why there is none."""

    source: SourcePod
    junit: str | None = None
    results: str | None = None  # the run's results.json text (for the merged acceptance report)
    error: str | None = None  # the run could not happen or produced no report
    cause: str = ""  # attach | timeout | no-report | oom | not-running | backend
    exit_code: int | None = None
    terminated_reason: str = ""  # the container's terminated state's reason (Completed, Error, OOMKilled...)
    log: str = ""
    duration: float = 0.0
    backend: str = ""
    notes: list[str] = field(default_factory=list)
