"""Building blocks of the inventory: targets, secrets, timeouts and the Destination base class."""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, get_args

from gvpconf import redact
from gvpconf.model import CustomError, Field, Model, field_validator, model_validator


class InventoryError(Exception):
    """The inventory cannot be used. ``str()`` is one line naming the file, the key and the fix."""


def _numeric(annotation: Any) -> bool:
    """Whether a field takes a number (int or float, possibly optional or constrained), not a boolean."""
    if annotation is bool:
        return False
    if annotation in (int, float):
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    return bool not in args and any(_numeric(a) for a in args)  # ``str | int | bool``: a boolean is welcome


class _Model(Model):
    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: Any) -> Any:
        """YAML's ``true``/``yes`` is not a number: pydantic would take it as 1 (``port: true`` -> port 1)."""
        if isinstance(data, dict):
            for name, value in data.items():
                info = cls.model_fields.get(name) if isinstance(name, str) else None
                booleans = isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool)
                                                                                       for v in value))
                if booleans and info is not None and _numeric(info.annotation):
                    raise CustomError("bool_number", "a boolean where a number belongs (write the number)",
                                              {"field": name})
        return data


Seconds = Annotated[float, Field(gt=0, le=600)]


class TimeoutsModel(_Model):
    """Per-phase timeouts in seconds; unset fields inherit (connection > destination > defaults)."""

    connect: Seconds | None = None
    read: Seconds | None = None
    probe: Seconds | None = None


class SecretRef(_Model):
    """Where a secret lives: exactly one of an environment variable or a file."""

    env: str | None = Field(None, min_length=1, description="name of an environment variable")
    file: Path | None = Field(None, description="path of a file, e.g. a mounted Kubernetes secret")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference takes exactly one of 'env' or 'file'")
        return self

    def where(self) -> str:
        return f"env {self.env}" if self.env is not None else f"file {self.file}"


def reveal(value: object) -> str | None:
    """The plain text of a resolved secret (or a plain value), None when unset: the one place a secret becomes
    text, for the library or frame that needs it, never for output."""
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else str(value)


class Secret:
    """A resolved secret. Never printed: ``repr``/``str`` give ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        redact.register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def resolve_secret(ref: SecretRef | str | None) -> Secret | str | None:
    """Read a secret reference. Plain strings (non-secret fields like usernames) pass through."""
    if ref is None or isinstance(ref, str):
        return ref
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise InventoryError(f"environment variable {ref.env} is not set (export it, or use "
                                 "{file: PATH})")
        return Secret(value)
    assert ref.file is not None
    try:
        with ref.file.open("rb") as fh:  # bounded: a secret is small, /dev/zero never ends
            data = fh.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"secret file {ref.file} is unreadable: {exc.strerror} (mount the secret "
                             "there or fix the path)") from None
    if len(data) > MAX_SECRET_BYTES:
        raise InventoryError(f"secret file {ref.file} is larger than {MAX_SECRET_BYTES // 1024} KiB (point at the "
                             "secret itself, not at a bundle or a device)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InventoryError(f"secret file {ref.file} is not UTF-8 text (store the secret as text, e.g. the "
                             "decoded value of the Kubernetes secret)") from None
    return Secret(text.rstrip("\r\n"))


#: the largest secret file read (a password, a token, a service-account key are far smaller)
MAX_SECRET_BYTES = 64 * 1024

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def check_host(host: str) -> str:
    """A DNS name (RFC 1123 labels; ``_`` allowed, as in SRV names) or an IP literal (IPv6 bare, with an optional
    ``%zone``); a URL gets "give the host, not a URL"."""
    if "://" in host:
        parts = urllib.parse.urlsplit(host)
        port = f", port: {parts.port}" if parts.port else ""
        raise ValueError(f"give the host, not a URL (host: {parts.hostname}{port})")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not name or not all(_LABEL.match(label) for label in name.split(".")):
        hint = " (write IPv6 without brackets)" if host.startswith("[") else " (give a DNS name or an IP address)"
        raise ValueError(f"{host!r} is not a DNS name or an IP address{hint}")
    return host


class Target(_Model):
    """One host (or pod) to probe."""

    host: str = Field(min_length=1, description="DNS name or IP address")
    port: int = Field(ge=1, le=65535)
    name: str | None = Field(None, min_length=1, description="readable id (pod name); default host:port")
    zone: str | None = Field(None, description="availability zone, e.g. topology.kubernetes.io/zone")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value)

    @property
    def id(self) -> str:
        return self.name or f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Destination(_Model):
    """Settings shared by every destination."""

    targets: list[Target] = Field(default_factory=list)
    timeouts: TimeoutsModel = TimeoutsModel()

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, value: list[Target]) -> list[Target]:
        """Each target is one case, named by its id: two of the same name would be told apart by nothing."""
        seen: dict[str, int] = {}
        for i, t in enumerate(value):
            if t.id in seen:
                raise ValueError(f"duplicate target name {t.id!r} (targets {seen[t.id]} and {i}: give each its own "
                                 "name)")
            seen[t.id] = i
        return value

    def secret_fields(self) -> Iterable[str]:
        return ()

    def probe_targets(self, probe: str, targets: list[Target]) -> list[Target] | str:
        """The targets probe ``probe`` runs against, given the destination's (inventory or discovery); a str says
        why it has none (the case is then "not configured" with that reason). By default, the same targets."""
        return targets

    def plan_detail(self, probe: str) -> str:
        """What the inventory makes probe ``probe`` do, for ``--plan`` (never a secret's value)."""
        return ""




