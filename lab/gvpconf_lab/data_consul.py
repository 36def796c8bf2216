"""STAND-IN for Consul: the subset of Consul's HTTP API the probes use (no Consul can be installed here).

It is NOT Consul (no Raft, no gossip, no DNS): one process holding a catalog, health checks, a KV store
and ACL tokens in memory, answering like Consul's HTTP API v1 so that py-consul works against it
unchanged, on HTTP and (with a certificate) HTTPS:

* ``GET /v1/status/leader`` (``""`` when started with no leader: then reads answer 500 "No cluster
  leader", as Consul does), ``/v1/status/peers``;
* ``GET /v1/agent/self`` (``agent:read``), ``GET /v1/acl/token/self``;
* ``GET /v1/catalog/services``, ``/v1/catalog/service/<name>``, ``/v1/health/service/<name>``
  (``?passing``, ``?tag``): entries the token may not read are filtered out and the answer carries
  ``X-Consul-Results-Filtered-By-ACLs: true``, as Consul's do;
* ``PUT /v1/agent/service/register``, ``/v1/agent/service/deregister/<id>``,
  ``/v1/agent/check/update/<check id>`` (``service:write``): how the lab registers MCPs;
* ``GET/PUT/DELETE /v1/kv/<key>`` with ``?recurse``, ``?keys``, ``?cas=<index>`` (``key:read`` /
  ``key:write``, longest prefix wins; listing a prefix needs read on the prefix itself).

ACLs are always on, default deny: ``X-Consul-Token`` (or ``Authorization: Bearer``) must name a known
token (else 403 "ACL not found"); a known token lacking a permission gets 403 "Permission denied: ...".

Run as its own process::

    python -m gvpconf_lab.data_consul --state STATE.json --http-port N [--https-port M --cert C --key K]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import json
import ssl
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gvpconf_lab.base import LOOPBACK
from gvpconf_lab.http_standin import InThread, RoutingHandler
from gvpconf_lab.standins import Stopped, stop_on_signals

VERSION = "1.17.3-gvpconf-standin"
FILTERED = "X-Consul-Results-Filtered-By-ACLs"


@dataclass
class Token:
    secret: str
    description: str = ""
    policies: list[str] = field(default_factory=list)
    agent: str | None = None  # None, "read", "write"
    service: dict[str, str] = field(default_factory=dict)  # name prefix -> read|write|deny
    key: dict[str, str] = field(default_factory=dict)  # key prefix -> read|write|deny
    management: bool = False
    accessor: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def _rule(rules: Mapping[str, str], name: str) -> str:
        best = max((p for p in rules if name.startswith(p)), key=len, default=None)
        return rules[best] if best is not None else "deny"

    def can(self, kind: str, name: str, access: str) -> bool:
        if self.management:
            return True
        if kind == "agent":
            policy = self.agent or "deny"
        else:
            policy = self._rule(self.service if kind == "service" else self.key, name)
        return policy == "write" or (policy == "read" and access == "read")


@dataclass
class Check:
    check_id: str
    name: str
    status: str = "passing"
    output: str = ""


@dataclass
class Instance:
    id: str
    name: str
    address: str
    port: int
    node: str = "gvp-node-1"
    tags: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    index: int = 1


@dataclass
class KvEntry:
    value: bytes | None
    flags: int
    create_index: int
    modify_index: int


class State:
    """The stand-in's whole world, behind one lock."""

    def __init__(self, *, leader: str = "127.0.0.1:8300", datacenter: str = "dc1", node: str = "consul-server-0",
                 tokens: list[Token] | None = None) -> None:
        self.lock = threading.Lock()
        self.leader = leader
        self.datacenter = datacenter
        self.node = node
        self.tokens: dict[str, Token] = {t.secret: t for t in tokens or []}
        self.services: dict[str, Instance] = {}
        self.kv: dict[str, KvEntry] = {}
        self.index = 10

    def bump(self) -> int:
        self.index += 1
        return self.index

    # -- provisioning (in-process and from a state file) ----------------------------------------
    def register(self, inst: Instance) -> None:
        with self.lock:
            inst.index = self.bump()
            self.services[inst.id] = inst

    def put(self, key: str, value: bytes) -> None:
        with self.lock:
            i = self.bump()
            self.kv[key] = KvEntry(value, 0, i, i)

    def kv_keys(self, prefix: str = "") -> list[str]:
        with self.lock:
            return sorted(k for k in self.kv if k.startswith(prefix))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        tokens = [Token(**t) for t in data.get("tokens", [])]
        state = cls(leader=data.get("leader", "127.0.0.1:8300"), datacenter=data.get("datacenter", "dc1"),
                    node=data.get("node", "consul-server-0"), tokens=tokens)
        for s in data.get("services", []):
            checks = [Check(**c) for c in s.pop("checks", [])]
            state.register(Instance(**s, checks=checks))
        for key, value in data.get("kv", {}).items():
            state.put(key, value.encode())
        return state


class _Denied(Exception):
    def __init__(self, code: int, body: str) -> None:
        super().__init__(body)
        self.code = code
        self.body = body


class Handler(RoutingHandler):
    server_version = "Consul-STANDIN"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    state: State  # set on the subclass made per server
    _payload: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stdout.write(f"{self.address_string()} {format % args}\n")
        sys.stdout.flush()

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, code: int, body: Any, *, raw: bool = False, headers: Mapping[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else (body.encode() if raw else json.dumps(body).encode())
        self.reply(code, data, "text/plain; charset=utf-8" if raw else "application/json", {
            "X-Consul-Index": str(self.state.index),
            "X-Consul-KnownLeader": "true" if self.state.leader else "false",
            "X-Consul-LastContact": "0", "X-Consul-Default-ACL-Policy": "deny", **(headers or {})})

    def _body(self) -> bytes:
        return self._payload

    def _token(self) -> Token:
        secret = self.headers.get("X-Consul-Token")
        auth = self.headers.get("Authorization", "")
        if not secret and auth.lower().startswith("bearer "):
            secret = auth[7:].strip()
        if not secret:
            return Token(secret="", description="Anonymous Token", accessor="00000000-0000-0000-0000-000000000002")
        token = self.state.tokens.get(secret)
        if token is None:
            raise _Denied(403, "ACL not found")
        return token

    def _require(self, token: Token, kind: str, name: str, access: str) -> None:
        if not token.can(kind, name, access):
            raise _Denied(403, f"Permission denied: token with AccessorID '{token.accessor}' lacks permission "
                               f"'{kind}:{access}' on \"{name}\"")

    def _leader(self) -> None:
        if not self.state.leader:
            raise _Denied(500, "No cluster leader")

    def route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._payload = self.read_body()
        try:
            with self.state.lock:
                self._route(method, path, query)
        except _Denied as exc:
            self._send(exc.code, exc.body, raw=True)
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, f"Bad request: {exc}", raw=True)

    # -- endpoints ------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: Mapping[str, str]) -> None:
        st = self.state
        if path == "/v1/status/leader" and method == "GET":
            return self._send(200, st.leader)
        if path == "/v1/status/peers" and method == "GET":
            return self._send(200, [st.leader] if st.leader else [])
        token = self._token()
        if path == "/v1/agent/self" and method == "GET":
            self._require(token, "agent", st.node, "read")
            return self._send(200, {"Config": {"Datacenter": st.datacenter, "NodeName": st.node, "Server": True,
                                               "Version": VERSION, "Revision": "standin"},
                                    "Member": {"Name": st.node, "Addr": "127.0.0.1", "Port": 8301, "Status": 1},
                                    "Meta": {"consul-network-segment": ""}, "Stats": {}})
        if path == "/v1/acl/token/self" and method == "GET":
            self._leader()
            if not token.secret:
                raise _Denied(403, "ACL not found")
            return self._send(200, {"AccessorID": token.accessor, "Description": token.description,
                                    "Policies": [{"ID": str(uuid.uuid5(uuid.NAMESPACE_DNS, p)), "Name": p}
                                                 for p in token.policies],
                                    "Local": False, "CreateIndex": 5, "ModifyIndex": 5})
        if path == "/v1/catalog/services" and method == "GET":
            self._leader()
            names: dict[str, list[str]] = {}
            filtered = False
            for inst in st.services.values():
                if token.can("service", inst.name, "read"):
                    names.setdefault(inst.name, [])
                    names[inst.name] = sorted(set(names[inst.name]) | set(inst.tags))
                else:
                    filtered = True
            return self._send(200, names, headers={FILTERED: "true"} if filtered else None)
        for prefix, kind in (("/v1/catalog/service/", "catalog"), ("/v1/health/service/", "health")):
            if path.startswith(prefix) and method == "GET":
                self._leader()
                return self._service(kind, path[len(prefix):], query, token)
        if path == "/v1/agent/service/register" and method == "PUT":
            return self._register(json.loads(self._body() or b"{}"), token)
        if path.startswith("/v1/agent/service/deregister/") and method == "PUT":
            sid = path.rsplit("/", 1)[1]
            gone = st.services.get(sid)
            if gone is None:
                return self._send(404, f'Unknown service ID "{sid}".', raw=True)
            self._require(token, "service", gone.name, "write")
            del st.services[sid]
            st.bump()
            return self._send(200, b"")
        if path.startswith("/v1/agent/check/update/") and method == "PUT":
            return self._check_update(path.rsplit("/", 1)[1], json.loads(self._body() or b"{}"), token)
        if path.startswith("/v1/kv/"):
            self._leader()
            return self._kv(method, path[len("/v1/kv/"):], query, token)
        return self._send(404, f"Invalid URL path: not a recognized HTTP API endpoint ({path})", raw=True)

    def _node(self, inst: Instance) -> dict[str, Any]:
        return {"ID": str(uuid.uuid5(uuid.NAMESPACE_DNS, inst.node)), "Node": inst.node, "Address": inst.address,
                "Datacenter": self.state.datacenter, "TaggedAddresses": {"lan": inst.address},
                "Meta": {"consul-network-segment": ""}, "CreateIndex": inst.index, "ModifyIndex": inst.index}

    def _service(self, kind: str, name: str, query: Mapping[str, str], token: Token) -> None:
        instances = [i for i in self.state.services.values() if i.name == name]
        filtered = False
        if instances and not token.can("service", name, "read"):
            instances, filtered = [], True
        if "tag" in query:
            instances = [i for i in instances if query["tag"] in i.tags]
        out: list[dict[str, Any]] = []
        for inst in sorted(instances, key=lambda i: i.id):
            svc = {"ID": inst.id, "Service": inst.name, "Tags": inst.tags, "Address": inst.address,
                   "Meta": inst.meta, "Port": inst.port, "Weights": {"Passing": 1, "Warning": 1},
                   "EnableTagOverride": False, "CreateIndex": inst.index, "ModifyIndex": inst.index}
            if kind == "catalog":
                node = self._node(inst)
                out.append({"ID": node["ID"], "Node": inst.node, "Address": inst.address,
                            "Datacenter": self.state.datacenter, "TaggedAddresses": node["TaggedAddresses"],
                            "NodeMeta": node["Meta"], "ServiceKind": "", "ServiceID": inst.id,
                            "ServiceName": inst.name, "ServiceTags": inst.tags, "ServiceAddress": inst.address,
                            "ServicePort": inst.port, "ServiceMeta": inst.meta,
                            "ServiceEnableTagOverride": False, "CreateIndex": inst.index,
                            "ModifyIndex": inst.index})
                continue
            checks = [{"Node": inst.node, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing",
                       "Notes": "", "Output": "Agent alive and reachable", "ServiceID": "", "ServiceName": "",
                       "ServiceTags": [], "Type": ""}]
            checks += [{"Node": inst.node, "CheckID": c.check_id, "Name": c.name, "Status": c.status, "Notes": "",
                        "Output": c.output, "ServiceID": inst.id, "ServiceName": inst.name, "ServiceTags": inst.tags,
                        "Type": "ttl"} for c in inst.checks]
            if "passing" in query and any(c["Status"] != "passing" for c in checks):
                continue
            out.append({"Node": self._node(inst), "Service": svc, "Checks": checks})
        self._send(200, out, headers={FILTERED: "true"} if filtered else None)

    def _register(self, body: Mapping[str, Any], token: Token) -> None:
        name = str(body["Name"])
        self._require(token, "service", name, "write")
        sid = str(body.get("ID") or name)
        checks = []
        for n, c in enumerate(([body["Check"]] if body.get("Check") else []) + list(body.get("Checks") or [])):
            checks.append(Check(str(c.get("CheckID") or f"service:{sid}" + (f":{n + 1}" if n else "")),
                                str(c.get("Name") or f"Service '{name}' check"), str(c.get("Status") or "critical"),
                                str(c.get("Notes") or "")))
        inst = Instance(sid, name, str(body.get("Address") or "127.0.0.1"), int(body.get("Port") or 0),
                        str(body.get("Node") or "gvp-node-1"), list(body.get("Tags") or []),
                        dict(body.get("Meta") or {}), checks, self.state.bump())
        self.state.services[sid] = inst
        self._send(200, b"")

    def _check_update(self, check_id: str, body: Mapping[str, Any], token: Token) -> None:
        for owner in self.state.services.values():
            for check in owner.checks:
                if check.check_id == check_id:
                    self._require(token, "service", owner.name, "write")
                    status = str(body.get("Status", "passing"))
                    if status not in ("passing", "warning", "critical"):
                        raise ValueError(f"invalid Status {status!r}")
                    check.status, check.output = status, str(body.get("Output", ""))
                    self.state.bump()
                    return self._send(200, b"")
        self._send(404, f'Unknown check ID "{check_id}".', raw=True)

    def _entry(self, key: str, e: KvEntry) -> dict[str, Any]:
        value = base64.b64encode(e.value).decode() if e.value is not None else None
        return {"LockIndex": 0, "Key": key, "Flags": e.flags, "Value": value, "CreateIndex": e.create_index,
                "ModifyIndex": e.modify_index}

    def _kv(self, method: str, key: str, query: Mapping[str, str], token: Token) -> None:
        kv = self.state.kv
        if method == "GET":
            if "keys" in query or "recurse" in query:
                self._require(token, "key", key, "read")
                found = sorted(k for k in kv if k.startswith(key) and token.can("key", k, "read"))
                if "keys" in query:
                    sep = query.get("separator") or ""
                    if sep:
                        found = sorted({k if sep not in k[len(key):] else k[:len(key) + k[len(key):].index(sep) + 1]
                                        for k in found})
                    return self._send(200, found) if found else self._send(404, b"")
                return (self._send(200, [self._entry(k, kv[k]) for k in found]) if found
                        else self._send(404, b""))
            self._require(token, "key", key, "read")
            entry = kv.get(key)
            return self._send(200, [self._entry(key, entry)]) if entry else self._send(404, b"")
        self._require(token, "key", key, "write")
        if method == "PUT":
            body = self._body()
            current = kv.get(key)
            if "cas" in query:
                cas = int(query["cas"])
                if (cas == 0 and current is not None) or (cas > 0 and (current is None or
                                                                      current.modify_index != cas)):
                    return self._send(200, False)
            i = self.state.bump()
            kv[key] = KvEntry(body, int(query.get("flags") or 0), current.create_index if current else i, i)
            return self._send(200, True)
        if method == "DELETE":
            if "recurse" in query:
                for k in [k for k in kv if k.startswith(key)]:
                    self._require(token, "key", k, "write")
                    del kv[k]
                self.state.bump()
                return self._send(200, True)
            current = kv.get(key)
            if "cas" in query and (current is None or current.modify_index != int(query["cas"])):
                return self._send(200, False)
            if current is not None:
                del kv[key]
                self.state.bump()
            return self._send(200, True)
        raise _Denied(405, f"method {method} not allowed")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(state: State, host: str, port: int, tls: tuple[Path, Path] | None = None,
                tls_max_version: ssl.TLSVersion | None = None) -> _Server:
    """``tls``: (certificate, key) to serve HTTPS; ``tls_max_version`` caps it (negative tests of a minimum)."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = _Server((host, port), handler)
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls_max_version is not None:
            ctx.maximum_version = tls_max_version
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        # the handshake happens in the handler's thread, so a client that never speaks TLS blocks nobody else
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


@contextlib.contextmanager
def running(state: State, tls: tuple[Path, Path] | None = None,
            tls_max_version: ssl.TLSVersion | None = None) -> Iterator[tuple[str, int]]:
    """In-process stand-in on a free loopback port (for negative tests): yields (host, port)."""
    httpd = make_server(state, LOOPBACK, 0, tls, tls_max_version)
    serving = InThread(httpd, "consul-standin")
    serving.start()
    try:
        yield LOOPBACK, int(httpd.server_address[1])
    finally:
        serving.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvpconf_lab.data_consul",
                                     description="STAND-IN for Consul's HTTP API (not Consul)")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--state", type=Path, required=True, help="JSON: tokens, services, kv, leader")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args(argv)
    state = State.from_json(json.loads(args.state.read_text()))
    stop_on_signals()
    servers: list[InThread] = []
    try:
        servers.append(InThread(make_server(state, args.host, args.http_port), "consul-http"))
        if args.https_port:
            servers.append(InThread(make_server(state, args.host, args.https_port, (args.cert, args.key)),
                                    "consul-https"))
    except OSError as exc:
        print(f"consul stand-in: cannot listen: {exc}", file=sys.stderr, flush=True)
        return 3
    for s in servers:
        s.start()
    print(f"Consul STAND-IN (not Consul) on http {args.host}:{args.http_port}"
          + (f", https {args.host}:{args.https_port}" if args.https_port else "")
          + f"; leader {state.leader or 'NONE'}; {len(state.services)} service instance(s)", flush=True)
    try:
        threading.Event().wait()
    except Stopped:
        pass
    finally:
        for s in servers:
            s.stop()
    print("consul stand-in stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
