"""Each real peer of the session lab answers its own protocol."""

from __future__ import annotations

import contextlib
import re
import socket
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from gvpconf_lab import ActiveMQPeer, ConfigServerStandIn, Lab, PostgresPeer, SippPeer
from gvpconf_lab.activemq import openwire_hello, stomp_connect
from gvpconf_lab.sipp import sip_options


def _inventory(lab: Lab) -> dict[str, Any]:
    data = yaml.safe_load(lab.inventory_path.read_text())
    assert isinstance(data, dict)
    return data


def _target(lab: Lab, dest: str) -> tuple[str, int]:
    t = _inventory(lab)["destinations"][dest]["targets"][0]
    return t["host"], t["port"]


def _secret(lab: Lab, dest: str) -> str:
    return Path(_inventory(lab)["destinations"][dest]["password"]["file"]).read_text()


# -- inventory ------------------------------------------------------------------------------------
def test_inventory_has_the_agreed_shape(lab: Lab) -> None:
    inv = _inventory(lab)
    ports = {name: peer.port for name, peer in lab.peers.items()}
    broker = lab["activemq"]
    assert isinstance(broker, ActiveMQPeer)
    stomp_port = broker.stomp_port  # the session lab asks for a STOMP connector: some tests need STOMP
    foundation = ("sip_server", "configserver", "activemq", "postgres")
    inv = {**inv, "destinations": {k: inv["destinations"][k] for k in foundation}}
    inv.pop("connections", None)
    assert inv == {
        "version": 1,
        "cluster": {"name": "gvpconf-lab", "namespace": "gvp"},
        "defaults": {"timeouts": {"connect": 2.0, "read": 3.0, "probe": 10.0}},
        "destinations": {
            "sip_server": {"transport": "tcp", "accept_status": ["2xx"], "targets": [
                {"name": "sip-server", "host": "127.0.0.1", "port": ports["sip_server"]}]},
            "configserver": {"hold": 1.0, "targets": [
                {"name": "gvp-configserver", "host": "127.0.0.1", "port": ports["configserver"]}]},
            "activemq": {"username": "gvp-rs",
                         "password": {"file": str(lab.workdir / "secrets" / "activemq-password")},
                         "targets": [{"name": "gvp-rs", "host": "127.0.0.1", "port": ports["activemq"]}],
                         "stomp_port": stomp_port},
            "postgres": {"database": "gvp", "username": "gvp_reader",
                         "password": {"file": str(lab.workdir / "secrets" / "postgres-password")},
                         "tls": {"ca_file": str(lab.workdir / "tls" / "ca.pem"),
                                 "expected_issuers": ["gvpconf lab CA"]},
                         "targets": [{"name": "postgres", "host": "127.0.0.1", "port": ports["postgres"]}]},
        },
    }
    assert len(set(ports.values())) == len(ports)  # every peer on a port of its own


def test_secret_files_are_private(lab: Lab) -> None:
    assert stat.S_IMODE((lab.workdir / "secrets").stat().st_mode) == 0o700
    for name in ("activemq", "postgres"):
        path = lab.workdir / "secrets" / f"{name}-password"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text()) >= 16
    assert stat.S_IMODE((lab.workdir / "tls" / "ca-key.pem").stat().st_mode) == 0o600


def test_describe_names_each_peer_with_pid_and_port(lab: Lab) -> None:
    lines = lab.describe().splitlines()
    assert len(lines) == len(lab.peers)
    for line, peer in zip(lines, lab.peers.values(), strict=True):
        assert line.startswith(f"{peer.name}: ")
        assert f"127.0.0.1:{peer.port}" in line
        assert f"pid {peer.pid}" in line
    assert "STAND-IN" in lab["configserver"].describe()


# -- ActiveMQ -------------------------------------------------------------------------------------
def _stomp(lab: Lab) -> tuple[str, int]:
    inv = _inventory(lab)["destinations"]["activemq"]
    return inv["targets"][0]["host"], inv["stomp_port"]


def test_activemq_openwire_connector_speaks_first_with_a_wireformat_info(lab: Lab) -> None:
    """Debian's tcp:// connector: OpenWire only, the broker's WireFormatInfo sent unasked."""
    host, port = _target(lab, "activemq")
    assert openwire_hello(host, port, timeout=5.0)[4:13] == b"\x01ActiveMQ"
    with socket.create_connection((host, port), timeout=5.0) as sock:  # not STOMP: a STOMP client gets no frame
        sock.settimeout(5.0)
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(4096):
                data += chunk
    assert not data.startswith((b"CONNECTED", b"ERROR")), data[:60]


def test_activemq_accepts_the_inventory_credentials(lab: Lab) -> None:
    host, port = _stomp(lab)
    frame = stomp_connect(host, port, "gvp-rs", _secret(lab, "activemq"), timeout=5.0)
    assert frame.startswith(b"CONNECTED\n")
    assert b"server:ActiveMQ/" in frame
    assert isinstance(lab["activemq"], ActiveMQPeer)


def test_activemq_rejects_a_wrong_password_with_an_error_frame(lab: Lab) -> None:
    host, port = _stomp(lab)
    frame = stomp_connect(host, port, "gvp-rs", "not-the-password", timeout=5.0)
    assert frame.startswith(b"ERROR\n")
    assert b"User name [gvp-rs] or password is invalid" in frame


def test_activemq_rejects_anonymous(lab: Lab) -> None:
    host, port = _stomp(lab)
    with socket.create_connection((host, port), timeout=5.0) as sock:
        sock.settimeout(5.0)
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
        assert sock.recv(4096).startswith(b"ERROR\n")


# -- sipp -----------------------------------------------------------------------------------------
def test_sip_server_answers_options_with_200_and_its_server_header(lab: Lab) -> None:
    host, port = _target(lab, "sip_server")
    head = sip_options(host, port, "tcp", timeout=3.0)
    lines = head.split("\r\n")
    assert lines[0] == "SIP/2.0 200 OK"
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    sip = lab["sip_server"]
    assert isinstance(sip, SippPeer)
    assert headers["server"] == sip.server_header == "sipp-lab"
    assert headers["allow"] == "INVITE, ACK, BYE, CANCEL, OPTIONS"
    assert ";tag=" in headers["to"]
    assert headers["content-length"] == "0"


def test_sip_server_answers_repeated_options_on_one_call_id(lab: Lab) -> None:
    host, port = _target(lab, "sip_server")
    call_id = f"{uuid.uuid4().hex}@selftest"
    with socket.create_connection((host, port), timeout=3.0) as sock:
        sock.settimeout(3.0)
        for cseq in (1, 2, 3):
            sock.sendall(_request("OPTIONS", host, port, call_id, cseq, sock.getsockname()[1]))
            status, headers, _ = _read_response(sock)
            assert status == 200
            assert headers["cseq"] == f"{cseq} OPTIONS"


def _request(method: str, host: str, port: int, call_id: str, cseq: int, local_port: int,
             to_tag: str = "", body: str = "", cseq_method: str | None = None) -> bytes:
    to = f"<sip:uas@{host}:{port}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} sip:uas@{host}:{port};transport=tcp SIP/2.0",
             f"Via: SIP/2.0/TCP 127.0.0.1:{local_port};branch=z9hG4bK{uuid.uuid4().hex[:12]}",
             "Max-Forwards: 70", "From: <sip:selftest@127.0.0.1>;tag=st1", f"To: {to}",
             f"Call-ID: {call_id}", f"CSeq: {cseq} {cseq_method or method}",
             f"Contact: <sip:selftest@127.0.0.1:{local_port};transport=tcp>"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], str]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(1)  # byte by byte: never read past this message
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    head = buf.decode()
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    length = int(headers.get("content-length", "0"))
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return int(lines[0].split()[1]), headers, body.decode()


def test_sip_server_takes_a_call_and_echoes_rtp(lab: Lab) -> None:
    host, port = _target(lab, "sip_server")
    call_id = f"{uuid.uuid4().hex}@selftest"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        rtp.bind(("127.0.0.1", 0))
        rtp.settimeout(3.0)
        sdp = (f"v=0\r\no=st 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        with socket.create_connection((host, port), timeout=3.0) as sock:
            sock.settimeout(3.0)
            local = sock.getsockname()[1]
            sock.sendall(_request("INVITE", host, port, call_id, 1, local, body=sdp))
            statuses = []
            while True:
                status, headers, body = _read_response(sock)
                statuses.append(status)
                if status >= 200:
                    break
            assert statuses == [100, 180, 200]
            assert headers["content-type"] == "application/sdp"
            media = re.search(r"m=audio (\d+) RTP/AVP", body)
            assert media, body
            to_tag = headers["to"].split(";tag=")[1]
            sock.sendall(_request("ACK", host, port, call_id, 1, local, to_tag=to_tag))

            packet = bytes([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]) + b"\xff" * 160
            rtp.sendto(packet, ("127.0.0.1", int(media.group(1))))
            echoed, _ = rtp.recvfrom(2048)
            assert echoed == packet

            sock.sendall(_request("BYE", host, port, call_id, 2, local, to_tag=to_tag))
            status, headers, _ = _read_response(sock)
            assert status == 200
            assert headers["cseq"] == "2 BYE"


# -- PostgreSQL -----------------------------------------------------------------------------------
def _pg_conninfo(lab: Lab, password: str | None = None) -> dict[str, Any]:
    dest = _inventory(lab)["destinations"]["postgres"]
    host, port = _target(lab, "postgres")
    return {"host": host, "port": port, "dbname": dest["database"], "user": dest["username"],
            "password": password if password is not None else _secret(lab, "postgres"),
            "sslmode": "verify-full", "sslrootcert": dest["tls"]["ca_file"], "connect_timeout": 3}


def test_postgres_login_over_verified_tls_lands_in_gvp(lab: Lab) -> None:
    with psycopg.connect(**_pg_conninfo(lab)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("gvp",)
        assert conn.execute("SELECT current_user").fetchone() == ("gvp_reader",)
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row == (True,)
    assert isinstance(lab["postgres"], PostgresPeer)


def test_postgres_rejects_a_wrong_password(lab: Lab) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**_pg_conninfo(lab, password="wrong"))


def test_postgres_refuses_plaintext(lab: Lab) -> None:
    info = _pg_conninfo(lab) | {"sslmode": "disable"}
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(**info)


# -- Config Server stand-in -----------------------------------------------------------------------
def test_configserver_standin_accepts_and_stays_silent(lab: Lab) -> None:
    assert isinstance(lab["configserver"], ConfigServerStandIn)
    host, port = _target(lab, "configserver")
    with socket.create_connection((host, port), timeout=2.0) as sock:
        sock.settimeout(1.0)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(1)  # neither data nor EOF for 1 s
        assert time.monotonic() - t0 >= 0.95
        sock.sendall(b"\x00\x00\x00\x10 not the real protocol")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
