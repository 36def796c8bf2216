"""Building blocks of the inventory: targets, secrets, timeouts and the Destination base class."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gvpconf import redact


class InventoryError(Exception):
    """The inventory cannot be used. ``str()`` is one line naming the file, the key and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        text = ref.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"secret file {ref.file} is unreadable: {exc.strerror} (mount the secret "
                             "there or fix the path)") from None
    return Secret(text.rstrip("\r\n"))


class Target(_Model):
    """One host (or pod) to probe."""

    host: str = Field(min_length=1, description="DNS name or IP address")
    port: int = Field(ge=1, le=65535)
    name: str | None = Field(None, min_length=1, description="readable id (pod name); default host:port")
    zone: str | None = Field(None, description="availability zone, e.g. topology.kubernetes.io/zone")

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

    def secret_fields(self) -> Iterable[str]:
        return ()

    def probe_targets(self, probe: str, targets: list[Target]) -> list[Target] | str:
        """The targets probe ``probe`` runs against, given the destination's (inventory or discovery); a str says
        why it has none (the case is then "not configured" with that reason). By default, the same targets."""
        return targets

    def plan_detail(self, probe: str) -> str:
        """What the inventory makes probe ``probe`` do, for ``--plan`` (never a secret's value)."""
        return ""




