"""The network-namespace lab that plays the cluster: the suite run from inside each pod's namespace.

Needs root, iproute2 and iptables (installed on this machine; ``make test`` runs as root). Every
namespace, veth, bridge and rule lives in namespaces the lab creates and deletes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf.pods import junit, kube, runner
from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf_lab.base import pid_alive, processes_using, stop_process
from gvpconf_lab.netlab import NetLab, NetnsError, netns, topology
from gvpconf_lab.netlab.backend import LocalBackend
from gvpconf_lab.netlab.netns import ip
from gvpconf_lab.standin_api import Cluster, StandInServer, pod
from selftests.helpers import VERIFIED

ROOT = Path(__file__).resolve().parents[2]
OWN = {"rm": {1, 2, 3, 4}, "mcp": {7, 8}, "sd": {5}, "rs": {15}, "configserver": {17}}


@pytest.fixture(scope="module")
def netlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetLab]:
    lab = NetLab(tmp_path_factory.mktemp("netlab"))
    with lab:
        pids = [p.pid for p in lab.peers.values() if p.pid is not None]
        assert len(lab.namespaces()) == len(lab.nodes) + 1
        yield lab
    assert lab.namespaces() == [], "namespaces left behind"
    assert [p for p in pids if pid_alive(p)] == []


def cases(xml: str) -> list[dict[str, Any]]:
    out = []
    for tc in ET.fromstring(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        tag = next((t for t in ("failure", "error", "skipped") if tc.find(t) is not None), None)
        state = {"failure": "failed", "error": "error", "skipped": "skipped", None: "passed"}[tag]
        el = tc.find(tag) if tag is not None else None
        out.append({"name": tc.get("name"), "classname": tc.get("classname"), "state": state, "props": props,
                    "message": el.get("message", "") if el is not None else ""})
    return out


def run_from(lab: NetLab, tmp: Path, pods: list[str], *extra: str, deny: bool = False,
             timeout: float = 120) -> list[RunOutcome]:
    sources = [s for s in lab.source_pods() if s.pod in pods]
    plan = runner.Plan(sources, [])
    return runner.run_all(LocalBackend(lab.inventory_path, tmp), plan, deny_matrix=deny, run_timeout=timeout,
                          total_timeout=timeout + 30, parallel=3, extra=extra)


def by_connection(cs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [c for c in cs if c["props"].get("connection") == str(n)]


def test_wiring_stays_inside_the_bridge(netlab: NetLab) -> None:
    netlab.verify_wiring()
    for node in netlab.nodes:
        routes = json.loads(ip("-j", "route", "show", netns=netlab.ns(node.name)).stdout)
        assert [(r["dst"], r["dev"]) for r in routes] == [("198.18.0.0/24", "eth0")]
    host_links = {link["ifname"] for link in json.loads(ip("-j", "link", "show").stdout)}
    assert not {"br0", *(f"v{n.index}" for n in netlab.nodes)} & host_links
    ns = netlab.ns("sd")
    ip("route", "add", "default", "via", "198.18.0.1", "dev", "eth0", netns=ns)
    try:
        with pytest.raises(NetnsError, match="leaves the lab"):
            netlab.verify_wiring()
    finally:
        ip("route", "del", "default", netns=ns)
    netlab.verify_wiring()


def test_the_documented_command_runs_from_every_pod_and_merges(tmp_path: Path) -> None:
    """``python -m gvpconf_lab.netlab run --deny-matrix``: one merged report, pod and zone on every case."""
    out = tmp_path / "junit-pods.xml"
    proc = subprocess.run([sys.executable, "-m", "gvpconf_lab.netlab", "run", "--deny-matrix", "--junitxml", str(out),
                           "--workdir", str(tmp_path / "lab")], cwd=ROOT, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    cs = cases(out.read_text())
    for c in cs:
        assert c["props"]["source.pod"] and c["props"]["source.zone"] in ("zone-a", "zone-b"), c
        assert c["classname"].startswith(f"{c['props']['source.pod']}@{c['props']['source.zone']}."), c
        assert c["state"] in ("passed", "skipped"), c
    pods = {c["props"]["source.pod"] for c in cs}
    assert pods == {"rm-0", "rm-1", "mcp-0", "mcp-1", "rs", "sd", "configserver", "prometheus"}
    for role, numbers in OWN.items():
        for n in numbers:
            # a case skipped as not configured (a stock broker has no STOMP) is not a failure; the rest must pass
            ran = [c for c in by_connection(cs, n) if c["props"]["source.role"] == role and c["state"] != "skipped"]
            assert ran and all(c["state"] == "passed" for c in ran), (role, n, ran)
            # from a role that does not own it, a connection is never run
            assert {c["props"]["source.role"] for c in by_connection(cs, n)} == {role}
    # both pods of the RM pair and of the MCP pool ran their connections, each in its own zone
    assert {(c["props"]["source.pod"], c["props"]["source.zone"]) for c in by_connection(cs, 8)} == {
        ("mcp-0", "zone-a"), ("mcp-1", "zone-b")}
    # every pod of the MCP pool is probed from each RM pod (4: one case per MCP pod and RM pod)
    assert len([c for c in by_connection(cs, 4) if c["name"].startswith("test_every_mcp_pod_answers_options")]) == 4
    denies = [c for c in cs if "expected-deny" in c["classname"]]
    assert len(denies) >= 20 and all(c["props"]["deny.result"] in ("timeout", "own address") for c in denies)
    # the merged acceptance report next to the JUnit: every pod and zone, a verdict per pod on each row
    results = json.loads((tmp_path / "results.json").read_text())
    assert {(s["pod"], s["zone"]) for s in results["sources"]} == {
        (c["props"]["source.pod"], c["props"]["source.zone"]) for c in cs}
    assert len(results["sources"]) == len(pods) == 8
    assert not [s for s in results["sources"] if s["error"]], results["sources"]
    rows = {r["number"]: r for r in results["connections"]}
    assert [(v["pod"], v["verdict"]) for v in rows[8]["per_source"]] == [("mcp-0", "verified"), ("mcp-1", "verified")]
    assert rows[8]["verdict"] == "verified"
    for role, numbers in OWN.items():
        for n in numbers:
            assert rows[n]["verdict"] in VERIFIED and {v["role"] for v in rows[n]["per_source"]} == {role}, n
    html = (tmp_path / "report.html").read_text()
    for s in results["sources"]:
        assert f"{s['pod']}@{s['zone']}" in html
    assert {f.name for f in tmp_path.iterdir()} >= {"report.html", "report.md", "results.json", "metrics.prom"}


def test_removing_one_allow_rule_breaks_exactly_that_connection_with_timeout(netlab: NetLab, tmp_path: Path) -> None:
    removed = netlab.remove_allow(8, "mcp-0")
    try:
        outcomes = run_from(netlab, tmp_path, ["mcp-0", "mcp-1"])
    finally:
        netlab.restore_allow(removed)
    by_pod = {o.source.pod: cases(o.junit or "") for o in outcomes}
    failed = [c for c in by_pod["mcp-0"] if c["state"] in ("failed", "error")]
    assert failed and {c["props"]["connection"] for c in failed} == {"8"}, failed
    assert len(failed) == len([c for c in by_connection(by_pod["mcp-0"], 8) if c["state"] != "skipped"])
    assert all(c["props"]["cause"] == "timeout" for c in failed), failed
    assert all(c["state"] == "passed" for c in by_connection(by_pod["mcp-0"], 7))
    assert all(c["state"] in ("passed", "skipped") for c in by_pod["mcp-1"]), "only the pod whose rule went fails"


def test_with_reject_the_same_removal_is_refused(netlab: NetLab, tmp_path: Path) -> None:
    netlab.set_default_action("REJECT")
    removed = netlab.remove_allow(2, "rm-1")
    try:
        (outcome,) = run_from(netlab, tmp_path, ["rm-1"], "--connection", "1", "--connection", "2")
    finally:
        netlab.restore_allow(removed)
        netlab.set_default_action("DROP")
    cs = cases(outcome.junit or "")
    (c2,) = by_connection(cs, 2)
    assert c2["state"] == "failed" and c2["props"]["cause"] == "refused", c2
    assert all(c["state"] == "passed" for c in by_connection(cs, 1))
    assert "REJECT" not in netlab.egress_chain("rm-1") and "#2 rm-1->configserver" in netlab.egress_chain("rm-1")


def test_an_allow_rule_the_table_does_not_have_fails_the_deny_matrix(netlab: NetLab, tmp_path: Path) -> None:
    extra = netlab.add_allow("mcp-1", "sqlserver") + netlab.add_allow("mcp-1", "postgres")
    try:
        (outcome,) = run_from(netlab, tmp_path, ["mcp-1"], "-m", "expected_deny", deny=True)
    finally:
        netlab.drop_rules(extra)
    cs = cases(outcome.junit or "")
    failed = {c["props"]["deny.destination"]: c for c in cs if c["state"] == "failed"}
    assert set(failed) == {"sqlserver", "postgres"}, [c["message"] for c in failed.values()]
    assert all(c["props"]["cause"] == "least-privilege" for c in failed.values())
    assert "the table has no such connection" in failed["sqlserver"]["message"]
    others = [c for c in cs if c["state"] != "failed"]
    # the rest of mcp's matrix in this lab: the SIP Server, and both MCP pods (its own address is not checked)
    assert sorted((c["props"]["deny.destination"], c["props"]["deny.result"]) for c in others) == [
        ("mcp", "own address"), ("mcp", "timeout"), ("sip_server", "timeout")]


def test_a_source_that_cannot_run_is_a_failure_in_the_merged_report(netlab: NetLab, tmp_path: Path) -> None:
    ghost = SourcePod("mcp", "mcp-9", "zone-c", location=f"gvpc-{netlab.tag}-mcp-9")
    slow = next(s for s in netlab.source_pods() if s.pod == "rs")
    backend = LocalBackend(netlab.inventory_path, tmp_path)
    outcomes = [backend.run(ghost, ["--source", "mcp"], 60), backend.run(slow, ["--source", "rs"], 0.3)]
    assert outcomes[0].cause == "no-report" and outcomes[1].cause == "timeout"
    cs = cases(ET.tostring(junit.merge(outcomes).getroot(), encoding="unicode"))
    assert [(c["classname"], c["state"]) for c in cs] == [("mcp-9@zone-c.gvpconf.runner", "failed"),
                                                          ("rs@zone-a.gvpconf.runner", "failed")]
    assert "did not finish within" in cs[1]["message"]


def test_kubernetes_backend_runs_the_image_entrypoint_in_the_pods_namespace(netlab: NetLab, tmp_path: Path) -> None:
    """Stand-in API server whose "kubelet" runs each ephemeral container inside the pod's namespace."""
    cluster = Cluster()
    for s in netlab.source_pods():
        if s.role in ("rm", "mcp"):
            cluster.add_pod(pod(f"gvp-{s.pod}", "gvp", {"app.kubernetes.io/name": f"gvp-{s.role}",
                                                        kube.ZONE_LABEL: s.zone}, ip=s.ip, node=s.location))

    def kubelet(pod_obj: dict[str, Any], container: dict[str, Any]) -> tuple[int, str]:
        env = {e["name"]: e["value"] for e in container["env"]}
        argv = [sys.executable if container["command"][0] == "python" else container["command"][0],
                *container["command"][1:], *container["args"]]
        proc = subprocess.run(["ip", "netns", "exec", pod_obj["spec"]["nodeName"], *argv], cwd=ROOT, timeout=120,
                              env={"PATH": "/usr/sbin:/usr/bin:/bin", **env}, capture_output=True, text=True)
        return proc.returncode, proc.stdout + proc.stderr

    cluster.kubelet = kubelet
    with StandInServer(cluster) as server:
        api = kube.make_api_client(host=server.url)
        selectors = {r: kube.DEFAULT_SELECTORS[r] for r in ("rm", "mcp")}
        pods = kube.discover(api, "gvp", selectors)
        backend = kube.KubernetesBackend(api, "gvpconf:test", netlab.inventory_path.read_text(), poll_s=0.2)
        outcomes = runner.run_all(backend, runner.pick_per_zone(pods, list(selectors)), run_timeout=120,
                                  total_timeout=200, parallel=2, extra=["--connection", "3", "--connection", "8"])
    assert all(o.junit is not None for o in outcomes), [(o.error, o.log[-2000:]) for o in outcomes]
    cs = cases(ET.tostring(junit.merge(outcomes).getroot(), encoding="unicode"))
    assert {(c["props"]["source.pod"], c["props"]["connection"]) for c in cs} == {
        ("gvp-rm-0", "3"), ("gvp-rm-1", "3"), ("gvp-mcp-0", "8"), ("gvp-mcp-1", "8")}
    # the RS's broker is Debian's stock tcp:// connector: OpenWire verified, STOMP not probed (no stomp_port)
    stomp = [c for c in cs if c["name"].startswith("test_stomp_round_trip_where_enabled")]
    assert len(stomp) == 4 and all(c["state"] == "skipped" for c in stomp), stomp
    assert all(c["state"] == "passed" for c in cs if c not in stomp), [c["message"] for c in cs]


def test_up_stops_and_deletes_everything_on_sigterm(tmp_path: Path) -> None:
    """``python -m gvpconf_lab.netlab up`` and SIGTERM: the shared lifecycle stops every peer and deletes
    every namespace, as the loopback lab's command line does."""
    proc = subprocess.Popen([sys.executable, "-m", "gvpconf_lab.netlab", "up", "--mcp-pods", "1", "--workdir",
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("run from a pod:"):
                break
        else:
            raise AssertionError(f"the lab did not come up: {''.join(lines)}")
        tag = lines[0].split()[2].rstrip(":")  # "netns lab TAG: switch ..."
        namespaces = netns.list_prefixed(f"gvpc-{tag}-")
        peers = [pid for pid in processes_using(tmp_path) if pid != proc.pid]
        assert len(namespaces) == len(topology(1)) + 1 and peers
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "stopping the netns lab" in err
    assert netns.list_prefixed(f"gvpc-{tag}-") == []
    assert [pid for pid in peers if pid_alive(pid)] == []


def test_the_fault_lab_through_the_runner_proves_19s_media_from_each_mcp_pod(tmp_path: Path) -> None:
    """``run --lab fault``: the fault catalog's lab (Nuance's RTSP server, the SBC, Nexus, Google TTS, Consul, the
    DAS, the ORS, web server and customer system, SQL Server's stand-in, Prometheus, the calls opted into) driven
    by the runner through the stand-in API, every container in the pod sandbox under the spec's seccomp profile:
    all 22 rows verified. 19 runs from each MCP pod (``--source nuance``) and the media GStreamer streams
    arrives in the pod; the lab's tokens, keys and CA reach the pods as a Secret."""
    out = tmp_path / "junit-pods.xml"
    proc = subprocess.run([sys.executable, "-m", "gvpconf_lab.netlab", "run", "--lab", "fault", "--junitxml", str(out),
                           "--workdir", str(tmp_path / "lab")], cwd=ROOT, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    cs = cases(out.read_text())
    assert all(c["state"] in ("passed", "skipped") for c in cs), [c for c in cs if c["state"] not in
                                                                   ("passed", "skipped")]
    media = by_connection(cs, 19)
    assert {(c["props"]["source.role"], c["props"]["source.pod"]) for c in media} == {
        ("nuance", "mcp-0"), ("nuance", "mcp-1")}, media
    assert all(c["state"] == "passed" and int(c["props"]["rtp.received"]) > 0 for c in media), media
    # the rows whose secrets and CA are the lab's files (a Secret mounted in every pod), the SBC's call, the http
    # sites and SQL Server's stand-in
    for n in (6, 9, 10, 11, 13, 14, 16, 18, 20, 21, 22):
        ran = by_connection(cs, n)
        assert ran and all(c["state"] == "passed" for c in ran), (n, ran)
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {r["number"]: r for r in results["connections"]}
    assert sorted(n for n, r in rows.items() if r["verdict"] in VERIFIED) == list(range(1, 23)), {
        n: r["verdict"] for n, r in rows.items()}
