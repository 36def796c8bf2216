"""The namespace lab with the levers the fault catalog pulls (``gvpconf_lab.netlab.faults``).

``FaultLab`` is ``NetLab`` plus:

* a resolver: dnsmasq (a real DNS server, Debian's ``dnsmasq-base``) in a node of its own (``dns``),
  authoritative for ``gvp.lab`` (``--local``: a name it does not hold is NXDOMAIN), its records in a hosts
  file it re-reads on SIGHUP. Every namespace gets ``/etc/netns/<ns>/resolv.conf`` pointing at it (``ip
  netns exec`` mounts it over ``/etc/resolv.conf``; the files are removed at teardown). The SIP Server
  (connection 1) is named ``sip-server.gvp.lab`` in the inventory, so its probes resolve it;
* PostgreSQL's TLS minimum in the inventory is TLSv1.3 (what a hardened deployment asks): a server capped
  at TLSv1.2 is then a fault the suite must name;
* call media, with the call tests opted into (``calls: true``) so that a healthy run verifies them too:
  4's ``sip.call`` from the RM pods to each MCP pod's sipp (its RTP echo); 9's ``sbc.call`` to the SBC
  node, where the lab's SBC is what the loopback lab runs (``gvpconf_lab.voice``): a SIP front STAND-IN on
  5060/udp anchoring the media in a real rtpengine (its call ports 20000-20099, kept out of the range the
  inventory samples, 20100-45000, as the loopback lab keeps them disjoint), which relays it to an RTP echo
  (sipp) through the lab's relay (``gvpconf_lab.voice_relay``, a plain pass-through until a fault gives it
  loss or jitter); Nuance (14, 19) in a node of its own: sipp as its SIP side and GStreamer's RTSP server
  on 14000, whose PLAY streams real RTP into the MCP pod (19's ``rtp.ingress``, run from each MCP pod by
  the catalog: the runner has no Nuance pod to run 19 from);
* the ORS (11), the web server (20) and the customer system (21): nginx from Debian in a node each, on the
  table's ports, over plain http (a health document, two VoiceXML applications, a JSON status); SQL Server
  (16): the loopback lab's TDS STAND-IN in the sqlserver node;
* levers: a rule in a pod's egress chain or in a node's INPUT chain (each returns its undo), signals to a
  peer's process, the resolver's records and state, the media relay's loss and jitter.

Every lever returns a callable that undoes it; the catalog calls it before the next fault.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from gvpconf.vxml import VXML_NS
from gvpconf_lab.base import LabError, Peer, gvpconf_env, stop_process
from gvpconf_lab.data import CONSUL_SERVICE, WRITE_PREFIX, ConsulStandIn, TdsStandIn
from gvpconf_lab.netlab import netns, policy
from gvpconf_lab.netlab.faultpeers import DAS_APP, VXML, NetnsDasNginx, NetnsNginxSite, NetnsTinyproxy
from gvpconf_lab.netlab.lab import SUBNET, NetLab, Node
from gvpconf_lab.netlab.peers import NetnsActiveMQ, NetnsPeer, NetnsPostgres, NetnsSipp
from gvpconf_lab.netlab.policy import Endpoint
from gvpconf_lab.sipp import SippPeer
from gvpconf_lab.tlsca import CA, make_ca
from gvpconf_lab.voice import RtpenginePeer, RtspServerPeer, SbcFrontPeer
from gvpconf_lab.web import (
    NEXUS_PATH,
    NEXUS_SUBPROTOCOL,
    TTS_NAME,
    PrometheusPeer,
    PythonServerPeer,
    service_account_key,
)

Undo = Callable[[], None]
DOMAIN = "gvp.lab"
SIP_SERVER_NAME = f"sip-server.{DOMAIN}"
RESOLV_OPTIONS = "options timeout:1 attempts:2\n"
SBC_RANGE = (20000, 45000)
#: rtpengine's own ports for the test calls, and the part of the range the inventory names (sampled by 9's
#: rtp.range): disjoint, as in the loopback lab, so that a sampled port never lands on a port a call holds
SBC_CALL_PORTS = (20000, 20099)
SBC_SAMPLED = (SBC_CALL_PORTS[1] + 1, SBC_RANGE[1])
RTPENGINE_NG_PORT, SBC_ECHO_SIP_PORT, RELAY_PORT = 2223, 5080, 9000
NUANCE_SIP_PORT, NUANCE_RTSP_PORT = 5060, 14000
#: the call tests' media in the fault lab. Thresholds as the loopback lab's (``gvpconf_lab.voice``: two shared
#: cores, one scheduling stall lifts the RFC 3550 jitter by tens of ms). 9's call sends 200 packets so that
#: the seeded 5% loss of the catalog's fault is measured, not guessed from a handful
CALL_MEDIA = {"packets": 50, "ptime_ms": 20, "max_loss_pct": 4.0, "max_jitter_ms": 80.0, "settle_ms": 800}
SBC_MEDIA = CALL_MEDIA | {"packets": 200, "max_loss_pct": 2.0}


def dns_query(name: str, qtype: int = 1, ident: int = 0x4756) -> bytes:
    """A DNS query (RFC 1035 §4.1) for ``name``, recursion desired."""
    labels = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", qtype, 1)


def dns_rcode(answer: bytes, ident: int = 0x4756) -> tuple[int, int]:
    """(RCODE, ANCOUNT) of a DNS answer to ``dns_query``; ValueError when it is not one."""
    if len(answer) < 12:
        raise ValueError(f"a {len(answer)}-byte answer is no DNS message")
    got, flags, _qd, ancount = struct.unpack("!HHHH", answer[:8])
    if got != ident or not flags & 0x8000:
        raise ValueError("not an answer to our query")
    return flags & 0x000F, ancount


class _DnsmasqServer(Peer):
    """dnsmasq as the cluster's resolver: authoritative for ``gvp.lab``, records from ``hosts``, no upstream."""

    kind: ClassVar[str] = "dnsmasq"

    def __init__(self, name: str, workdir: Path, port: int, host: str, records: dict[str, str],
                 upstream: str | None = None) -> None:
        super().__init__(name, workdir, port, host)
        self.records = dict(records)
        self.hosts_file = self.workdir / "hosts"
        #: ``addr#port``: forward the zone there instead of answering it (the SERVFAIL fault's broken upstream)
        self.upstream = upstream

    def write_records(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text("".join(f"{addr} {name}\n" for name, addr in self.records.items()))
        self.hosts_file.chmod(0o644)

    def prepare(self) -> None:
        self.write_records()

    def command(self) -> Sequence[str]:
        zone = f"--server=/{DOMAIN}/{self.upstream}" if self.upstream else f"--local=/{DOMAIN}/"
        return [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts_file}", zone, "--domain-needed",
                "--user=root",  # its files may live under a 0700 directory: it keeps the lab's user, as nginx does
                f"--listen-address={self.host}", "--bind-interfaces", f"--port={self.port}",
                "--pid-file=", "--log-facility=-", "--cache-size=0"]

    def port_kind(self) -> str:
        return "udp"

    def query(self, name: str, timeout: float) -> tuple[int, int]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(dns_query(name), (self.host, self.port))
            return dns_rcode(sock.recv(512))

    def probe(self, timeout: float) -> None:
        rcode, count = self.query(next(iter(self.records), f"probe.{DOMAIN}"), timeout)
        if self.upstream and rcode == 2:
            return  # SERVFAIL is what this resolver is for
        if rcode != 0 or count < 1:
            raise ConnectionError(f"dnsmasq answered rcode {rcode} with {count} records")

    def reload(self) -> None:
        """Write the records and make dnsmasq re-read them (SIGHUP)."""
        self.write_records()
        if self.pid is not None:
            os.kill(self.pid, signal.SIGHUP)

    def summary(self) -> str:
        return f"dnsmasq (resolver, authoritative for {DOMAIN})"


class DnsmasqPeer(NetnsPeer, _DnsmasqServer):
    """The resolver in its node's namespace."""


class NetnsActiveMQWithoutConnector(NetnsActiveMQ):
    """The broker with its ``transportConnectors`` emptied: the JVM runs, nothing listens on 61616."""

    def prepare(self) -> None:
        super().prepare()
        conf = self.conf_dir / "activemq.xml"
        xml = conf.read_text()
        start, end = xml.index("<transportConnectors>"), xml.index("</transportConnectors>")
        conf.write_text(xml[:start] + "<transportConnectors/>" + xml[end + len("</transportConnectors>"):])

    def probe(self, timeout: float) -> None:
        if "started" not in self.log_path.read_text(errors="replace").rsplit("Apache ActiveMQ", 1)[-1]:
            raise ConnectionError("the broker has not said it started")

    def owns_port(self) -> bool:
        return True  # it holds no port: that is the fault


def serve_servfail(host: str, port: int) -> None:
    """A broken authoritative server: every query is answered SERVFAIL (RFC 1035 RCODE 2)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        while True:
            query, peer = sock.recvfrom(512)
            if len(query) >= 12:
                sock.sendto(query[:2] + bytes([0x80 | (query[2] & 0x79), 0x82]) + query[4:6] + bytes(6) + query[12:],
                            peer)


class NetnsTds(NetnsPeer, TdsStandIn):
    """The SQL Server STAND-IN (TDS) in the sqlserver node."""


class NetnsConsul(NetnsPeer, ConsulStandIn):
    """The Consul STAND-IN (``gvpconf_lab.data_consul``: HTTP API subset, ACLs on; NOT Consul) in the consul node;
    the lab's own API calls (registrations, checks) are made from inside that node."""

    def request(self, method: str, path: str, body: Any = None, *, https: bool = False, timeout: float = 3.0,
                token: str | None = None) -> Any:
        parent = super().request
        return netns.in_netns(self.netns, lambda: parent(method, path, body, https=https, timeout=timeout,
                                                         token=token), timeout=timeout + 10)


class NetnsConsulNoLeader(NetnsConsul):
    """The same stand-in started with no elected leader (reads answer 500 "No cluster leader", as Consul does)."""

    def prepare(self) -> None:
        super().prepare()
        state = json.loads(self.state_file.read_text())
        state["leader"] = ""
        self.state_file.write_text(json.dumps(state))

    def probe(self, timeout: float) -> None:
        def ask() -> None:
            if self.request("GET", "/v1/status/leader", timeout=timeout) != "":
                raise ConnectionError("a leader is reported")
        netns.in_netns(self.netns, ask, timeout=timeout + 10)


class NetnsRtpengine(NetnsPeer, RtpenginePeer):
    """rtpengine (userspace) in the SBC node: the media relay behind the SBC's SIP front."""


class NetnsSbcFront(NetnsPeer, SbcFrontPeer):
    """The SBC's SIP front (STAND-IN, ``gvpconf_lab.voice_sbc``); its echo route's media goes to the relay."""

    relay_port: int = RELAY_PORT

    def prepare(self) -> None:
        super().prepare()  # waits for the echo to start
        self.echo_port = self.relay_port


class _Relay(Peer):
    """The lab's UDP relay (``gvpconf_lab.voice_relay``) between rtpengine and the RTP echo, in the SBC node:
    a pass-through, or the loss and jitter of a fault (replies are never delayed: ``--one-way``)."""

    kind: ClassVar[str] = "relay"
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, host: str, echo: SippPeer, *, delay_ms: float = 0.0,
                 jitter_ms: float = 0.0, loss_pct: float = 0.0, seed: int = 0) -> None:
        super().__init__(name, workdir, port, host)
        self.echo = echo
        self.delay_ms, self.jitter_ms, self.loss_pct, self.seed = delay_ms, jitter_ms, loss_pct, seed

    def prepare(self) -> None:
        deadline = time.monotonic() + 10.0
        while self.echo.media_port == 0:
            if time.monotonic() > deadline:
                raise self.error("the RTP echo (sipp) did not start")
            time.sleep(0.01)

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gvpconf_lab.voice_relay", "--listen", f"{self.host}:{self.port}",
                "--to", f"{self.host}:{self.echo.media_port}", "--delay-ms", str(self.delay_ms),
                "--jitter-ms", str(self.jitter_ms), "--loss-pct", str(self.loss_pct), "--seed", str(self.seed),
                "--one-way"]

    def environment(self) -> Mapping[str, str]:
        return gvpconf_env()

    def probe(self, timeout: float) -> None:
        pass  # ready when it holds its port (owns_port): it binds it before it says "ready"

    def port_kind(self) -> str:
        return "udp"

    def summary(self) -> str:
        impaired = f"delay {self.delay_ms} ms +- {self.jitter_ms} ms, loss {self.loss_pct}% (seed {self.seed})"
        return f"lab UDP relay to the RTP echo ({impaired})"


class NetnsRelay(NetnsPeer, _Relay):
    """The relay in the SBC node's namespace."""


class NetnsRtspServer(NetnsPeer, RtspServerPeer):
    """GStreamer's RTSP server (Nuance's RTSP side, live PCMU) in the nuance node."""


class NetnsPythonServer(NetnsPeer, PythonServerPeer):
    """One of the loopback lab's ``gvpconf_lab.web_servers`` STAND-INS, in a node's namespace."""


class NetnsPrometheus(NetnsPeer, PrometheusPeer):
    """Prometheus from Debian in the prometheus pod's namespace."""


#: the ORS's health path and port (11), the web server's applications (20), the customer system's status (21)
ORS_PORT, ORS_HEALTH = 11200, "/ors/health"
WEB_APPS = ("/web/main.vxml", "/web/sub.vxml")
CUSTOMER_STATUS = "/customer/api/status"

#: GVP pods that expose metrics in the fault lab, and their families (the sample dashboards' names)
METRICS_PODS = {"rm-0": ["rmPRStatus", "rmPRActiveCalls", "rmPRTotalCalls"],
                "mcp-0": ["mcpSipCurrentInboundSessions"], "rs": ["rsQueueSize"]}


class FaultLab(NetLab):
    """NetLab with a resolver and named targets, and the levers the fault catalog pulls."""

    label: ClassVar[str] = "netns fault lab"

    def __init__(self, workdir: Path, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        hosts = list(SUBNET.hosts())
        # the cluster resolver; the SBC's SIP address and media range (9); Nexus (13); Google's TTS API (22);
        # the DAS (12) and the MCP's fetch proxy; Nuance (14, 19); the ORS (11), the web server (20), the customer
        # system (21)
        for name in ("dns", "sbc", "nexus", "google", "das", "proxy", "nuance", "ors", "web", "customer"):
            node = Node(name, None, "external", str(hosts[9 + len(self.nodes)]), len(self.nodes))
            self.nodes.append(node)
            self.by_name[node.name] = node
        self.segment = netns.Segment(self.switch, str(SUBNET), {self.ns(n.name): n.address for n in self.nodes})
        self._resolv_dirs: list[Path] = []
        self._rotated: CA | None = None

    # -- wiring: the resolver for every namespace ------------------------------------------------------
    def prepare(self) -> None:
        super().prepare()
        # the SBC answers every probed port of its range with ICMP at once (no per-destination rate limit)
        netns.run([*netns.exec_prefix(self.ns("sbc")), "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"])
        resolver = self.by_name["dns"].address
        for node in self.nodes:
            d = Path("/etc/netns") / self.ns(node.name)
            d.mkdir(parents=True, exist_ok=True)
            (d / "resolv.conf").write_text(f"# gvpconf fault lab\nnameserver {resolver}\n{RESOLV_OPTIONS}")
            self._resolv_dirs.append(d)

    def teardown(self) -> list[str]:
        errors = super().teardown()
        for d in self._resolv_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._resolv_dirs.clear()
        return errors

    def make_peers(self) -> list[Peer]:
        made = super().make_peers()
        node = self.by_name["dns"]
        sip = self.by_name["sip-server"]
        self.resolver = DnsmasqPeer("dns", self.workdir / "peers" / "dns", 53, node.address,
                                {SIP_SERVER_NAME: sip.address})
        self.resolver.netns = self.ns("dns")
        made.append(self.resolver)
        made += self._voice()
        made += self._web_standins()
        made += self._metrics()
        das, proxy = self.by_name["das"], self.by_name["proxy"]
        self.das = NetnsDasNginx("das", self.workdir / "peers" / "das", 80, das.address)
        self.proxy = NetnsTinyproxy("proxy", self.workdir / "peers" / "proxy", 3128, proxy.address, str(SUBNET))
        self.das.netns, self.proxy.netns = self.ns("das"), self.ns("proxy")
        made += [self.das, self.proxy]
        made += self._http_sites()
        # SQL Server (16): the TDS stand-in replaces the netns lab's listener-only deny-matrix target
        made = [p for p in made if p.name != "sqlserver"]
        node = self.by_name["sqlserver"]
        self.sqlserver = NetnsTds("sqlserver", self.workdir / "peers" / "sqlserver", 1433, host=node.address)
        self.sqlserver.netns = self.ns("sqlserver")
        made.append(self.sqlserver)
        # Consul (6, 10): the stand-in replaces the netns lab's listener-only deny-matrix target
        made = [p for p in made if p.name != "consul"]
        node = self.by_name["consul"]
        cert, key = self.ca.issue("consul", dns=("consul-server",), ips=(node.address,))
        self.consul = self._consul(NetnsConsul, cert, key)
        self.endpoints["consul"] = [Endpoint("consul", node.address, 8500), Endpoint("consul", node.address, 8501)]
        made.append(self.consul)
        return made

    def _voice(self) -> list[Peer]:
        """The SBC (9) and Nuance (14, 19). Nothing listens on the sampled part of the SBC's range, so every
        sampled RTP port answers ICMP port unreachable (the path is open: what rtp.range accepts) unless a rule
        drops it; test calls take rtpengine's own ports, below it."""
        sbc, nuance = self.by_name["sbc"], self.by_name["nuance"]
        wd = self.workdir / "peers"
        self.sbc_echo = NetnsSipp("sbc-echo", wd / "sbc-echo", SBC_ECHO_SIP_PORT, host=sbc.address, transport="udp",
                                  server_header="sipp-sbc-echo")
        self.rtpengine = NetnsRtpengine("rtpengine", wd / "rtpengine", RTPENGINE_NG_PORT, *SBC_CALL_PORTS,
                                        host=sbc.address)
        self.relay = NetnsRelay("media-relay", wd / "media-relay", RELAY_PORT, sbc.address, self.sbc_echo)
        front = NetnsSbcFront("sbc", wd / "sbc", 5060, RTPENGINE_NG_PORT, self.sbc_echo, host=sbc.address)
        self.nuance_sip = NetnsSipp("nuance-sip", wd / "nuance-sip", NUANCE_SIP_PORT, host=nuance.address,
                                    transport="tcp", server_header="sipp-nuance")
        self.nuance_rtsp = NetnsRtspServer("nuance-rtsp", wd / "nuance-rtsp", NUANCE_RTSP_PORT, host=nuance.address)
        sbc_peers: list[NetnsPeer] = [self.sbc_echo, self.rtpengine, self.relay, front]
        nuance_peers: list[NetnsPeer] = [self.nuance_sip, self.nuance_rtsp]
        for peers, ns in ((sbc_peers, self.ns("sbc")), (nuance_peers, self.ns("nuance"))):
            for peer in peers:
                peer.netns = ns
        self.endpoints["nuance"] = [Endpoint("nuance", nuance.address, NUANCE_SIP_PORT),
                                    Endpoint("nuance", nuance.address, NUANCE_RTSP_PORT)]
        return [self.sbc_echo, self.rtpengine, self.relay, front, self.nuance_sip, self.nuance_rtsp]

    def _http_sites(self) -> list[Peer]:
        """The ORS (11), the web server (20) and the customer system (21): nginx in a node each, on the table's
        ports, over plain http (the loopback lab proves the ORS's and the web server's https; the customer system
        is http there too)."""
        wd = self.workdir / "peers"
        vxml = VXML.format(ns=VXML_NS)
        sites = {"ors": (ORS_PORT, {ORS_HEALTH: '{"status": "ok"}\n'}, "the ORS health document", [ORS_HEALTH]),
                 "web": (80, dict.fromkeys(WEB_APPS, vxml), "the web server's VoiceXML applications", []),
                 "customer": (80, {CUSTOMER_STATUS: '{"status": "up"}\n'}, "the customer system's status",
                              [CUSTOMER_STATUS])}
        made: list[Peer] = []
        for key, (port, files, what, json_paths) in sites.items():
            node = self.by_name[key]
            peer = NetnsNginxSite(key, wd / key, port, node.address, files, what, json_paths)
            peer.netns = self.ns(key)
            self.endpoints[key] = [Endpoint(key, node.address, port)]
            made.append(peer)
        return made

    def _web_standins(self) -> list[Peer]:
        """Nexus (13) and Google TTS (22): the loopback lab's STAND-INS, each on 443 of its node."""
        nexus, google = self.by_name["nexus"], self.by_name["google"]
        wd = self.workdir / "peers"
        self.nexus_cert = self.ca.issue("nexus", dns=("nexus",), ips=(nexus.address,))
        self.nexus_token = "nexus-" + secrets.token_urlsafe(24)
        self.nexus_token_file = self.write_secret("nexus-token-server", self.nexus_token)
        self.nexus = self._nexus(NEXUS_SUBPROTOCOL)
        cert, key = self.ca.issue("google-tts", dns=(TTS_NAME,), ips=(google.address,))
        key_json, public = service_account_key()
        self.tts_credentials = key_json
        (wd / "google").mkdir(parents=True, exist_ok=True)
        public_key = wd / "google" / "sa-public.pem"
        public_key.write_text(public)
        ca = self.ca.ca_cert

        def tts_ready(timeout: float) -> None:
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.set_alpn_protocols(["h2"])
            with socket.create_connection((google.address, 443), timeout=timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname=TTS_NAME) as tls:
                if tls.selected_alpn_protocol() != "h2":
                    raise ConnectionError("no h2")

        self.tts = NetnsPythonServer("google-tts", wd / "google", 443, "tts",
                                     ["--cert", str(cert), "--key", str(key), "--public-key", str(public_key)],
                                     tts_ready, f"STAND-IN for {TTS_NAME}: grpcio TextToSpeech (real proto), TLS, "
                                     "JWT required")
        self.tts.host, self.tts.netns = google.address, self.ns("google")
        self.endpoints["nexus"] = [Endpoint("nexus", nexus.address, 443)]
        self.endpoints["google_tts"] = [Endpoint("google", google.address, 443)]
        return [self.nexus, self.tts]

    def _nexus(self, subprotocol: str) -> NetnsPythonServer:
        node = self.by_name["nexus"]
        cert, key = self.nexus_cert
        ca = self.ca.ca_cert

        def ready(timeout: float) -> None:
            ctx = ssl.create_default_context(cafile=str(ca))
            with socket.create_connection((node.address, 443), timeout=timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname=node.address) as tls:
                tls.sendall(f"GET {NEXUS_PATH} HTTP/1.1\r\nHost: nexus\r\nConnection: close\r\n\r\n".encode())
                if not tls.recv(64).startswith(b"HTTP/1.1 401"):
                    raise ConnectionError("nexus stand-in does not answer 401 yet")

        peer = NetnsPythonServer("nexus", self.workdir / "peers" / "nexus", 443, "nexus",
                                 ["--cert", str(cert), "--key", str(key), "--token-file", str(self.nexus_token_file),
                                  "--subprotocol", subprotocol, "--path", NEXUS_PATH], ready,
                                 f"STAND-IN for Nexus: websockets TLS server, path {NEXUS_PATH}, subprotocol "
                                 f"{subprotocol}, bearer token required")
        peer.host, peer.netns = node.address, self.ns("nexus")
        return peer

    def _metrics(self) -> list[Peer]:
        """18: prometheus_client endpoints in GVP pods (9116, as the sample's SNMP exporter) and Prometheus from
        Debian in the prometheus pod, scraping them."""
        made: list[Peer] = []
        self.endpoints["gvp_metrics"] = []
        for pod, families in METRICS_PODS.items():
            node = self.by_name[pod]

            def ready(timeout: float, address: str = node.address) -> None:
                with urllib.request.urlopen(f"http://{address}:9116/metrics", timeout=timeout) as resp:
                    if resp.status != 200:
                        raise ConnectionError(f"metrics answered {resp.status}")

            peer = NetnsPythonServer(f"metrics-{pod}", self.workdir / "peers" / f"metrics-{pod}", 9116, "metrics",
                                     ["--families", ",".join(families)], ready,
                                     f"prometheus_client metrics endpoint in gvp-{pod} ({', '.join(families)})")
            peer.host, peer.netns = node.address, self.ns(pod)
            made.append(peer)
            self.endpoints["gvp_metrics"].append(Endpoint(pod, node.address, 9116))
        prom = self.by_name["prometheus"]
        self.prometheus = NetnsPrometheus("prometheus", self.workdir / "peers" / "prometheus", 9090,
                                          up=[f"{e.address}:{e.port}" for e in self.endpoints["gvp_metrics"]], down=[])
        self.prometheus.host, self.prometheus.netns = prom.address, self.ns("prometheus")
        return [*made, self.prometheus]

    def prometheus_drops(self, pod: str) -> Undo:
        """Prometheus' configuration reloaded (SIGHUP) without ``pod``'s target, as when its PodMonitor or
        annotation is lost; back, and scraped up again, on undo."""
        prom = self.prometheus
        everything = list(prom.up_targets)
        gone = f"{self.address(pod)}:9116"

        def reload(targets: list[str]) -> None:
            prom.up_targets = targets
            prom.prepare()
            if prom.pid is not None:
                os.kill(prom.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            while True:
                try:
                    found = netns.in_netns(prom.netns, lambda: prom.targets(2.0), timeout=10)
                    if set(found) == set(targets) and all(found[t].get("health") == "up" for t in targets):
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise LabError(f"Prometheus does not scrape exactly {targets} 30 s after its reload")
                time.sleep(0.2)

        reload([t for t in everything if t != gone])
        return lambda: reload(everything)

    def das_serves(self, text: str) -> Undo:
        """The DAS serves ``text`` (status 200) where its VoiceXML application was."""
        self.das.serve(text)
        return lambda: self.das.serve(VXML.format(ns=VXML_NS))

    def proxy_denies(self, node: str) -> Undo:
        """The fetch proxy's filter list names ``node``'s address: the proxy answers 403 for it."""
        self.proxy.deny([self.address(node)])
        return lambda: self.proxy.deny([])

    def nexus_subprotocol(self, subprotocol: str) -> Undo:
        """Nexus restarted speaking another subprotocol (an upgrade the inventory did not follow)."""
        def restart(value: str) -> None:
            self.nexus.stop()
            self.nexus = self._nexus(value)
            self.peers["nexus"] = self.nexus
            self.nexus.start()
            self.nexus.wait_ready(20)
        restart(subprotocol)
        return lambda: restart(NEXUS_SUBPROTOCOL)

    def _consul(self, cls: type[NetnsConsul], cert: Path, key: Path, token: str | None = None) -> NetnsConsul:
        node = self.by_name["consul"]
        peer = cls("consul", self.workdir / "peers" / "consul-standin", 8500, https_port=8501, cert=cert, key=key,
                   ca_file=self.ca.ca_cert)
        peer.host, peer.netns = node.address, self.ns("consul")
        if token is not None:
            peer.token = token
        return peer

    def after_up(self) -> None:
        super().after_up()
        self.register_mcps()

    def register_mcps(self) -> None:
        for e in self.endpoints["mcp"]:
            self.consul.register_mcp(f"gvp-{e.node}", e.address, e.port)

    def restart_consul(self, cls: type[NetnsConsul]) -> None:
        """A new Consul stand-in process (same token, certificate and port), the MCPs registered again."""
        old = self.consul
        old.stop()
        new = self._consul(cls, old.cert, old.key, token=old.token)
        new.admin_token = old.admin_token
        self.consul = new
        self.peers[old.name] = new
        new.start()
        new.wait_ready(15)
        self.register_mcps()

    def consul_no_leader(self) -> Undo:
        self.restart_consul(NetnsConsulNoLeader)
        return lambda: self.restart_consul(NetnsConsul)

    def consul_deregister(self, mcp: str) -> Undo:
        e = next(e for e in self.endpoints["mcp"] if e.node == mcp)
        self.consul.request("PUT", f"/v1/agent/service/deregister/gvp-{mcp}")
        return lambda: self.consul.register_mcp(f"gvp-{mcp}", e.address, e.port)

    def consul_check(self, mcp: str, status: str) -> Undo:
        def put(value: str) -> None:
            self.consul.request("PUT", f"/v1/agent/check/update/service:gvp-{mcp}", {"Status": value,
                                                                                     "Output": f"lab: {value}"})
        put(status)
        return lambda: put("passing")

    def apply_policies(self) -> None:
        """The generated chains, plus what every cluster's policies allow: DNS to the cluster resolver."""
        super().apply_policies()
        resolver, sbc = self.by_name["dns"].address, self.by_name["sbc"].address
        for node in self.pods():
            allow = [(resolver, proto, "53", "gvpc dns") for proto in ("udp", "tcp")]
            if node.role == "mcp":  # 9: SIP over UDP to the SBC, RTP/RTCP to its media range; 12: the fetch proxy;
                # 14: RTP to the port Nuance's RTSP SETUP names (GStreamer picks it: any unprivileged port)
                allow += [(sbc, "udp", "5060", "gvpc #9 sip"), (sbc, "udp", f"{SBC_RANGE[0]}:{SBC_RANGE[1]}",
                                                                "gvpc #9 rtp"),
                          (self.by_name["proxy"].address, "tcp", "3128", "gvpc #12 fetch proxy"),
                          (self.address("nuance"), "udp", "1024:65535", "gvpc #14 rtp")]
            if node.role == "rm":  # 4's opt-in call: its RTP to each MCP pod's media port (sipp's echo)
                for mcp in self.peers.values():
                    if isinstance(mcp, NetnsSipp) and mcp.name.startswith("sip-mcp-"):
                        allow.append((mcp.host, "udp", f"{mcp.media_port}:{mcp.media_port + 3}",
                                      "gvpc #4 call rtp"))
            for address, proto, ports, comment in allow:
                netns.iptables(self.ns(node.name), "-I", policy.CHAIN, "3", "-d", f"{address}/32", "-p", proto,
                               "--dport", ports, "-m", "comment", "--comment", comment, "-j", "ACCEPT")

    def _make_inventory(self) -> dict[str, Any]:
        inv = super()._make_inventory()
        dests = inv["destinations"]
        for target in dests["sip_server"]["targets"]:
            target["host"] = SIP_SERVER_NAME
        dests["postgres"]["tls"]["min_version"] = "TLSv1.3"
        nexus, google = self.by_name["nexus"].address, self.by_name["google"].address
        dests["nexus"] = {"scheme": "wss", "path": NEXUS_PATH, "subprotocol": NEXUS_SUBPROTOCOL,
                          "token": {"file": str(self.write_secret("nexus-token", self.nexus_token))},
                          "tls": {"ca_file": str(self.ca.ca_cert)},
                          "targets": [{"name": "nexus", "host": nexus, "port": 443, "zone": "external"}]}
        dests["google_tts"] = {"credentials": {"file": str(self.write_secret("tts-credentials", self.tts_credentials))},
                               "tls": {"ca_file": str(self.ca.ca_cert), "server_name": TTS_NAME},
                               "targets": [{"name": "google-tts", "host": google, "port": 443, "zone": "external"}]}
        dests["gvp_metrics"] = {
            "path": "/metrics", "prometheus_url": f"http://{self.prometheus.host}:9090", "prometheus_job": "gvp",
            "targets": [{"name": f"gvp-{e.node}", "host": e.address, "port": e.port,
                         "zone": self.by_name[e.node].zone} for e in self.endpoints["gvp_metrics"]]}
        dests["das"] = {"scheme": "http", "proxy": f"http://{self.proxy.host}:{self.proxy.port}",
                        "applications": [DAS_APP],
                        "targets": [{"name": "gvp-das", "host": self.das.host, "port": 80, "zone": "external"}]}
        sbc = self.by_name["sbc"].address
        dests["sbc"] = {"transport": "udp", "rtp_range": {"min": SBC_SAMPLED[0], "max": SBC_SAMPLED[1]},
                        "calls": True, "call": {"user": "echo", "ring_timeout": 5.0, "media": dict(SBC_MEDIA)},
                        "targets": [{"name": "sbc", "host": sbc, "port": 5060, "zone": "external"}]}
        dests["mcp"] |= {"calls": True, "call": {"user": "mcp", "ring_timeout": 5.0, "media": dict(CALL_MEDIA)},
                         "ingress": {"rtsp_url": self.nuance_rtsp.url, "media": dict(CALL_MEDIA)}}
        dests["nuance"] = {"transport": "tcp", "calls": True, "rtsp_urls": [self.nuance_rtsp.url],
                           "media": {"packets": 25, "ptime_ms": 20},
                           "targets": [{"name": "nuance-sip", "host": self.nuance_sip.host, "port": NUANCE_SIP_PORT,
                                        "zone": "external"}]}
        def site(key: str, name: str) -> list[dict[str, Any]]:
            e = self.endpoints[key][0]
            return [{"name": name, "host": e.address, "port": e.port, "zone": "external"}]

        dests["ors"] = {"scheme": "http", "method": "GET", "path": ORS_HEALTH, "accept_status": ["200"],
                        "targets": site("ors", "ors")}
        dests["web"] = {"scheme": "http", "applications": list(WEB_APPS), "targets": site("web", "web-server")}
        dests["customer"] = {"scheme": "http", "path": CUSTOMER_STATUS, "json_field": "status", "json_value": "up",
                             "targets": site("customer", "customer-crm")}
        tds = self.sqlserver
        dests["sqlserver"] = {"database": tds.database, "username": tds.username,
                              "password": {"file": str(self.write_secret("sqlserver-password", tds.password))},
                              "min_version": "13.0", "targets": site("sqlserver", "mssql")}
        for row in ("6", "10", "16"):
            inv["connections"].pop(row, None)
        dests["consul"] = {
            "token": {"file": str(self.write_secret("consul-token", self.consul.token))},
            "tls": {"ca_file": str(self.ca.ca_cert)}, "https_ports": [8501], "service": CONSUL_SERVICE,
            "sip_port": 5070, "tenants_prefix": "tenants", "write_prefix": WRITE_PREFIX,
            "targets": [{"name": "consul-http", "host": self.consul.host, "port": 8500},
                        {"name": "consul-https", "host": self.consul.host, "port": 8501}]}
        return inv

    # -- levers ----------------------------------------------------------------------------------------
    def egress_rule(self, source: str, spec: Sequence[str]) -> Undo:
        """Insert ``spec`` (iptables match + target) in pod ``source``'s egress chain, before the allow rules."""
        ns = self.ns(source)
        netns.iptables(ns, "-I", policy.CHAIN, "3", *spec)

        def undo() -> None:
            netns.iptables(ns, "-D", policy.CHAIN, *spec)
        return undo

    def block(self, source: str, dest: str, port: int, action: str = "DROP", proto: str = "tcp") -> Undo:
        """Pod ``source`` may no longer reach node ``dest`` on ``port``: DROP (filtered) or REJECT (refused)."""
        target = ["-j", "DROP"] if action == "DROP" else ["-j", "REJECT", "--reject-with",
                                                          "icmp-port-unreachable" if proto == "udp" else "tcp-reset"]
        return self.egress_rule(source, ["-d", f"{self.by_name[dest].address}/32", "-p", proto, "--dport", str(port),
                                         "-m", "comment", "--comment", f"gvpc fault {source}->{dest}:{port}",
                                         *target])

    def input_rule(self, node: str, spec: Sequence[str]) -> Undo:
        """A rule at the top of node ``node``'s INPUT chain: what reaches the node's peers from the network. Never
        what the node sends itself (``! -i lo``): a fault on the path must not cut a node's own processes off from
        each other. (The SBC stand-in asks its rtpengine over UDP from an ephemeral port; a drop of the SBC's RTP
        range 30000:45000 had dropped rtpengine's replies whenever that port fell in the range: the INVITE then
        got a 500, in about 4 lab runs in 10.)"""
        ns = self.ns(node)
        spec = ["!", "-i", "lo", *spec]
        netns.iptables(ns, "-I", "INPUT", "1", *spec)

        def undo() -> None:
            netns.iptables(ns, "-D", "INPUT", *spec)
        return undo

    def signal_peer(self, peer: str, sig: signal.Signals, undo_sig: signal.Signals | None = None) -> Undo:
        pid = self.peers[peer].pid
        if pid is None:
            raise LabError(f"peer {peer} is not running")
        os.kill(pid, sig)
        return (lambda: os.kill(pid, undo_sig)) if undo_sig is not None else (lambda: None)

    def restart_resolver(self, upstream: str | None, records: dict[str, str] | None = None) -> DnsmasqPeer:
        """Stop the resolver and start a new one (its records, or forwarding the zone to ``upstream``)."""
        old = self.resolver
        old.stop()
        new = DnsmasqPeer(old.name, old.workdir, old.port, old.host,
                          old.records if records is None else records, upstream=upstream)
        new.netns = old.netns
        self.resolver = new
        self.peers[old.name] = new
        new.start()
        new.wait_ready(10)
        return new

    def resolver_servfail(self) -> Undo:
        """The resolver forwards ``gvp.lab`` to an upstream that answers SERVFAIL (a broken authoritative server:
        ``python -m gvpconf_lab.netlab.faultlab servfail``, on the resolver node's loopback), so it answers
        SERVFAIL itself, as dnsmasq does when its upstreams fail."""
        records = dict(self.resolver.records)
        upstream = subprocess.Popen([*netns.exec_prefix(self.ns("dns")), sys.executable, "-m",
                                     "gvpconf_lab.netlab.faultlab", "servfail", "127.0.0.1", "5353"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            self.restart_resolver("127.0.0.1#5353", {})
        except BaseException:
            stop_process(upstream)
            raise

        def undo() -> None:
            try:
                self.restart_resolver(None, records)
            finally:
                stop_process(upstream)
        return undo

    def rotated_ca(self) -> CA:
        """A CA the inventory does not trust (the deployment's CA after a rotation the suite did not follow)."""
        if self._rotated is None:
            self._rotated = make_ca(self.tls_dir / "rotated", common_name="gvpconf lab CA (rotated)")
        return self._rotated

    def postgres(self) -> NetnsPostgres:
        pg = self.peers["postgres"]
        assert isinstance(pg, NetnsPostgres)
        return pg

    def _pg_connect(self) -> Any:
        """A superuser session from the PostgreSQL node itself, TLS unverified: the fault may be the server's
        certificate (libpq verifies whenever its root certificate file exists, so none is named)."""
        import psycopg

        pg = self.postgres()
        info = pg.conninfo(pg.superuser, pg.superuser_password, "postgres") | {
            "sslmode": "require", "sslrootcert": str(self.workdir / "no-root-certificate")}
        return psycopg.connect(**info, autocommit=True)  # type: ignore[arg-type]

    def pg_sql(self, *statements: Any) -> list[Any]:
        """Run statements as the superuser (autocommit); the first column of each one's first row."""
        def run() -> list[Any]:
            with self._pg_connect() as conn:
                out = []
                for statement in statements:
                    cur = conn.execute(statement)
                    row = cur.fetchone() if cur.description else None
                    out.append(row[0] if row else None)
                return out
        result: list[Any] = self.in_node("postgres", run)
        return result

    def pg_settings(self, **settings: str) -> Undo:
        """``ALTER SYSTEM`` these settings and reload, until new sessions see them (back as they were on undo)."""
        from psycopg import sql

        keys = list(settings)
        before = dict(zip(keys, self.pg_sql(*(sql.SQL("SELECT current_setting({})").format(sql.Literal(k))
                                              for k in keys)), strict=True))

        def apply(values: dict[str, str | None], wanted: dict[str, str]) -> None:
            self.pg_sql(*(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(k)) if v is None else
                          sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(k), sql.Literal(v))
                          for k, v in values.items()), "SELECT pg_reload_conf()")
            deadline = time.monotonic() + 10
            while dict(zip(keys, self.pg_sql(*(sql.SQL("SELECT current_setting({})").format(sql.Literal(k))
                                               for k in keys)), strict=True)) != wanted:
                if time.monotonic() > deadline:
                    raise LabError(f"PostgreSQL settings {wanted} not in effect after 10 s")
                time.sleep(0.05)

        apply(dict(settings), dict(settings))
        return lambda: apply(dict.fromkeys(keys), before)

    def pg_hba_reject(self, address: str) -> Undo:
        """A ``reject`` line for ``address`` at the top of pg_hba.conf, reloaded."""
        hba = self.postgres().data_dir / "pg_hba.conf"
        before = hba.read_text()
        hba.write_text(f"hostssl all all {address}/32 reject\nhost all all {address}/32 reject\n" + before)
        self.pg_sql("SELECT pg_reload_conf()")
        time.sleep(0.5)  # the postmaster reloads on SIGHUP, asynchronously

        def undo() -> None:
            hba.write_text(before)
            self.pg_sql("SELECT pg_reload_conf()")
            time.sleep(0.5)
        return undo

    def pg_revoke_connect(self) -> Undo:
        from psycopg import sql

        pg = self.postgres()
        db, user = sql.Identifier(pg.database), sql.Identifier(pg.username)
        self.pg_sql(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(db, user))

        def undo() -> None:
            self.pg_sql(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, user))
        return undo

    def amq_without_connector(self) -> Undo:
        """Restart the broker with no transport connector (its port closed while the JVM runs)."""
        old = self.peers["activemq"]
        assert isinstance(old, NetnsActiveMQ)
        bare = self._restart_broker_as(old, NetnsActiveMQWithoutConnector)

        def undo() -> None:
            self._restart_broker_as(bare, NetnsActiveMQ)
        return undo

    def _restart_broker_as(self, running: NetnsActiveMQ, cls: type[NetnsActiveMQ]) -> NetnsActiveMQ:
        """Stop ``running`` and start the same broker (name, files, port, credentials, namespace) as ``cls``."""
        running.stop()
        broker = cls(running.name, running.workdir, running.port, host=running.host, username=running.username,
                     password=running.password)
        broker.netns = running.netns
        self.peers[running.name] = broker
        broker.start()
        broker.wait_ready(60)
        return broker

    def restart_relay(self, **impairment: float) -> None:
        """A new media relay on the same port, with ``impairment`` (delay_ms, jitter_ms, loss_pct, seed)."""
        old = self.relay
        old.stop()
        new = NetnsRelay(old.name, old.workdir, old.port, old.host, old.echo, **impairment)  # type: ignore[arg-type]
        new.netns = old.netns
        self.relay = new
        self.peers[old.name] = new
        new.start()
        new.wait_ready(10)

    def media_impaired(self, **impairment: float) -> Undo:
        """The SBC's media path (rtpengine -> echo) loses or jitters packets through the lab's relay."""
        self.restart_relay(**impairment)
        return lambda: self.restart_relay()

    def media_one_way(self, source: str, role: str) -> Undo:
        """UDP from node ``source`` dropped on its way into every pod of ``role``, the other way untouched."""
        return self._all_undo([self.input_rule(n.name, ["-s", f"{self.address(source)}/32", "-p", "udp", "-m",
                                                         "comment", "--comment", f"gvpc fault {source}->{role} udp",
                                                         "-j", "DROP"])
                               for n in self.pods() if n.role == role])

    @staticmethod
    def _all_undo(undos: Sequence[Undo]) -> Undo:
        def undo() -> None:
            for u in reversed(undos):
                u()
        return undo

    def in_node(self, node: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        return netns.in_netns(self.ns(node), fn, timeout=timeout)

    def address(self, node: str) -> str:
        return self.by_name[node].address

    def node_network(self, node: str) -> str:
        return str(ipaddress.ip_network(f"{self.address(node)}/32"))


if __name__ == "__main__":  # python -m gvpconf_lab.netlab.faultlab servfail HOST PORT
    if len(sys.argv) == 4 and sys.argv[1] == "servfail":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_servfail(sys.argv[2], int(sys.argv[3]))
    sys.exit("usage: python -m gvpconf_lab.netlab.faultlab servfail HOST PORT")
