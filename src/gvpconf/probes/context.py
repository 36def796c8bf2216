"""What every prober receives: ``ProbeContext``, and the one prober signature ``Prober``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gvpconf.catalog import Connection
from gvpconf.deadline import Deadline
from gvpconf.evidence import Evidence
from gvpconf.inventory import Destination, Secret, Target


@dataclass
class ProbeContext:
    """Everything a prober may use. Secrets are resolved ``Secret`` objects, keyed by field name."""

    connection: Connection
    target: Target
    destination: Destination
    secrets: Mapping[str, Any]
    deadline: Deadline
    evidence: Evidence = field(default_factory=Evidence)

    def secret(self, name: str) -> str | None:
        """The plain text of secret ``name`` (for the library or frame that needs it, never for output)."""
        value = self.secrets.get(name)
        if value is None:
            return None
        return value.reveal() if isinstance(value, Secret) else str(value)


Prober = Callable[[ProbeContext], None]
