"""Web-area probes against the lab's real peers and against impostors: never a false pass.

Each negative case states how the probe must fail (cause and a word of the message), as the plugin runs it
(``scheduler.run_job``), within its timeout plus one second.
"""

from __future__ import annotations

import threading
import time
import traceback
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf import catalog, probes
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory import (
    CustomerDestination,
    DasDestination,
    Destination,
    GoogleTtsDestination,
    GvpMetricsDestination,
    NexusDestination,
    OrsDestination,
    Secret,
    Target,
    TlsSettings,
    WebDestination,
)
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import Lab, impostors
from gvpconf_lab.web import NEXUS_PATH, NEXUS_SUBPROTOCOL, TTS_NAME, service_account_key
from gvpconf_lab.web_servers import nexus_server, server_context, tts_server

TIMEOUTS = Timeouts(connect=1.0, read=1.0, probe=3.0)


def run(probe: str, number: int, dest: Destination, host: str, port: int, secrets: dict[str, Any] | None = None,
        name: str = "t", timeouts: Timeouts = TIMEOUTS, memo: dict[str, Any] | None = None) -> ProbeResult:
    row = catalog.connection(number)
    target = Target(host=host, port=port, name=name)

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row, target=target, destination=dest, secrets=secrets or {},
                            deadline=deadline, memo={} if memo is None else memo)

    probes.get(probe)  # the import happens before the clock starts, as in the scheduler
    started = time.monotonic()
    result = run_job(Job(probe, timeouts, make))
    assert time.monotonic() - started <= timeouts.probe + 1.0
    assert result.error is None, "prober bug: " + "".join(traceback.format_exception(result.error))
    return result


def failed(result: ProbeResult, cause: Cause, *words: str) -> str:
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    message = str(result.failure)
    assert result.failure.cause is cause, message
    assert "\n" not in message and len(message) < 500, message
    for w in words:
        assert w.lower() in message.lower(), message
    return message


@pytest.fixture(scope="module")
def web(lab: Lab) -> Any:
    return lab.components["web_http"]


@pytest.fixture(scope="module")
def tls(lab: Lab) -> TlsSettings:
    return TlsSettings(ca_file=lab.ca.ca_cert, expected_issuers=["gvpconf lab CA"])


# -- HTTP: TLS checks ------------------------------------------------------------------------------------------

def test_https_passes_with_tls_facts(web: Any, tls: TlsSettings) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", tls=tls, path="/ors/health"), "localhost",
            web.nginx.tls_port)
    assert r.ok, r.failure
    f = r.evidence.facts
    assert f["tls.issuer"] == "CN=gvpconf lab CA" and f["tls.subject"] == "CN=localhost"
    assert f["tls.verify"] == "on" and str(f["tls.version"]).startswith("TLSv1.")
    assert f["http.version"] == "HTTP/2" and f["tls.alpn"] == "h2"
    assert isinstance(f["tls.days_left"], int) and "tls.not_after" in f


# wrong CA, wrong name, minimum version, unexpected issuer and verify: false, for every TLS peer: test_tls_checks.py
@pytest.mark.parametrize(("port_attr", "words"), [
    ("untrusted_port", ("untrusted CA", "gvpconf UNTRUSTED CA")),
    ("expired_port", ("expired",)),
])
def test_https_certificate_problems_fail_as_tls(web: Any, tls: TlsSettings, port_attr: str,
                                                words: tuple[str, ...]) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", tls=tls, path="/ors/health"), "localhost",
            getattr(web.nginx, port_attr))
    failed(r, Cause.TLS, *words)


def test_untrusted_issuer_is_called_interception(web: Any, tls: TlsSettings) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", tls=tls), "localhost", web.nginx.untrusted_port)
    failed(r, Cause.TLS, "interception")


def test_system_store_does_not_trust_the_lab_ca(web: Any) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", path="/ors/health"), "localhost", web.nginx.tls_port)
    failed(r, Cause.TLS, "untrusted CA")


def test_verify_off_still_says_the_certificate_expired(web: Any) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", tls=TlsSettings(verify=False), path="/ors/health"),
            "localhost", web.nginx.expired_port)
    assert r.ok, r.failure
    assert r.evidence.facts["tls.verify"] == "off (inventory tls.verify: false)"
    assert str(r.evidence.facts["tls.expiry_warning"]).startswith("expired "), r.evidence.facts


def test_plain_http_on_a_tls_port(web: Any, tls: TlsSettings) -> None:
    r = run("http.ors", 11, OrsDestination(scheme="https", tls=tls), "127.0.0.1", web.nginx.port)
    failed(r, Cause.TLS, "plain")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_silent_socket_times_out(tls: TlsSettings, scheme: str) -> None:
    with impostors.silent() as (host, port):
        r = run("http.ors", 11, OrsDestination(scheme=scheme, tls=tls), host, port)  # type: ignore[arg-type]
    failed(r, Cause.TIMEOUT)


def test_refused_and_status(web: Any) -> None:
    with impostors.refused() as (host, port):
        failed(run("http.ors", 11, OrsDestination(), host, port), Cause.REFUSED)
    r = run("http.ors", 11, OrsDestination(path="/forbidden"), "127.0.0.1", web.nginx.port)
    failed(r, Cause.AUTH, "403")
    r = run("http.ors", 11, OrsDestination(path="/nope"), "127.0.0.1", web.nginx.port)
    failed(r, Cause.SEMANTIC, "404")


# -- VXML --------------------------------------------------------------------------------------------------------

def test_html_page_instead_of_vxml_is_semantic(web: Any) -> None:
    r = run("http.vxml", 12, DasDestination(applications=["/bad/error.vxml"]), "127.0.0.1", web.nginx.port)
    failed(r, Cause.SEMANTIC, "HTML")


def test_external_entity_is_refused_and_never_fetched(web: Any) -> None:
    before = web.nginx.fetched("/xxe-canary")
    r = run("http.vxml", 20, WebDestination(applications=["/bad/xxe.vxml"]), "127.0.0.1", web.nginx.port)
    failed(r, Cause.SEMANTIC, "entity", "not fetched")
    time.sleep(0.2)  # nginx writes its access log after the response
    assert web.nginx.fetched("/bad/xxe.vxml") >= 1  # the log works: our own GET is in it
    assert web.nginx.fetched("/xxe-canary") == before == 0


def test_entity_bomb_and_non_vxml_xml(web: Any) -> None:
    failed(run("http.vxml", 20, WebDestination(applications=["/bad/bomb.vxml"]), "127.0.0.1", web.nginx.port),
           Cause.SEMANTIC, "entity")
    failed(run("http.vxml", 20, WebDestination(applications=["/bad/plain.xml"]), "127.0.0.1", web.nginx.port),
           Cause.SEMANTIC, "<vxml>")
    failed(run("http.vxml", 20, WebDestination(applications=["/das/app.vxml", "/nope.vxml"]), "127.0.0.1",
               web.nginx.port), Cause.SEMANTIC, "404")


def test_proxy_is_honoured(web: Any) -> None:
    proxy = f"http://{web.proxy.host}:{web.proxy.port}"
    seen = len(web.proxy_requests())
    r = run("http.vxml", 12, DasDestination(proxy=proxy, applications=["/das/app.vxml"]), "127.0.0.1",
            web.nginx.port)
    assert r.ok, r.failure
    assert r.evidence.facts["http.proxy"] == proxy
    assert web.proxy_requests()[seen:] == [f"GET http://127.0.0.1:{web.nginx.port}/das/app.vxml"]


def test_https_through_the_proxy_tunnels_and_checks_tls(web: Any, tls: TlsSettings) -> None:
    proxy = f"http://{web.proxy.host}:{web.proxy.port}"
    seen = len(web.proxy_requests())
    r = run("http.vxml", 20, WebDestination(scheme="https", tls=tls, proxy=proxy, applications=["/web/main.vxml"]),
            "localhost", web.nginx.tls_port)
    assert r.ok, r.failure
    assert r.evidence.facts["tls.issuer"] == "CN=gvpconf lab CA"
    assert web.proxy_requests()[seen:] == [f"CONNECT localhost:{web.nginx.tls_port}"]


def test_a_dead_proxy_fails_the_probe(web: Any) -> None:
    with impostors.refused() as (phost, pport):
        r = run("http.vxml", 12, DasDestination(proxy=f"http://{phost}:{pport}", applications=["/das/app.vxml"]),
                "127.0.0.1", web.nginx.port)
    failed(r, Cause.REFUSED, "proxy")


def test_customer_json_field_and_pattern(web: Any) -> None:
    ok = CustomerDestination(path="/customer/api/status", json_field="status", json_value="up",
                             body_pattern=r'"version":"\d')
    r = run("http.customer", 21, ok, "127.0.0.1", web.nginx.port)
    assert r.ok, r.failure
    assert r.evidence.facts["json.status"] == "up"
    bad = CustomerDestination(path="/customer/api/status", json_field="status", json_value="down")
    failed(run("http.customer", 21, bad, "127.0.0.1", web.nginx.port), Cause.SEMANTIC, "'down'")
    html = CustomerDestination(path="/bad/error.vxml", json_field="status")
    failed(run("http.customer", 21, html, "127.0.0.1", web.nginx.port), Cause.SEMANTIC, "non-JSON")


# -- WebSocket (13) ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nexus(lab: Lab) -> Any:
    return lab.components["nexus"]


def nexus_dest(lab: Lab, **kw: Any) -> NexusDestination:
    settings: dict[str, Any] = {"path": NEXUS_PATH, "subprotocol": NEXUS_SUBPROTOCOL,
                                "tls": TlsSettings(ca_file=lab.ca.ca_cert)} | kw
    return NexusDestination(**settings)


def test_websocket_passes(lab: Lab, nexus: Any) -> None:
    r = run("websocket.session", 13, nexus_dest(lab), "localhost", nexus.server.port,
            {"token": Secret(nexus.token)})
    assert r.ok, r.failure
    assert r.evidence.facts["ws.subprotocol"] == NEXUS_SUBPROTOCOL and r.evidence.facts["ws.close_code"] == 1000


def test_websocket_401_403_404(lab: Lab, nexus: Any) -> None:
    port = nexus.server.port
    failed(run("websocket.session", 13, nexus_dest(lab), "localhost", port), Cause.AUTH, "401")
    failed(run("websocket.session", 13, nexus_dest(lab), "localhost", port, {"token": Secret("wrong-token-x")}),
           Cause.AUTH, "403")
    failed(run("websocket.session", 13, nexus_dest(lab, path="/elsewhere"), "localhost", port,
               {"token": Secret(nexus.token)}), Cause.SEMANTIC, "404")


@pytest.fixture
def ws_variant(lab: Lab, request: pytest.FixtureRequest) -> Iterator[int]:
    cert, key = lab.ca.issue("selftest-ws")
    server = nexus_server("127.0.0.1", 0, ssl_context=server_context(cert, key), token="tok-123456",
                          subprotocol=NEXUS_SUBPROTOCOL, path=NEXUS_PATH, **request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("ws_variant", [{"select_subprotocol": False}], indirect=True)
def test_websocket_without_subprotocol(lab: Lab, ws_variant: int) -> None:
    r = run("websocket.session", 13, nexus_dest(lab), "localhost", ws_variant, {"token": Secret("tok-123456")})
    failed(r, Cause.SEMANTIC, "subprotocol")


@pytest.mark.parametrize("ws_variant", [{"force_status": 200}], indirect=True)
def test_websocket_plain_http_answer(lab: Lab, ws_variant: int) -> None:
    r = run("websocket.session", 13, nexus_dest(lab), "localhost", ws_variant, {"token": Secret("tok-123456")})
    failed(r, Cause.PROTOCOL, "200")


def test_websocket_tls_failures(lab: Lab, web: Any, nexus: Any) -> None:
    failed(run("websocket.session", 13, nexus_dest(lab), "127.0.0.1", web.nginx.port), Cause.TLS, "plain")
    failed(run("websocket.session", 13, nexus_dest(lab), "localhost", web.nginx.expired_port), Cause.TLS, "expired")
    failed(run("websocket.session", 13, nexus_dest(lab, tls=TlsSettings()), "localhost", nexus.server.port),
           Cause.TLS, "untrusted CA")
    with impostors.silent() as (host, port):
        failed(run("websocket.session", 13, nexus_dest(lab), host, port), Cause.TIMEOUT)
    # an HTTP server on the port answers the upgrade request with 400 (a server that greets and closes
    # before reading races the request: the client may see a reset instead of the status line)
    with impostors.http_server() as (host, port):
        failed(run("websocket.session", 13, nexus_dest(lab, scheme="ws"), host, port), Cause.SEMANTIC, "400")


# -- gRPC (22) ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tts(lab: Lab) -> Any:
    return lab.components["google_tts"]


def tts_dest(lab: Lab) -> GoogleTtsDestination:
    return GoogleTtsDestination(tls=TlsSettings(ca_file=lab.ca.ca_cert, server_name=TTS_NAME))


def test_grpc_with_credentials_lists_voices(lab: Lab, tts: Any) -> None:
    creds = Secret(Path(tts.credentials_file).read_text())
    r = run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", tts.server.port, {"credentials": creds})
    assert r.ok, r.failure
    assert r.evidence.facts["grpc.auth"] == "authenticated" and int(r.evidence.facts["tts.voices"]) >= 1


def test_grpc_without_credentials_proves_the_path_distinctly(lab: Lab, tts: Any) -> None:
    r = run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", tts.server.port)
    assert r.ok, r.failure
    assert r.evidence.facts["grpc.status"] == "UNAUTHENTICATED"
    assert r.evidence.facts["grpc.auth"] == "unauthenticated-path-proven"
    assert "tts.voices" not in r.evidence.facts


def test_grpc_foreign_key_is_auth(lab: Lab, tts: Any) -> None:
    other, _public = service_account_key("intruder@elsewhere.iam.gserviceaccount.com")
    r = run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", tts.server.port, {"credentials": Secret(other)})
    failed(r, Cause.AUTH, "UNAUTHENTICATED")
    bad = run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", tts.server.port,
              {"credentials": Secret("not json at all")})
    failed(bad, Cause.CONFIG, "service-account")


def test_grpc_server_without_the_service_is_unimplemented(lab: Lab) -> None:
    cert, key = lab.ca.issue("selftest-tts", dns=[TTS_NAME], ips=[])
    server, port = tts_server("127.0.0.1", 0, cert=cert, key=key, public_key_pem=None, with_service=False)
    try:
        r = run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", port)
    finally:
        server.stop(0)
    failed(r, Cause.SEMANTIC, "UNIMPLEMENTED")


def test_grpc_tls_and_transport_failures(lab: Lab, web: Any, tts: Any) -> None:
    failed(run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", web.nginx.port), Cause.TLS, "plain")
    failed(run("grpc.tts_list_voices", 22, GoogleTtsDestination(), "127.0.0.1", tts.server.port), Cause.TLS,
           "untrusted CA")
    failed(run("grpc.tts_list_voices", 22, tts_dest(lab), "127.0.0.1", web.nginx.wronghost_port), Cause.TLS,
           "ALPN")  # an HTTPS server without HTTP/2
    wrong_name = GoogleTtsDestination(tls=TlsSettings(ca_file=lab.ca.ca_cert, server_name="tts.example.invalid"))
    failed(run("grpc.tts_list_voices", 22, wrong_name, "127.0.0.1", tts.server.port), Cause.TLS, "wrong hostname")
    with impostors.silent() as (host, port):
        failed(run("grpc.tts_list_voices", 22, tts_dest(lab), host, port), Cause.TIMEOUT)
    with impostors.refused() as (host, port):
        failed(run("grpc.tts_list_voices", 22, tts_dest(lab), host, port), Cause.REFUSED)


# -- Prometheus (18) ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def metrics(lab: Lab) -> Any:
    return lab.components["gvp_metrics"]


def test_prometheus_down_target_fails_with_last_error(metrics: Any) -> None:
    dest = GvpMetricsDestination(prometheus_url=metrics.prometheus.url, prometheus_job="gvp")
    r = run("prometheus.target_up", 18, dest, "127.0.0.1", metrics.down_port, name="gvp-rs-0")
    failed(r, Cause.SEMANTIC, "health=down", "lastError")
    failed(run("prometheus.scrape", 18, dest, "127.0.0.1", metrics.down_port, name="gvp-rs-0"), Cause.REFUSED)


def test_pod_not_scraped_by_prometheus_is_a_failure(metrics: Any) -> None:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    Gauge("rsQueueSize", "queue", registry=registry).set(1)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    port = server.server_address[1]
    dest = GvpMetricsDestination(prometheus_url=metrics.prometheus.url)
    try:
        scraped = run("prometheus.scrape", 18, dest, "127.0.0.1", port, name="gvp-rs-0")
        unknown = run("prometheus.target_up", 18, dest, "127.0.0.1", port, name="gvp-rs-0")
    finally:
        server.shutdown()
        thread.join(5)
    assert scraped.ok, scraped.failure  # the endpoint itself is fine...
    failed(unknown, Cause.SEMANTIC, "does not")  # ...but Prometheus does not scrape it


def test_missing_families_and_html_are_semantic(metrics: Any, web: Any) -> None:
    pod = metrics.endpoints["gvp-mcp-0"]
    dest = GvpMetricsDestination(families={"gvp-mcp*": ["mcpSipCurrentInboundSessions", "mcpNoSuchMetric"]})
    failed(run("prometheus.scrape", 18, dest, pod.host, pod.port, name="gvp-mcp-0"), Cause.SEMANTIC,
           "mcpNoSuchMetric")
    html = GvpMetricsDestination(path="/bad/error.vxml")
    failed(run("prometheus.scrape", 18, html, "127.0.0.1", web.nginx.port, name="gvp-rm-0"), Cause.SEMANTIC)
    failed(run("prometheus.target_up", 18, GvpMetricsDestination(), pod.host, pod.port), Cause.CONFIG,
           "prometheus_url")


# -- plain http on h11 (no httpx client) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("impostor", "cause", "word"), [
    (impostors.closer, Cause.PROTOCOL, "during GET /"),  # closed before our request, or reset by it
    (impostors.echo, Cause.PROTOCOL, "http response"),  # our own request line is not a status line
    (impostors.garbage, Cause.PROTOCOL, "http response"),
    (impostors.http_banner_server, Cause.SEMANTIC, "400"),
])
def test_plain_http_impostors(impostor: Any, cause: Cause, word: str) -> None:
    with impostor() as (host, port):
        failed(run("http.ors", 11, OrsDestination(), host, port), cause, word)


def test_plain_http_sends_what_httpx_sent() -> None:
    seen: list[bytes] = []
    with impostors.http_reflector(b"200 OK", seen) as (host, port):
        r = run("http.customer", 21, CustomerDestination(path="/api?x=1", headers={"Accept": "application/json"}),
                host, port)
    assert r.ok, r.failure
    head = seen[0].decode()
    assert head.startswith("GET /api?x=1 HTTP/1.1\r\n"), head
    for line in (f"Host: {host}:{port}", "User-Agent: gvpconf-probe", "Accept: application/json", "Connection: close"):
        assert f"\r\n{line}\r\n" in head, head
    assert "*/*" not in head, head  # the inventory's Accept replaced the default
    assert r.evidence.facts["http.version"] == "HTTP/1.1"


def test_plain_http_with_the_runs_memo_sends_the_same_and_checks_the_same() -> None:
    """The h11 request is built once per run (``ctx.memo``): every later probe of the run sends the very bytes the
    first one sent, and judges its own response (a pass, then a 500 from the same destination, is a failure)."""
    memo: dict[str, Any] = {}
    dest = CustomerDestination(path="/api?x=1", headers={"Accept": "application/json"})
    seen: list[bytes] = []
    with impostors.http_reflector(b"200 OK", seen) as (host, port):
        first = run("http.customer", 21, dest, host, port, memo=memo)
        again = run("http.customer", 21, dest, host, port, memo=memo)
        alone = run("http.customer", 21, dest, host, port)  # a run of its own (an empty memo)
    assert first.ok and again.ok and alone.ok, (first.failure, again.failure, alone.failure)
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2], seen
    timings = ("http.latency_ms", "tcp.connect_ms")
    assert {k: v for k, v in first.evidence.facts.items() if k not in timings} == {
        k: v for k, v in again.evidence.facts.items() if k not in timings}
    with impostors.http_reflector(b"500 Internal Server Error", []) as (host2, port2):
        failed(run("http.customer", 21, dest, host2, port2, memo=memo), Cause.SEMANTIC, "500")
    # a request HTTP/1.1 cannot carry is a config failure on every probe of the run, not only the first
    bad = CustomerDestination(path="/", headers={"X-Bad": "a\x00b"})
    for _ in range(2):
        failed(run("http.customer", 21, bad, "127.0.0.1", 9, memo=memo), Cause.CONFIG, "cannot send")


def test_plain_http_body_codings() -> None:
    from gvpconf.probes.http import _decoded

    text = b'{"status":"up"}' * 10
    gz = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    assert _decoded(gz.compress(text) + gz.flush(), "gzip", 1024, "GET /") == text
    assert _decoded(zlib.compress(text), "deflate", 1024, "GET /") == text
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert _decoded(raw.compress(text) + raw.flush(), "deflate", 1024, "GET /") == text
    assert _decoded(b"as sent", "br", 1024, "GET /") == b"as sent"  # not inflated, as httpx without brotli
    with pytest.raises(ProbeFailure, match="max_body_bytes"):  # a small bomb stays bounded
        _decoded(zlib.compress(b"\0" * 100_000), "deflate", 1024, "GET /")
    with pytest.raises(ProbeFailure, match="not valid gzip"):
        _decoded(b"not gzip", "gzip", 1024, "GET /")
