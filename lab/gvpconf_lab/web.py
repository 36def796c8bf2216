"""Lab components of the web area: the peers of connections 11, 12, 13, 18, 20, 21, 22.

=================  ==========================================================================  ================
component          what runs                                                                   real / stand-in
=================  ==========================================================================  ================
``web_http``       nginx (Debian) serving VXML files, an ORS-like and a customer JSON endpoint  real HTTP server;
                   on HTTP, HTTPS (lab CA, HTTP/2) and on negative-test HTTPS ports (expired,  ORS/DAS/customer
                   wrong-hostname and untrusted-CA certificates); a forward proxy (own code)   are stand-ins
                   that logs every request, used by 12                                          (content only)
``nexus``          websockets TLS server enforcing auth header, path and subprotocol           STAND-IN (real WS)
``google_tts``     grpcio TLS server with the real TextToSpeech service definition, requiring  STAND-IN (real
                   a JWT signed by the lab's service-account key; its certificate names         gRPC, real proto)
                   texttospeech.googleapis.com (signed by the lab CA)
``gvp_metrics``    prometheus_client endpoints as gvp-rm-0 / gvp-mcp-0, and Prometheus         real Prometheus
                   (Debian) scraping them every second, plus one target that is down
=================  ==========================================================================  ================
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from gvpconf_lab.base import LOOPBACK, Peer, gvpconf_env
from gvpconf_lab.component import Component
from gvpconf_lab.ports import free_port
from gvpconf_lab.tlsca import make_ca

VXML_NS = "http://www.w3.org/2001/vxml"
TTS_NAME = "texttospeech.googleapis.com"
NEXUS_SUBPROTOCOL = "nexus.voicebot.v1"
NEXUS_PATH = "/nexus/v3/voicebot"

_VXML = """<?xml version="1.0" encoding="UTF-8"?>
<vxml xmlns="{ns}" version="{version}" xml:lang="en-US">
  <form id="{form}">
    <block><prompt>gvpconf lab application {form}</prompt></block>
  </form>
</vxml>
"""

_HTML_ERROR = """<!DOCTYPE html>
<html><head><title>Application unavailable</title></head>
<body><h1>We are sorry</h1><p>The application is temporarily unavailable.</p></body></html>
"""

_XXE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE vxml [ <!ENTITY secret SYSTEM "{canary}"> ]>
<vxml xmlns="{ns}" version="2.1"><form><block><prompt>&secret;</prompt></block></form></vxml>
"""

_BOMB = """<?xml version="1.0"?>
<!DOCTYPE vxml [
 <!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<vxml xmlns="{ns}" version="2.1"><form><block>&e;</block></form></vxml>
"""

_ROUTES = """
location = /ors/health { default_type application/json; return 200 '{"status":"ok","service":"ors-standin"}'; }
location = /customer/api/status { default_type application/json; return 200 '{"status":"up","version":"9.0"}'; }
location = /forbidden { return 403; }
location = /xxe-canary { return 200 'FETCHED'; }
"""

def nginx_conf(workdir: Path, servers: str, *, connections: int, types: str) -> str:
    """An nginx.conf for a peer that runs in its own directory ``workdir`` (its pid, logs and temporary files
    there, in the foreground), serving the ``server`` blocks ``servers``: the lab's and the fault lab's nginx."""
    wd = workdir
    return f"""worker_processes 1;
user root;
daemon off;
error_log {wd}/error.log warn;
pid {wd}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
  access_log {wd}/access.log;
  client_body_temp_path {wd}/tmp/body; proxy_temp_path {wd}/tmp/proxy; fastcgi_temp_path {wd}/tmp/fastcgi;
  uwsgi_temp_path {wd}/tmp/uwsgi; scgi_temp_path {wd}/tmp/scgi;
  types {{ {types} }}
  default_type application/octet-stream;
  server_tokens off;
{servers}
}}
"""


_NGINX_SERVERS = """  server {{ listen {host}:{http}; root {root}; {routes} }}
  server {{ listen {host}:{https} ssl http2; ssl_certificate {cert}; ssl_certificate_key {key}; root {root};
            {routes} }}
  server {{ listen {host}:{expired} ssl; ssl_certificate {expired_cert}; ssl_certificate_key {expired_key};
            root {root}; {routes} }}
  server {{ listen {host}:{wronghost} ssl; ssl_certificate {wrong_cert}; ssl_certificate_key {wrong_key};
            root {root}; {routes} }}
  server {{ listen {host}:{untrusted} ssl; ssl_certificate {untrusted_cert}; ssl_certificate_key {untrusted_key};
            root {root}; {routes} }}"""


def _have(binary: str) -> Callable[[], bool]:
    return lambda: shutil.which(binary) is not None


class NginxPeer(Peer):
    kind: ClassVar[str] = "nginx"
    default_ready_deadline_s: ClassVar[float] = 15.0
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, *, tls_port: int, expired_port: int,
                 wronghost_port: int, untrusted_port: int, certs: Mapping[str, tuple[Path, Path]]) -> None:
        super().__init__(name, workdir, port)
        self.tls_port = tls_port
        self.expired_port = expired_port
        self.wronghost_port = wronghost_port
        self.untrusted_port = untrusted_port
        self.certs = dict(certs)
        self.root = self.workdir / "www"
        self.access_log = self.workdir / "access.log"

    def prepare(self) -> None:
        for sub in ("das", "web", "bad", "tmp"):
            (self.root / sub if sub != "tmp" else self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        (self.root / "das" / "app.vxml").write_text(_VXML.format(ns=VXML_NS, version="2.1", form="das_main"))
        (self.root / "web" / "main.vxml").write_text(_VXML.format(ns=VXML_NS, version="2.1", form="main"))
        (self.root / "web" / "sub.vxml").write_text(_VXML.format(ns=VXML_NS, version="2.0", form="sub"))
        (self.root / "bad" / "error.vxml").write_text(_HTML_ERROR)  # an HTML page where VXML was expected
        canary = f"http://{self.host}:{self.port}/xxe-canary"
        (self.root / "bad" / "xxe.vxml").write_text(_XXE.format(ns=VXML_NS, canary=canary))
        (self.root / "bad" / "bomb.vxml").write_text(_BOMB.format(ns=VXML_NS))
        (self.root / "bad" / "plain.xml").write_text('<?xml version="1.0"?><config><a/></config>\n')
        routes = " ".join(_ROUTES.split())
        c = self.certs
        servers = _NGINX_SERVERS.format(
            host=self.host, http=self.port, https=self.tls_port, expired=self.expired_port,
            wronghost=self.wronghost_port, untrusted=self.untrusted_port, root=self.root, routes=routes,
            cert=c["ok"][0], key=c["ok"][1], expired_cert=c["expired"][0], expired_key=c["expired"][1],
            wrong_cert=c["wronghost"][0], wrong_key=c["wronghost"][1], untrusted_cert=c["untrusted"][0],
            untrusted_key=c["untrusted"][1])
        types = "application/voicexml+xml vxml; text/html html; application/xml xml; application/json json;"
        (self.workdir / "nginx.conf").write_text(nginx_conf(self.workdir, servers, connections=128, types=types))

    def command(self) -> Sequence[str]:
        return ["nginx", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")]

    def probe(self, timeout: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", "/das/app.vxml")
            resp = conn.getresponse()
            if resp.status != 200 or b"<vxml" not in resp.read():
                raise ConnectionError(f"nginx answered {resp.status}")
        finally:
            conn.close()
        ctx = ssl.create_default_context(cafile=str(self.certs["ca"][0]))
        with socket.create_connection((self.host, self.tls_port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost"):
            pass

    def fetched(self, path: str) -> int:
        """How many requests for ``path`` nginx has logged."""
        try:
            return sum(f" {path} " in line for line in self.access_log.read_text().splitlines())
        except OSError:
            return 0

    def summary(self) -> str:
        return (f"nginx (HTTP {self.port}, HTTPS+h2 {self.tls_port}; negative HTTPS: expired {self.expired_port}, "
                f"wrong host {self.wronghost_port}, untrusted CA {self.untrusted_port})")


class PythonServerPeer(Peer):
    """One of :mod:`gvpconf_lab.web_servers` in its own process."""

    default_ready_deadline_s: ClassVar[float] = 20.0
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, which: str, args: Sequence[str],
                 ready: Callable[[float], None], what: str) -> None:
        super().__init__(name, workdir, port)
        self.which = which
        self.args = list(args)
        self._ready = ready
        self.what = what

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.web_servers", self.which, "--host", self.host,
                "--port", str(self.port), *self.args]

    def environment(self) -> dict[str, str]:
        return gvpconf_env() | {"PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "NONE"}

    def probe(self, timeout: float) -> None:
        self._ready(timeout)

    def summary(self) -> str:
        return self.what


class WebHttpComponent(Component):
    """11, 12, 20, 21: nginx on HTTP and HTTPS, and a forward proxy that 12 goes through."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"nginx": _have("nginx")}
    stand_ins: ClassVar[Mapping[str, str]] = {
        "ors": "nginx serving an ORS-like endpoint (stand-in content)",
        "das": "nginx serving stand-in VoiceXML applications",
        "customer": "nginx serving a stand-in customer endpoint"}

    def make_peers(self) -> list[Peer]:
        ca = self.lab.ca
        other = make_ca(self.workdir / "untrusted-ca", common_name="gvpconf UNTRUSTED CA")
        certs = {"ok": ca.issue("web-nginx"), "expired": ca.issue("web-nginx-expired", expired=True),
                 "wronghost": ca.issue("web-nginx-wronghost", dns=["wrong.invalid"], ips=[]),
                 "untrusted": other.issue("web-nginx-untrusted"), "ca": (ca.ca_cert, ca.ca_cert)}
        self.nginx = NginxPeer("nginx", self.workdir / "nginx", self.port(), tls_port=self.port("https"),
                               expired_port=free_port(), wronghost_port=free_port(), untrusted_port=free_port(),
                               certs=certs)
        self.proxy_log = self.workdir / "proxy" / "requests.log"
        self.proxy_log.parent.mkdir(parents=True, exist_ok=True)
        port = self.port("proxy")
        self.proxy = PythonServerPeer("http-proxy", self.workdir / "proxy", port, "proxy",
                                      ["--log", str(self.proxy_log)], _tcp_ready(port),
                                      "forward HTTP proxy (own code) logging each request")
        return [self.nginx, self.proxy]

    def proxy_requests(self) -> list[str]:
        try:
            return self.proxy_log.read_text().splitlines()
        except OSError:
            return []

    def destinations(self) -> dict[str, Any]:
        n = self.nginx
        tls = self.lab.ca.inventory_tls()
        return {
            "ors": {"scheme": "https", "tls": tls, "method": "GET", "path": "/ors/health",
                    "accept_status": ["200"], "targets": [{"name": "ors", "host": "localhost", "port": n.tls_port}]},
            "das": {"scheme": "http", "proxy": f"http://{self.proxy.host}:{self.proxy.port}",
                    "applications": ["/das/app.vxml"],
                    "targets": [{"name": "gvp-das", "host": n.host, "port": n.port}]},
            "web": {"scheme": "https", "tls": dict(tls), "applications": ["/web/main.vxml", "/web/sub.vxml"],
                    "targets": [{"name": "web-server", "host": "localhost", "port": n.tls_port}]},
            "customer": {"scheme": "http", "path": "/customer/api/status", "json_field": "status",
                         "json_value": "up", "targets": [{"name": "customer-crm", "host": n.host, "port": n.port}]},
        }


def _tcp_ready(port: int) -> Callable[[float], None]:
    def ready(timeout: float) -> None:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            pass

    return ready


class NexusComponent(Component):
    """13: STAND-IN for Nexus (TLS WebSocket server on the websockets library)."""

    stand_ins: ClassVar[Mapping[str, str]] = {"nexus": "a WebSocket stand-in (the websockets library, TLS)"}

    def make_peers(self) -> list[Peer]:
        self.cert, self.key = self.lab.ca.issue("web-nexus")
        self.token = "nexus-" + secrets.token_urlsafe(24)
        self.token_file = self.write_secret("token", self.token)
        port = self.port()
        ca = self.lab.ca.ca_cert

        def ready(timeout: float) -> None:
            ctx = ssl.create_default_context(cafile=str(ca))
            with socket.create_connection((LOOPBACK, port), timeout=timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(f"GET {NEXUS_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                if not tls.recv(64).startswith(b"HTTP/1.1 401"):
                    raise ConnectionError("nexus stand-in does not answer 401 yet")

        self.server = PythonServerPeer(
            "nexus", self.workdir, port, "nexus",
            ["--cert", str(self.cert), "--key", str(self.key), "--token-file", str(self.token_file),
             "--subprotocol", NEXUS_SUBPROTOCOL, "--path", NEXUS_PATH], ready,
            f"STAND-IN for Nexus: websockets TLS server, path {NEXUS_PATH}, subprotocol {NEXUS_SUBPROTOCOL}, "
            "bearer token required")
        return [self.server]

    def destinations(self) -> dict[str, Any]:
        return {"nexus": {"scheme": "wss", "path": NEXUS_PATH, "subprotocol": NEXUS_SUBPROTOCOL,
                          "token": {"file": str(self.token_file)},
                          "tls": self.lab.ca.inventory_tls(),
                          "targets": [{"name": "nexus", "host": "localhost", "port": self.server.port}]}}


def service_account_key(client_email: str = "gvp-tts@gvpconf-lab.iam.gserviceaccount.com") -> tuple[str, str]:
    """(service-account key JSON, public key PEM): a lab-made key in Google's key-file format."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    info = {"type": "service_account", "project_id": "gvpconf-lab", "private_key_id": secrets.token_hex(20),
            "private_key": private, "client_email": client_email, "client_id": "1",
            # never used (the probe self-signs a JWT); a loopback port nothing listens on, never Google's
            "token_uri": "http://127.0.0.1:9/token"}
    return json.dumps(info), public


class GoogleTtsComponent(Component):
    """22: STAND-IN for texttospeech.googleapis.com (grpcio, real service definition, TLS, auth enforced)."""

    stand_ins: ClassVar[Mapping[str, str]] = {"google_tts": "a gRPC TextToSpeech stand-in (grpcio, the real proto)"}

    def make_peers(self) -> list[Peer]:
        self.cert, self.key = self.lab.ca.issue("web-tts", dns=[TTS_NAME, "localhost"], ips=["127.0.0.1"])
        key_json, public = service_account_key()
        self.credentials_file = self.write_secret("credentials", key_json)
        self.public_key = self.workdir / "sa-public.pem"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.public_key.write_text(public)
        port = self.port()
        ca = self.lab.ca.ca_cert

        def ready(timeout: float) -> None:
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.set_alpn_protocols(["h2"])
            with socket.create_connection((LOOPBACK, port), timeout=timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname=TTS_NAME) as tls:
                if tls.selected_alpn_protocol() != "h2":
                    raise ConnectionError("no h2")

        self.server = PythonServerPeer(
            "google-tts", self.workdir, port, "tts",
            ["--cert", str(self.cert), "--key", str(self.key), "--public-key", str(self.public_key)], ready,
            f"STAND-IN for {TTS_NAME}: grpcio TextToSpeech (real proto), TLS, JWT required")
        return [self.server]

    def destinations(self) -> dict[str, Any]:
        return {"google_tts": {"credentials": {"file": str(self.credentials_file)},
                               "tls": self.lab.ca.inventory_tls(server_name=TTS_NAME),
                               "targets": [{"name": "google-tts", "host": LOOPBACK, "port": self.server.port}]}}


_PROM_CONF = """global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: gvp
    static_configs:
      - targets: [{targets}]
"""


class PrometheusPeer(Peer):
    kind: ClassVar[str] = "prometheus"
    default_ready_deadline_s: ClassVar[float] = 30.0
    poll_interval_s: ClassVar[float] = 0.1

    def __init__(self, name: str, workdir: Path, port: int, *, up: Sequence[str], down: Sequence[str]) -> None:
        super().__init__(name, workdir, port)
        self.up_targets = list(up)
        self.down_targets = list(down)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        targets = ", ".join(f"'{t}'" for t in [*self.up_targets, *self.down_targets])
        (self.workdir / "prometheus.yml").write_text(_PROM_CONF.format(targets=targets))

    def command(self) -> Sequence[str]:
        return ["prometheus", f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address={self.host}:{self.port}",
                "--log.level=warn", "--storage.tsdb.retention.time=1h"]

    def targets(self, timeout: float = 2.0) -> dict[str, dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets?state=active", timeout=timeout) as resp:
            data = json.load(resp)
        return {t["labels"]["instance"]: t for t in data["data"]["activeTargets"]}

    def probe(self, timeout: float) -> None:
        """Ready once every expected target has been scraped: up ones up, the down one down."""
        found = self.targets(timeout)
        for t in self.up_targets:
            if found.get(t, {}).get("health") != "up":
                raise ConnectionError(f"{t} not scraped as up yet")
        for t in self.down_targets:
            if found.get(t, {}).get("health") != "down":
                raise ConnectionError(f"{t} not scraped as down yet")

    def summary(self) -> str:
        return f"Prometheus (Debian), scraping {', '.join(self.up_targets)} and down target(s) {self.down_targets}"


class GvpMetricsComponent(Component):
    """18: prometheus_client endpoints playing GVP pods, and a real Prometheus scraping them."""

    packages: ClassVar[Mapping[str, Callable[[], bool]]] = {"prometheus": _have("prometheus")}
    PODS: ClassVar[dict[str, list[str]]] = {
        "gvp-rm-0": ["rmPRStatus", "rmPRActiveCalls", "rmPRTotalCalls"],
        "gvp-mcp-0": ["mcpSipCurrentInboundSessions"],
    }

    def make_peers(self) -> list[Peer]:
        self.endpoints: dict[str, PythonServerPeer] = {}
        for pod, families in self.PODS.items():
            port = self.port(pod)
            self.endpoints[pod] = PythonServerPeer(
                pod, self.workdir / pod, port, "metrics", ["--families", ",".join(families)], _metrics_ready(port),
                f"prometheus_client metrics endpoint as {pod} ({', '.join(families)})")
        self.down_port = free_port()  # nothing listens: Prometheus sees this target down
        up = [f"{LOOPBACK}:{p.port}" for p in self.endpoints.values()]
        self.prometheus = PrometheusPeer("prometheus", self.workdir / "prometheus", self.port("prometheus"), up=up,
                                         down=[f"{LOOPBACK}:{self.down_port}"])
        return [*self.endpoints.values(), self.prometheus]

    def destinations(self) -> dict[str, Any]:
        return {"gvp_metrics": {"path": "/metrics", "prometheus_url": self.prometheus.url, "prometheus_job": "gvp",
                                "targets": [{"name": pod, "host": p.host, "port": p.port}
                                            for pod, p in self.endpoints.items()]}}


def _metrics_ready(port: int) -> Callable[[float], None]:
    def ready(timeout: float) -> None:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=timeout) as resp:
            if resp.status != 200:
                raise ConnectionError(f"metrics answered {resp.status}")

    return ready
