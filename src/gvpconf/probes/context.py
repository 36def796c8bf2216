"""What every prober receives: ``ProbeContext``, and the one prober signature ``Prober``."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from gvpconf import net
from gvpconf.catalog import Connection
from gvpconf.deadline import Deadline
from gvpconf.evidence import Evidence
from gvpconf.inventory import Destination, Target
from gvpconf.inventory.base import reveal


@dataclass
class ProbeContext:
    """Everything a prober may use. Secrets are resolved ``Secret`` objects, keyed by field name."""

    connection: Connection
    target: Target
    destination: Destination
    secrets: Mapping[str, Any]
    deadline: Deadline
    evidence: Evidence = field(default_factory=Evidence)
    #: what a probe may keep for the rest of its run (a parsed key): one dict per pytest session, never module state
    memo: MutableMapping[str, Any] = field(default_factory=dict)
    #: the opt-ins switched on for this probe's destination (``gvpconf.plugin.optin``): a probe-level one,
    #: such as ``consul_write_check``, gates a step that does more than read
    opt_ins: frozenset[str] = frozenset()

    def connect(self) -> socket.socket:
        """A TCP connection to the target within the deadline's connect budget (failures already carry their cause:
        dns, refused, timeout), its set-up time recorded as ``tcp.connect_ms``."""
        sock = net.connect_tcp(self.target.host, self.target.port, self.deadline)
        self.evidence.fact("tcp.connect_ms", round(self.deadline.elapsed() * 1000, 2))
        return sock

    def secret(self, name: str) -> str | None:
        """The plain text of secret ``name`` (for the library or frame that needs it, never for output)."""
        return reveal(self.secrets.get(name))

    def opted_in(self, name: str) -> bool:
        """Whether opt-in ``name`` is switched on for this probe (by flag, environment or inventory key)."""
        return name in self.opt_ins


Prober = Callable[[ProbeContext], None]
