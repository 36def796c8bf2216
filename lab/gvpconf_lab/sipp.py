"""sipp as a real SIP peer: a UAS that answers out-of-dialog OPTIONS and takes calls.

One scenario on one port (one transport per process): an OPTIONS is answered with
``answer_status`` (200 by default; 404/503 for negative tests) and the call then waits for the next
request on the same Call-ID for ``idle_ms``; an INVITE gets 100, 180, 200 with SDP (sipp's media
port, where ``-rtp_echo`` echoes RTP), then ACK, BYE and 200. sipp writes its logs into its own
working directory.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal
from xml.sax.saxutils import escape

from gvpconf_lab.base import LOOPBACK, Peer
from gvpconf_lab.ports import free_port, free_port_block

SipTransport = Literal["tcp", "udp"]

REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable",
           486: "Busy Here", 500: "Server Internal Error", 503: "Service Unavailable"}

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


def scenario_xml(server: str = "sipp-lab", answer_status: int = 200, idle_ms: int = 32000) -> str:
    """The UAS scenario. ``server`` becomes the Server header of every response."""
    reason = REASONS.get(answer_status, "Lab Answer")
    srv = escape(server)

    def response(first_line: str, to_tag: bool, extra: str = "", body: str = "") -> str:
        to = "[last_To:];tag=[pid]SIPpTag01[call_number]" if to_tag else "[last_To:]"
        head = [first_line, "[last_Via:]", "[last_From:]", to, "[last_Call-ID:]", "[last_CSeq:]"]
        if extra:
            head.extend(extra.splitlines())
        head.append(f"Server: {srv}")
        head.append("Content-Length: [len]" if body else "Content-Length: 0")
        text = "\n".join(f"      {line}" for line in head) + "\n\n"
        if body:
            text += "\n".join(f"      {line}" for line in body.splitlines()) + "\n"
        return f"<![CDATA[\n\n{text}\n    ]]>"

    contact = "Contact: <sip:lab@[local_ip]:[local_port];transport=[transport]>"
    sdp = ("v=0\no=sipp-lab 53655765 2353687637 IN IP[local_ip_type] [local_ip]\ns=-\n"
           "c=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0 8\n"
           "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=sendrecv")
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="gvpconf-lab uas">
  <label id="wait"/>
  <recv request="OPTIONS" optional="true" next="options" timeout="{idle_ms}" ontimeout="end"/>
  <recv request="INVITE" crlf="true"/>
  <send>{response("SIP/2.0 100 Trying", False)}</send>
  <send>{response("SIP/2.0 180 Ringing", True, contact)}</send>
  <send retrans="500">{response("SIP/2.0 200 OK", True, contact + chr(10) + "Allow: " + ALLOW +
                                chr(10) + "Content-Type: application/sdp", sdp)}</send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send next="end">{response("SIP/2.0 200 OK", False)}</send>
  <label id="options"/>
  <send next="wait">{response(f"SIP/2.0 {answer_status} {reason}", True, "Allow: " + ALLOW)}</send>
  <label id="end"/>
</scenario>
"""


def options_request(host: str, port: int, transport: SipTransport, local_port: int,
                    call_id: str | None = None, cseq: int = 1) -> bytes:
    """A minimal out-of-dialog OPTIONS."""
    call_id = call_id or f"{uuid.uuid4().hex}@gvpconf-lab"
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    lines = [
        f"OPTIONS sip:{host}:{port};transport={transport} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{local_port};branch={branch}",
        "Max-Forwards: 70",
        f"From: <sip:lab-probe@127.0.0.1>;tag={uuid.uuid4().hex[:8]}",
        f"To: <sip:{host}:{port}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sip_options(host: str, port: int, transport: SipTransport, timeout: float) -> str:
    """Send one OPTIONS and return the response head as text (status line + headers)."""
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.bind((LOOPBACK, 0))
            sock.connect((host, port))
            sock.send(options_request(host, port, "udp", sock.getsockname()[1]))
            while True:
                data = sock.recv(65535).decode("utf-8", "replace")
                if not data.startswith("SIP/2.0 1"):  # skip provisional responses
                    return data
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(options_request(host, port, "tcp", sock.getsockname()[1]))
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65535)
                if not chunk:
                    raise ConnectionError(f"connection closed after {buf[:200]!r}")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            text = head.decode("utf-8", "replace")
            if not text.startswith("SIP/2.0 1"):
                return text


class SippPeer(Peer):
    kind: ClassVar[str] = "sip"
    default_ready_deadline_s: ClassVar[float] = 10.0
    poll_interval_s: ClassVar[float] = 0.05

    def __init__(self, name: str, workdir: Path, port: int, host: str = LOOPBACK,
                 transport: SipTransport = "tcp", answer_status: int = 200, server_header: str = "sipp-lab",
                 scenario: str | None = None, idle_ms: int = 32000) -> None:
        super().__init__(name, workdir, port, host)
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be tcp or udp, not {transport!r}")
        self.transport: SipTransport = transport
        self.answer_status = answer_status
        self.server_header = server_header
        self.scenario = scenario
        self.idle_ms = idle_ms
        self.control_port = 0
        self.media_port = 0
        self.scenario_path = self.workdir / "uas.xml"

    def prepare(self) -> None:
        if shutil.which("sipp") is None:
            raise self.error("sipp not found (install the 'sip-tester' package: "
                             "python -m gvpconf_lab install)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.control_port = free_port("udp")
        self.media_port = free_port_block(4, "udp")
        text = self.scenario or scenario_xml(self.server_header, self.answer_status, self.idle_ms)
        self.scenario_path.write_text(text, encoding="iso-8859-1")

    def command(self) -> Sequence[str]:
        return ["sipp", "-sf", str(self.scenario_path), "-i", self.host, "-p", str(self.port),
                "-t", "t1" if self.transport == "tcp" else "u1",
                "-cp", str(self.control_port), "-mp", str(self.media_port), "-rtp_echo",
                "-nostdin", "-trace_err", "-error_file", str(self.workdir / "errors.log")]

    def probe(self, timeout: float) -> None:
        head = sip_options(self.host, self.port, self.transport, min(timeout, 0.5))
        if not head.startswith(f"SIP/2.0 {self.answer_status} "):
            raise ConnectionError(f"OPTIONS answered {head.splitlines()[0]!r}")

    def port_kind(self) -> str:
        return self.transport

    def summary(self) -> str:
        what = "scenario " + str(self.scenario_path) if self.scenario else (
            f"UAS (OPTIONS -> {self.answer_status}, INVITE -> 200 + RTP echo on udp/{self.media_port})")
        return f"sipp {what} over {self.transport.upper()}, Server: {self.server_header}"
