"""Connection 12 through the MCP's fetch proxy: the proxy's own answers told from the DAS's, and a pass only
with evidence that a proxy forwarded the request (its ``Via``, RFC 9110 §7.6.3).

The proxy is Debian's squid with Debian's access rules: as shipped it forwards what localhost asks for; the
denying one adds the rule squid.conf "strongly recommends" (``http_access deny to_localhost``), which denies the
lab's DAS on 127.0.0.1 (``ERR_ACCESS_DENIED``). The DAS is the lab's nginx.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
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
from gvpconf_lab.base import Peer
from gvpconf_lab.ports import free_port

SQUID = shutil.which("squid") or "/usr/sbin/squid"
APP = "/das/app.vxml"


class Squid(Peer):
    """squid in the foreground (-N), its access rules those of Debian's squid.conf, memory cache only."""

    kind = "squid"
    default_ready_deadline_s = 20.0

    def __init__(self, name: str, workdir: Path, port: int, *, allow_das: bool) -> None:
        super().__init__(name, workdir, port)
        self.allow_das = allow_das
        self.dir = Path(tempfile.mkdtemp(prefix="gvpconf-squid-"))  # writable by squid's proxy user

    def prepare(self) -> None:
        pw = pwd.getpwnam("proxy")
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        deny = "" if self.allow_das else "http_access deny to_localhost\n"
        conf = self.dir / "squid.conf"
        conf.write_text(
            f"http_port {self.host}:{self.port}\nvisible_hostname gvpconf-lab-squid\n"
            f"pid_filename {self.dir / 'squid.pid'}\ncache_log {self.dir / 'cache.log'}\n"
            f"access_log stdio:{self.dir / 'access.log'}\ncoredump_dir {self.dir}\n"
            "cache_effective_user proxy\nshutdown_lifetime 0 seconds\n"
            # Debian's squid.conf access rules, in its order
            "acl SSL_ports port 443\nacl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777\n"
            "http_access deny !Safe_ports\nhttp_access deny CONNECT !SSL_ports\n"
            "http_access allow localhost manager\nhttp_access deny manager\n"
            f"{deny}http_access allow localhost\nhttp_access deny all\n")

    def command(self) -> Sequence[str]:
        return [SQUID, "-N", "-f", str(self.dir / "squid.conf")]

    def probe(self, timeout: float) -> None:
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module", params=["allowing", "denying"])
def squid(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Squid]:
    peer = Squid(f"squid-{request.param}", tmp_path_factory.mktemp("squid"), free_port(),
                 allow_das=request.param == "allowing")
    peer.start()
    try:
        peer.wait_ready()
        yield peer
    finally:
        peer.stop()


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


def test_squid_forwards_or_denies_and_says_which(lab: Lab, squid: Squid) -> None:
    proxy = f"http://{squid.host}:{squid.port}"
    result = fetch(lab, proxy)
    if squid.allow_das:
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


def test_squid_cannot_reach_the_das(lab: Lab, squid: Squid) -> None:
    """A DAS name that does not resolve: squid answers by itself (ERR_DNS_FAIL, or with no resolver on this machine
    a 502): the proxy's cause and name, never the DAS's status."""
    result = fetch(lab, f"http://{squid.host}:{squid.port}", host="no-such-das.invalid")
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    message = str(result.failure)
    assert result.failure.cause in (Cause.DNS, Cause.REFUSED), message
    assert f"fetch proxy http://{squid.host}:{squid.port}" in message and "not reached" in message, message
    if squid.allow_das:  # the denying squid refuses before resolving: its denial names no host
        assert "no-such-das.invalid" in message, message


def test_a_web_server_posing_as_the_proxy_fails(lab: Lab) -> None:
    """nginx answers an absolute-form GET by itself, with the document, whatever the host: no proxy forwarded it."""
    nginx = lab.inventory()["destinations"]["das"]["targets"][0]
    result = fetch(lab, f"http://{nginx['host']}:{nginx['port']}", host="no-such-das.invalid")
    assert result.failure is not None, f"FALSE PASS: {result.evidence.facts}"
    assert result.failure.cause is Cause.PROTOCOL, result.failure
    assert "Via" in str(result.failure), result.failure
