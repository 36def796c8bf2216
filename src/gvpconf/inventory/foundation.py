"""Destination settings of the foundation's probes: SIP (1, 4), Config Server, ActiveMQ, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from gvpconf.inventory.base import Destination, SecretRef
from gvpconf.inventory.tls import TlsDestination
from gvpconf.rules import status_accepted

StatusPattern = Annotated[str, Field(pattern=r"^([1-6]xx|[1-6][0-9]{2}(-[1-6][0-9]{2})?)$")]


class SipDestination(Destination):
    transport: Literal["tcp", "udp"] = "tcp"
    accept_status: list[StatusPattern] = Field(
        default_factory=lambda: ["2xx"],
        description="statuses that pass: '2xx', '200', or a range '200-299'")
    request_uri: str | None = Field(None, description="default sip:<host>:<port>")
    user_agent: str = "gvpconf"
    mtu_size: int = Field(1300, ge=600, le=8000, description="bytes of the largest padded OPTIONS of the path-MTU "
                          "probe (sipmtu.options): about a real INVITE with SDP")

    def accepts(self, status: int) -> bool:
        return status_accepted(status, self.accept_status)


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
#: the sslmodes in which libpq verifies the server's certificate
VERIFYING_SSLMODES: tuple[SslMode, ...] = ("verify-ca", "verify-full")


class PostgresDestination(TlsDestination):
    """PostgreSQL (17). TLS is checked by the common ``tls`` section; ``sslmode`` is derived from it
    (``verify-full``, or ``require`` with ``tls.verify: false``) and only needs writing for what the section
    cannot say: a server without TLS (``disable``, ``prefer``, with ``tls.verify: false``) or a chain-only check
    (``verify-ca``, with ``tls.ca_file``)."""

    legacy_ca_file: ClassVar[bool] = True

    database: str = "gvp"
    username: str | SecretRef
    password: SecretRef | None = None
    sslmode: SslMode | None = Field(None, description=(
        "libpq's sslmode, the one PostgreSQL-specific TLS key; default from tls: verify-full, or require with "
        "tls.verify: false. disable/allow/prefer/require do not verify and need tls.verify: false"))
    min_version: str = Field("11", pattern=r"^\d+(\.\d+)?$",
                             description="lowest accepted server version (GVP needs PostgreSQL 11+)")

    def secret_fields(self) -> Iterable[str]:
        return ("username", "password")

    @property
    def effective_sslmode(self) -> SslMode:
        if self.sslmode is not None:
            return self.sslmode
        return "verify-full" if self.tls.verify else "require"

    @property
    def checks_hostname(self) -> bool:
        """False only for sslmode verify-ca (the chain is verified, the name is not)."""
        return self.effective_sslmode != "verify-ca"

    def min_version_num(self) -> int:
        """``min_version`` as server_version_num: 11 -> 110000, 9.6 -> 90600, 15.2 -> 150002."""
        major, _, minor = self.min_version.partition(".")
        if int(major) >= 10:
            return int(major) * 10000 + int(minor or 0)
        return int(major) * 10000 + int(minor or 0) * 100

    @model_validator(mode="after")
    def _one_verify_flag(self) -> PostgresDestination:
        """Verification is turned off by ``tls.verify: false`` and by nothing else."""
        mode = self.sslmode
        if mode is None:
            return self
        if mode in VERIFYING_SSLMODES and not self.tls.verify:
            raise ValueError(f"sslmode {mode} verifies the server but tls.verify is false: drop sslmode (require "
                             "is then used) or tls.verify: false")
        if mode not in VERIFYING_SSLMODES and self.tls.verify:
            raise ValueError(f"sslmode {mode} does not verify the server's certificate: say so with tls: {{verify: "
                             "false} (reported on every case), or drop sslmode (verify-full)")
        if mode == "verify-ca" and self.tls.ca_file is None:
            raise ValueError("sslmode verify-ca needs tls.ca_file (libpq checks the system store only with "
                             "verify-full)")
        return self
