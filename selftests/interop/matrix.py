"""The interoperability matrix: one cell per (protocol, implementation, scenario), each with the verdict the
suite's probe must give against that implementation in its stock configuration.

``CELLS`` is the one table. Every ``test_interop_*`` module parametrizes over its protocol's cells, runs the
probe exactly as the plugin does (``scheduler.run_job``), and asserts the measured verdict is the cell's; the
verdict, its message and the implementation's version are recorded (``record``). ``docs/interop.md`` is
rendered from this table and those records (``GVPCONF_UPDATE_INTEROP=1`` or ``make interop-doc``), and
``test_interop_doc.py`` fails when the document and the table disagree.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvpconf import catalog, probes
from gvpconf.deadline import Deadline, Timeouts
from gvpconf.inventory import Destination, Target
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "interop.md"
PASS = "pass"
TIMEOUTS = Timeouts(connect=2.0, read=2.0, probe=6.0)


@dataclass(frozen=True)
class Cell:
    protocol: str
    implementation: str
    scenario: str
    #: "pass", or "fail: <cause>" (the cause the probe must give)
    expected: str
    #: the probe(s) run, for the document
    probe: str
    #: why the cell cannot run here (then it is not run, and the document says why)
    not_run: str | None = None

    @property
    def id(self) -> str:
        return f"{self.implementation}/{self.scenario}".replace(" ", "-")


def fail(cause: str) -> str:
    return f"fail: {cause}"


_CELLS: list[Cell] = []


def _add(protocol: str, probe: str, implementation: str, *rows: tuple[str, str]) -> None:
    _CELLS.extend(Cell(protocol, implementation, scenario, expected, probe) for scenario, expected in rows)


# SIP (1, 4): OPTIONS over TCP and UDP
for _impl in ("sipp", "Kamailio"):
    _add("SIP", "sip.options", _impl, ("OPTIONS over TCP", PASS), ("OPTIONS over UDP", PASS))
_add("SIP", "sip.options", "sipp", ("OPTIONS answered 404", fail("semantic")))
# the path-MTU probe (1, 4, 9, 14): padded OPTIONS; Kamailio adds received and rport's value to the Via it echoes
for _impl in ("sipp", "Kamailio"):
    _add("SIP", "sipmtu.options", _impl, ("padded OPTIONS over TCP", PASS), ("padded OPTIONS over UDP", PASS))
# ActiveMQ (3, 8): one broker, the three connectors a deployment may enable, right and wrong password
_add("ActiveMQ", "activemq.openwire", "ActiveMQ tcp://",
     ("OpenWire round trip", PASS), ("OpenWire, wrong password", fail("auth")))
_add("ActiveMQ", "activemq.stomp", "ActiveMQ stomp://",
     ("STOMP round trip on stomp_port", PASS), ("STOMP, wrong password", fail("auth")))
_add("ActiveMQ", "activemq.openwire", "ActiveMQ auto://",
     ("OpenWire round trip", PASS), ("OpenWire, wrong password", fail("auth")))
_add("ActiveMQ", "activemq.stomp", "ActiveMQ auto://", ("STOMP round trip", PASS))
# RTSP (14): OPTIONS + DESCRIBE
# VLC answers DESCRIBE of an unknown path with 404 and no CSeq, which RFC 2326 §12.17 requires in every response:
# the probe cannot tie that answer to its request, and says so (protocol)
for _impl, _unknown in (("GStreamer rtsp-server", fail("semantic")), ("VLC", fail("protocol"))):
    _add("RTSP", "rtsp.describe", _impl, ("OPTIONS and DESCRIBE", PASS), ("unknown path", _unknown))
    _add("RTSP", "rtsp.setup", _impl, ("SETUP, RTP burst, TEARDOWN (opt-in)", PASS))
# HTTP (20): VoiceXML fetched and parsed
for _impl in ("nginx", "lighttpd"):
    _add("HTTP", "http.vxml", _impl, ("VoiceXML application", PASS), ("missing application (404)", fail("semantic")),
         ("HTML page instead of VoiceXML", fail("semantic")))
# the DAS fetch proxy (12)
for _impl in ("squid", "tinyproxy"):
    _add("DAS fetch proxy", "http.vxml", _impl, ("allowed: DAS origin", PASS),
         ("denied: origin not allowed", fail("refused")))
_add("DAS fetch proxy", "http.vxml", "nginx posing as a proxy", ("answers by itself, no Via", fail("protocol")))
# PostgreSQL (17): directly and through pgbouncer, with TLS modes
_add("PostgreSQL", "postgres.sslrequest + postgres.login", "PostgreSQL (hostssl)",
     ("sslmode verify-full", PASS), ("sslmode require", PASS), ("sslmode disable", fail("auth")))
_add("PostgreSQL", "postgres.sslrequest + postgres.login", "pgbouncer, client TLS off (stock)",
     ("sslmode disable", PASS), ("sslmode verify-full", fail("tls")))
_add("PostgreSQL", "postgres.sslrequest + postgres.login", "pgbouncer, client TLS on",
     ("sslmode verify-full", PASS), ("sslmode require", PASS), ("sslmode disable", PASS),
     ("wrong password", fail("auth")))
# WebSocket (13)
for _impl in ("websockets", "ws (Node.js)"):
    _add("WebSocket", "websocket.session", _impl, ("wss, token, subprotocol", PASS), ("wrong token", fail("auth")),
         ("wrong path", fail("semantic")))
# gRPC (22)
for _impl in ("grpcio", "@grpc/grpc-js"):
    _add("gRPC", "grpc.tts_list_voices", _impl, ("ListVoices with a service-account key", PASS),
         ("without credentials: UNAUTHENTICATED proves the path", PASS),
         ("key the server does not know", fail("auth")), ("service not served: UNIMPLEMENTED", fail("semantic")))
# TLS (the checks every TLS probe shares), through http.ors over https
for _impl in ("Python ssl", "openssl s_server"):
    _add("TLS", "http.ors (https)", _impl, ("trusted certificate", PASS), ("untrusted CA", fail("tls")),
         ("TLS 1.2 only, min_version TLSv1.3", fail("tls")))

CELLS: tuple[Cell, ...] = tuple(_CELLS)


def cells(protocol: str) -> list[Cell]:
    return [c for c in CELLS if c.protocol == protocol]


def cell(protocol: str, implementation: str, scenario: str) -> Cell:
    return next(c for c in CELLS if (c.protocol, c.implementation, c.scenario) == (protocol, implementation, scenario))


#: implementation -> what its configuration changes from the package's stock one (lab/gvpconf_lab/interop_peers.py)
CHANGED_FROM_STOCK: dict[str, str] = {
    "sipp": "the lab's UAS scenario (sipp has no stock server configuration)",
    "Kamailio": "Debian's kamailio.cfg with listen= (udp and tcp on a loopback port) added",
    "ActiveMQ tcp://": "Debian's broker configuration: listen address, a login (simpleAuthenticationPlugin)",
    "ActiveMQ stomp://": "the same broker with a stomp:// connector on its own port",
    "ActiveMQ auto://": "the same broker with an auto:// connector (OpenWire and STOMP on one port)",
    "GStreamer rtsp-server": "the lab's PCMU stream on a mount point (gst-rtsp-server has no configuration file)",
    "VLC": "none: cvlc as the nobody user, --sout '#transcode{...}:rtp{sdp=rtsp://...}' of a tone",
    "nginx": "the lab's server blocks (listen, root, certificates)",
    "lighttpd": "Debian's lighttpd.conf: port, bind address, document root, log and pid paths",
    "squid": "Debian's squid.conf: http_port; the MCP pods may fetch from the DAS port only (conf.d); log/pid paths",
    "tinyproxy": "Debian's tinyproxy.conf: Port, Listen; a URL filter naming the DAS origin; log/pid paths",
    "PostgreSQL (hostssl)": "the lab's cluster: hostssl only, scram-sha-256, the lab CA's certificate",
    "pgbouncer": "Debian's pgbouncer.ini: the pooled database, users (auth_file, scram), server TLS; client TLS "
                 "off as shipped, or a certificate with client_tls_sslmode = allow",
    "websockets": "the lab's Nexus stand-in rules (path, token, subprotocol)",
    "ws (Node.js)": "the same rules on ws's WebSocketServer (verifyClient, handleProtocols)",
    "grpcio": "the lab's TextToSpeech stand-in (JWT check)",
    "@grpc/grpc-js": "the same service on grpc-js (hand-encoded protobuf, JWT check with node:crypto)",
    "Python ssl": "the lab's tls_server (ssl.SSLContext defaults, one certificate)",
    "openssl s_server": "-www with one certificate; -tls1_2 for the capped cell",
}


# -- running a probe as the plugin does ------------------------------------------------------------------------

def run(probe: str, number: int, dest: Destination, host: str, port: int, secrets: dict[str, Any] | None = None,
        name: str = "interop", timeouts: Timeouts = TIMEOUTS) -> ProbeResult:
    row = catalog.connection(number)
    target = Target(host=host, port=port, name=name)

    def make(deadline: Deadline) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets=secrets or {}, deadline=deadline)

    probes.get(probe)
    started = time.monotonic()
    result = run_job(Job(probe, timeouts, make))
    assert time.monotonic() - started <= timeouts.probe + 1.0, "the probe overran its deadline"
    assert result.error is None, f"prober bug: {result.error!r}"
    return result


def verdict(*results: ProbeResult) -> tuple[str, str]:
    """(verdict, message) of probes run in turn for one cell: the first failure decides."""
    for result in results:
        if result.failure is not None:
            return fail(result.failure.cause.value), str(result.failure)
    return PASS, ""


# -- what the cells measured, and the document -----------------------------------------------------------------

@dataclass
class Measured:
    verdict: str
    message: str
    facts: dict[str, str] = field(default_factory=dict)


RESULTS: dict[Cell, Measured] = {}
#: implementation -> (package, version), as the peers report them
VERSIONS: dict[str, tuple[str, str]] = {}


def record(c: Cell, measured: tuple[str, str], facts: dict[str, Any] | None = None,
           keep: tuple[str, ...] = ()) -> str:
    """Store what a cell measured; returns the verdict (the test asserts it equals ``c.expected``)."""
    got, message = measured
    kept = {k: str(v) for k, v in (facts or {}).items() if k in keep}
    RESULTS[c] = Measured(got, message, kept)
    return got


def version(implementation: str, package: str, found: str | Callable[[], str]) -> None:
    VERSIONS[implementation] = (package, found() if callable(found) else found)


HEADER = "| protocol | implementation | scenario | probe | verdict | evidence or cause (measured) |"
_ROW = re.compile(r"^\|\s*(?P<protocol>[^|]+?)\s*\|\s*(?P<impl>[^|]+?)\s*\|\s*(?P<scenario>[^|]+?)\s*\|"
                  r"\s*`?(?P<probe>[^|]+?)`?\s*\|\s*\*{0,2}(?P<verdict>pass|fail: [a-z-]+|not run)\*{0,2}\s*\|")


def _cellify(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: dict[Cell, Measured], versions: dict[str, tuple[str, str]], runtime_s: float) -> str:
    lines = [
        "# Interoperability matrix",
        "",
        "Every probe against at least two independent implementations of its peer protocol, each in its stock "
        "configuration, changed only where a GVP deployment would change it (listen address and port, "
        "certificates, users, who may use a proxy). Each row is one selftest case "
        "(`selftests/interop/`, cells listed in `selftests/interop/matrix.py`); the case asserts the verdict shown, "
        "and `selftests/interop/test_interop_doc.py` fails when this table and the cells disagree. "
        "Regenerate with `make interop-doc` (it runs the cells and rewrites this file).",
        "",
        "`pass`: the probe verified the connection. `fail: <cause>`: the probe failed, with that cause, as it "
        "must against that peer or scenario. What each peer changes from stock is in "
        "`lab/gvpconf_lab/interop_peers.py`.",
        "",
        HEADER,
        "|---|---|---|---|---|---|",
    ]
    for c in CELLS:
        m = results.get(c)
        if c.not_run:
            verdict_text, note = "not run", c.not_run
        else:
            verdict_text = m.verdict if m else c.expected
            facts = ", ".join(f"{k}={v}" for k, v in m.facts.items()) if m else ""
            note = m.message if m and m.message else facts
        lines.append(f"| {c.protocol} | {c.implementation} | {c.scenario} | `{c.probe}` | {verdict_text} | "
                     f"{_cellify(note[:300])} |")
    lines += ["", "## Implementations", "", "| implementation | package | version | changed from stock |",
              "|---|---|---|---|"]
    for impl, (package, ver) in sorted(versions.items(), key=lambda kv: kv[0].lower()):
        lines.append(f"| {impl} | {package} | {ver} | {_cellify(CHANGED_FROM_STOCK.get(impl, '?'))} |")
    lines += ["", f"Last regenerated by running the {len(results)} cells in {runtime_s:.0f} s.", ""]
    return "\n".join(lines)


def parse_doc(text: str) -> list[tuple[str, str, str, str]]:
    """(protocol, implementation, scenario, verdict) of every row of the document's matrix."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m["protocol"] != "protocol":
            rows.append((m["protocol"], m["impl"].replace("\\|", "|"), m["scenario"], m["verdict"]))
    return rows
