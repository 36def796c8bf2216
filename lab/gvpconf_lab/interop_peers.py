"""Second (and third) implementations of every peer protocol, for the interoperability matrix (docs/interop.md).

Each peer runs as its Debian (or npm) package ships it, changed only where a GVP deployment would change it:
listen address and port, certificates, the users it knows, who may use it. The stock configuration file is
read from ``/etc`` where the package has one, and the changes are applied to it line by line, so what differs
from stock is visible here and nowhere else:

==================  =======================================  =====================================================
peer                package                                  changed from stock
==================  =======================================  =====================================================
Kamailio            ``kamailio``                             ``listen=`` udp and tcp on a loopback port
VLC (RTSP)          ``vlc-bin`` ``vlc-plugin-base``          none: ``cvlc`` as a non-root user, ``--sout`` RTSP
lighttpd            ``lighttpd``                             port, bind address, document root, log/pid paths
squid               ``squid``                                port; the MCP pods may fetch from the DAS port (conf.d)
tinyproxy           ``tinyproxy``                            port; a URL filter naming the DAS origin
pgbouncer           ``pgbouncer``                            the pooled database, its users, client TLS cert, versions
openssl s_server    ``openssl``                              certificate; optionally a TLS version cap
ws / @grpc/grpc-js  npm (``lab/gvpconf_lab/node``)           the lab's application code on the stock server
ActiveMQ            ``activemq``                             connectors tcp://, stomp://, auto://; one user
==================  =======================================  =====================================================

Peers that drop privileges (squid, tinyproxy, lighttpd, pgbouncer, VLC) get their files in a private 0755
directory under /tmp (pytest's temp directories are 0700), which ``stop()`` removes.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from gvpconf_lab.activemq import ActiveMQPeer
from gvpconf_lab.base import LOOPBACK, LabError, Peer
from gvpconf_lab.sipp import sip_options

NODE_DIR = Path(__file__).with_name("node")
NODE_MODULES = NODE_DIR / "node_modules"


def _have(binary: str) -> Callable[[], bool]:
    return lambda: shutil.which(binary) is not None


#: Debian packages of the interop peers (``python -m gvpconf_lab install`` installs the missing ones)
PACKAGES: dict[str, Callable[[], bool]] = {
    "kamailio": _have("kamailio"),
    "vlc-bin": _have("cvlc"),
    "vlc-plugin-base": lambda: any(Path("/usr/lib").glob("*/vlc/plugins/stream_out/libstream_out_rtp_plugin.so")),
    "lighttpd": _have("lighttpd"),
    "squid": _have("squid"),
    "tinyproxy": _have("tinyproxy"),
    "pgbouncer": _have("pgbouncer"),
    "npm": _have("npm"),
}


def node_modules_missing() -> list[str]:
    """The npm packages of ``node/package.json`` not installed under ``node/node_modules``."""
    return [name for name in ("ws", "@grpc/grpc-js") if not (NODE_MODULES / name / "package.json").exists()]


def install_node_modules() -> int:
    """``npm ci`` (or ``npm install`` without a lock file) in ``lab/gvpconf_lab/node``: the exit code."""
    if not node_modules_missing():
        return 0
    verb = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
    argv = ["npm", verb, "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(NODE_DIR)]
    print("+ " + " ".join(argv), flush=True)
    return subprocess.run(argv, cwd=NODE_DIR, check=False).returncode


def command_version(argv: Sequence[str], pattern: str = r"(\d+\.\d+[\w.+~-]*)") -> str:
    """The first version number in ``argv``'s output ("?" when it cannot be run)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, proc.stdout + proc.stderr)
    return m.group(1) if m else "?"


def debian_version(package: str) -> str:
    """The installed version of a Debian package ("?" when it is not installed)."""
    return command_version(["dpkg-query", "-W", "-f", "${Version}", package], r"(\S+)")


def npm_version(package: str) -> str:
    import json

    try:
        return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


class _PrivateDirPeer(Peer):
    """A peer whose process runs as a system user: its files live in a 0755 directory under /tmp."""

    def __init__(self, name: str, workdir: Path, port: int, host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.private: Path = self.workdir

    def make_private(self, owner: str | None = None) -> Path:
        self.private = Path(tempfile.mkdtemp(prefix=f"gvpconf-{self.kind}-"))
        os.chmod(self.private, 0o755)
        if owner is not None:
            pw = pwd.getpwnam(owner)
            os.chown(self.private, pw.pw_uid, pw.pw_gid)
        return self.private

    def chown(self, path: Path, owner: str) -> None:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def cleanup(self) -> None:
        if self.private != self.workdir:
            shutil.rmtree(self.private, ignore_errors=True)


def _tcp_connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


# -- SIP: Kamailio ----------------------------------------------------------------------------------------------

KAMAILIO_CFG = Path("/etc/kamailio/kamailio.cfg")


class KamailioPeer(Peer):
    """Kamailio with Debian's stock ``kamailio.cfg``; only ``listen=`` added (udp and tcp, one loopback port)."""

    kind: ClassVar[str] = "kamailio"
    default_ready_deadline_s: ClassVar[float] = 15.0

    def prepare(self) -> None:
        if not KAMAILIO_CFG.exists():
            raise self.error(f"{KAMAILIO_CFG} not found (install 'kamailio': python -m gvpconf_lab install)")
        stock = KAMAILIO_CFG.read_text()
        marker = "# listen=udp:10.0.0.10:5060"
        if marker not in stock:
            raise self.error(f"{KAMAILIO_CFG} has no '{marker}' line to put the listen sockets after")
        listen = f"listen=udp:{self.host}:{self.port}\nlisten=tcp:{self.host}:{self.port}"
        (self.workdir / "run").mkdir(parents=True, exist_ok=True)
        (self.workdir / "kamailio.cfg").write_text(stock.replace(marker, marker + "\n" + listen, 1))

    def command(self) -> Sequence[str]:
        return ["kamailio", "-f", str(self.workdir / "kamailio.cfg"), "-DD", "-E", "-Y", str(self.workdir / "run"),
                "-w", str(self.workdir)]

    def probe(self, timeout: float) -> None:
        for transport in ("tcp", "udp"):
            head = sip_options(self.host, self.port, transport, min(timeout, 0.5))
            if not head.startswith("SIP/2.0 200 "):
                raise ConnectionError(f"OPTIONS over {transport} answered {head.splitlines()[0]!r}")

    def version(self) -> str:
        return debian_version("kamailio")

    def summary(self) -> str:
        return "Kamailio (Debian's stock kamailio.cfg, listen= added) over UDP and TCP"


# -- RTSP: VLC --------------------------------------------------------------------------------------------------

def write_tone(path: Path, seconds: int = 180, rate: int = 8000) -> None:
    """A 400 Hz mono 16-bit WAV file (one 20-sample period, repeated)."""
    import math
    import struct

    period = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * i / 20))) for i in range(20))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(period * (seconds * rate // 20))


def rtsp_status_line(host: str, port: int, path: str, timeout: float, method: str = "OPTIONS") -> str:
    """The status line of the answer to one RTSP request (DESCRIBE asks for SDP)."""
    accept = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"{method} rtsp://{host}:{port}/{path} RTSP/1.0\r\nCSeq: 1\r\n{accept}\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")


class VlcRtspPeer(_PrivateDirPeer):
    """VLC's RTSP server (``cvlc --sout '#...:rtp{sdp=rtsp://...}'``) streaming a PCMU tone, run as the ``nobody``
    user (VLC refuses to run as root). The tone lasts 3 minutes: when VLC's input starts over (``--input-repeat``)
    its RTSP server answers DESCRIBE with 500 for a while (measured with VLC 3.0.24), so a run of the cells must
    never see a repeat."""

    kind: ClassVar[str] = "vlc"
    default_ready_deadline_s: ClassVar[float] = 20.0
    user: ClassVar[str] = "nobody"

    def __init__(self, name: str, workdir: Path, port: int, path: str = "nuance", host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.path = path.strip("/")

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/{self.path}"

    def prepare(self) -> None:
        if shutil.which("cvlc") is None:
            raise self.error("cvlc not found (install 'vlc-bin vlc-plugin-base': python -m gvpconf_lab install)")
        private = self.make_private(self.user)
        tone = private / "tone.wav"
        write_tone(tone)
        os.chmod(tone, 0o644)

    def command(self) -> Sequence[str]:
        sout = f"#transcode{{acodec=ulaw,channels=1,samplerate=8000}}:rtp{{sdp={self.url}}}"
        group = "nogroup"
        return ["setpriv", f"--reuid={self.user}", f"--regid={group}", "--clear-groups", "--",
                # --sout-keep: one RTSP server for the whole run (without it each repeat of the input restarts it)
                "cvlc", "-I", "dummy", "--no-dbus", "--no-video", "--sout-keep", "--input-repeat=-1",
                str(self.private / "tone.wav"), "--sout", sout]

    def environment(self) -> Mapping[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.private)}

    def cwd(self) -> Path:
        return self.private

    def probe(self, timeout: float) -> None:
        # DESCRIBE, not only OPTIONS: ready means the stream, and so its SDP, is there
        line = rtsp_status_line(self.host, self.port, self.path, min(timeout, 1.0), "DESCRIBE")
        if not line.startswith("RTSP/1.0 200"):
            raise ConnectionError(f"RTSP DESCRIBE answered {line!r}")

    def version(self) -> str:
        return debian_version("vlc-bin")

    def summary(self) -> str:
        return f"VLC RTSP server ({self.url}, cvlc as {self.user})"


# -- HTTP: lighttpd ---------------------------------------------------------------------------------------------

LIGHTTPD_CONF = Path("/etc/lighttpd/lighttpd.conf")


class LighttpdPeer(_PrivateDirPeer):
    """lighttpd with Debian's stock lighttpd.conf: port, bind address, document root and log/pid paths changed;
    the IPv6 include dropped (the lab listens on loopback only). ``root`` holds the files to serve."""

    kind: ClassVar[str] = "lighttpd"
    user: ClassVar[str] = "www-data"

    def __init__(self, name: str, workdir: Path, port: int, files: Mapping[str, str], host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.files = dict(files)

    def prepare(self) -> None:
        if not LIGHTTPD_CONF.exists():
            raise self.error(f"{LIGHTTPD_CONF} not found (install 'lighttpd': python -m gvpconf_lab install)")
        private = self.make_private()
        root = private / "www"
        for rel, text in self.files.items():
            path = root / rel.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for d in (root, *root.rglob("*")):
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        logs = private / "log"
        logs.mkdir()
        self.chown(logs, self.user)
        values = {"server.document-root": f'"{root}"', "server.upload-dirs": f'( "{private}" )',
                  "server.errorlog": f'"{logs}/error.log"', "server.pid-file": f'"{private}/lighttpd.pid"',
                  "server.port": str(self.port)}
        lines = []
        for line in LIGHTTPD_CONF.read_text().splitlines():
            key = line.split("=", 1)[0].strip()
            if key in values:
                line = f"{key} = {values.pop(key)}"
            elif line.startswith("include_shell") and "use-ipv6" in line:
                continue
            lines.append(line)
        if values:
            raise self.error(f"{LIGHTTPD_CONF} lacks the keys {sorted(values)}")
        lines.append(f'server.bind = "{self.host}"')
        (private / "lighttpd.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> Sequence[str]:
        return ["lighttpd", "-D", "-f", str(self.private / "lighttpd.conf")]

    def probe(self, timeout: float) -> None:
        _tcp_connect(self.host, self.port, timeout)

    def version(self) -> str:
        return debian_version("lighttpd")

    def summary(self) -> str:
        return "lighttpd (Debian's stock lighttpd.conf, port/root/logs changed)"


# -- the DAS fetch proxy: squid and tinyproxy ------------------------------------------------------------------

SQUID_CONF = Path("/etc/squid/squid.conf")


class SquidPeer(_PrivateDirPeer):
    """squid with Debian's stock squid.conf: ``http_port`` changed, log and pid files of its own, and where the stock
    file says ``INSERT YOUR OWN RULE(S) HERE`` (its ``include /etc/squid/conf.d/*.conf``) a GVP deployment's rule:
    the MCP pods (``mcp_pods``; the lab's MCP is loopback) may fetch from the DAS port(s) ``das_ports`` and nothing
    else, which squid denies itself (403, ``ERR_ACCESS_DENIED``). Every stock rule stays, in its order.

    A denying proxy is the same deployment with the DAS on a port its rule does not name, e.g. ``das_ports=[80]``
    (the architecture page's DAS port) while the DAS listens elsewhere (8081 in the sample chart): squid then denies
    every fetch of the MCP's, before it resolves the DAS's name."""

    kind: ClassVar[str] = "squid"
    user: ClassVar[str] = "proxy"
    default_ready_deadline_s: ClassVar[float] = 20.0

    def __init__(self, name: str, workdir: Path, port: int, *, das_ports: Sequence[int],
                 mcp_pods: Sequence[str] = (f"{LOOPBACK}/32",), host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.das_ports = list(das_ports)
        self.mcp_pods = list(mcp_pods)

    def prepare(self) -> None:
        if not SQUID_CONF.exists():
            raise self.error(f"{SQUID_CONF} not found (install 'squid': python -m gvpconf_lab install)")
        private = self.make_private(self.user)
        deployment = (f"acl gvp_mcp_pods src {' '.join(self.mcp_pods)}\n"
                      f"acl gvp_das_port port {' '.join(str(p) for p in self.das_ports)}\n"
                      "http_access allow gvp_mcp_pods gvp_das_port\nhttp_access deny gvp_mcp_pods\n")
        stock = SQUID_CONF.read_text()
        include = "include /etc/squid/conf.d/*.conf"
        if include not in stock or "\nhttp_port 3128" not in stock:
            raise self.error(f"{SQUID_CONF} is not the stock file this peer knows (no '{include}' or http_port)")
        text = stock.replace(include, include + "\n# gvpconf lab: the MCP pods may fetch from the DAS only\n"
                             + deployment, 1)
        text = text.replace("\nhttp_port 3128", f"\nhttp_port {self.host}:{self.port}", 1)
        text += (f"\n# gvpconf lab: files of this instance\npid_filename {private}/squid.pid\n"
                 f"access_log stdio:{private}/access.log\ncache_log {private}/cache.log\n"
                 f"coredump_dir {private}\nshutdown_lifetime 0 seconds\n")
        (private / "squid.conf").write_text(text)

    def command(self) -> Sequence[str]:
        return ["squid", "-N", "-f", str(self.private / "squid.conf")]

    def probe(self, timeout: float) -> None:
        _tcp_connect(self.host, self.port, timeout)

    def version(self) -> str:
        return debian_version("squid")

    def summary(self) -> str:
        return f"squid (stock squid.conf; the MCP pods may fetch from DAS ports {self.das_ports} only)"


TINYPROXY_CONF = Path("/etc/tinyproxy/tinyproxy.conf")


class TinyproxyPeer(_PrivateDirPeer):
    """tinyproxy with Debian's stock tinyproxy.conf (``Allow 127.0.0.1``); port, log and pid paths changed, and the
    deployment's URL filter: only ``allowed_prefix`` (the DAS origin) is forwarded, the rest denied (403)."""

    kind: ClassVar[str] = "tinyproxy"
    user: ClassVar[str] = "tinyproxy"

    def __init__(self, name: str, workdir: Path, port: int, *, allowed_prefix: str, host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.allowed_prefix = allowed_prefix

    def prepare(self) -> None:
        if not TINYPROXY_CONF.exists():
            raise self.error(f"{TINYPROXY_CONF} not found (install 'tinyproxy': python -m gvpconf_lab install)")
        private = self.make_private(self.user)
        (private / "filter").write_text("^" + re.escape(self.allowed_prefix) + "\n")
        os.chmod(private / "filter", 0o644)
        values = {"Port": str(self.port), "LogFile": f'"{private}/tinyproxy.log"',
                  "PidFile": f'"{private}/tinyproxy.pid"'}
        lines = []
        for line in TINYPROXY_CONF.read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key in values:
                line = f"{key} {values.pop(key)}"
            lines.append(line)
        if values:
            raise self.error(f"{TINYPROXY_CONF} lacks {sorted(values)}")
        lines += ["# gvpconf lab: loopback only, and the DAS origin only", f"Listen {self.host}",
                  f'Filter "{private}/filter"', "FilterURLs On", "FilterType ere", "FilterDefaultDeny Yes"]
        (private / "tinyproxy.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> Sequence[str]:
        return ["tinyproxy", "-d", "-c", str(self.private / "tinyproxy.conf")]

    def probe(self, timeout: float) -> None:
        _tcp_connect(self.host, self.port, timeout)

    def version(self) -> str:
        return debian_version("tinyproxy")

    def summary(self) -> str:
        return f"tinyproxy (stock tinyproxy.conf; only {self.allowed_prefix})"


# -- PostgreSQL through pgbouncer -------------------------------------------------------------------------------

PGBOUNCER_INI = Path("/etc/pgbouncer/pgbouncer.ini")


class PgbouncerPeer(_PrivateDirPeer):
    """pgbouncer with Debian's stock pgbouncer.ini; the deployment's changes: the pooled database, its users
    (auth_file, scram-sha-256), the server link over TLS, and, with ``client_tls``, a certificate for clients
    (``client_tls_sslmode = allow``: TLS offered, not required). Runs as ``postgres`` (it refuses root).

    ``client_tls_protocols`` (e.g. ``tlsv1.2``) caps the client link as a site's TLS policy would, while the server
    link keeps the stock ``secure`` set (TLS 1.3 with PostgreSQL 15): two links on different versions, so a fact
    taken from the server's side (``pg_stat_ssl``) cannot pass for the client's."""

    kind: ClassVar[str] = "pgbouncer"
    user: ClassVar[str] = "postgres"

    def __init__(self, name: str, workdir: Path, port: int, *, server_host: str, server_port: int, database: str,
                 users: Mapping[str, str], client_tls: tuple[Path, Path] | None = None,
                 client_tls_protocols: str | None = None, host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.server_host = server_host
        self.server_port = server_port
        self.database = database
        self.users = dict(users)
        self.client_tls = client_tls
        self.client_tls_protocols = client_tls_protocols
        if client_tls_protocols is not None and client_tls is None:
            raise LabError(f"{name}: client_tls_protocols without client_tls (a certificate)")

    def prepare(self) -> None:
        if not PGBOUNCER_INI.exists():
            raise self.error(f"{PGBOUNCER_INI} not found (install 'pgbouncer': python -m gvpconf_lab install)")
        private = self.make_private(self.user)

        def own(path: Path, mode: int) -> Path:
            os.chmod(path, mode)
            self.chown(path, self.user)
            return path

        userlist = private / "userlist.txt"
        userlist.write_text("".join(f'"{u}" "{p}"\n' for u, p in self.users.items()))
        own(userlist, 0o600)
        values = {"logfile": str(private / "pgbouncer.log"), "pidfile": str(private / "pgbouncer.pid"),
                  "listen_addr": self.host, "listen_port": str(self.port), "unix_socket_dir": "",
                  "auth_type": "scram-sha-256", "auth_file": str(userlist)}
        extra = ["server_tls_sslmode = require"]
        if self.client_tls is not None:
            cert_file = own(Path(shutil.copyfile(self.client_tls[0], private / "client.crt")), 0o644)
            key_file = own(Path(shutil.copyfile(self.client_tls[1], private / "client.key")), 0o600)
            extra += ["client_tls_sslmode = allow", f"client_tls_cert_file = {cert_file}",
                      f"client_tls_key_file = {key_file}"]
            if self.client_tls_protocols is not None:
                extra.append(f"client_tls_protocols = {self.client_tls_protocols}")
        lines: list[str] = []
        for line in PGBOUNCER_INI.read_text().splitlines():
            key = line.split("=", 1)[0].strip()
            if key in values and "=" in line and not line.lstrip().startswith((";", "#")):
                line = f"{key} = {values.pop(key)}"
            lines.append(line)
            if line.strip() == "[databases]":
                lines.append(f"{self.database} = host={self.server_host} port={self.server_port} "
                             f"dbname={self.database}")
            if line.strip() == "[pgbouncer]":
                lines += extra
        if values:
            raise self.error(f"{PGBOUNCER_INI} lacks {sorted(values)}")
        ini = private / "pgbouncer.ini"
        ini.write_text("\n".join(lines) + "\n")
        own(ini, 0o644)

    def command(self) -> Sequence[str]:
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups", "--",
                "pgbouncer", str(self.private / "pgbouncer.ini")]

    def cwd(self) -> Path:
        return self.private

    def probe(self, timeout: float) -> None:
        _tcp_connect(self.host, self.port, timeout)

    def version(self) -> str:
        return debian_version("pgbouncer")

    def summary(self) -> str:
        tls = "client TLS offered" if self.client_tls else "client TLS off (stock)"
        if self.client_tls_protocols is not None:
            tls += f" ({self.client_tls_protocols})"
        return f"pgbouncer -> {self.server_host}:{self.server_port} ({tls})"


# -- TLS: openssl s_server --------------------------------------------------------------------------------------

class OpensslServerPeer(Peer):
    """``openssl s_server -www`` (answers each GET with its status page over TLS), optionally capped at a TLS
    version (``-tls1_2``)."""

    kind: ClassVar[str] = "openssl"

    def __init__(self, name: str, workdir: Path, port: int, *, cert: Path, key: Path, tls1_2_only: bool = False,
                 ca_file: Path | None = None, host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.cert, self.key = cert, key
        self.tls1_2_only = tls1_2_only
        self.ca_file = ca_file

    def command(self) -> Sequence[str]:
        return ["openssl", "s_server", "-accept", f"{self.host}:{self.port}", "-cert", str(self.cert),
                "-key", str(self.key), "-www", "-quiet", *(["-tls1_2"] if self.tls1_2_only else [])]

    def probe(self, timeout: float) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.host, self.port), timeout=timeout) as raw, ctx.wrap_socket(raw):
            pass

    def version(self) -> str:
        return debian_version("openssl")

    def summary(self) -> str:
        return "openssl s_server -www" + (" -tls1_2" if self.tls1_2_only else "")


# -- WebSocket and gRPC on Node.js ------------------------------------------------------------------------------

class NodePeer(Peer):
    """One of the lab's Node.js servers (``node/<script>``) on the npm packages in ``node/node_modules``."""

    kind: ClassVar[str] = "node"
    default_ready_deadline_s: ClassVar[float] = 20.0

    def __init__(self, name: str, workdir: Path, port: int, *, script: str, args: Sequence[str],
                 ready: Callable[[float], None], what: str, host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host)
        self.script = NODE_DIR / script
        self.args = list(args)
        self._ready = ready
        self.what = what

    def prepare(self) -> None:
        if shutil.which("node") is None:
            raise self.error("node not found (install 'npm': python -m gvpconf_lab install)")
        if node_modules_missing():
            raise self.error(f"npm packages {node_modules_missing()} missing in {NODE_MODULES} "
                             "(python -m gvpconf_lab install runs npm ci there)")

    def command(self) -> Sequence[str]:
        return ["node", str(self.script), "--host", self.host, "--port", str(self.port), *self.args]

    def probe(self, timeout: float) -> None:
        self._ready(timeout)

    def summary(self) -> str:
        return self.what


def tcp_ready(host: str, port: int) -> Callable[[float], None]:
    return lambda timeout: _tcp_connect(host, port, timeout)


# -- ActiveMQ with the three connectors -------------------------------------------------------------------------

class ActiveMQConnectorsPeer(ActiveMQPeer):
    """ActiveMQ Classic with three connectors, as a deployment could enable them: the stock ``tcp://`` (OpenWire
    only, the broker's default), ``stomp://`` on its own port (``ActiveMQPeer``'s ``stomp_port``) and ``auto://``
    (OpenWire and STOMP on one port); one user (``simpleAuthenticationPlugin``, no anonymous access).
    ``port`` is the ``tcp://`` connector."""

    def __init__(self, name: str, workdir: Path, port: int, *, stomp_port: int, auto_port: int,
                 host: str = LOOPBACK) -> None:
        super().__init__(name, workdir, port, host, stomp_port=stomp_port)
        self.auto_port = auto_port

    def prepare(self) -> None:
        super().prepare()
        conf = self.conf_dir / "activemq.xml"
        xml = conf.read_text()
        end = xml.index("</transportConnectors>")
        auto = f'  <transportConnector name="auto" uri="auto://{self.host}:{self.auto_port}"/>\n    '
        conf.write_text(xml[:end] + auto + xml[end:])

    def probe(self, timeout: float) -> None:
        super().probe(timeout)
        _tcp_connect(self.host, self.auto_port, timeout)

    def version(self) -> str:
        return debian_version("activemq")


@contextlib.contextmanager
def running(*peers: Peer, deadline_s: float | None = None) -> Iterator[tuple[Peer, ...]]:
    """Start ``peers`` together, wait until each is ready, stop each by PID on exit."""
    started: list[Peer] = []
    try:
        for peer in peers:
            peer.start()
            started.append(peer)
        for peer in peers:
            peer.wait_ready(deadline_s)
        yield peers
    finally:
        errors = []
        for peer in reversed(started):
            try:
                peer.stop()
            except LabError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
