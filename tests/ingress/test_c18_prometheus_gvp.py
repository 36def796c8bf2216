"""#18  Prometheus -> GVP namespace  ·  HTTP  ·  ingress
HTTP messages."""

from gvpconf.suite import connection, covers, probe

pytestmark = connection(18)


@probe("prometheus.scrape")
def test_metrics_endpoint_exposes_gvp_families(evidence, expect, gvp_target):
    """Scraped as Prometheus does: the exposition parses, and every family the inventory expects of this
    endpoint is there."""
    assert evidence["metrics.families"] >= 1
    assert covers(evidence["metrics.found"], expect.families_for(gvp_target.id))


@probe("prometheus.target_up")
def test_prometheus_scrapes_the_endpoint(evidence):
    """Prometheus' own API lists the endpoint as an active target: health up, no last error, up == 1."""
    assert evidence["prometheus.health"] == "up"
    assert evidence["prometheus.up"] == "1"
