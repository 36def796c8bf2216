"""Destination settings of the web probes: ORS (11), DAS (12), Nexus (13), Prometheus' view (18), web server (20),
customer system (21), Google TTS (22).

Every TLS connection takes the common ``tls`` section (:class:`gvpconf.inventory.tls.TlsSettings`, the same for
Consul and PostgreSQL); ``scheme`` says whether TLS is spoken.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from gvpconf import redact
from gvpconf.inventory.base import Secret, SecretRef
from gvpconf.inventory.foundation import StatusPattern
from gvpconf.inventory.tls import TlsDestination, TlsSettings
from gvpconf.model import Field, PrivateAttr, field_validator, model_validator

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"]


class _HttpBase(TlsDestination):
    """Shared HTTP client settings of 11, 12, 20, 21."""

    scheme: Literal["http", "https"] = "http"
    proxy: str | None = Field(None, pattern=r"^https?://", description=(
        "HTTP proxy URL (the MCP's mcp.fm.http_proxy); credentials in it (user:password@) are masked once "
        "loaded and never printed"))
    http2: bool = Field(True, description="offer HTTP/2 (ALPN h2) on HTTPS; HTTP/1.1 otherwise")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers (no secrets)")
    bearer_token: SecretRef | None = Field(None, description="sent as 'Authorization: Bearer ...'")
    max_body_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)
    _proxy_url: Secret | None = PrivateAttr(None)

    def model_post_init(self, context: Any) -> None:
        """A proxy URL with userinfo: the field keeps ``http://***@host:port`` for every message, fact and
        report; the URL itself is a ``Secret`` that ``proxy_url()`` reveals; the password (and the forms it
        travels in) is registered with the scrubber."""
        if self.proxy is None:
            return
        parts = urlsplit(self.proxy)
        userinfo, at, hostport = parts.netloc.rpartition("@")
        if at:
            user, _, password = userinfo.partition(":")
            redact.register_userinfo(user, password)
            self._proxy_url = Secret(self.proxy)
            object.__setattr__(self, "proxy", urlunsplit(parts._replace(netloc=f"{redact.MASK}@{hostport}")))

    def proxy_url(self) -> str | None:
        """The proxy URL with its credentials, for the HTTP client alone (``proxy`` is the one to print)."""
        return self._proxy_url.reveal() if self._proxy_url is not None else self.proxy

    def secret_fields(self) -> Iterable[str]:
        return ("bearer_token",)

    @field_validator("headers")
    @classmethod
    def _no_auth_header(cls, value: dict[str, str]) -> dict[str, str]:
        if any(k.lower() in ("authorization", "proxy-authorization", "cookie") for k in value):
            raise ValueError("credentials do not go in 'headers': use bearer_token: {env|file}")
        return value


class OrsDestination(_HttpBase):
    """11: MCP -> ORS HTTP/HTTPS 11200 (paths not documented: configure the one your ORS answers)."""

    method: HttpMethod = "GET"
    path: str = Field("/", pattern=r"^/")
    accept_status: list[StatusPattern] = Field(default_factory=lambda: ["2xx"])
    max_latency_ms: float | None = Field(None, gt=0, description="fail as semantic above this latency")


class VxmlDestination(_HttpBase):
    """12, 20: fetch VoiceXML applications; each must parse safely as VoiceXML."""

    applications: list[str] = Field(default_factory=lambda: ["/"], min_length=1,
                                    description="paths (or absolute URLs) of VXML applications to fetch")

    @field_validator("applications")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for app in value:
            if not (app.startswith("/") or re.match(r"^https?://", app)):
                raise ValueError(f"application {app!r} must be a path starting with '/' or an http(s) URL")
        return value


class DasDestination(VxmlDestination):
    """12: MCP -> DAS HTTP 80 (8081 in the sample Designer chart)."""


class WebDestination(VxmlDestination):
    """20: MCP -> customer web server HTTP 80."""


class CustomerDestination(_HttpBase):
    """21: MCP -> customer system HTTP 80: one configured request, checked by status and body."""

    method: HttpMethod = "GET"
    path: str = Field("/", pattern=r"^/")
    body: str | None = Field(None, description="request body (POST/PUT)")
    content_type: str = "application/json"
    accept_status: list[StatusPattern] = Field(default_factory=lambda: ["2xx"])
    body_pattern: str | None = Field(None, description="regular expression the response body must match")
    json_field: str | None = Field(None, description="dotted path that must exist in the JSON response")
    json_value: str | int | float | bool | None = Field(None, description="expected value of json_field")

    @field_validator("body_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"body_pattern is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _value_needs_field(self) -> CustomerDestination:
        if self.json_value is not None and self.json_field is None:
            raise ValueError("json_value needs json_field")
        return self


class NexusDestination(TlsDestination):
    """13: MCP -> Nexus WSS 443 (path not documented: configure it)."""

    scheme: Literal["wss", "ws"] = "wss"
    path: str = Field("/", pattern=r"^/")
    subprotocol: str | None = Field(None, description="subprotocol that must be negotiated")
    token: SecretRef | None = Field(None, description="auth token, sent in auth_header")
    auth_header: str = "Authorization"
    auth_scheme: str = Field("Bearer", description="prefix of the token in auth_header ('' for the bare token)")
    ping_count: int = Field(1, ge=1, le=10)

    def secret_fields(self) -> Iterable[str]:
        return ("token",)


class GoogleTtsDestination(TlsDestination):
    """22: MCP -> Google API 443 gRPC: TextToSpeech.ListVoices."""

    tls: TlsSettings = Field(default_factory=lambda: TlsSettings.model_validate(
        {"server_name": "texttospeech.googleapis.com"}),
        description="how the peer's TLS is checked (server_name defaults to texttospeech.googleapis.com)")
    credentials: SecretRef | None = Field(
        None, description="service-account key (JSON); without it UNAUTHENTICATED proves the path")
    language_code: str = "en-US"
    require_voices: bool = Field(True, description="with credentials, at least one voice must be listed")

    def secret_fields(self) -> Iterable[str]:
        return ("credentials",)


#: metric families expected per target name (fnmatch patterns), from the sample GVP dashboards
DEFAULT_FAMILIES: dict[str, list[str]] = {
    "gvp-rm*": ["rmPRStatus", "rmPRActiveCalls", "rmPRTotalCalls"],
    "gvp-mcp*": ["mcpSipCurrentInboundSessions"],
    "gvp-rs*": ["rsQueueSize"],
}


class GvpMetricsDestination(_HttpBase):
    """18: Prometheus -> the GVP namespace's metrics endpoints (each target is one endpoint).

    ``bearer_token`` (inherited) is sent to the metrics endpoints; ``prometheus_token`` to the Prometheus API.
    """

    path: str = Field("/metrics", pattern=r"^/")
    http2: bool = False
    families: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_FAMILIES.items()},
        description="target name pattern (fnmatch) -> metric families that must be exposed")
    prometheus_url: str | None = Field(None, pattern=r"^https?://",
                                       description="Prometheus HTTP API, e.g. http://prometheus.monitoring:9090")
    prometheus_job: str | None = Field(None, description="only targets of this scrape job count")
    prometheus_token: SecretRef | None = Field(None, description="bearer token for the Prometheus API")

    def secret_fields(self) -> Iterable[str]:
        return ("bearer_token", "prometheus_token")

    def families_for(self, target: str) -> list[str]:
        """The metric families target ``target`` must expose: those of every pattern its name matches."""
        wanted: list[str] = []
        for pattern, families in self.families.items():
            if fnmatch.fnmatchcase(target, pattern):
                wanted += [f for f in families if f not in wanted]
        return wanted
