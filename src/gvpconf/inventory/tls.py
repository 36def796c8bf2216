"""One TLS model for every TLS peer: the ``tls`` section (:class:`TlsSettings`).

Every destination that speaks TLS is a :class:`TlsDestination`: the web destinations (ORS, DAS, web server,
customer system, GVP metrics over https), Nexus (wss), Google TTS (gRPC), Consul over HTTPS and PostgreSQL.
The section says how the peer is checked: the CA to trust (default: the system store), the name to verify
(default: the target's host), the minimum TLS version, the expiry warning threshold, the issuers expected
(anything else is reported as TLS interception) and ``verify``, which can only be turned off explicitly and is
then reported in the results (``tls.verify`` property). ``gvpconf.probes.tlscheck`` applies it, the same way
for every probe.

Whether TLS is spoken at all stays where the protocol decides it: ``scheme`` (https, wss), Consul's
``https_ports``, and PostgreSQL's ``sslmode`` (TLS is negotiated inside its protocol). Consul and PostgreSQL
used to take a top-level ``ca_file``; that spelling is still read, as ``tls.ca_file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from gvpconf.inventory.base import Destination, _Model
from gvpconf.model import Field, model_validator

TlsVersion = Literal["TLSv1.2", "TLSv1.3"]


class TlsSettings(_Model):
    """How a TLS peer is checked. Verification is on unless ``verify: false`` is written explicitly."""

    ca_file: Path | None = Field(None, description="PEM CA bundle to trust instead of the system store")
    verify: bool = Field(True, description="verify chain and hostname; false is reported as tls.verify=off")
    min_version: TlsVersion = "TLSv1.2"
    expiry_warning_days: int = Field(30, ge=0, le=3650,
                                     description="days before expiry below which tls.expiry_warning is set")
    expected_issuers: list[str] = Field(
        default_factory=list,
        description="substrings of the issuer DN expected (e.g. 'Google Trust Services'); any other issuer is "
                    "reported as TLS interception")
    server_name: str | None = Field(None, description="name to verify and send as SNI (default: target host)")


class TlsDestination(Destination):
    """A destination that speaks TLS: one ``tls`` section, checked by ``gvpconf.probes.tlscheck``."""

    #: the destination took a top-level ``ca_file`` before the common model; it is read as ``tls.ca_file``
    legacy_ca_file: ClassVar[bool] = False

    tls: TlsSettings = Field(default_factory=lambda: TlsSettings.model_validate({}),
                             description="how the peer's TLS is checked (the same for every TLS destination)")

    @model_validator(mode="before")
    @classmethod
    def _legacy_ca_file(cls, data: Any) -> Any:
        if not cls.legacy_ca_file or not isinstance(data, dict) or "ca_file" not in data:
            return data
        data = dict(data)
        legacy = data.pop("ca_file")
        if legacy is None:
            return data
        tls = data.get("tls")
        if isinstance(tls, TlsSettings):
            tls = tls.model_dump(exclude_unset=True)
        if tls is None:
            tls = {}
        if not isinstance(tls, dict):
            return data  # the tls section's own validation says what is wrong with it
        if tls.get("ca_file") is not None:
            raise ValueError("ca_file and tls.ca_file both given: keep tls.ca_file only (ca_file is its former "
                             "name)")
        data["tls"] = {**tls, "ca_file": legacy}
        return data
