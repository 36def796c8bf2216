"""HTTP probers (11 ORS, 12 DAS, 20 web server, 21 customer system), on one shared httpx client setup.

Client settings (``_client``): explicit per-phase timeouts from the probe's deadline, the inventory's proxy
(and only it: ``trust_env=False``, so a stray ``HTTP_PROXY`` neither adds nor hides a proxy), HTTP/2 offered
over TLS when ``http2`` is on, no redirects followed, TLS from :mod:`gvpconf.probes.tlscheck` (facts recorded
from the session the request really used, through the proxy tunnel when there is one).

* ``http.ors`` (11): the configured method and path; status in ``accept_status``; latency.
* ``http.vxml`` (12, 20): every configured application URL; status 200 and a body that parses safely as
  VoiceXML (:mod:`gvpconf.vxml`); an HTML page, or XML declaring entities, fails as ``semantic``.
* ``http.customer`` (21): the configured request; status, and optionally a body pattern or a JSON field.

Plain ``http://``, directly or through a plain-http proxy, takes a shorter road (``_fetch_plain``): our own
connection (``gvpconf.net``, the same deadline) and h11, the sans-I/O HTTP/1.1 engine httpx itself runs on,
without httpx's client, URL, cookie and pool machinery (a loopback GET cost 2.7 times blackbox_exporter's in that
machinery; the README's Benchmark says what it costs now). Same request (method, path, headers, body,
``Connection: close``; to a proxy the absolute form and the proxy URL's userinfo as ``Proxy-Authorization``, as
httpx sends them), same checks and facts; https (TLS facts, ALPN h2) and a proxy reached over TLS stay on httpx.

Through a proxy (the MCP's fetch proxy, ``proxy``): the proxy's own answers (squid's ``X-Squid-Error``, a
proxy product in ``Server`` on an error, 407) are told from the origin's and fail with the proxy's cause (a
denial is ``refused``, not ``auth`` on the DAS), naming the proxy; a pass needs the proxy's ``Via`` on the
response (RFC 9110 §7.6.3), recorded as ``http.proxy_via`` (over https: the CONNECT tunnel, the origin's TLS
session checked). A web server answering at the proxy's address by itself fails as ``protocol``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# h11 loads with this module, which ``gvpconf.probes.get`` imports before a probe's clock starts, and only when a
# selected connection runs an HTTP probe (never at collection or --plan); httpx only when a selected destination
# is https (``preload``): a plain-http run does without it
import h11

from gvpconf import net, vxml
from gvpconf.errors import Cause, ProbeFailure, failure_from_os_error
from gvpconf.inventory.web import (
    CustomerDestination,
    OrsDestination,
    VxmlDestination,
    _HttpBase,
)
from gvpconf.probes import tlscheck
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import status_accepted

if TYPE_CHECKING:
    import httpx

USER_AGENT = "gvpconf-probe"


@dataclass
class Fetched:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    latency_s: float
    http_version: str


def _proxy_url(dest: _HttpBase) -> str | None:
    """The proxy URL requests go through (the inventory's ``proxy``), None without one."""
    reveal = getattr(dest, "proxy_url", None)  # the inventory masks userinfo in ``proxy``; this reveals it
    if callable(reveal):
        url = reveal()
        return None if url is None else str(url)
    proxy = getattr(dest, "proxy", None)
    return None if proxy is None else str(proxy)


def proxy_name(dest: _HttpBase) -> str | None:
    """The proxy as messages and facts name it: scheme, host and port, never userinfo."""
    url = _proxy_url(dest)
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _url(ctx: ProbeContext, dest: _HttpBase, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    t = ctx.target
    host = f"[{t.host}]" if ":" in t.host else t.host
    return f"{dest.scheme}://{host}:{t.port}{path}"


def _root(exc: BaseException) -> BaseException | None:
    """The first ssl/OS error in an exception's cause chain (httpx wraps httpcore wraps the socket error)."""
    return next((e for e in tlscheck.exception_chain(exc)
                 if isinstance(e, ssl.SSLError | OSError) and not isinstance(e, TimeoutError)), None)


def translate(exc: Exception, ctx: ProbeContext, dest: _HttpBase, during: str, budget: float) -> ProbeFailure:
    """The one place httpx's exceptions become causes."""
    import httpx

    proxy = proxy_name(dest)
    via = f" via the fetch proxy {proxy}" if proxy else ""
    if isinstance(exc, httpx.ConnectTimeout):
        return _connect_timeout(ctx, dest, via, during)
    if isinstance(exc, httpx.TimeoutException):
        return ProbeFailure(Cause.TIMEOUT, f"no HTTP response within {budget:.1f} s during {during}{via} (a "
                            "silent peer?)", phase=during)
    if isinstance(exc, httpx.ProxyError):
        return _proxy_error(str(exc), proxy or "?", ctx, during)
    root = _root(exc)
    if isinstance(exc, httpx.ConnectError | httpx.ReadError | httpx.WriteError) and root is not None:
        if isinstance(root, ssl.SSLError):
            return tlscheck.translate_ssl(root, during=f"{during}{via}", settings=dest.tls, timeout=budget,
                                          peer=tlscheck.endpoint(ctx, dest.tls) if not proxy else None)
        failure = failure_from_os_error(root, during=f"{during}{via}", timeout=budget)
        if dest.scheme == "https" and failure.cause is Cause.PROTOCOL:
            return ProbeFailure(Cause.TLS, f"the peer closed the connection during the TLS handshake{via} "
                                "(not a TLS server?)", phase=during)
        return failure
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "name or service" in text.lower() or "temporary failure in name" in text.lower():
            return ProbeFailure(Cause.DNS, f"{ctx.target.host!r} does not resolve: {text}", phase=during)
        if dest.scheme == "https":
            return ProbeFailure(Cause.TLS, f"TLS connection failed during {during}{via}: {text or type(exc).__name__}",
                                phase=during)
        return ProbeFailure(Cause.PROTOCOL, f"connection failed during {during}{via}: {text}", phase=during)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        text = str(exc) or type(exc).__name__
        return ProbeFailure(Cause.PROTOCOL, f"expected an HTTP response during {during}{via}, got: {text}",
                            phase=during)
    if isinstance(exc, httpx.HTTPError):
        return ProbeFailure(Cause.PROTOCOL, f"{type(exc).__name__} during {during}{via}: {exc}", phase=during)
    return failure_from_os_error(exc, during=during, timeout=budget)


def _connect_timeout(ctx: ProbeContext, dest: _HttpBase, via: str, during: str) -> ProbeFailure:
    """A connect that got no answer, on either road (httpx's ConnectTimeout, our own connect on h11's)."""
    step = "connect or TLS handshake" if dest.scheme == "https" else "connect"
    return ProbeFailure(Cause.TIMEOUT, f"no answer within {ctx.deadline.timeouts.connect:.1f} s during {step}{via} "
                        "(filtered, or a silent peer)", phase=during)


_CLIENTS = threading.Lock()


class Client:
    """The run's one httpx client for a destination, built on first use (a plain-http request without a proxy
    needs none: ``_fetch_plain``)."""

    def __init__(self, dest: _HttpBase) -> None:
        self.dest = dest
        self._client: httpx.Client | None = None

    def get(self) -> httpx.Client:
        with _CLIENTS:
            if self._client is None:
                self._client = _new_client(self.dest)
            return self._client


def _client_for(ctx: ProbeContext, dest: _HttpBase) -> Client:
    """The run's one client for this destination, kept in ``ctx.memo`` (building one costs an SSL context and a
    transport: about a fifth of a loopback probe). It keeps no connection alive between requests, so every request
    opens its own connection: each probe proves connect and TLS afresh, and ``tlscheck.check`` sees that request's
    own handshake. Timeouts are the request's (``fetch``), from its probe's deadline."""
    slot = f"http.client.{id(dest)}"
    with _CLIENTS:
        kept = ctx.memo.get(slot)
        if kept is None or kept[0] is not dest:  # a slot left by a destination since collected: not ours
            kept = (dest, Client(dest))
            ctx.memo[slot] = kept
    client: Client = kept[1]
    return client


@contextlib.contextmanager
def _client(ctx: ProbeContext, dest: _HttpBase) -> Iterator[Client]:
    """``_client_for`` as a context manager (the Prometheus probe's form; this module's probes call
    ``_client_for``: a generator-based context manager per probe was a few microseconds of nothing)."""
    yield _client_for(ctx, dest)


def _new_client(dest: _HttpBase) -> httpx.Client:
    import httpx

    # TLS is used for https targets and for https through a proxy (CONNECT): our own verifying context.
    # A plain-http request without TLS verifies nothing; passing False there only spares httpx loading
    # certifi's bundle (tens of ms) for a context no connection would use.
    uses_tls = dest.scheme == "https" or _proxy_url(dest) is not None
    verify: ssl.SSLContext | bool = (
        tlscheck.client_context(dest.tls, ["h2", "http/1.1"] if dest.http2 else ["http/1.1"]) if uses_tls else False)
    return httpx.Client(verify=verify, http2=dest.http2 and dest.scheme == "https", proxy=_proxy_url(dest),
                        trust_env=False, follow_redirects=False,
                        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                        headers={"User-Agent": USER_AGENT})


def _headers(ctx: ProbeContext, dest: _HttpBase, token_field: str | None) -> dict[str, str]:
    headers = dict(dest.headers)
    token = ctx.secret(token_field) if token_field else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if dest.tls.server_name and dest.scheme == "https":
        headers["Host"] = dest.tls.server_name
    return headers


def fetch(ctx: ProbeContext, dest: _HttpBase, client: Client, method: str, path: str, *,
          content: bytes | None = None, extra_headers: dict[str, str] | None = None,
          during: str = "HTTP request", token_field: str | None = "bearer_token") -> Fetched:
    """One request, bounded by the deadline; the body is read up to ``max_body_bytes``."""
    url = _url(ctx, dest, path)
    headers = _headers(ctx, dest, token_field) | (extra_headers or {})
    if _plain(ctx, dest, url):
        got = _fetch_plain(ctx, dest, method, url, headers, content, during)
        proxy = _proxy_of(ctx, dest)[1]
        if proxy is not None:
            _through_proxy(ctx, proxy, url, got, during)
        return got
    import httpx  # https (and a proxy reached over TLS) only: loaded by ``preload`` before the probes start

    extensions: dict[str, Any] = {}
    if dest.tls.server_name and url.startswith("https://"):
        extensions["sni_hostname"] = dest.tls.server_name
    connect = ctx.deadline.connect_budget("HTTP connect")
    budget = ctx.deadline.read_budget(during)
    timeout = httpx.Timeout(connect=connect, read=budget, write=budget, pool=connect)
    if url.startswith("https://"):
        tlscheck.record_trust(ctx.evidence.fact, dest.tls)
    ctx.evidence.sent(f"{method} {url}")
    started = time.monotonic()
    try:
        http = client.get()
        request = http.build_request(method, url, headers=headers, content=content, extensions=extensions,
                                     timeout=timeout)
        response = http.send(request, stream=True)
        try:
            latency = time.monotonic() - started
            if url.startswith("https://"):
                stream = response.extensions.get("network_stream")
                sslobj = stream.get_extra_info("ssl_object") if stream is not None else None
                if sslobj is None:
                    raise ProbeFailure(Cause.TLS, "no TLS session on an https request", phase="TLS handshake")
                tlscheck.check(ctx.evidence.fact, sslobj, dest.tls)
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > dest.max_body_bytes:
                    raise ProbeFailure(Cause.SEMANTIC, f"response body larger than max_body_bytes "
                                       f"({dest.max_body_bytes})", phase=during)
                ctx.deadline.read_budget(during)  # raises once the probe's time is up
        finally:
            response.close()
    except ProbeFailure:
        raise
    except (httpx.HTTPError, OSError) as exc:
        raise translate(exc, ctx, dest, during, budget) from exc
    ctx.evidence.received(f"{response.http_version} {response.status_code} {response.reason_phrase}")
    got = Fetched(response.status_code, response.reason_phrase, dict(response.headers), bytes(body), latency,
                  response.http_version)
    proxy = proxy_name(dest)
    if proxy is not None:
        _through_proxy(ctx, proxy, url, got, during)
    return got


def preload(destinations: Sequence[object]) -> None:
    """The scheduler's hook, on the main thread before any probe starts: httpx when one of these destinations
    is https or has a proxy reached over TLS (its probes take httpx's road). Loaded in a probe's thread instead,
    it came after the other probes' libraries, and the https probes connected last (all blackholed: 0.4 s after
    the others). An early connect of our own would cost nothing, but a TLS server may log a connection closed
    before its handshake (Go: "TLS handshake error ... EOF")."""
    for dest in destinations:
        proxy = getattr(dest, "proxy", None)
        if getattr(dest, "scheme", None) == "https" or (proxy is not None and str(proxy).startswith("https://")):
            import httpx  # noqa: F401

            return


def _plain(ctx: ProbeContext, dest: _HttpBase, url: str) -> bool:
    """Whether ``url`` takes the h11 road: plain http, directly or through a plain-http proxy (the MCP's fetch
    proxy: the request goes to the proxy in absolute form, RFC 9112 §3.2.2, as httpx sends it), no userinfo in
    the URL. https, and any proxy reached over TLS, stay on httpx."""
    proxy_url = _proxy_of(ctx, dest)[0]
    return (url.startswith("http://") and (proxy_url is None or proxy_url.startswith("http://"))
            and "@" not in urllib.parse.urlsplit(url).netloc)


def _proxy_of(ctx: ProbeContext, dest: _HttpBase) -> tuple[str | None, str | None]:
    """``(_proxy_url(dest), proxy_name(dest))``, worked out once per run for each destination (``ctx.memo``)."""
    slot = f"http.proxy.{id(dest)}"
    kept = ctx.memo.get(slot)
    if kept is None or kept[0] is not dest:  # a slot left by a destination since collected: not ours
        kept = (dest, (_proxy_url(dest), proxy_name(dest)))
        ctx.memo[slot] = kept
    found: tuple[str | None, str | None] = kept[1]
    return found


#: what httpx's client sends besides the request's own headers, but ``Connection: close`` (each probe opens its
#: own connection, as httpx's does with no keep-alive) and the identity coding (no compressed body to inflate)
_PLAIN_DEFAULTS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity", "Connection": "close"}


#: the end of every request body (an h11 event is immutable: one serves every request)
_END = h11.EndOfMessage()


def _fetch_plain(ctx: ProbeContext, dest: _HttpBase, method: str, url: str, headers: dict[str, str],
                 content: bytes | None, during: str) -> Fetched:
    """One plain-http request on h11 over a connection of our own: ``fetch``'s request, checks and facts."""
    proxy = _proxy_of(ctx, dest)[1]
    try:
        return _fetch_plain_on(ctx, dest, method, url, headers, content, during)
    except ProbeFailure as exc:
        if proxy is None or exc.cause is Cause.CONFIG:
            raise
        # what broke on the way to the proxy, or while it answered, says so (as httpx's errors do: ``translate``)
        if exc.cause is Cause.TIMEOUT and exc.phase == "TCP connect":
            raise _connect_timeout(ctx, dest, f" via the fetch proxy {proxy}", during) from exc
        raise ProbeFailure(exc.cause, f"{exc.message} via the fetch proxy {proxy}", phase=exc.phase) from exc


def _fetch_plain_on(ctx: ProbeContext, dest: _HttpBase, method: str, url: str, headers: dict[str, str],
                    content: bytes | None, during: str) -> Fetched:
    dl = ctx.deadline
    host, port, request = _plain_request(ctx, dest, method, url, headers, content, during)
    ctx.evidence.sent(f"{method} {url}")
    started = time.monotonic()
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=100 * 1024)  # httpcore's own limit
    try:
        data = conn.send(request)
    except h11.LocalProtocolError as exc:  # a request HTTP/1.1 cannot carry
        raise ProbeFailure(Cause.CONFIG, f"cannot send {method} {request.target.decode('ascii', 'replace')}: "
                           f"{exc}", phase=during) from exc
    data = (data or b"") + (conn.send(h11.Data(data=content)) or b"" if content else b"") + (
        conn.send(_END) or b"")
    with net.connect_tcp(host, port, dl) as sock:
        net.send_all(sock, data, dl, during)
        response: h11.Response | None = None
        body, head = bytearray(), b""
        latency = 0.0
        # a peer whose first bytes cannot start "HTTP/" is told at once, not after a read timeout (h11 waits for
        # a whole status line)
        check = net.expect_prefix((b"HTTP/",), expected=f"an HTTP response to {method}", protocol="HTTP",
                                  phase=during, skip=b"\r\n")
        asked = False
        event: h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]
        while True:
            if not asked:  # nothing received yet: h11 would say NEED_DATA, no need to ask it
                asked, event = True, h11.NEED_DATA
            else:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    raise ProbeFailure(Cause.PROTOCOL, f"expected an HTTP response during {during}, got: "
                                       f"{exc or type(exc).__name__}", phase=during) from exc
            if event is h11.NEED_DATA:
                chunk = net.recv_some(sock, dl, during)
                if chunk and len(head) < 8:
                    head += chunk
                    check(head)
                conn.receive_data(chunk)  # b"": the peer closed
            elif isinstance(event, h11.Response):
                response, latency = event, time.monotonic() - started
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > dest.max_body_bytes:
                    raise ProbeFailure(Cause.SEMANTIC, f"response body larger than max_body_bytes "
                                       f"({dest.max_body_bytes})", phase=during)
                dl.read_budget(during)  # raises once the probe's time is up
            elif isinstance(event, h11.EndOfMessage):
                break
            # an InformationalResponse (1xx) is skipped, as httpx does
    assert response is not None  # h11 gives EndOfMessage only after a Response
    got_headers: dict[str, str] = {}
    for raw, value in response.headers.raw_items():  # h11 lower-cases names with bytes.lower(): the same here
        key, text = raw.lower().decode("latin-1"), value.decode("latin-1")
        got_headers[key] = f"{got_headers[key]}, {text}" if key in got_headers else text
    payload = _decoded(bytes(body), got_headers.get("content-encoding", ""), dest.max_body_bytes, during)
    version = f"HTTP/{response.http_version.decode('ascii')}"
    reason = response.reason.decode("ascii", errors="ignore")
    ctx.evidence.received(f"{version} {response.status_code} {reason}")
    return Fetched(response.status_code, reason, got_headers, payload, latency, version)


def _plain_request(ctx: ProbeContext, dest: _HttpBase, method: str, url: str, headers: dict[str, str],
                   content: bytes | None, during: str) -> tuple[str, int, h11.Request]:
    """Where ``_fetch_plain``'s request goes (host, port) and the request itself, built once per run for each
    destination and request (``ctx.memo``): h11 checks every header field when its event is built (a tenth of a
    loopback probe's time, in a profile). An h11 event is immutable and a connection does not change the events it
    sends."""
    plans: dict[tuple[Any, ...], tuple[_HttpBase, tuple[str, int, h11.Request]]] = ctx.memo.setdefault(
        "http.plain", {})
    key = (id(dest), method, url, tuple(headers.items()), content)
    kept = plans.get(key)
    if kept is not None and kept[0] is dest:  # not a slot left by a destination since collected
        return kept[1]
    parts = urllib.parse.urlsplit(url)
    proxy_url = _proxy_of(ctx, dest)[0]
    hop = urllib.parse.urlsplit(proxy_url) if proxy_url is not None else parts
    try:
        port = hop.port or 80
    except ValueError as exc:
        raise ProbeFailure(Cause.CONFIG, f"bad port in {proxy_name(dest) if proxy_url else url}",
                           phase=during) from exc
    fields = {"Host": parts.netloc} | _PLAIN_DEFAULTS
    if proxy_url is not None and hop.username is not None:  # as httpx sends the proxy URL's userinfo
        userinfo = f"{urllib.parse.unquote(hop.username)}:{urllib.parse.unquote(hop.password or '')}"
        fields["Proxy-Authorization"] = "Basic " + base64.b64encode(userinfo.encode("utf-8")).decode("ascii")
    lower = {k.lower() for k in headers}
    fields = {k: v for k, v in fields.items() if k.lower() not in lower} | headers
    if content is not None:
        fields["Content-Length"] = str(len(content))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if proxy_url is not None:  # the absolute form, to a proxy (RFC 9112 §3.2.2)
        target = f"http://{parts.netloc}{target}"
    try:
        request = h11.Request(method=method, target=target, headers=list(fields.items()))
    except h11.LocalProtocolError as exc:  # a header the inventory let through that HTTP/1.1 cannot carry
        raise ProbeFailure(Cause.CONFIG, f"cannot send {method} {target}: {exc}", phase=during) from exc
    plan = (hop.hostname or ctx.target.host, port, request)
    plans[key] = (dest, plan)
    return plan


def _decoded(body: bytes, coding: str, limit: int, during: str) -> bytes:
    """The body without its content coding: we ask for identity, but a server may send gzip or deflate anyway
    (httpx's client inflates those too); others are kept as they came, as httpx keeps them."""
    coding = coding.strip().lower()
    if coding not in ("gzip", "x-gzip", "deflate"):
        return body
    wbits = zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS
    for bits in (wbits, -zlib.MAX_WBITS) if coding == "deflate" else (wbits,):  # deflate: zlib-wrapped or raw
        try:
            inflater = zlib.decompressobj(bits)
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise ProbeFailure(Cause.SEMANTIC, f"response body larger than max_body_bytes ({limit}) once "
                               f"inflated ({coding})", phase=during)
        return out
    raise ProbeFailure(Cause.PROTOCOL, f"the response body is not valid {coding} data", phase=during)


#: squid's error page names (X-Squid-Error) -> the cause, when the proxy answered by itself
_SQUID_ERRORS: dict[str, tuple[Cause, str]] = {
    "ERR_ACCESS_DENIED": (Cause.REFUSED, "denied the request (its access rules)"),
    "ERR_DNS_FAIL": (Cause.DNS, "could not resolve the DAS's name"),
    "ERR_CONNECT_FAIL": (Cause.REFUSED, "could not connect to the DAS"),
    "ERR_CONNECT_TIMEOUT": (Cause.TIMEOUT, "timed out connecting to the DAS"),
    "ERR_READ_TIMEOUT": (Cause.TIMEOUT, "timed out waiting for the DAS"),
    "ERR_LIFETIME_EXP": (Cause.TIMEOUT, "timed out waiting for the DAS"),
    "ERR_CACHE_ACCESS_DENIED": (Cause.AUTH, "asks for proxy credentials"),
    "ERR_INVALID_REQ": (Cause.PROTOCOL, "found the request invalid"),
    "ERR_INVALID_URL": (Cause.PROTOCOL, "found the URL invalid"),
    "ERR_ZERO_SIZE_OBJECT": (Cause.PROTOCOL, "got an empty answer from the DAS"),
}
#: forward proxies whose own error pages carry their product in ``Server`` (a forwarded response keeps the origin's)
_PROXY_PRODUCTS = ("squid", "tinyproxy", "privoxy", "polipo", "ats/", "trafficserver")
#: status of a proxy's own error answer -> cause, what it means
_PROXY_STATUS: dict[int, tuple[Cause, str]] = {
    403: (Cause.REFUSED, "denied the request"),
    407: (Cause.AUTH, "asks for proxy credentials (407 Proxy Authentication Required)"),
    502: (Cause.REFUSED, "could not reach the DAS (502 Bad Gateway)"),
    503: (Cause.REFUSED, "could not reach the DAS (503 Service Unavailable)"),
    504: (Cause.TIMEOUT, "timed out waiting for the DAS (504 Gateway Timeout)"),
}


def _through_proxy(ctx: ProbeContext, proxy: str, url: str, got: Fetched, during: str) -> None:
    """Tell the proxy's own answer from the origin's; a forwarded answer must carry the proxy's ``Via``.

    Over https the request went through a CONNECT tunnel and the origin's own TLS session was checked: that is the
    proof the proxy forwarded it. Over http, RFC 9110 §7.6.3: a proxy MUST add ``Via`` to what it forwards; a
    response without one came from whatever answers at the proxy's address by itself (a web server, not a proxy).
    """
    headers = {k.lower(): v for k, v in got.headers.items()}
    where = urllib.parse.urlsplit(url).netloc
    if url.startswith("https://"):
        ctx.evidence.fact("http.proxy_via", f"CONNECT {where} (tunnel; the origin's TLS session checked)")
        return
    squid_error = headers.get("x-squid-error")
    server = headers.get("server", "")
    own = squid_error is not None or got.status == 407 or (
        got.status >= 400 and any(p in server.lower() for p in _PROXY_PRODUCTS))
    if own:
        code = (squid_error or "").split()[0] if squid_error else ""
        cause, what = _SQUID_ERRORS.get(code) or _PROXY_STATUS.get(got.status) or (
            Cause.SEMANTIC, f"answered {got.status} {got.reason}")
        detail = ", ".join(f"{name}: {headers[name.lower()]}" for name in ("Server", "X-Squid-Error", "Via")
                           if name.lower() in headers)
        raise ProbeFailure(cause, f"the fetch proxy {proxy} {what} for {where}: its own {got.status} {got.reason} "
                           f"({detail}); the DAS was not reached", phase=during)
    via = headers.get("via")
    if not via:
        raise ProbeFailure(Cause.PROTOCOL, f"expected the fetch proxy {proxy} to forward the request to {where} "
                           f"and add its Via header (RFC 9110 §7.6.3), got {got.status} {got.reason} without Via "
                           f"(Server: {server or '-'}): the peer at {proxy} answered by itself, it is not a "
                           "forward proxy", phase=during)
    ctx.evidence.fact("http.proxy_via", via)


def _proxy_error(text: str, proxy: str, ctx: ProbeContext, during: str) -> ProbeFailure:
    """httpx's ProxyError: the proxy answered our CONNECT with an error status (the tunnel was never made)."""
    match = re.match(r"\s*(\d{3})\b\s*(.*)", text)
    status = int(match.group(1)) if match else 0
    cause, what = _PROXY_STATUS.get(status) or (Cause.PROTOCOL, f"refused the tunnel ({text})")
    where = ctx.target.address
    return ProbeFailure(cause, f"the fetch proxy {proxy} {what} for CONNECT {where}: {text}; the DAS was not "
                        "reached", phase=during)


def _common_facts(ctx: ProbeContext, dest: _HttpBase, got: Fetched) -> None:
    ev = ctx.evidence
    ev.fact("http.status", got.status)
    ev.fact("http.latency_ms", round(got.latency_s * 1000, 2))
    ev.fact("http.version", got.http_version)
    ev.fact("http.bytes", len(got.body))
    ev.fact("http.proxy", _proxy_of(ctx, dest)[1] or "none")
    if got.headers.get("server"):
        ev.fact("http.server", got.headers["server"])


def _status_failure(status: int, reason: str, expected: str, during: str) -> ProbeFailure:
    cause = Cause.AUTH if status in (401, 403, 407) else Cause.SEMANTIC
    return ProbeFailure(cause, f"expected status {expected}, got {status} {reason}".rstrip(), phase=during)


def probe_ors(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, OrsDestination)
    client = _client_for(ctx, dest)
    got = fetch(ctx, dest, client, dest.method, dest.path, during=f"{dest.method} {dest.path}")
    _common_facts(ctx, dest, got)
    if not status_accepted(got.status, dest.accept_status):
        raise _status_failure(got.status, got.reason, " or ".join(dest.accept_status), f"{dest.method} {dest.path}")
    if dest.max_latency_ms is not None and got.latency_s * 1000 > dest.max_latency_ms:
        raise ProbeFailure(Cause.SEMANTIC, f"expected a response within {dest.max_latency_ms:.0f} ms, got one "
                           f"after {got.latency_s * 1000:.0f} ms", phase=f"{dest.method} {dest.path}")


def probe_vxml(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, VxmlDestination)
    ev = ctx.evidence
    total = parsed = 0
    slowest = 0.0
    versions: set[str] = set()
    client = _client_for(ctx, dest)
    for path in dest.applications:
        during = f"GET {path}"
        got = fetch(ctx, dest, client, "GET", path, during=during,
                    extra_headers={"Accept": "application/voicexml+xml, application/xml;q=0.9, text/xml;q=0.8"})
        _common_facts(ctx, dest, got)
        if got.status != 200:
            raise _status_failure(got.status, got.reason, "200", during)
        try:
            doc = vxml.parse(got.body)
        except vxml.VxmlError as exc:
            ctype = got.headers.get("content-type", "no content-type")
            raise ProbeFailure(Cause.SEMANTIC, f"expected a VoiceXML document at {path}, got {exc} "
                               f"({len(got.body)} bytes, {ctype})", phase=during) from exc
        total += len(got.body)
        slowest = max(slowest, got.latency_s)
        versions.add(doc.version)
        parsed += 1
        ev.fact(f"vxml.app.{path}", f"VoiceXML {doc.version}, {len(got.body)} bytes, "
                f"{got.latency_s * 1000:.1f} ms, {doc.forms} form(s)")
    ev.fact("vxml.applications", len(dest.applications))
    ev.fact("vxml.parsed", parsed)  # documents fetched with 200 and parsed as VoiceXML
    ev.fact("vxml.version", ", ".join(sorted(versions)))
    ev.fact("vxml.bytes", total)
    ev.fact("vxml.fetch_ms", round(slowest * 1000, 2))


def _json_path(data: Any, dotted: str) -> tuple[bool, Any]:
    cur = data
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def probe_customer(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, CustomerDestination)
    during = f"{dest.method} {dest.path}"
    content = dest.body.encode() if dest.body is not None else None
    extra = {"Content-Type": dest.content_type} if content is not None else {}
    client = _client_for(ctx, dest)
    got = fetch(ctx, dest, client, dest.method, dest.path, content=content, extra_headers=extra, during=during)
    _common_facts(ctx, dest, got)
    if not status_accepted(got.status, dest.accept_status):
        raise _status_failure(got.status, got.reason, " or ".join(dest.accept_status), during)
    text = got.body.decode("utf-8", "replace")
    if dest.body_pattern is not None:
        if not re.search(dest.body_pattern, text):
            raise ProbeFailure(Cause.SEMANTIC, f"expected the body to match {dest.body_pattern!r}, it does not "
                               f"({len(got.body)} bytes)", phase=during)
        ctx.evidence.fact("http.body_pattern", "matched")
    if dest.json_field is not None:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProbeFailure(Cause.SEMANTIC, f"expected a JSON body with {dest.json_field!r}, got non-JSON "
                               f"({got.headers.get('content-type', 'no content-type')})", phase=during) from exc
        found, value = _json_path(data, dest.json_field)
        if not found:
            raise ProbeFailure(Cause.SEMANTIC, f"expected JSON field {dest.json_field!r}, it is missing",
                               phase=during)
        if dest.json_value is not None and value != dest.json_value:
            raise ProbeFailure(Cause.SEMANTIC, f"expected {dest.json_field} == {dest.json_value!r}, got "
                               f"{value!r}", phase=during)
        ctx.evidence.fact(f"json.{dest.json_field}", value if isinstance(value, str | int | float | bool)
                          else json.dumps(value)[:200])
