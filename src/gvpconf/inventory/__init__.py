"""The inventory: a YAML file that names a deployment's targets, validated once on load.

Shape (see ``fixtures/inventory.example.yaml`` and the JSON Schema in
``fixtures/inventory.schema.json``)::

    version: 1
    cluster: {name: prod-eu, namespace: gvp}
    defaults: {timeouts: {connect: 3, read: 3, probe: 10}}
    destinations:
      <destination key>:           # one of gvpconf.catalog.DESTINATIONS
        targets: [{name, host, port, zone}]
        timeouts: {...}            # optional, overrides defaults
        ...                        # destination-specific settings
    connections:
      "<N>": {enabled: false, timeouts: {...}}   # optional per-connection overrides

Secrets are never written in the file: a secret field takes ``{env: NAME}`` or
``{file: PATH}`` (a mounted Kubernetes secret). They are read only for the connections a
run selects, held in ``Secret`` objects whose ``repr`` is ``'***'``, and registered with
``gvpconf.redact`` so no report can print them.

Errors become one ``InventoryError`` line: ``FILE: KEY: what is wrong (fix)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, Literal

from gvpconf.catalog import BY_NUMBER, DESTINATIONS
from gvpconf.deadline import Timeouts
from gvpconf.inventory.base import (
    Destination,
    InventoryError,
    Seconds,
    Secret,
    SecretRef,
    Target,
    TimeoutsModel,
    _Model,
    resolve_secret,
)
from gvpconf.inventory.data import ConsulDestination, Discovery, SqlServerDestination
from gvpconf.inventory.foundation import (
    ActiveMQDestination,
    ConfigServerDestination,
    PostgresDestination,
    SipDestination,
)
from gvpconf.inventory.policy import RetrySection
from gvpconf.inventory.tls import TlsDestination, TlsSettings
from gvpconf.inventory.voice import McpDestination, NuanceDestination, SbcDestination
from gvpconf.inventory.web import (
    CustomerDestination,
    DasDestination,
    GoogleTtsDestination,
    GvpMetricsDestination,
    NexusDestination,
    OrsDestination,
    WebDestination,
)
from gvpconf.model import Field, ValidationError, field_validator
from gvpconf.yamlfile import Lines, first_error, line_of, one_line, read_yaml_lines

__all__ = [
    "ActiveMQDestination",
    "ConfigServerDestination",
    "Destination",
    "Inventory",
    "InventoryError",
    "PostgresDestination",
    "Seconds",
    "Secret",
    "SecretRef",
    "SipDestination",
    "Target",
    "TimeoutsModel",
    "TlsDestination",
    "TlsSettings",
    "load",
    "parse",
    "resolve_secret",
    "resolve_secrets",
    "secret_problems",
]


class Destinations(_Model):
    sip_server: SipDestination | None = None
    configserver: ConfigServerDestination | None = None
    activemq: ActiveMQDestination | None = None
    mcp: McpDestination | None = None
    consul: ConsulDestination | None = None
    sbc: SbcDestination | None = None
    ors: OrsDestination | None = None
    das: DasDestination | None = None
    nexus: NexusDestination | None = None
    nuance: NuanceDestination | None = None
    sqlserver: SqlServerDestination | None = None
    postgres: PostgresDestination | None = None
    gvp_metrics: GvpMetricsDestination | None = None
    web: WebDestination | None = None
    customer: CustomerDestination | None = None
    google_tts: GoogleTtsDestination | None = None


class ConnectionOverride(_Model):
    enabled: bool = True
    timeouts: TimeoutsModel = TimeoutsModel()


class Cluster(_Model):
    name: str = "unnamed"
    namespace: str = "gvp"


class Defaults(_Model):
    timeouts: TimeoutsModel = TimeoutsModel(connect=3.0, read=3.0, probe=10.0)


class Inventory(_Model):
    """A GVP deployment's targets, as the conformance suite sees them."""

    version: Literal[1]
    cluster: Cluster = Cluster()
    defaults: Defaults = Defaults()
    destinations: Destinations = Destinations()
    discovery: Discovery = Discovery()
    connections: dict[str, ConnectionOverride] = Field(default_factory=dict)
    retry: RetrySection = RetrySection()

    @field_validator("connections")
    @classmethod
    def _known_connections(cls, value: dict[str, ConnectionOverride]) -> dict[str, ConnectionOverride]:
        for key in value:
            if not key.isdigit() or int(key) not in BY_NUMBER:
                raise ValueError(f"unknown connection {key!r}: the GVP table numbers them 1-22")
        return value

    def destination(self, key: str) -> Destination | None:
        if key not in DESTINATIONS:
            raise KeyError(key)
        dest: Destination | None = getattr(self.destinations, key)
        return dest

    def override(self, number: int) -> ConnectionOverride:
        return self.connections.get(str(number), ConnectionOverride())

    def timeouts_for(self, number: int) -> Timeouts:
        """Connection override > destination > defaults > built-in."""
        layers = [self.override(number).timeouts]
        dest = self.destination(BY_NUMBER[number].destination)
        if dest is not None:
            layers.append(dest.timeouts)
        layers.append(self.defaults.timeouts)
        base = Timeouts()

        def pick(field: str) -> float:
            for layer in layers:
                value: float | None = getattr(layer, field)
                if value is not None:
                    return value
            result: float = getattr(base, field)
            return result

        return Timeouts(connect=pick("connect"), read=pick("read"), probe=pick("probe"))


# -- loading -------------------------------------------------------------------------------------------

def _is_tag(part: int | str) -> bool:
    """A union member's tag pydantic puts in a location (``str``, ``SecretRef``, ``function-after[...]``...)."""
    return isinstance(part, str) and (part in _UNION_TAGS or part.startswith(("function-", "constrained-")))


def _clean(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    return tuple(p for p in loc if not _is_tag(p))


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in _clean(loc)) or "(top level)"


_UNION_TAGS = {"str", "int", "float", "bool", "SecretRef", "function-after[_exactly_one(), SecretRef]"}


def _error_loc(err: dict[str, Any]) -> tuple[int | str, ...]:
    """Where an error is, down to the key (a boolean-for-a-number error is raised by the key's mapping)."""
    loc = _clean(tuple(err.get("loc", ())))
    field = (err.get("ctx") or {}).get("field")
    return (*loc, field) if err.get("type") == "bool_number" and field else loc


def _describe(err: dict[str, Any]) -> str:
    raw = tuple(err.get("loc", ()))
    loc = _error_loc(err)
    kind = err.get("type", "")
    where = _loc(loc)
    if kind == "missing":
        parent = _loc(loc[:-1]) if len(loc) > 1 else "(top level)"
        return f"{parent}: missing required key {loc[-1]!r} (add it)"
    if kind == "extra_forbidden":
        parent = _loc(loc[:-1]) if len(loc) > 1 else "(top level)"
        return f"{parent}: unknown key {loc[-1]!r} (remove it or check its spelling)"
    secret = "SecretRef" in raw or (err.get("ctx") or {}).get("class_name") == "SecretRef"
    value = err.get("input")
    if secret and kind == "model_type" and not _is_tag(raw[-1]) and isinstance(value, str | int | float):
        # the value is a password, a token...: never shown, not even in this error
        return f"{where}: a secret is never written in the inventory: use {{env: NAME}} or {{file: PATH}}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    hidden = secret or isinstance(value, dict | list) or value is None
    shown = "" if hidden else f" (got {value!r})"
    return f"{where}: {msg}{shown}"


def parse(data: Any, source: str = "<inventory>", lines: Lines | None = None) -> Inventory:
    """Validate already-parsed YAML/JSON data; ``lines`` (from the YAML) lets an error name its line."""
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: the top level must be a mapping with 'version: 1' and "
                             "'destinations' (see fixtures/inventory.example.yaml)")
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        line = line_of(lines or {}, _error_loc(first_error(exc.errors())))
        at = f"{source}:{line}" if line is not None else source
        raise InventoryError(f"{at}: {one_line(exc, _describe)}") from None


def load(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate an inventory file. Raises InventoryError (one line) on any problem."""
    data, lines = read_yaml_lines(path, "inventory", "--inventory", InventoryError)
    return parse(data, str(path), lines)


def secret_problems(inv: Inventory, destination_keys: Iterable[str], source: str,
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Read the secret references of the given destinations: (resolved values per destination, problems per
    destination). Every problem is found, not just the first, each one line naming file, key, source and fix;
    a destination with a problem gets no values (its connections fail with cause ``config``, the others run)."""
    resolved: dict[str, dict[str, Any]] = {}
    problems: dict[str, list[str]] = {}
    for key in destination_keys:
        dest = inv.destination(key)
        if dest is None:
            continue
        values: dict[str, Any] = {}
        for field in dest.secret_fields():
            try:
                values[field] = resolve_secret(getattr(dest, field))
            except InventoryError as exc:
                problems.setdefault(key, []).append(f"{source}: destinations.{key}.{field}: {exc}")
        if key not in problems:
            resolved[key] = values
    return resolved, problems


def resolve_secrets(inv: Inventory, destination_keys: Iterable[str], source: str) -> dict[str, dict[str, Any]]:
    """Read the secret references of the given destinations; the first problem raises (one line)."""
    resolved, problems = secret_problems(inv, destination_keys, source)
    for lines in problems.values():
        raise InventoryError(lines[0])
    return resolved


def json_schema() -> dict[str, Any]:
    from gvpconf.modelschema import json_schema as model_schema

    schema = model_schema(Inventory)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "GVP connectivity conformance suite inventory"
    return schema


def main() -> None:
    """``python -m gvpconf.inventory --schema`` prints the JSON Schema; ``FILE`` validates a file."""
    import sys

    args = sys.argv[1:]
    check_secrets = "--secrets" in args
    args = [a for a in args if a != "--secrets"]
    if args == ["--schema"]:
        print(json.dumps(json_schema(), indent=2, sort_keys=True))
        return
    if len(args) != 1:
        print("usage: python -m gvpconf.inventory (--schema | [--secrets] FILE)", file=sys.stderr)
        raise SystemExit(2)
    try:
        inv = load(args[0])
    except InventoryError as exc:
        print(f"inventory error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if check_secrets:
        _resolved, problems = secret_problems(inv, DESTINATIONS, args[0])
        for line in (line for lines in problems.values() for line in lines):
            print(f"inventory error: {line}", file=sys.stderr)
        if problems:
            raise SystemExit(2)
    n = sum(len(d.targets) for d in (inv.destination(k) for k in DESTINATIONS) if d is not None)
    print(f"{args[0]}: OK, cluster {inv.cluster.name}, {n} targets")

