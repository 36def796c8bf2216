"""The lab CA's certificates verify, and its negative variants fail for the right reason."""

from __future__ import annotations

import socket
import ssl
import stat
from pathlib import Path

import pytest

from gvpconf_lab.tlsca import CA, make_ca, tls_server


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return make_ca(tmp_path_factory.mktemp("ca"))


def _handshake(ca: CA, addr: tuple[str, int], server_hostname: str = "localhost") -> None:
    ctx = ssl.create_default_context(cafile=str(ca.ca_cert))
    with socket.create_connection(addr, timeout=2.0) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_hostname):
        pass


def test_issued_certificate_verifies_for_localhost_and_127_0_0_1(ca: CA) -> None:
    cert, key = ca.issue("good")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.ca_key.stat().st_mode) == 0o600
    with tls_server(cert, key) as addr:
        _handshake(ca, addr, "localhost")
        _handshake(ca, addr, "127.0.0.1")


def test_wrong_hostname_certificate_fails_hostname_check(ca: CA) -> None:
    cert, key = ca.issue("wrong", dns=["wrong.invalid"], ips=[])
    with tls_server(cert, key) as addr, pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(ca, addr, "localhost")
    assert "Hostname mismatch" in str(info.value)


def test_expired_certificate_fails_as_expired(ca: CA) -> None:
    cert, key = ca.issue("old", expired=True)
    with tls_server(cert, key) as addr, pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(ca, addr)
    assert info.value.verify_message == "certificate has expired"


def test_another_ca_is_not_trusted(ca: CA, tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other", common_name="not the lab CA")
    cert, key = other.issue("stranger")
    with tls_server(cert, key) as addr, pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(ca, addr)
    assert "unable to get local issuer certificate" in str(info.value)


def test_rsa_keys_work_too(ca: CA) -> None:
    cert, key = ca.issue("rsa", key_type="rsa")
    assert b"PRIVATE KEY" in key.read_bytes()
    with tls_server(cert, key) as addr:
        _handshake(ca, addr)


def test_a_capped_server_negotiates_no_more_than_its_maximum(ca: CA) -> None:
    cert, key = ca.issue("capped")
    with tls_server(cert, key, max_version=ssl.TLSVersion.TLSv1_2) as addr:
        ctx = ssl.create_default_context(cafile=str(ca.ca_cert))
        with socket.create_connection(addr, timeout=2.0) as raw, ctx.wrap_socket(raw, server_hostname="localhost") \
                as tls:
            assert tls.version() == "TLSv1.2"
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        with socket.create_connection(addr, timeout=2.0) as raw, pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_inventory_tls_section_trusts_and_expects_this_ca(ca: CA) -> None:
    from gvpconf.inventory import TlsSettings

    section = TlsSettings.model_validate(ca.inventory_tls(min_version="TLSv1.3"))
    assert section.ca_file == ca.ca_cert and section.expected_issuers == ["gvpconf lab CA"]
    assert section.min_version == "TLSv1.3"
