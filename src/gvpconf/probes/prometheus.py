"""Prometheus probers (18: Prometheus -> GVP namespace HTTP, ingress).

* ``scrape`` (a): from the Prometheus side, GET each GVP metrics endpoint (the shared HTTP client of
  :mod:`gvpconf.probes.http`) and parse the text exposition format with prometheus_client's parser; the
  metric families configured for the target's name (``families``, fnmatch patterns) must be present.
* ``target_up`` (b): ask the Prometheus HTTP API which targets it scrapes. The target must be among its
  active targets (a GVP pod Prometheus does not scrape at all is a failure, not a pass), with
  ``health == "up"``, an empty ``lastError``, and ``up == 1`` in a query.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from gvpconf.errors import Cause, ProbeFailure
from gvpconf.inventory.web import GvpMetricsDestination
from gvpconf.probes import http as shared
from gvpconf.probes.context import ProbeContext
from gvpconf.rules import missing

API_PHASE = "Prometheus API"


def preload(destinations: Sequence[object]) -> None:
    """The scheduler's hook (see :func:`gvpconf.probes.http.preload`): httpx when the endpoints or the
    Prometheus API are https."""
    shared.preload(destinations)
    if any(str(getattr(d, "prometheus_url", None) or "").startswith("https://") for d in destinations):
        import httpx  # noqa: F401


def translate(exc: ValueError, during: str) -> ProbeFailure:
    """The one place prometheus_client's parser errors (ValueError) become a cause."""
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return ProbeFailure(Cause.SEMANTIC, f"expected the Prometheus text exposition format, the parser says: "
                        f"{text}", phase=during)


def probe_scrape(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, GvpMetricsDestination)
    during = f"GET {dest.path}"
    with shared._client(ctx, dest) as client:
        got = shared.fetch(ctx, dest, client, "GET", dest.path, during=during,
                           extra_headers={"Accept": "text/plain;version=0.0.4"})
    # the parser once there is something to parse: a silent endpoint costs no import
    from prometheus_client.parser import text_string_to_metric_families

    ev = ctx.evidence
    ev.fact("http.status", got.status)
    ev.fact("http.latency_ms", round(got.latency_s * 1000, 2))
    ev.fact("http.bytes", len(got.body))
    if got.status != 200:
        cause = Cause.AUTH if got.status in (401, 403) else Cause.SEMANTIC
        raise ProbeFailure(cause, f"expected status 200 from the metrics endpoint, got {got.status} {got.reason}",
                           phase=during)
    ctype = got.headers.get("content-type", "")
    if "html" in ctype.lower():
        raise ProbeFailure(Cause.SEMANTIC, f"expected the Prometheus text format, got an HTML page ({ctype})",
                           phase=during)
    try:
        families = {f.name: f for f in text_string_to_metric_families(got.body.decode("utf-8", "replace"))}
    except ValueError as exc:
        raise translate(exc, during) from exc
    samples = sum(len(f.samples) for f in families.values())
    ev.fact("metrics.families", len(families))
    ev.fact("metrics.samples", samples)
    if not families:
        raise ProbeFailure(Cause.SEMANTIC, "expected metric families, the endpoint exposes none", phase=during)
    wanted = dest.families_for(ctx.target.id)
    ev.fact("metrics.expected", ", ".join(wanted) if wanted else "none configured for this target name")
    ev.fact("metrics.found", ", ".join(f for f in wanted if f in families))
    absent = missing(families, wanted)
    if absent:
        raise ProbeFailure(Cause.SEMANTIC, f"expected metric families {', '.join(wanted)}; missing: "
                           f"{', '.join(absent)}", phase=during)


def _api(ctx: ProbeContext, dest: GvpMetricsDestination, client: Any, path: str) -> Any:
    assert dest.prometheus_url is not None
    url = dest.prometheus_url.rstrip("/") + path
    got = shared.fetch(ctx, dest, client, "GET", url, during=API_PHASE, token_field="prometheus_token")
    if got.status != 200:
        cause = Cause.AUTH if got.status in (401, 403) else Cause.SEMANTIC
        raise ProbeFailure(cause, f"expected 200 from the Prometheus API {path.split('?')[0]}, got {got.status} "
                           f"{got.reason}", phase=API_PHASE)
    try:
        data = json.loads(got.body)
    except ValueError as exc:
        raise ProbeFailure(Cause.PROTOCOL, f"expected JSON from the Prometheus API, got "
                           f"{got.headers.get('content-type', 'no content-type')}", phase=API_PHASE) from exc
    if not isinstance(data, dict) or data.get("status") != "success":
        raise ProbeFailure(Cause.PROTOCOL, f"expected a Prometheus API answer with status success, got "
                           f"{str(data)[:120]}", phase=API_PHASE)
    return data.get("data")


def _matches(target: dict[str, Any], address: str) -> bool:
    labels = target.get("labels") or {}
    discovered = target.get("discoveredLabels") or {}
    netloc = urllib.parse.urlsplit(str(target.get("scrapeUrl", ""))).netloc
    return address in (labels.get("instance"), discovered.get("__address__"), netloc)


def probe_target_up(ctx: ProbeContext) -> None:
    dest = ctx.destination
    assert isinstance(dest, GvpMetricsDestination)
    ev = ctx.evidence
    if dest.prometheus_url is None:
        raise ProbeFailure(Cause.CONFIG, "destinations.gvp_metrics.prometheus_url is not set: the probe needs "
                           "the Prometheus HTTP API to ask which targets it scrapes", phase=API_PHASE)
    address = ctx.target.address
    ev.fact("prometheus.url", dest.prometheus_url)
    with shared._client(ctx, dest) as client:
        data = _api(ctx, dest, client, "/api/v1/targets?state=active")
        active = data.get("activeTargets", []) if isinstance(data, dict) else []
        found = [t for t in active if isinstance(t, dict) and _matches(t, address)
                 and (dest.prometheus_job is None or (t.get("labels") or {}).get("job") == dest.prometheus_job)]
        job = f" in job {dest.prometheus_job!r}" if dest.prometheus_job else ""
        ev.fact("prometheus.active_targets", len(active))
        if not found:
            raise ProbeFailure(Cause.SEMANTIC, f"expected Prometheus to scrape {address}{job}; it does not (not "
                               f"among its {len(active)} active targets)", phase=API_PHASE)
        for t in found:
            health, error = t.get("health"), t.get("lastError", "")
            labels = t.get("labels") or {}
            ev.fact("prometheus.job", str(labels.get("job", "")))
            ev.fact("prometheus.health", str(health))
            ev.fact("prometheus.last_scrape", str(t.get("lastScrape", "")))
            ev.fact("prometheus.scrape_ms", round(float(t.get("lastScrapeDuration", 0) or 0) * 1000, 2))
            if health != "up" or error:
                raise ProbeFailure(Cause.SEMANTIC, f"expected Prometheus target {address} (job "
                                   f"{labels.get('job')}) up with no error, got health={health}, "
                                   f"lastError={str(error)[:160]!r}", phase=API_PHASE)
        instance = str((found[0].get("labels") or {}).get("instance", address))
        query = urllib.parse.quote(f'up{{instance="{instance}"}}', safe="")
        result = _api(ctx, dest, client, f"/api/v1/query?query={query}")
    values = [r.get("value", [None, None])[1] for r in (result or {}).get("result", []) if isinstance(r, dict)]
    ev.fact("prometheus.up", ", ".join(str(v) for v in values) if values else "no sample")
    if not values or any(v != "1" for v in values):
        raise ProbeFailure(Cause.SEMANTIC, f"expected up == 1 for {instance}, got "
                           f"{', '.join(map(str, values)) or 'no sample'}", phase=API_PHASE)
