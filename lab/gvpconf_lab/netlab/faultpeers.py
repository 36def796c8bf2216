"""The fault lab's web peers, each in its node's namespace: the DAS (nginx from Debian serving a VoiceXML
application), the ORS, the web server and the customer system (nginx serving fixed files: a health document,
VoiceXML, a JSON status), and the MCP's fetch proxy (tinyproxy from Debian, its filter list naming denied hosts).

Both are real servers configured as shipped plus what a deployment changes: nginx serves a document root,
tinyproxy admits the cluster's subnet and filters by host (a filter file re-read on SIGUSR1, as its manual
says). The faults change a file (the application becomes an HTML error page, the DAS host is put on the
proxy's filter list); nothing is restarted.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from gvpconf.vxml import VXML_NS
from gvpconf_lab.base import Peer
from gvpconf_lab.netlab.peers import NetnsPeer
from gvpconf_lab.web import nginx_conf

DAS_APP = "/gvp/app.vxml"

VXML = """<?xml version="1.0" encoding="UTF-8"?>
<vxml xmlns="{ns}" version="2.1" xml:lang="en-US">
  <form id="main"><block><prompt>gvpconf fault lab application</prompt></block></form>
</vxml>
"""

#: what a misbehaving front end serves instead of the application, with status 200
HTML_ERROR = """<!DOCTYPE html>
<html><head><title>Application unavailable</title></head>
<body><h1>We are sorry</h1><p>The application is temporarily unavailable.</p></body></html>
"""


# no User: it keeps the lab's user, as the lab's other peers do (its files may live under a 0700 directory)
_TINYPROXY = """Port {port}
Listen {host}
Timeout 10
LogLevel Info
PidFile "{wd}/tinyproxy.pid"
MaxClients 64
Allow {allow}
ConnectPort 443
ViaProxyName "gvpconf-fault-lab-proxy"
Filter "{filter}"
FilterType fnmatch
FilterDefaultDeny No
"""


class _NginxSite(Peer):
    """nginx from Debian serving ``files`` (URL path -> content) on one address, as shipped but for its document
    root; the paths in ``json_paths`` are served as ``application/json``."""

    kind: ClassVar[str] = "nginx"
    default_ready_deadline_s: ClassVar[float] = 15.0

    def __init__(self, name: str, workdir: Path, port: int, host: str, files: Mapping[str, str], what: str,
                 json_paths: Sequence[str] = ()) -> None:
        super().__init__(name, workdir, port, host)
        self.root = self.workdir / "www"
        self.files, self.what, self.json_paths = dict(files), what, list(json_paths)

    def prepare(self) -> None:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        for path, text in self.files.items():
            target = self.root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        routes = "".join(f"location = {p} {{ default_type application/json; }} " for p in self.json_paths)
        server = f"  server {{ listen {self.host}:{self.port}; root {self.root}; {routes}}}"
        (self.workdir / "nginx.conf").write_text(nginx_conf(
            self.workdir, server, connections=64, types="application/voicexml+xml vxml; text/html html;"))

    def command(self) -> Sequence[str]:
        return [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(self.workdir / "nginx.conf"),
                "-p", str(self.workdir)]

    def probe(self, timeout: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", next(iter(self.files)))
            if conn.getresponse().status != 200:
                raise ConnectionError(f"nginx does not serve {self.what} yet")
        finally:
            conn.close()

    def summary(self) -> str:
        return f"nginx serving {self.what}"


class _DasNginx(_NginxSite):
    def __init__(self, name: str, workdir: Path, port: int, host: str) -> None:
        super().__init__(name, workdir, port, host, {DAS_APP: VXML.format(ns=VXML_NS)},
                         f"the DAS application {DAS_APP}")
        self.app = self.root / DAS_APP.lstrip("/")

    def serve(self, text: str) -> None:
        """Replace the application's content (nginx serves the file as it is on disk: no reload)."""
        self.app.write_text(text)


class _Tinyproxy(Peer):
    kind: ClassVar[str] = "tinyproxy"

    def __init__(self, name: str, workdir: Path, port: int, host: str, allow: str) -> None:
        super().__init__(name, workdir, port, host)
        self.allow = allow
        self.filter = self.workdir / "filter"

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.deny([])
        (self.workdir / "tinyproxy.conf").write_text(_TINYPROXY.format(
            port=self.port, host=self.host, wd=self.workdir, allow=self.allow, filter=self.filter))

    def deny(self, hosts: Sequence[str]) -> None:
        """Hosts on the filter list (fnmatch); the running proxy re-reads it (SIGUSR1)."""
        self.filter.write_text("".join(f"{h}\n" for h in hosts) or "# nothing filtered\n")
        self.filter.chmod(0o644)
        if self.pid is not None:
            os.kill(self.pid, signal.SIGUSR1)

    def command(self) -> Sequence[str]:
        return [shutil.which("tinyproxy") or "/usr/bin/tinyproxy", "-d", "-c", str(self.workdir / "tinyproxy.conf")]

    def probe(self, timeout: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", "/")  # not a proxy request: tinyproxy answers it itself (400)
            if conn.getresponse().status != 400:
                raise ConnectionError("not tinyproxy's answer")
        finally:
            conn.close()

    def summary(self) -> str:
        return "tinyproxy (the MCP's fetch proxy, filter by host)"


class NetnsDasNginx(NetnsPeer, _DasNginx):
    """The DAS in its node."""


class NetnsTinyproxy(NetnsPeer, _Tinyproxy):
    """The fetch proxy in its node."""


class NetnsNginxSite(NetnsPeer, _NginxSite):
    """The ORS, the web server or the customer system in its node."""
