"""Where a destination's targets come from: the inventory's static list, or discovery.

``targets_for`` is called once per connection at collection time. Discovery back-ends (Consul's
catalog for the MCP pool, ...) plug in here; a discovery that fails or finds nothing raises
``DiscoveryError`` and the plugin turns it into a failing case, never into a run without cases.

* ``discovery: {mcp: {consul: {service: gvp-mcp, passing_only: true, timeout: 5}}}``: the MCP pool's
  targets are the instances of ``service`` in Consul's health API (``destinations.consul``'s first
  target, token and ``tls`` section: over HTTPS the same TLS checks as the Consul probes, so an
  intercepted or too old TLS session fails the discovery as ``tls``), each with its registered
  address and port (or ``port``), named by its service ID, zone from the instance's ``zone`` meta.
  The static ``destinations.mcp.targets`` are then not used. The whole discovery is bounded by ``timeout``.
* ``destinations.consul.node_agent``: the node-local Consul agent (``<hostIP>:8501``) is added to the
  Consul targets, its host read from the pod's environment (``HOST_IP`` by default).

A run's ``Discovery`` caches per destination: one Consul query per run, however many test functions the
connection's module has.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from gvpconf.inventory import Inventory, InventoryError, Target, resolve_secret
from gvpconf.inventory.base import reveal


class DiscoveryError(Exception):
    """Discovery could not produce targets. ``str()`` is one line saying why."""


class Discovery:
    """The targets of one run's inventory, each destination discovered once (one Consul query per run, however
    many test functions the connection's module has). The pytest session owns one; nothing is kept between runs.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._found: dict[str, list[Target] | DiscoveryError] = {}
        self._lock = threading.Lock()

    def targets_for(self, destination: str) -> list[Target]:
        with self._lock:
            found = self._found.get(destination)
            if found is None:
                try:
                    found = targets_for(self.inventory, destination)
                except DiscoveryError as exc:
                    found = exc
                self._found[destination] = found
        if isinstance(found, DiscoveryError):
            raise found
        return list(found)


def targets_for(inventory: Inventory, destination: str) -> list[Target]:
    """The targets of ``destination``, discovered now (uncached: a run uses ``Discovery``)."""
    return _targets(inventory, destination)


def _targets(inventory: Inventory, destination: str) -> list[Target]:
    dest = inventory.destination(destination)
    pool = inventory.discovery.for_destination(destination)
    if pool is not None:
        if dest is None:
            raise DiscoveryError(f"discovery.{destination} is set but destinations.{destination} is missing: add "
                                 f"'{destination}: {{}}' (its settings apply to the discovered targets)")
        return _from_consul(inventory, destination)
    static = list(dest.targets) if dest is not None else []
    if destination == "consul" and dest is not None:
        from gvpconf.inventory.data import ConsulDestination

        assert isinstance(dest, ConsulDestination)
        agent = dest.node_agent
        if agent is not None:
            host = os.environ.get(agent.host_env, "").strip()
            if not host:
                raise DiscoveryError(f"destinations.consul.node_agent: environment variable {agent.host_env} is not "
                                     "set (give the pod the node's IP: downward API status.hostIP)")
            static.append(_target(f"destinations.consul.node_agent ({agent.host_env})", host=host, port=agent.port,
                                  name=agent.name, zone=None))
    return static


def _target(where: str, **fields: Any) -> Target:
    """A target learnt at run time, checked as the inventory's are (a host that is no name or address: one line)."""
    from gvpconf.model import ValidationError

    try:
        return Target(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DiscoveryError(f"{where}: gave {'.'.join(str(p) for p in err['loc'])}: "
                             f"{str(err['msg']).removeprefix('Value error, ')}") from None


def _from_consul(inventory: Inventory, destination: str) -> list[Target]:
    from gvpconf.deadline import Deadline, Timeouts
    from gvpconf.errors import ProbeFailure
    from gvpconf.inventory.data import ConsulDestination
    from gvpconf.probes import consul as consul_probe

    pool = inventory.discovery.for_destination(destination)
    assert pool is not None
    cfg = pool.consul
    where = f"discovery.{destination}.consul"
    consul = inventory.destinations.consul
    if not isinstance(consul, ConsulDestination) or not consul.targets:
        raise DiscoveryError(f"{where}: needs destinations.consul with at least one target (where to ask)")
    try:
        token_ref = resolve_secret(consul.token)
    except InventoryError as exc:
        raise DiscoveryError(f"{where}: destinations.consul.token: {exc}") from None
    token = reveal(token_ref)
    server = consul.targets[0]
    deadline = Deadline(Timeouts(connect=min(3.0, cfg.timeout), read=cfg.timeout, probe=cfg.timeout))
    session = consul_probe.Session(consul, server, token, deadline)
    try:
        consul_probe.check_leader(session, lambda _name, _value: None)
        entries = consul_probe.read_service(session, cfg.service, passing_only=cfg.passing_only)
    except ProbeFailure as exc:
        raise DiscoveryError(f"{where}: asking {server.address} for service {cfg.service!r}: {exc}") from None
    finally:
        session.close()
    targets: list[Target] = []
    for entry in entries:
        service = entry.get("Service") or {}
        if cfg.tag is not None and cfg.tag not in (service.get("Tags") or []):
            continue
        address, port = consul_probe.instance_address(entry)
        if not address or not (cfg.port or port):
            continue
        meta = service.get("Meta") or {}
        zone = meta.get("zone") or ((entry.get("Node") or {}).get("Meta") or {}).get("zone")
        targets.append(_target(f"{where}: Consul at {server.address}", host=address, port=cfg.port or port,
                               name=str(service.get("ID") or address), zone=str(zone) if zone else None))
    if not targets:
        which = "passing " if cfg.passing_only else ""
        tag = f" tagged {cfg.tag!r}" if cfg.tag else ""
        raise DiscoveryError(f"{where}: Consul at {server.address} has no {which}instance of {cfg.service!r}{tag}: "
                             "a pool of zero is a failure, not an empty run")
    return targets
