"""Opt-ins: everything the suite does beyond read-only probing is switched on in one of three ways.

One table, ``OPT_INS``: each opt-in has a command-line flag, an environment variable and a key of its
destination's inventory section; the session resolves them once, at configure time.

* A **test-level** opt-in (``marker=True``) gates whole tests: a conformance test marked with it
  (``@call``, from ``gvpconf.suite``) is deselected before any probe starts unless opted into, and the
  end of the run says how many were left out and how to opt in. A row left without cases is
  ``not selected`` with that reason.
* A **probe-level** opt-in gates one step of a probe (Consul's KV write check): the probe reads it from
  its context (``ProbeContext.opted_in(name)``); the inventory is never rewritten.

Command line and environment switch an opt-in on for every destination; the inventory key for its own
destination only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from gvpconf.inventory import Inventory

#: the marker of a test-level opt-in: ``gvp_opt_in("calls")``
MARKER = "gvp_opt_in"

_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class OptIn:
    name: str  # what tests and probes call it: @opt_in("calls"), ctx.opted_in("consul_write_check")
    flag: str  # the command-line switch
    env: str  # the environment variable (any value but "", 0, false, no, off switches it on)
    inventory_key: str  # the key in a destination's inventory section
    marker: bool  # True: gates tests (deselected unless opted into); False: read by the probe
    what: str  # "call test(s)": how the end of the run names what was left out
    help: str

    @property
    def dest(self) -> str:
        """The ``config.option`` attribute of the flag."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def how(self) -> str:
        """How to switch it on, in words."""
        return f"{self.flag}, ${self.env}=1, or {self.inventory_key}: true in the destination's inventory section"


OPT_INS: tuple[OptIn, ...] = (
    OptIn("calls", "--gvp-calls", "GVP_CALLS", "calls", marker=True, what="call test(s)",
          help="run the call tests (INVITE/ACK/BYE with RTP, RTSP SETUP/PLAY): they touch call paths "
               "(default: off; also $GVP_CALLS=1 or calls: true in a destination's inventory section)"),
    OptIn("consul_write_check", "--consul-write-check", "GVP_CONSUL_WRITE_CHECK", "write_check", marker=False,
          what="Consul KV write check(s)",
          help="connection 6: also create, read back and delete one Consul KV key under the write_prefix "
               "(default: off, read-only; also $GVP_CONSUL_WRITE_CHECK=1 or write_check: true in "
               "destinations.consul)"),
)

BY_NAME: dict[str, OptIn] = {o.name: o for o in OPT_INS}


def add_options(group: pytest.OptionGroup) -> None:
    for o in OPT_INS:
        group.addoption(o.flag, action="store_true", default=False, dest=o.dest, help=o.help)


@dataclass(frozen=True)
class OptIns:
    """The opt-ins of one run, resolved: switched on for all destinations, or per destination."""

    everywhere: frozenset[str]  # by flag or environment
    per_destination: Mapping[str, frozenset[str]]  # by inventory key, destination key -> names

    @classmethod
    def resolve(cls, config: pytest.Config, inventory: Inventory | None,
                environ: Mapping[str, str] | None = None) -> OptIns:
        env = os.environ if environ is None else environ
        everywhere = frozenset(o.name for o in OPT_INS
                               if config.getoption(o.dest, False) or env.get(o.env, "").lower() not in _FALSE)
        per_destination: dict[str, frozenset[str]] = {}
        if inventory is not None:
            for key, dest in inventory.destinations:
                names = frozenset(o.name for o in OPT_INS if getattr(dest, o.inventory_key, False) is True)
                if names:
                    per_destination[key] = names
        return cls(everywhere, per_destination)

    def enabled(self, name: str, destination: str) -> bool:
        return name in self.everywhere or name in self.per_destination.get(destination, frozenset())

    def for_destination(self, destination: str) -> frozenset[str]:
        return self.everywhere | self.per_destination.get(destination, frozenset())


def item_opt_in(item: pytest.Item) -> OptIn | None:
    """The test-level opt-in an item is marked with, if any."""
    mark = item.get_closest_marker(MARKER)
    return BY_NAME[str(mark.args[0])] if mark is not None else None
