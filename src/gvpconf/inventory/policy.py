"""Retry policy: how often a probe is run before its case is given a verdict.

Inventory shape (the ``retry`` section; every field optional, unset fields inherit
connection > probe > default > built-in ``attempts: 1, delay: 0, pass_threshold: 1``)::

    retry:
      default: {attempts: 1, delay: 0, pass_threshold: 1}
      probes:
        sip.options: {attempts: 3, delay: 0.5}
      connections:
        "8": {attempts: 2}

A probe is run up to ``attempts`` times, ``delay`` seconds apart, until ``pass_threshold``
attempts have passed (or that can no longer happen). A case that reached its threshold only
after a failed attempt is *flaky*: reported apart from a clean pass everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from gvpconf.catalog import BY_NUMBER
from gvpconf.inventory.base import _Model
from gvpconf.model import Field, field_validator, model_validator
from gvpconf.probes import PROBES


@dataclass(frozen=True)
class RetryPolicy:
    """A resolved policy, as the scheduler uses it."""

    attempts: int = 1
    delay: float = 0.0
    pass_threshold: int = 1

    def describe(self) -> str:
        if self.attempts == 1:
            return "1 attempt"
        return (f"up to {self.attempts} attempts, {self.delay:g} s apart, "
                f"{self.pass_threshold} must pass")


class RetryModel(_Model):
    """One layer of the retry policy; unset fields inherit."""

    attempts: Annotated[int, Field(ge=1, le=10, description="runs of the probe at most")] | None = None
    delay: Annotated[float, Field(ge=0, le=60, description="seconds between two attempts")] | None = None
    pass_threshold: Annotated[int, Field(ge=1, le=10, description="attempts that must pass")] | None = None


class RetrySection(_Model):
    default: RetryModel = RetryModel()
    probes: dict[str, RetryModel] = Field(default_factory=dict, description="by probe name, e.g. sip.options")
    connections: dict[str, RetryModel] = Field(default_factory=dict, description="by connection number")

    @field_validator("connections")
    @classmethod
    def _known_connections(cls, value: dict[str, RetryModel]) -> dict[str, RetryModel]:
        for key in value:
            if not key.isdigit() or int(key) not in BY_NUMBER:
                raise ValueError(f"unknown connection {key!r}: the GVP table numbers them 1-22")
        return value

    @field_validator("probes")
    @classmethod
    def _known_probes(cls, value: dict[str, RetryModel]) -> dict[str, RetryModel]:
        for key in value:
            if key not in PROBES:
                raise ValueError(f"unknown probe {key!r} (known: {', '.join(sorted(PROBES))})")
        return value

    @model_validator(mode="after")
    def _threshold_reachable(self) -> RetrySection:
        for conn in [None, *self.connections]:
            for probe in [None, *self.probes]:
                policy = self.resolve(int(conn) if conn else None, probe)
                if policy.pass_threshold > policy.attempts:
                    where = ("retry" + (f".connections.{conn}" if conn else "")
                             + (f".probes.{probe}" if probe else ""))
                    raise ValueError(f"{where}: pass_threshold {policy.pass_threshold} is more than attempts "
                                     f"{policy.attempts} (lower pass_threshold or raise attempts)")
        return self

    def resolve(self, connection: int | None, probe: str | None) -> RetryPolicy:
        layers = [self.connections.get(str(connection)) if connection is not None else None,
                  self.probes.get(probe) if probe is not None else None, self.default]
        base = RetryPolicy()

        def pick(name: str) -> Any:
            for layer in layers:
                if layer is not None and getattr(layer, name) is not None:
                    return getattr(layer, name)
            return getattr(base, name)

        return RetryPolicy(attempts=int(pick("attempts")), delay=float(pick("delay")),
                           pass_threshold=int(pick("pass_threshold")))


def retry_for(inventory: Any, connection: int, probe: str) -> RetryPolicy:
    """The policy for one probe of one connection (built-in single attempt when the inventory has none)."""
    section = getattr(inventory, "retry", None)
    if not isinstance(section, RetrySection):
        return RetryPolicy()
    return section.resolve(connection, probe)
