"""Waivers: accepted exceptions, each with a reason, an owner and an expiry date.

File format (``--gvp-waivers FILE``), a YAML list::

    - connection: 17
      source: configserver          # the row's source role (must match the table)
      target: postgres-b            # optional: only this target (default: every target of the row)
      reason: "DB migration, CHG-1234: old cluster answers until the cut-over"
      owner: dba-team@example.com
      expires: 2025-07-31           # valid through this day

A waived failure is reported as ``waived``, never as passed; a waiver past its expiry date no
longer waives anything and fails the run with one line naming it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gvpconf.catalog import BY_NUMBER, ROLES
from gvpconf.model import Field, Model, ValidationError, model_validator, validate_list
from gvpconf.yamlfile import one_line, read_yaml


class WaiverError(Exception):
    """The waivers file is unusable. ``str()`` is one line naming the file, the key and the fix."""


class Waiver(Model):
    connection: int = Field(ge=1, le=22)
    source: str
    target: str | None = Field(None, min_length=1)
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: dt.date

    @model_validator(mode="after")
    def _source_matches_row(self) -> Waiver:
        if self.source not in ROLES:
            raise ValueError(f"source: unknown role {self.source!r} (one of {', '.join(ROLES)})")
        row = BY_NUMBER[self.connection]
        if row.source != self.source:
            raise ValueError(f"source: connection {self.connection} starts at {row.source!r}, not "
                             f"{self.source!r} (fix the connection or the source)")
        return self

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def covers(self, connection: int, target: str) -> bool:
        return connection == self.connection and self.target in (None, target)

    @property
    def label(self) -> str:
        on = f" target {self.target}" if self.target else ""
        return f"connection {self.connection} from {self.source}{on}"

    def as_dict(self, today: dt.date) -> dict[str, str]:
        return {"connection": str(self.connection), "source": self.source, "target": self.target or "*",
                "reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat(),
                "status": "expired" if self.expired(today) else "active"}


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    where = f"[{loc.split('.', 1)[0]}]" + (f".{loc.split('.', 1)[1]}" if "." in loc else "") if loc else ""
    kind = err.get("type", "")
    if kind == "missing":
        return f"{where}: missing required key (add it)"
    if kind == "extra_forbidden":
        return f"{where}: unknown key (remove it or check its spelling)"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{where}: {msg}{shown}"


def parse(data: Any, source: str = "<waivers>") -> list[Waiver]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise WaiverError(f"{source}: the top level must be a list of waivers (connection, source, reason, "
                          "owner, expires)")
    try:
        return validate_list(Waiver, data)
    except ValidationError as exc:
        raise WaiverError(f"{source}: waivers{one_line(exc, _describe)}") from None


def load(path: str | Path) -> list[Waiver]:
    return parse(read_yaml(path, "waivers", "--gvp-waivers", WaiverError), str(path))


class Waivers:
    """The loaded waivers of a run, and which of them were used."""

    def __init__(self, waivers: list[Waiver], path: str, today: dt.date | None = None) -> None:
        self.path = path
        self.today = today or dt.date.today()
        self.waivers = waivers
        self.used: set[int] = set()

    def match(self, connection: int, target: str) -> Waiver | None:
        """The active waiver covering this case, if any (an expired one never matches)."""
        for i, w in enumerate(self.waivers):
            if w.covers(connection, target) and not w.expired(self.today):
                self.used.add(i)
                return w
        return None

    def expired_lines(self) -> list[str]:
        return [f"waiver error: {self.path}: waivers[{i}] ({w.label}, owner {w.owner}) expired on "
                f"{w.expires.isoformat()} (renew it with a new 'expires' date or remove it)"
                for i, w in enumerate(self.waivers) if w.expired(self.today)]

    def records(self) -> list[dict[str, str]]:
        out = []
        for i, w in enumerate(self.waivers):
            rec = w.as_dict(self.today)
            if rec["status"] == "active" and i not in self.used:
                rec["status"] = "active (unused)"
            out.append(rec)
        return out
