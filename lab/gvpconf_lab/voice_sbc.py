"""The lab SBC's SIP side: a small STAND-IN in front of a real rtpengine (the media relay).

``python -m gvpconf_lab.voice_sbc --host H --sip-port P --ng-port N --echo-port E [--user echo]``

Over SIP/UDP it answers OPTIONS (200) and takes calls to ``sip:<user>@...`` the way an SBC with an
rtpengine anchors media (as Kamailio's rtpengine module does): the caller's SDP offer goes to
rtpengine (``offer``), the callee is an RTP echo at ``E`` (sipp ``-rtp_echo``) whose SDP goes to
rtpengine too (``answer``), and the 200 carries rtpengine's rewritten SDP. So the caller's RTP crosses
the real relay to the echo and back. BYE deletes the call in rtpengine. Other users get 404.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys

from gvpconf.wire import WireError, sdp, sip

# ---------------------------------------------------------------- bencode (rtpengine's "ng" protocol)

Bencodable = int | bytes | str | list["Bencodable"] | dict[str, "Bencodable"]


def bencode(value: Bencodable) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"


def bdecode(data: bytes, pos: int = 0) -> tuple[object, int]:
    kind = data[pos : pos + 1]
    if kind == b"i":
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        pos += 1
        items: list[object] = []
        while data[pos : pos + 1] != b"e":
            item, pos = bdecode(data, pos)
            items.append(item)
        if kind == b"l":
            return items, pos + 1
        return {bytes(k).decode(): v for k, v in zip(items[::2], items[1::2], strict=True)}, pos + 1  # type: ignore[call-overload]
    colon = data.index(b":", pos)
    size = int(data[pos:colon])
    return data[colon + 1 : colon + 1 + size], colon + 1 + size


class NgClient:
    """rtpengine's control protocol: ``COOKIE <bencoded dict>`` over UDP."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))

    def command(self, name: str, args: dict[str, Bencodable] | None = None) -> dict[str, object]:
        cookie = os.urandom(6).hex().encode()
        self.sock.send(cookie + b" " + bencode({"command": name, **(args or {})}))
        while True:
            data = self.sock.recv(65535)
            got, _, body = data.partition(b" ")
            if got == cookie:
                reply, _pos = bdecode(body)
                if not isinstance(reply, dict):
                    raise RuntimeError(f"rtpengine: unexpected reply {body[:200]!r}")
                if reply.get("result") not in (b"ok", b"pong"):
                    raise RuntimeError(f"rtpengine {name}: {reply}")
                return reply

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------- SIP side


def respond(req: sip.SipRequest, status: int, reason: str, *, tag: str | None = None,
            extra: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> bytes:
    to = req.header("To") or ""
    if tag is not None and sip.header_param(to, "tag") is None:
        to = f"{to};tag={tag}"
    vias = tuple((n, v) for n, v in req.headers if n.lower() in ("via", "v"))
    headers = (*vias, ("From", req.header("From") or ""), ("To", to), ("Call-ID", req.header("Call-ID") or ""),
               ("CSeq", req.header("CSeq") or ""), ("Server", "gvpconf-lab-sbc (stand-in) + rtpengine"), *extra)
    return sip.encode(sip.SipResponse(status, reason, headers, body))


class Sbc:
    def __init__(self, host: str, sip_port: int, ng: NgClient, echo_port: int, user: str) -> None:
        self.host = host
        self.sip_port = sip_port
        self.ng = ng
        self.echo_port = echo_port
        self.user = user
        self.tags: dict[str, str] = {}
        self.answers: dict[str, bytes] = {}

    def handle(self, req: sip.SipRequest) -> bytes | None:
        call_id = req.header("Call-ID") or ""
        allow = (("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),)
        if req.method == "OPTIONS":
            return respond(req, 200, "OK", tag=os.urandom(4).hex(), extra=allow)
        if req.method == "ACK":
            return None
        if req.method == "INVITE":
            if call_id in self.answers:
                return self.answers[call_id]  # a retransmission
            user = req.uri.removeprefix("sip:").split("@")[0] if "@" in req.uri else ""
            if user != self.user:
                return respond(req, 404, "Not Found", tag=os.urandom(4).hex())
            from_tag = sip.header_param(req.header("From") or "", "tag") or ""
            to_tag = os.urandom(4).hex()
            try:
                offer = sdp.parse(req.body)
            except WireError:
                return respond(req, 488, "Not Acceptable Here", tag=to_tag)
            audio = offer.audio()
            pts = audio.payload_types if audio is not None else (0,)
            self.ng.command("offer", {"call-id": call_id, "from-tag": from_tag, "sdp": req.body,
                                        "replace": ["origin", "session-connection"], "ICE": "remove"})
            echo = sdp.encode(sdp.build_audio(self.host, self.echo_port, pts[:1], ptime=20, user="echo"))
            reply = self.ng.command("answer", {"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag,
                                                 "sdp": echo, "replace": ["origin", "session-connection"],
                                                 "ICE": "remove"})
            body = reply.get("sdp")
            assert isinstance(body, bytes)
            contact = (("Contact", f"<sip:{self.user}@{self.host}:{self.sip_port}>"),
                       ("Content-Type", "application/sdp"))
            self.tags[call_id] = to_tag
            self.answers[call_id] = respond(req, 200, "OK", tag=to_tag, extra=allow + contact, body=body)
            return self.answers[call_id]
        if req.method == "BYE":
            if self.answers.pop(call_id, None) is not None:
                with contextlib.suppress(RuntimeError, OSError):
                    self.ng.command("delete", {"call-id": call_id})
            return respond(req, 200, "OK")
        if req.method == "CANCEL":
            return respond(req, 200, "OK")
        return respond(req, 501, "Not Implemented")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.voice_sbc")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--ng-port", type=int, required=True)
    parser.add_argument("--echo-port", type=int, required=True)
    parser.add_argument("--user", default="echo")
    args = parser.parse_args(argv)
    ng = NgClient(args.host, args.ng_port)
    sbc = Sbc(args.host, args.sip_port, ng, args.echo_port, args.user)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, args.sip_port))
    print(f"SBC stand-in on udp/{args.sip_port}, rtpengine ng on {args.ng_port}", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            msg = sip.parse_datagram(data)
        except WireError as exc:
            print(f"not SIP from {peer}: {exc}", file=sys.stderr, flush=True)
            continue
        if not isinstance(msg, sip.SipRequest):
            continue
        try:
            out = sbc.handle(msg)
        except (RuntimeError, OSError, WireError) as exc:
            print(f"{msg.method} failed: {exc}", file=sys.stderr, flush=True)
            out = respond(msg, 500, "Server Internal Error", tag="err")
        if out is not None:
            sock.sendto(out, peer)


if __name__ == "__main__":
    sys.exit(main())
