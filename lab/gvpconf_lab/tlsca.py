"""A throw-away certificate authority for the lab, made with the ``openssl`` command line tool.

``make_ca(dir)`` writes ``ca.pem`` (the trust anchor the suite's ``ca_file`` points at) and
``ca-key.pem``; ``CA.issue(name, ...)`` writes ``<name>.pem`` / ``<name>-key.pem`` server
certificates signed by it. Keys are EC P-256 (fast to make) unless ``key_type="rsa"``, and are
mode 0600.

Negative-test certificates:

* wrong hostname: ``ca.issue("wrong", dns=["wrong.invalid"], ips=[])``
* expired: ``ca.issue("old", expired=True)`` (valid Jan 2020 only, via ``openssl ca -startdate/-enddate``)
* untrusted: a second ``make_ca`` in another directory, whose ``ca.pem`` the client does not trust.

``tls_server(cert, key)``: a bare TLS server presenting one of these certificates (optionally capped at a
maximum TLS version), for tests of a client's checks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gvpconf_lab.base import LOOPBACK, LabError

KeyType = Literal["ec", "rsa"]

_EXPIRED_START = "20200101000000Z"
_EXPIRED_END = "20200201000000Z"

_CA_CONFIG = """\
[ ca ]
default_ca = lab

[ lab ]
dir = {dir}
database = {dir}/db/index.txt
new_certs_dir = {dir}/db
serial = {dir}/db/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied
"""


class TLSError(LabError):
    """openssl failed; the message carries its stderr."""


def _openssl(args: Sequence[str], cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TLSError(f"openssl {args[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def _newkey_args(key_type: KeyType) -> list[str]:
    if key_type == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    return ["-newkey", "rsa:2048"]


def _restrict(path: Path) -> None:
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class CA:
    """A lab CA living in ``dir``."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    key_type: KeyType = "ec"
    common_name: str = "gvpconf lab CA"

    def inventory_tls(self, **extra: Any) -> dict[str, Any]:
        """The inventory's ``tls`` section for a peer whose certificate this CA signed (every TLS peer of the lab
        writes this one: trust this CA, expect it as the issuer), plus ``extra`` keys."""
        return {"ca_file": str(self.ca_cert), "expected_issuers": [self.common_name], **extra}

    def issue(
        self,
        name: str,
        dns: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        days: int = 90,
        expired: bool = False,
        key_type: KeyType | None = None,
    ) -> tuple[Path, Path]:
        """Issue a server certificate; returns ``(cert_path, key_path)`` (PEM; key mode 0600). ``days``: 90 by default,
        an ACME certificate's lifetime, so that a fresh one is well beyond the suite's 30-day expiry warning."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad certificate name {name!r}")
        cert = self.dir / f"{name}.pem"
        key = self.dir / f"{name}-key.pem"
        csr = self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        san = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        lines = [
            "basicConstraints = critical, CA:FALSE",
            "keyUsage = critical, digitalSignature, keyEncipherment",
            "extendedKeyUsage = serverAuth",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid, issuer",
        ]
        if san:
            lines.append("subjectAltName = " + ", ".join(san))
        ext.write_text("\n".join(lines) + "\n")
        cn = dns[0] if dns else (ips[0] if ips else name)
        old_umask = os.umask(0o077)
        try:
            _openssl(["req", "-new", *_newkey_args(key_type or self.key_type), "-nodes",
                      "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}"], self.dir)
        finally:
            os.umask(old_umask)
        _restrict(key)
        validity = (["-startdate", _EXPIRED_START, "-enddate", _EXPIRED_END] if expired
                    else ["-days", str(days)])
        _openssl(["ca", "-batch", "-config", str(self.dir / "ca.cnf"), "-notext", "-rand_serial",
                  "-cert", str(self.ca_cert), "-keyfile", str(self.ca_key), "-in", str(csr),
                  "-out", str(cert), "-extfile", str(ext), *validity], self.dir)
        csr.unlink(missing_ok=True)
        ext.unlink(missing_ok=True)
        return cert, key


def make_ca(dir: Path, common_name: str = "gvpconf lab CA", days: int = 365, key_type: KeyType = "ec") -> CA:
    """Create a CA in ``dir`` (created if missing). Writes ``ca.pem`` and ``ca-key.pem`` (0600)."""
    dir = Path(dir).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "db").mkdir(exist_ok=True)
    (dir / "db" / "index.txt").touch()
    (dir / "ca.cnf").write_text(_CA_CONFIG.format(dir=dir))
    cert = dir / "ca.pem"
    key = dir / "ca-key.pem"
    old_umask = os.umask(0o077)
    try:
        _openssl(["req", "-x509", *_newkey_args(key_type), "-nodes", "-keyout", str(key), "-out", str(cert),
                  "-days", str(days), "-subj", f"/CN={common_name}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir)
    finally:
        os.umask(old_umask)
    _restrict(key)
    os.chmod(cert, 0o644)
    return CA(dir=dir, ca_cert=cert, ca_key=key, key_type=key_type, common_name=common_name)


@contextlib.contextmanager
def tls_server(cert: Path, key: Path, *, max_version: ssl.TLSVersion | None = None,
               reply: bytes = b"") -> Iterator[tuple[str, int]]:
    """A TLS server on a free loopback port presenting ``cert`` until the block ends; yields (host, port). Each
    connection gets the handshake, then, once the client has sent something, ``reply`` (if any) and a close."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if max_version is not None:
        context.maximum_version = max_version
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2.0)
            with contextlib.suppress(OSError), conn, context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                if reply:
                    tls.sendall(reply)

    thread = threading.Thread(target=serve, name="tls-server", daemon=True)
    thread.start()
    try:
        yield LOOPBACK, int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5.0)
        listener.close()
        if thread.is_alive():
            raise LabError("tls_server thread did not stop")
