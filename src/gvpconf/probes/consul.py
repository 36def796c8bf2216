"""Consul probers (connections 6 SD -> Consul and 10 MCP -> Consul, HTTP 8500 / HTTPS 8501), with py-consul.

``cluster``: ``GET /v1/status/leader`` must name a leader; ``GET /v1/acl/token/self`` proves the token
is known (403 "ACL not found" is ``auth``); ``GET /v1/agent/self`` gives the version and datacenter
(a token without ``agent:read`` only loses that fact).

``mcp_registration`` (10): this MCP pod is an instance of the configured service (default
``gvp-mcp``) with its own address and SIP port, and every one of its checks is passing.

``sd_catalog`` (6): the MCP service is readable with all its instances, and tenant data under the KV
folder ``tenants`` is readable. With ``write_check`` (or ``--consul-write-check``) it also creates a key
under its own prefix with a check-and-set (``cas=0``: only if absent), reads it back and deletes it
(``cas=<index>``), and deletes it again in a ``finally`` whatever happened.

A token the ACLs filter out of catalog/health answers gets an empty list and the header
``X-Consul-Results-Filtered-By-ACLs``: that is reported as ``auth``, not as "nothing registered".

Over HTTPS the destination's ``tls`` section applies as for every TLS peer (``gvpconf.probes.tlscheck``):
requests does its handshakes with our verifying context (CA, name, minimum version), which keeps what each
handshake showed; after every call the new handshakes are checked (facts ``tls.*``, expiry warning, expected
issuers). No handshake of our own: the check runs on requests' (one per HTTP connection).

py-consul quirks handled here: ``CONSUL_HTTP_TOKEN`` overrides an explicit ``token=`` (we set the
client's token after construction); requests' ``timeout`` bounds each socket operation, not a whole
request, so each call also runs under the probe's deadline in a worker thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import secrets
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from gvpconf import net, redact
from gvpconf.deadline import Deadline
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import Target, TlsSettings
from gvpconf.inventory.data import ConsulDestination
from gvpconf.probes import tlscheck
from gvpconf.probes.context import ProbeContext

if TYPE_CHECKING:
    import consul  # type: ignore[import-untyped]

T = TypeVar("T")

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gvpconf-consul")
FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs"
CLEANUP_GRACE_S = 2.0


def translate(exc: BaseException, during: str, timeout: float,
              tls: tuple[TlsSettings, tlscheck.Endpoint] | None = None,
              connect_timeout: float | None = None) -> ProbeFailure:
    """The one place py-consul's and requests' exceptions become causes (TLS errors through ``tlscheck``, with
    ``tls``: the settings and the peer, to name an untrusted certificate's issuer). ``timeout`` is the read
    budget, ``connect_timeout`` (default: the same) the connect budget: a timeout message quotes the one that
    ran out."""
    connect_timeout = timeout if connect_timeout is None else connect_timeout
    import requests
    from consul import exceptions as cx

    text = str(exc).strip().replace("\n", " ")
    low = text.lower()
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, cx.ACLPermissionDenied):
        if "acl not found" in low:
            return ProbeFailure(Cause.AUTH, f"Consul does not know the token during {during} (403 ACL not "
                                "found)", phase=during)
        return ProbeFailure(Cause.AUTH, f"the token lacks a permission during {during}: 403 "
                            f"{redact.cut(text, 200)}", phase=during)
    if isinstance(exc, cx.ACLDisabled):
        return ProbeFailure(Cause.AUTH, f"401 during {during}: {redact.cut(text, 200)}", phase=during)
    if isinstance(exc, requests.exceptions.SSLError):
        ssl_error = tlscheck.ssl_error_in(exc)
        if ssl_error is not None:
            settings, peer = tls if tls is not None else (None, None)
            return tlscheck.translate_ssl(ssl_error, during=during, settings=settings, peer=peer, timeout=timeout)
        return ProbeFailure(Cause.TLS, f"TLS error during {during}: {_short(exc)}", phase=during)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ProbeFailure(Cause.TIMEOUT, f"timeout during TCP connect ({connect_timeout:.1f} s) before {during}",
                            phase=during)
    if isinstance(exc, requests.exceptions.ReadTimeout | TimeoutError):
        return ProbeFailure(Cause.TIMEOUT, f"timeout during {during} ({timeout:.1f} s): no HTTP answer",
                            phase=during)
    if isinstance(exc, requests.exceptions.ConnectionError):
        inner = _innermost(exc)
        if isinstance(inner, ConnectionRefusedError) or "connection refused" in low:
            return ProbeFailure(Cause.REFUSED, f"connection refused during {during} (nothing listening, or a "
                                "reject rule)", phase=during)
        if isinstance(inner, socket.gaierror) or "name or service not known" in low or "resolve" in low:
            return ProbeFailure(Cause.DNS, f"name resolution failed during {during}", phase=during)
        if "timed out" in low:
            return ProbeFailure(Cause.TIMEOUT, f"timeout during {during} ({timeout:.1f} s)", phase=during)
        return ProbeFailure(Cause.PROTOCOL, f"not an HTTP answer during {during}: {_short(inner)}",
                            phase=during)
    if isinstance(exc, requests.exceptions.RequestException):
        return ProbeFailure(Cause.PROTOCOL, f"HTTP error during {during}: {_short(exc)}", phase=during)
    if isinstance(exc, cx.ConsulException):
        if "no cluster leader" in low:
            return ProbeFailure(Cause.SEMANTIC, f"Consul has no cluster leader during {during} (500 No cluster "
                                "leader)", phase=during)
        if "failed to decode json" in low:
            return ProbeFailure(Cause.PROTOCOL, f"the HTTP answer to {during} is not Consul's JSON: "
                                f"{redact.preview(text.encode(), 60)}", phase=during)
        code = text.split(" ", 1)[0]
        if isinstance(exc, cx.BadRequest | cx.ClientError | cx.NotFound) or code.startswith("4"):
            return ProbeFailure(Cause.PROTOCOL, f"HTTP {code} to {during}: not Consul's HTTP API? "
                                f"{redact.preview(text.encode(), 60)}", phase=during)
        return ProbeFailure(Cause.SEMANTIC, f"Consul answered an error during {during}: "
                            f"{redact.preview(text.encode(), 80)}", phase=during)
    if isinstance(exc, OSError):
        from gvpconf.errors import failure_from_os_error

        return failure_from_os_error(exc, during=during, timeout=timeout)
    return ProbeFailure(Cause.PROTOCOL, f"{type(exc).__name__} during {during}: {_short(exc)}", phase=during)


def _innermost(exc: BaseException) -> BaseException:
    *_, inner = tlscheck.exception_chain(exc)
    return inner


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {redact.cut(text, 160)}" if text else type(exc).__name__


@functools.cache
def _tls_adapter_class() -> type[Any]:
    """requests' HTTPAdapter, but with our context (and ``tls.server_name``) instead of one built from ``verify``
    (the documented way: override ``build_connection_pool_key_attributes``). Built on first use: requests is
    imported only when a Consul probe runs."""
    from requests.adapters import HTTPAdapter

    class TlsAdapter(HTTPAdapter):
        def __init__(self, context: ssl.SSLContext, server_name: str | None) -> None:
            self.context = context
            self.server_name = server_name
            super().__init__()

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            # requests points verify=True at certifi's bundle, which urllib3 would load into our context: the
            # trust is tls.ca_file (or the system store) and nothing else
            conn.ca_certs = None
            conn.ca_cert_dir = None

        def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> tuple[
                dict[str, Any], dict[str, Any]]:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = self.context
            if self.server_name:
                pool_kwargs["server_hostname"] = self.server_name
            return host_params, pool_kwargs

    return TlsAdapter


def _ignore(_name: str, _value: Any) -> None:
    pass


class Session:
    """A py-consul client for one target, every call bounded by a deadline; over HTTPS every handshake is
    checked as ``tls`` says, and its facts go to ``record``."""

    def __init__(self, dest: ConsulDestination, target: Target, token: str | None, deadline: Deadline,
                 record: tlscheck.Record = _ignore) -> None:
        import consul

        self.dest = dest
        self.target = target
        self.deadline = deadline
        self.record = record
        self.scheme = "https" if target.port in dest.https_ports else "http"
        self.client: consul.Consul = consul.Consul(host=target.host, port=target.port, scheme=self.scheme,
                                                   verify=dest.tls.verify, token=None)
        # py-consul lets CONSUL_HTTP_TOKEN override an explicit token=; set ours (or none) explicitly
        self.client.token = token
        session = self.client.http.session
        session.trust_env = False  # no proxies, netrc or CA bundle from the environment: talk to the target
        if not dest.tls.verify:  # said by the inventory and reported as tls.verify=off: no warning on top
            from urllib3.exceptions import InsecureRequestWarning

            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self.handshakes: list[tlscheck.Handshake] = []
        self._checked = 0
        self.peer: tlscheck.Endpoint | None = None
        if self.scheme == "https":
            tlscheck.record_trust(record, dest.tls)
            context, self.handshakes = tlscheck.observing_context(dest.tls)
            session.mount("https://", _tls_adapter_class()(context, dest.tls.server_name))
            self.peer = tlscheck.Endpoint(target.host, target.port, dest.tls.server_name or target.host,
                                          deadline=deadline)

    def check_tls(self) -> None:
        """The common TLS check on every handshake requests completed since the last call."""
        while self._checked < len(self.handshakes):
            handshake = self.handshakes[self._checked]
            self._checked += 1
            tlscheck.check(self.record, handshake, self.dest.tls)

    def call(self, fn: Callable[[], T], during: str) -> T:
        dl = self.deadline
        connect = dl.connect_budget(during)
        read = dl.read_budget(during)
        self.client.http.connections_timeout = (connect, read)
        budget = dl.budget(None, during)
        fut = _POOL.submit(fn)
        try:
            result = fut.result(timeout=budget)
        except concurrent.futures.TimeoutError as exc:
            raise ProbeFailure(Cause.TIMEOUT, f"timeout during {during}: no complete answer within "
                               f"{budget:.1f} s", phase=during) from exc
        except Exception as exc:
            self.check_tls()  # a handshake that went through is judged before what followed it
            tls = (self.dest.tls, self.peer) if self.peer is not None else None
            raise translate(exc, during, read, tls, connect_timeout=connect) from exc
        self.check_tls()
        return result

    def call_grace(self, fn: Callable[[], T], during: str, seconds: float) -> T:
        """Like ``call`` but with its own small budget: cleanup must run even when the deadline is spent."""
        self.client.http.connections_timeout = seconds
        fut = _POOL.submit(fn)
        try:
            return fut.result(timeout=seconds)
        except concurrent.futures.TimeoutError as exc:
            raise ProbeFailure(Cause.TIMEOUT, f"timeout during {during} ({seconds:.1f} s)", phase=during) from exc
        except Exception as exc:
            raise translate(exc, during, seconds) from exc

    def raw_get(self, path: str, during: str, params: list[tuple[str, Any]] | None = None) -> tuple[
            Any, Mapping[str, str]]:
        """GET through py-consul's HTTP client, keeping the headers (ACL filtering shows only there)."""
        from consul import exceptions as cx
        from consul.callback import CB  # type: ignore[import-untyped]

        def callback(response: Any) -> tuple[Any, Mapping[str, str]]:
            CB._status(response, allow_404=False)
            try:
                return json.loads(response.body), response.headers
            except (json.JSONDecodeError, TypeError) as exc:
                raise cx.ConsulException(f"Failed to decode JSON: {response.body[:80]}") from exc

        headers = self.client.prepare_headers()
        result: tuple[Any, Mapping[str, str]] = self.call(
            lambda: self.client.http.get(callback, path, params=params, headers=headers), during)
        return result

    def close(self) -> None:
        self.client.http.session.close()


@contextlib.contextmanager
def _leader_session(ctx: ProbeContext) -> Iterator[tuple[ConsulDestination, Session]]:
    """Every probe starts the same way: a session on the target, whose cluster must have a leader; closed after."""
    dest = ctx.destination
    assert isinstance(dest, ConsulDestination)
    ev = ctx.evidence
    https = ctx.target.port in dest.https_ports
    ev.fact("consul.scheme", "https" if https else "http")
    if not https:  # over https, Go's server would log the unused connection ("TLS handshake error ... EOF")
        with net.EarlyConnect(ctx.target.host, ctx.target.port, ctx.deadline) as early:  # the SYN out first
            early.failed_already()
            import consul  # noqa: F401  (py-consul and requests load while the handshake is under way)

            early.reached()  # an unreachable agent fails here
    s = Session(dest, ctx.target, ctx.secret("token"), ctx.deadline, ev.fact)
    try:
        check_leader(s, ev.fact)
        yield dest, s
    finally:
        s.close()


def check_leader(s: Session, record: Callable[[str, Any], None]) -> str:
    leader = s.call(s.client.status.leader, "GET /v1/status/leader")
    if not isinstance(leader, str):
        raise ProbeFailure(Cause.PROTOCOL, f"GET /v1/status/leader should answer a JSON string, got "
                           f"{type(leader).__name__}: not Consul's HTTP API?", phase="status/leader")
    record("consul.leader", leader or "none")
    if not leader:
        raise ProbeFailure(Cause.SEMANTIC, "expected an elected leader, GET /v1/status/leader answered \"\" "
                           "(no cluster leader: quorum lost or servers not joined)", phase="status/leader")
    return leader


def probe_cluster(ctx: ProbeContext) -> None:
    """Leader elected, token valid, agent version."""
    ev = ctx.evidence
    with _leader_session(ctx) as (_dest, s):
        from consul import exceptions as cx  # loaded by the session (after its first connect)

        if s.client.token is None:
            ev.fact("consul.token", "none configured")
        else:
            try:
                info = s.call(s.client.acl.token.read_self, "GET /v1/acl/token/self")
            except ProbeFailure as exc:
                if isinstance(exc.__cause__, cx.ACLDisabled):
                    ev.fact("consul.acl", "disabled")
                    ev.fact("consul.token", "not checked (ACLs disabled)")
                else:
                    raise
            else:
                ev.fact("consul.acl", "enabled")
                policies = [p.get("Name", "?") for p in (info or {}).get("Policies") or []]
                ev.fact("consul.token", "valid")
                ev.fact("consul.token_policies", ",".join(policies) or "none")
        try:
            me = s.call(s.client.agent.self, "GET /v1/agent/self")
        except ProbeFailure as exc:
            if exc.cause is not Cause.AUTH or "lacks a permission" not in exc.message:
                raise
            ev.fact("consul.version", "unknown (token lacks agent:read)")
        else:
            config = (me or {}).get("Config") or {}
            ev.fact("consul.version", str(config.get("Version", "?")))
            ev.fact("consul.datacenter", str(config.get("Datacenter", "?")))
            ev.fact("consul.node", str(config.get("NodeName", "?")))
            ev.fact("consul.server", bool(config.get("Server", False)))


def read_service(s: Session, service: str, passing_only: bool = False) -> list[dict[str, Any]]:
    """Every registered instance of ``service`` (health entries). An ACL-filtered answer is ``auth``."""
    params: list[tuple[str, Any]] = [("passing", "1")] if passing_only else []
    data, headers = s.raw_get(f"/v1/health/service/{service}", f"GET /v1/health/service/{service}", params)
    if not isinstance(data, list):
        raise ProbeFailure(Cause.PROTOCOL, f"/v1/health/service/{service} should answer a JSON list, got "
                           f"{type(data).__name__}", phase="health/service")
    if not data and str(headers.get(FILTERED_HEADER, "")).lower() == "true":
        raise ProbeFailure(Cause.AUTH, f"the token cannot read service {service!r}: Consul filtered the answer "
                           f"({FILTERED_HEADER}: true); grant service:read", phase="health/service")
    return [e for e in data if isinstance(e, dict)]


def instance_address(entry: Mapping[str, Any]) -> tuple[str, int]:
    service = entry.get("Service") or {}
    node = entry.get("Node") or {}
    address = service.get("Address") or node.get("Address") or ""
    return str(address), int(service.get("Port") or 0)


def _checks(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in entry.get("Checks") or [] if isinstance(c, dict)]


def _local_address(host: str, port: int, deadline: Deadline) -> str:
    """The address this pod uses to reach Consul (a UDP socket's source address; nothing is sent)."""
    family, sockaddr = net.resolve(host, port, deadline, socket.SOCK_DGRAM)[0]
    with net.udp_socket(family) as sock:
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            raise ProbeFailure(Cause.REFUSED, f"no route to {host} to find this pod's own address: "
                               f"{exc.strerror}", phase="self address") from exc
        address: str = sock.getsockname()[0]
        return address


def probe_mcp_registration(ctx: ProbeContext) -> None:
    """Connection 10: this MCP is registered with its address and SIP port, and its checks pass."""
    ev = ctx.evidence
    with _leader_session(ctx) as (dest, s):
        me = dest.self_address or _local_address(ctx.target.host, ctx.target.port, ctx.deadline)
        ev.fact("consul.self", f"{me}:{dest.sip_port}")
        ev.fact("consul.service", dest.service)
        entries = read_service(s, dest.service)
        ev.fact("consul.instances", len(entries))
        mine = [e for e in entries if instance_address(e) == (me, dest.sip_port)]
        if not mine:
            seen = ", ".join(f"{a}:{p}" for a, p in (instance_address(e) for e in entries[:8])) or "none"
            raise ProbeFailure(Cause.SEMANTIC, f"expected this MCP ({me}:{dest.sip_port}) registered as "
                               f"{dest.service!r}, got {len(entries)} instance(s): {seen}", phase="registration")
        entry = mine[0]
        address, port = instance_address(entry)
        ev.fact("consul.registered", f"{address}:{port}")  # as Consul's catalog has it
        ev.fact("consul.service_id", str((entry.get("Service") or {}).get("ID", "?")))
        checks = _checks(entry)
        bad = [c for c in checks if c.get("Status") != "passing"]
        ev.fact("consul.checks", f"{len(checks) - len(bad)}/{len(checks)} passing")
        if bad:
            detail = "; ".join(f"{c.get('Name') or c.get('CheckID')}: {c.get('Status')}"
                               + (f" ({str(c.get('Output'))[:60].strip()})" if c.get("Output") else "")
                               for c in bad[:3])
            raise ProbeFailure(Cause.SEMANTIC, f"expected every check of {dest.service!r} instance "
                               f"{ev.facts['consul.service_id']} passing, got {detail}", phase="checks")


def probe_sd_catalog(ctx: ProbeContext) -> None:
    """Connection 6: the MCP service with all its instances, the tenants folder, and the opt-in write check."""
    ev = ctx.evidence
    with _leader_session(ctx) as (dest, s):
        entries = read_service(s, dest.service)
        passing = [e for e in entries if all(c.get("Status") == "passing" for c in _checks(e))]
        ev.fact("consul.service", dest.service)
        ev.fact("consul.instances", len(entries))
        ev.fact("consul.instances_passing", len(passing))
        if not entries:
            raise ProbeFailure(Cause.SEMANTIC, f"expected MCP instances registered as {dest.service!r}, got none",
                               phase="health/service")
        folder = dest.tenants_prefix.rstrip("/") + "/"
        _index, keys = s.call(lambda: s.client.kv.get(folder, keys=True), f"GET /v1/kv/{folder}?keys")
        count = len(keys) if isinstance(keys, list) else 0
        ev.fact("consul.kv_tenant_keys", count)
        if count == 0 and dest.require_tenants:
            raise ProbeFailure(Cause.SEMANTIC, f"expected tenant data under KV {folder!r}, got no keys (SD has "
                               "not synced, or the prefix is wrong)", phase="kv tenants")
        if ctx.opted_in("consul_write_check"):
            write_check(s, dest, ev.fact)
        else:
            ev.fact("consul.write_check", "off (read-only)")


def write_check(s: Session, dest: ConsulDestination, record: Callable[[str, Any], None]) -> None:
    """Create (cas=0), read back, delete (cas=index) a key of our own; always delete it at the end."""
    key = f"{dest.write_prefix.rstrip('/')}/{secrets.token_hex(8)}"
    value = f"gvpconf write check {key}"
    record("consul.write_key", key)
    pending = True  # from the first attempt on, the key may exist: the finally deletes it
    try:
        created = bool(s.call(lambda: s.client.kv.put(key, value, cas=0), f"PUT /v1/kv/{key}?cas=0"))
        if not created:
            pending = False  # someone else's key: never delete it
            raise ProbeFailure(Cause.SEMANTIC, f"expected the check-and-set create of {key!r} to succeed, Consul "
                               "answered false (the key already exists)", phase="kv write")
        _index, item = s.call(lambda: s.client.kv.get(key), f"GET /v1/kv/{key}")
        got = (item or {}).get("Value")
        if got is None or bytes(got).decode("utf-8", "replace") != value:
            raise ProbeFailure(Cause.SEMANTIC, f"expected to read back what was written to {key!r}, got "
                               f"{redact.preview(bytes(got or b''), 40)}", phase="kv read back")
        modify = int(item.get("ModifyIndex", 0))
        deleted = s.call(lambda: s.client.kv.delete(key, cas=modify), f"DELETE /v1/kv/{key}?cas")
        if not deleted:
            raise ProbeFailure(Cause.SEMANTIC, f"expected the check-and-set delete of {key!r} at index {modify} "
                               "to succeed, Consul answered false", phase="kv delete")
        pending = False
        record("consul.write_check", "created (cas=0), read back, deleted (cas)")
    finally:
        if pending:  # whatever failed after the attempt: remove our key, with a grace period of its own
            try:
                s.call_grace(lambda: s.client.kv.delete(key), f"DELETE /v1/kv/{key}", CLEANUP_GRACE_S)
                record("consul.write_cleanup", "deleted")
            except ProbeFailure:
                record("consul.write_cleanup", f"FAILED: delete {key} by hand")
