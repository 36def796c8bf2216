"""#18  Prometheus -> GVP namespace  ·  HTTP  ·  ingress
HTTP messages."""

from gvpconf.suite import connection, probe

pytestmark = connection(18)


@probe("prometheus.scrape")
def test_metrics_endpoint_exposes_gvp_families(evidence):
    """Scraped from the Prometheus side: the exposition parses and the configured GVP families are there."""
    assert evidence["metrics.families"] >= 1


@probe("prometheus.target_up")
def test_prometheus_scrapes_the_endpoint(evidence):
    """Prometheus' API lists the endpoint as an active target: health up, no last error, up == 1."""
    assert evidence["prometheus.health"] == "up"
    assert evidence["prometheus.up"] == "1"
