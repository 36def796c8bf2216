"""The same TLS checks for every TLS peer, proven against real peers with the lab's CA: nginx over HTTPS
(``http.ors``), the Consul stand-in over HTTPS (``consul.cluster``) and the lab's PostgreSQL (``postgres.sslrequest``
and ``postgres.login``).

For each family: the facts (``tls.version``, ``tls.issuer``, ``tls.subject``, ``tls.not_after``, ``tls.days_left``,
``tls.verify``, ``tls.trust``) and the expiry warning; a wrong CA, a certificate for another name, a server below
``tls.min_version`` and an unexpected issuer each fail as ``tls`` and say which expectation broke; ``verify: false``
passes and says so on the case. libpq hides the certificate, so the PostgreSQL login case has no issuer or expiry
facts (its connection's SSLRequest case has them) and cannot see an unexpected issuer: that limit is asserted too.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gvpconf.errors import Cause
from gvpconf.inventory import Destination, PostgresDestination, Secret, TlsSettings
from gvpconf.inventory.data import ConsulDestination
from gvpconf.inventory.web import OrsDestination
from gvpconf.scheduler import ProbeResult
from gvpconf_lab import Lab, make_ca
from gvpconf_lab.data_consul import running
from gvpconf_lab.postgres import PostgresPeer
from gvpconf_lab.tlsca import tls_server
from selftests.probes.test_data_probes import TOKEN, consul_state
from selftests.probes.test_web_probes import failed, run

Address = tuple[str, int]
KINDS = ("good", "wrong_name", "tls12")


@dataclass
class Family:
    """One kind of TLS peer: how to reach it in each state, and the destination for a ``tls`` section."""

    number: int
    probes: tuple[str, ...]  # every probe of the family that speaks TLS
    sees_certificate: tuple[str, ...]  # the probes whose handshake shows the certificate (issuer, expiry)
    make: Callable[[TlsSettings, Address], Destination]
    serve: Callable[[str], AbstractContextManager[Address]]  # "good", "wrong_name" (certificate), "tls12" (capped)
    secrets: dict[str, Any]

    def run_all(self, tls: TlsSettings, kind: str = "good", probes: tuple[str, ...] | None = None) -> dict[
            str, ProbeResult]:
        with self.serve(kind) as address:
            return {p: run(p, self.number, self.make(tls, address), *address, self.secrets)
                    for p in (probes or self.probes)}


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ca(tmp_path_factory.mktemp("other-ca"), common_name="someone else's CA").ca_cert


def _http(lab: Lab) -> Family:
    nginx = lab.components["web_http"].nginx  # type: ignore[attr-defined]
    cert, key = lab.ca.issue("selftest-tls12")
    ports = {"good": nginx.tls_port, "wrong_name": nginx.wronghost_port}

    def serve(kind: str) -> AbstractContextManager[Address]:
        if kind == "tls12":
            return tls_server(cert, key, max_version=ssl.TLSVersion.TLSv1_2,
                              reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        return contextlib.nullcontext(("localhost", ports[kind]))

    return Family(11, ("http.ors",), ("http.ors",),
                  lambda tls, _a: OrsDestination(scheme="https", path="/ors/health", tls=tls), serve, {})


def _consul(lab: Lab) -> Family:
    certs = {"good": lab.ca.issue("selftest-consul"),
             "wrong_name": lab.ca.issue("selftest-consul-wrong", dns=["wrong.invalid"], ips=[])}

    def serve(kind: str) -> AbstractContextManager[Address]:
        cap = ssl.TLSVersion.TLSv1_2 if kind == "tls12" else None
        return running(consul_state(), tls=certs.get(kind, certs["good"]), tls_max_version=cap)

    return Family(6, ("consul.cluster",), ("consul.cluster",),
                  lambda tls, address: ConsulDestination(https_ports=[address[1]], tls=tls), serve,
                  {"token": Secret(TOKEN)})


def _postgres(lab: Lab) -> Family:
    pg = lab["postgres"]
    assert isinstance(pg, PostgresPeer)
    crt, key = pg.install_certificate(*lab.ca.issue("selftest-pg-wrong", dns=["wrong.invalid"], ips=[]),
                                      "wrong-name")

    def serve(kind: str) -> AbstractContextManager[Address]:
        settings = {"good": {}, "wrong_name": {"ssl_cert_file": crt, "ssl_key_file": key},
                    "tls12": {"ssl_max_protocol_version": "TLSv1.2"}}[kind]
        return _yielding(pg.configured(**settings), (pg.host, pg.port))

    return Family(17, ("postgres.sslrequest", "postgres.login"), ("postgres.sslrequest",),
                  lambda tls, _a: PostgresDestination(database=pg.database, username=pg.username, tls=tls), serve,
                  {"username": pg.username, "password": Secret(pg.password)})


@contextlib.contextmanager
def _yielding(state: AbstractContextManager[None], address: Address) -> Iterator[Address]:
    with state:
        yield address


FAMILIES = {"http": _http, "consul": _consul, "postgres": _postgres}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest, lab: Lab) -> Family:
    return FAMILIES[request.param](lab)


def trusted(lab: Lab, **kw: Any) -> TlsSettings:
    return TlsSettings.model_validate(lab.ca.inventory_tls(**kw))


def test_facts_and_expiry_warning_are_the_same_for_every_peer(lab: Lab, family: Family) -> None:
    warned = family.run_all(trusted(lab, expiry_warning_days=400))
    for probe, result in warned.items():
        assert result.ok, (probe, result.failure)
        f = result.evidence.facts
        assert f["tls.verify"] == "on" and f["tls.trust"] == f"ca_file {lab.ca.ca_cert}", probe
        assert str(f["tls.version"]).startswith("TLSv1."), probe
        if probe in family.sees_certificate:
            assert f["tls.issuer"] == "CN=gvpconf lab CA" and str(f["tls.subject"]).startswith("CN="), probe
            assert isinstance(f["tls.days_left"], int) and 80 < f["tls.days_left"] <= 90, probe  # issued for 90 days
            assert str(f["tls.not_after"]).endswith("Z"), probe
            assert "threshold 400" in str(f["tls.expiry_warning"]), probe
        else:  # libpq hides the certificate: no fact pretends otherwise
            assert "tls.issuer" not in f and "tls.expiry_warning" not in f, probe
    quiet = family.run_all(trusted(lab, expiry_warning_days=0), probes=family.sees_certificate)
    for probe, result in quiet.items():
        assert result.ok and "tls.expiry_warning" not in result.evidence.facts, probe


def test_wrong_ca_fails_as_untrusted_and_names_the_issuer(lab: Lab, family: Family, other_ca: Path) -> None:
    for probe, result in family.run_all(TlsSettings(ca_file=other_ca)).items():
        failed(result, Cause.TLS, "untrusted CA", "issued by 'CN=gvpconf lab CA'")
        assert result.evidence.facts["tls.verify"] == "on", probe  # on the failing case too


def test_certificate_for_another_name_fails_as_wrong_hostname(lab: Lab, family: Family) -> None:
    for result in family.run_all(trusted(lab), "wrong_name").values():
        failed(result, Cause.TLS, "wrong hostname")


def test_server_below_min_version_fails(lab: Lab, family: Family) -> None:
    for result in family.run_all(trusted(lab, min_version="TLSv1.3"), "tls12").values():
        failed(result, Cause.TLS, "below tls.min_version", "TLSv1.3")
    for probe, result in family.run_all(trusted(lab), "tls12").items():  # the default minimum is TLS 1.2
        assert result.ok, (probe, result.failure)
        assert result.evidence.facts["tls.version"] == "TLSv1.2", probe


def test_unexpected_issuer_is_interception(lab: Lab, family: Family) -> None:
    results = family.run_all(trusted(lab, expected_issuers=["Google Trust Services"]))
    for probe, result in results.items():
        if probe in family.sees_certificate:
            failed(result, Cause.TLS, "interception", "gvpconf lab CA")
        else:  # the limit, asserted: the login cannot see the issuer, its connection's SSLRequest case does
            assert result.ok, (probe, result.failure)


def test_verify_off_is_explicit_and_reported(lab: Lab, family: Family) -> None:
    for probe, result in family.run_all(TlsSettings(verify=False), "wrong_name").items():
        assert result.ok, (probe, result.failure)
        assert result.evidence.facts["tls.verify"] == "off (inventory tls.verify: false)", probe
