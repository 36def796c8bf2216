"""Destination settings of the foundation's probes: SIP (1, 4), Config Server, ActiveMQ, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gvpconf.inventory.base import Destination, SecretRef


def accepts(patterns: Iterable[str], status: int) -> bool:
    """True when ``status`` matches one of ``patterns`` ('2xx', '200', '200-299')."""
    for pat in patterns:
        if pat.endswith("xx"):
            if status // 100 == int(pat[0]):
                return True
        elif "-" in pat:
            lo, hi = (int(p) for p in pat.split("-"))
            if lo <= status <= hi:
                return True
        elif status == int(pat):
            return True
    return False


StatusPattern = Annotated[str, Field(pattern=r"^([1-6]xx|[1-6][0-9]{2}(-[1-6][0-9]{2})?)$")]


class SipDestination(Destination):
    transport: Literal["tcp", "udp"] = "tcp"
    accept_status: list[StatusPattern] = Field(
        default_factory=lambda: ["2xx"],
        description="statuses that pass: '2xx', '200', or a range '200-299'")
    request_uri: str | None = Field(None, description="default sip:<host>:<port>")
    user_agent: str = "gvpconf"

    def accepts(self, status: int) -> bool:
        return accepts(self.accept_status, status)


class ConfigServerDestination(Destination):
    hold: float = Field(1.0, ge=0.1, le=30, description="seconds the connection must stay up without RST")


class ActiveMQDestination(Destination):
    username: str | SecretRef | None = None
    password: SecretRef | None = None
    openwire: bool = Field(True, description="exchange OpenWire WireFormatInfo")
    stomp: bool = Field(True, description="authenticated STOMP 1.2 SEND/SUBSCRIBE round trip")
    stomp_destination: str = Field(
        "/temp-queue/gvpconf.probe", pattern=r"^/(queue|topic|temp-queue|temp-topic)/[A-Za-z0-9._-]+$",
        description="prefix of the probe's own destination; a unique suffix is added per probe")
    message_ttl: float = Field(30.0, gt=0, le=3600, description="seconds before a probe message expires")

    def secret_fields(self) -> Iterable[str]:
        return ("username", "password")


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class PostgresDestination(Destination):
    database: str = "gvp"
    username: str | SecretRef
    password: SecretRef | None = None
    sslmode: SslMode | None = Field(None, description=(
        "libpq's sslmode; default verify-full when ca_file is set, else prefer"))
    ca_file: Path | None = None
    min_version: str = Field("11", pattern=r"^\d+(\.\d+)?$",
                             description="lowest accepted server version (GVP needs PostgreSQL 11+)")

    def secret_fields(self) -> Iterable[str]:
        return ("username", "password")

    @property
    def effective_sslmode(self) -> SslMode:
        if self.sslmode is not None:
            return self.sslmode
        return "verify-full" if self.ca_file is not None else "prefer"

    def min_version_num(self) -> int:
        """``min_version`` as server_version_num: 11 -> 110000, 9.6 -> 90600, 15.2 -> 150002."""
        major, _, minor = self.min_version.partition(".")
        if int(major) >= 10:
            return int(major) * 10000 + int(minor or 0)
        return int(major) * 10000 + int(minor or 0) * 100

    @model_validator(mode="after")
    def _ca_needed(self) -> PostgresDestination:
        if self.effective_sslmode in ("verify-ca", "verify-full") and self.ca_file is None:
            raise ValueError(f"sslmode {self.sslmode} needs ca_file (the CA that signed the server's "
                             "certificate)")
        return self
