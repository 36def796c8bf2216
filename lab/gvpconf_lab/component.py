"""A lab *component*: the peers that play one destination (or a few), and the inventory that names them.

A component is small: ``make_peers()`` builds its (not yet started) peers, ``destinations()``
returns its inventory sections once they are ready, ``packages`` names the Debian packages it
needs (package -> a check that it is installed). Components are registered by name in
``gvpconf_lab.COMPONENTS`` (``"module:Class"``, imported only when used), so a new area of the
suite adds a module and one registry line.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from gvpconf_lab.base import Peer
from gvpconf_lab.ports import free_port

if TYPE_CHECKING:
    from gvpconf_lab import Lab


class Component(abc.ABC):
    #: Debian package -> "is it installed?" (``python -m gvpconf_lab install`` installs the missing ones)
    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {}
    #: destination key -> what plays it, for the destinations this component plays with a stand-in (reported as such)
    stand_ins: ClassVar[Mapping[str, str]] = {}

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.peers: list[Peer] = []

    @property
    def workdir(self) -> Path:
        return self.lab.workdir / self.name

    def port(self, key: str | None = None, kind: Literal["tcp", "udp"] = "tcp") -> int:
        """The port asked for with ``--port NAME=N`` (``NAME`` is the component or ``component.key``)."""
        wanted = self.lab.requested_ports.get(f"{self.name}.{key}" if key else self.name)
        return wanted or free_port(kind)

    def write_secret(self, key: str, value: str) -> Path:
        """A secret file (0600 in a 0700 directory) for the inventory to reference as ``{file: ...}``."""
        return self.lab.write_secret(f"{self.name}-{key}" if key else self.name, value)

    @abc.abstractmethod
    def make_peers(self) -> list[Peer]:
        """The component's peers, configured but not started."""

    @abc.abstractmethod
    def destinations(self) -> dict[str, Any]:
        """Inventory sections (``destinations.<key>``), called once every peer is ready."""

    def connections(self) -> dict[str, Any]:
        """Optional per-connection overrides (``connections."N"``)."""
        return {}


