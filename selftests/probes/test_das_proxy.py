"""Connection 12 through the MCP's fetch proxy: the proxy's own answers told from the DAS's, and a pass only
with evidence that a proxy forwarded the request (its ``Via``, RFC 9110 §7.6.3).

The proxy is the lab's squid (``SquidPeer``: Debian's squid.conf plus a deployment's rule, the MCP pods may fetch
from the DAS port): the allowing one names the port the lab's DAS (nginx) listens on; the denying one names port 80
(the architecture page's DAS port), so squid denies the fetch itself (``ERR_ACCESS_DENIED``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gvpconf import catalog
from gvpconf.deadline import Timeouts
from gvpconf.errors import Cause
from gvpconf.inventory import Target
from gvpconf.inventory.web import DasDestination
from gvpconf.probes.context import ProbeContext
from gvpconf.scheduler import Job, ProbeResult, run_job
from gvpconf_lab import Lab
from gvpconf_lab.interop_peers import SquidPeer, running
from gvpconf_lab.ports import free_port

APP = "/das/app.vxml"


def das_port(lab: Lab) -> int:
    port = lab.inventory()["destinations"]["das"]["targets"][0]["port"]
    assert isinstance(port, int) and port != 80, port  # the denying squid's rule names 80: never the lab's DAS
    return port


def allows_das(lab: Lab, squid: SquidPeer) -> bool:
    return das_port(lab) in squid.das_ports


@pytest.fixture(scope="module", params=["allowing", "denying"])
def squid(request: pytest.FixtureRequest, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SquidPeer]:
    ports = [das_port(lab)] if request.param == "allowing" else [80]
    peer = SquidPeer(f"squid-{request.param}", tmp_path_factory.mktemp("squid"), free_port(), das_ports=ports)
    with running(peer):
        yield peer


def fetch(lab: Lab, proxy: str, host: str | None = None) -> ProbeResult:
    nginx = lab.inventory()["destinations"]["das"]["targets"][0]
    target = Target(host=host or nginx["host"], port=nginx["port"], name="gvp-das")
    dest = DasDestination(proxy=proxy, applications=[APP])

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=catalog.connection(12), target=target, destination=dest, secrets={},
                            deadline=deadline)

    result = run_job(Job("http.vxml", Timeouts(connect=2.0, read=4.0, probe=8.0), make))
    assert result.error is None, repr(result.error)
    return result


def test_squid_forwards_or_denies_and_says_which(lab: Lab, squid: SquidPeer) -> None:
    proxy = f"http://{squid.host}:{squid.port}"
    result = fetch(lab, proxy)
    if allows_das(lab, squid):
        assert result.ok, result.failure
        via = result.evidence.facts["http.proxy_via"]
        assert isinstance(via, str) and "squid" in via, result.evidence.facts  # the proxy's own Via, recorded
        assert result.evidence.facts["http.proxy"] == proxy
        return
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    message = str(result.failure)
    # squid's own 403 (Server: squid, X-Squid-Error): a denial by the proxy, not an auth failure of the DAS
    assert result.failure.cause is Cause.REFUSED, message
    assert proxy in message and "ERR_ACCESS_DENIED" in message and "not reached" in message, message


def test_squid_cannot_reach_the_das(lab: Lab, squid: SquidPeer) -> None:
    """A DAS name that does not resolve: squid answers by itself (ERR_DNS_FAIL, or with no resolver on this machine
    a 502): the proxy's cause and name, never the DAS's status."""
    result = fetch(lab, f"http://{squid.host}:{squid.port}", host="no-such-das.invalid")
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    message = str(result.failure)
    assert result.failure.cause in (Cause.DNS, Cause.REFUSED), message
    assert f"fetch proxy http://{squid.host}:{squid.port}" in message and "not reached" in message, message
    if allows_das(lab, squid):  # the denying squid refuses before resolving: its denial names no host
        assert "no-such-das.invalid" in message, message


def test_a_web_server_posing_as_the_proxy_fails(lab: Lab) -> None:
    """nginx answers an absolute-form GET by itself, with the document, whatever the host: no proxy forwarded it."""
    nginx = lab.inventory()["destinations"]["das"]["targets"][0]
    result = fetch(lab, f"http://{nginx['host']}:{nginx['port']}", host="no-such-das.invalid")
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    assert result.failure.cause is Cause.PROTOCOL, result.failure
    assert "Via" in str(result.failure), result.failure
