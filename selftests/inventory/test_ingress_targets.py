"""19's targets: its probe listens on the MCP target's own address, so it runs against the targets that are
addresses of this host (inside an MCP pod, that pod's own), unless the inventory names the address to listen on."""

from __future__ import annotations

import socket

import pytest

from gvpconf import net
from gvpconf.inventory import parse
from gvpconf.inventory.voice import McpDestination

HERE, ELSEWHERE = "127.0.0.1", "192.0.2.7"  # loopback; TEST-NET-1, never an address of this host


def mcp(*hosts: str, **ingress: object) -> McpDestination:
    inv = parse({"version": 1, "destinations": {"mcp": {
        "targets": [{"name": f"mcp-{i}", "host": h, "port": 5070} for i, h in enumerate(hosts)],
        "ingress": {"rtsp_url": "rtsp://nuance.example:14000/media/speechsynthesizer", **ingress}}}}, "test")
    dest = inv.destination("mcp")
    assert isinstance(dest, McpDestination)
    return dest


def test_is_local_address_binds_without_sending() -> None:
    assert net.is_local_address(HERE) is True
    assert net.is_local_address(ELSEWHERE) is False
    assert net.is_local_address("mcp-0.gvp.svc.cluster.local") is None  # a name: not looked up here
    if socket.has_ipv6 and net.is_local_address("::1") is not None:
        assert net.is_local_address("::1") is True


def test_ingress_runs_against_this_hosts_own_targets_only() -> None:
    dest = mcp(ELSEWHERE, HERE, "mcp-2.gvp.svc.cluster.local")
    targets = dest.targets
    chosen = dest.probe_targets("rtp.ingress", targets)
    assert [t.id for t in chosen] == ["mcp-1", "mcp-2"]  # the name stays: the probe says if it is not here
    # every other probe of the MCP pool keeps every target
    assert dest.probe_targets("sip.options", targets) == targets


def test_no_target_here_says_where_19_runs_from() -> None:
    dest = mcp(ELSEWHERE)
    reason = dest.probe_targets("rtp.ingress", dest.targets)
    assert isinstance(reason, str)
    assert "none of the MCP targets is an address of this host" in reason
    assert "python -m gvpconf.pods run" in reason and "ingress.listen_host" in reason


@pytest.mark.parametrize("listen_host", [HERE, ELSEWHERE])
def test_a_listen_host_in_the_inventory_keeps_every_target(listen_host: str) -> None:
    dest = mcp(ELSEWHERE, HERE, listen_host=listen_host)
    assert dest.probe_targets("rtp.ingress", dest.targets) == dest.targets


def test_no_ingress_section_is_not_configured() -> None:
    inv = parse({"version": 1, "destinations": {"mcp": {"targets": [{"host": HERE, "port": 5070}]}}}, "test")
    dest = inv.destination("mcp")
    assert isinstance(dest, McpDestination)
    assert dest.probe_targets("rtp.ingress", dest.targets) == ("no ingress source configured "
                                                               "(destinations.mcp.ingress.rtsp_url)")
