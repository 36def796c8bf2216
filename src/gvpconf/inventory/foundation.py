"""Destination settings of the foundation's probes: SIP (1, 4), Config Server, ActiveMQ, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, ClassVar, Literal

from gvpconf.inventory.base import Destination, SecretRef, Target
from gvpconf.inventory.tls import TlsDestination
from gvpconf.model import Field, model_validator
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
    """The RS broker (3, 8). Its targets are OpenWire connectors (``tcp://``, or ``auto://``), probed with an
    OpenWire round trip; STOMP is probed only where the broker has it, at ``stomp_port``."""

    username: str | SecretRef | None = Field(None, description="login of ConnectionInfo (and of STOMP CONNECT)")
    password: SecretRef | None = Field(None, description="password of ConnectionInfo (and of STOMP CONNECT)")
    stomp_port: int | None = Field(
        None, ge=1, le=65535, description=(
            "port of the broker's STOMP connector on the targets' hosts; unset (the default, a stock broker): no "
            "STOMP probe. On an auto:// transport, the targets' own port"))
    stomp_destination: str = Field(
        "/temp-queue/gvpconf.probe", pattern=r"^/(queue|topic|temp-queue|temp-topic)/[A-Za-z0-9._-]+$",
        description="prefix of the STOMP probe's own destination; a unique suffix is added per probe")
    message_ttl: float = Field(30.0, gt=0, le=3600, description="seconds before a probe message expires "
                               "(OpenWire and STOMP)")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: object) -> object:
        if isinstance(data, dict):
            if "stomp" in data:
                raise ValueError("'stomp' was removed: STOMP is probed where 'stomp_port' names the broker's STOMP "
                                 "connector (drop 'stomp', add 'stomp_port: N' if the broker has one)")
            if "openwire" in data:
                raise ValueError("'openwire' was removed: the OpenWire round trip is the check of connections 3 "
                                 "and 8 (drop the key; disable a connection with connections.\"N\".enabled)")
        return data

    def secret_fields(self) -> Iterable[str]:
        return ("username", "password")

    def probe_targets(self, probe: str, targets: list[Target]) -> list[Target] | str:
        if probe != "activemq.stomp":
            return targets
        if self.stomp_port is None:
            return "STOMP not probed: destinations.activemq.stomp_port is not set (a stock broker has no STOMP)"
        return [t.model_copy(update={"port": self.stomp_port}) for t in targets]

    def plan_detail(self, probe: str) -> str:
        user = self.username if isinstance(self.username, str) else (
            f"from {self.username.where()}" if self.username is not None else None)
        login = f"login {user}" if user is not None else "no login"
        password = f"password from {self.password.where()}" if self.password is not None else "no password"
        where = f"{self.stomp_destination}.<probe id>" if probe == "activemq.stomp" else "a temporary queue"
        return f"{login}, {password}; message TTL {self.message_ttl:g} s on {where}"


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
