"""Discovery, ephemeral-container attach, Job fallback and log collection, with the official kubernetes
client against a stand-in API server that speaks the real REST paths and JSON (no cluster exists here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kubernetes_validate.utils as kv
import pytest

from gvpconf.pods import junit, kube, runner
from gvpconf.pods.entry import encode_junit, encode_results
from gvpconf.pods.model import SourcePod
from gvpconf_lab.standin_api import Cluster, StandInServer, endpoint_slice, pod

NS = "gvp"
JUNIT = ('<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0" skipped="0">'
         '<testcase classname="tests.intra.test_c07_mcp_configserver" name="t[gvp-configserver]"/>'
         '</testsuite></testsuites>')


def results_json(pod: str, zone: str, role: str) -> str:
    """A minimal results.json as the suite writes it in the pod: #7 verified from MCP pods, the rest filtered out."""
    from gvpconf.catalog import CONNECTIONS
    from gvpconf.report.model import CaseRecord, ConnectionRecord, RunRecord

    rows = []
    for c in CONNECTIONS:
        ran = c.number == 7 and role == "mcp"
        cases = [CaseRecord(nodeid="t", connection=7, test="t", target="gvp-configserver",
                            probe="configserver.hold")] if ran else []
        rows.append(ConnectionRecord(c.number, c.source, c.source_label, c.destination, c.destination_label,
                                     c.protocol, c.ports, c.suite_class, c.seed_classification,
                                     "verified" if ran else "not selected", why="" if ran else f"--source {role}",
                                     cases=cases))
    return RunRecord("0.1.0", "stand-in", NS, "/inv.yaml", "c" * 64, role, pod, zone, "2025-06-01T02:00:00+00:00",
                     "2025-06-01T02:00:05+00:00", 5.0, connections=rows).to_json()


def fake_kubelet(seen: list[dict[str, Any]]) -> Any:
    def run(pod_obj: dict[str, Any], container: dict[str, Any]) -> tuple[int, str]:
        seen.append({"pod": pod_obj["metadata"]["name"], "container": container})
        env = {e["name"]: e["value"] for e in container["env"]}
        results = results_json(env["GVP_SOURCE_POD"], env["GVP_SOURCE_ZONE"], env["GVP_SOURCE_ROLE"])
        return 0, ("=== 1 passed ===\n" + encode_junit(JUNIT.encode()) + "\n" + encode_results(results.encode())
                   + "\n")
    return run


def make_cluster() -> Cluster:
    c = Cluster()
    for name, ip, _zone, node, labels in (
            ("gvp-mcp-0", "10.1.0.10", "eu-west-1a", "node-a", {"app.kubernetes.io/name": "gvp-mcp"}),
            ("gvp-mcp-1", "10.1.0.11", "eu-west-1b", "node-b", {"app.kubernetes.io/name": "gvp-mcp"}),
            ("gvp-mcp-2", "10.1.0.12", "eu-west-1a", "node-a", {"app.kubernetes.io/name": "gvp-mcp"}),
            ("gvp-rm-0", "10.1.0.20", "eu-west-1a", "node-a",
             {"app.kubernetes.io/name": "gvp-rm", "controller-revision-hash": "abc"}),
            ("gvp-rm-1", "10.1.0.21", "eu-west-1b", "node-b", {"app.kubernetes.io/name": "gvp-rm"})):
        c.add_pod(pod(name, NS, {**labels, "statefulset.kubernetes.io/pod-name": name}, ip=ip, node=node))
    c.add_pod(pod("gvp-sd-5c9", NS, {"app.kubernetes.io/name": "gvp-sd"}, ip="10.1.0.30", node="node-c"))
    c.slices.append(endpoint_slice("gvp-mcp", NS, [("gvp-mcp-0", "10.1.0.10", "eu-west-1a", "node-a"),
                                                   ("gvp-mcp-1", "10.1.0.11", "eu-west-1b", "node-b"),
                                                   ("gvp-mcp-2", "10.1.0.12", "eu-west-1a", "node-a")], 5070))
    c.slices.append(endpoint_slice("gvp-rm", NS, [("gvp-rm-0", "10.1.0.20", "eu-west-1a", "node-a"),
                                                  ("gvp-rm-1", "10.1.0.21", "eu-west-1b", "node-b")], 5060))
    return c


@pytest.fixture
def cluster() -> Iterator[tuple[Cluster, StandInServer]]:
    c = make_cluster()
    with StandInServer(c) as server:
        yield c, server


SELECTORS = {r: kube.DEFAULT_SELECTORS[r] for r in ("rm", "mcp", "sd")}


def test_discovery_lists_every_pod_with_its_zone(cluster: tuple[Cluster, StandInServer]) -> None:
    c, server = cluster
    api = kube.make_api_client(host=server.url)
    pods = kube.discover(api, NS, SELECTORS)
    assert {(p.pod, p.zone) for p in pods} == {
        ("gvp-mcp-0", "eu-west-1a"), ("gvp-mcp-1", "eu-west-1b"), ("gvp-mcp-2", "eu-west-1a"),
        ("gvp-rm-0", "eu-west-1a"), ("gvp-rm-1", "eu-west-1b"), ("gvp-sd-5c9", "unknown")}
    # the SD has no EndpointSlice here and the default RBAC may not read nodes: its zone stays unknown
    assert ("GET", "/api/v1/nodes/node-c", "") in [(m, p, "") for m, p, _ in c.requests]
    c.forbid_nodes = False
    c.nodes["node-c"] = {"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": "node-c", "labels": {kube.ZONE_LABEL: "eu-west-1c"}}}
    sd = [p for p in kube.discover(api, NS, SELECTORS) if p.role == "sd"]
    assert sd[0].zone == "eu-west-1c"
    inv = kube.with_discovered_targets({"destinations": {"mcp": {"targets": [{"host": "svc", "port": 5070}]}}}, pods)
    assert [(t["name"], t["host"], t["zone"]) for t in inv["destinations"]["mcp"]["targets"]] == [
        ("gvp-mcp-0", "10.1.0.10", "eu-west-1a"), ("gvp-mcp-1", "10.1.0.11", "eu-west-1b"),
        ("gvp-mcp-2", "10.1.0.12", "eu-west-1a")]


def test_ephemeral_container_runs_per_role_and_zone_and_reports_merge(
        cluster: tuple[Cluster, StandInServer]) -> None:
    c, server = cluster
    seen: list[dict[str, Any]] = []
    c.kubelet = fake_kubelet(seen)
    api = kube.make_api_client(host=server.url)
    pods = kube.discover(api, NS, SELECTORS)
    backend = kube.KubernetesBackend(api, "registry.example.com/gvpconf:0.1.0", "version: 1\n", poll_s=0.05)
    outcomes = runner.run_all(backend, runner.pick_per_zone(pods, list(SELECTORS)), deny_matrix=True,
                              run_timeout=20, total_timeout=60)
    assert sorted(o.source.where for o in outcomes) == [
        "gvp-mcp-0@eu-west-1a", "gvp-mcp-1@eu-west-1b", "gvp-rm-0@eu-west-1a", "gvp-rm-1@eu-west-1b",
        "gvp-sd-5c9@unknown"]
    assert all(o.junit is not None and o.exit_code == 0 for o in outcomes), [o.error for o in outcomes]
    patches = [r for r in c.requests if r[0] == "PATCH"]
    assert len(patches) == 5
    assert all(p[1].endswith("/ephemeralcontainers") and p[2] == "application/strategic-merge-patch+json"
               for p in patches)
    assert any(r[0] == "GET" and r[1].endswith("/log") for r in c.requests)
    container = seen[0]["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GVP_SOURCE_ROLE"] in ("rm", "mcp", "sd") and env["GVP_INVENTORY_YAML"] == "version: 1\n"
    assert container["command"] == ["python", "-m", "gvpconf.pods.entry"] and "--deny-matrix" in container["args"]
    root = junit.merge(outcomes).getroot()
    for case in root.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["source.pod"].startswith("gvp-") and props["source.zone"]


def test_refused_ephemeral_container_falls_back_to_a_job_on_the_same_node(
        cluster: tuple[Cluster, StandInServer]) -> None:
    c, server = cluster
    c.kubelet = fake_kubelet([])
    c.forbid_ephemeral.add("gvp-rm-0")
    api = kube.make_api_client(host=server.url)
    src = next(p for p in kube.discover(api, NS, SELECTORS) if p.pod == "gvp-rm-0")
    backend = kube.KubernetesBackend(api, "img:1", "version: 1\n", poll_s=0.05)
    outcome = backend.run(src, ["--source", "rm"], timeout=20)
    assert outcome.junit is not None and outcome.backend == "job", outcome.error
    assert "403" in outcome.notes[0]
    (job_pod,) = [p for (ns, name), p in c.pods.items() if name.startswith("gvpconf-")]
    assert job_pod["spec"]["nodeName"] == "node-a"
    labels = job_pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "gvp-rm" and "controller-revision-hash" not in labels
    assert "statefulset.kubernetes.io/pod-name" not in labels
    assert job_pod["spec"]["readinessGates"] == [{"conditionType": kube.NEVER_READY}]
    assert c.jobs == {}  # deleted after the run
    assert ("DELETE" in {r[0] for r in c.requests})


@pytest.mark.parametrize("attach", ["ephemeral", "job"])
def test_an_oom_killed_run_says_whose_memory_limit_ended_it(cluster: tuple[Cluster, StandInServer],
                                                            attach: str) -> None:
    """The kubelet's ``OOMKilled`` (exit 137, no report in the log) is cause ``oom``, naming the limit: the Job's own
    (``--job-limits``), or the pod's for an ephemeral container (it has none of its own: it is charged to the pod)."""
    c, server = cluster
    c.kubelet = lambda pod_obj, container: (137, "=== collecting ===\n", "OOMKilled")
    if attach == "job":
        c.forbid_ephemeral.add("gvp-rm-0")
    api = kube.make_api_client(host=server.url)
    src = next(p for p in kube.discover(api, NS, SELECTORS) if p.pod == "gvp-rm-0")
    backend = kube.KubernetesBackend(api, "img:1", "version: 1\n", poll_s=0.05,
                                     job_resources={"limits": {"memory": "96Mi"}})
    outcome = backend.run(src, ["--source", "rm"], timeout=20)
    assert (outcome.backend == "job") is (attach == "job")
    assert outcome.junit is None and outcome.cause == "oom" and outcome.exit_code == 137
    if attach == "job":
        assert "its Job's memory limit (96Mi: --job-limits)" in (outcome.error or ""), outcome.error
    else:
        assert "its pod's memory limit" in (outcome.error or ""), outcome.error


def test_job_manifest_validates_against_the_kubernetes_schema() -> None:
    backend = kube.KubernetesBackend(None, "img:1", "version: 1\n")  # type: ignore[arg-type]
    src = SourcePod("mcp", "gvp-mcp-0", "a", "gvp", "node-a", labels=(("app.kubernetes.io/name", "gvp-mcp"),))
    manifest = backend.job_manifest(src, backend._container(src, ["--source", "mcp"], 60, "gvpconf-abc"), 60)
    assert kv.validate(manifest, "1.30.0", strict=True) == "1.30"
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kv.ValidationError):
        kv.validate(manifest, "1.30.0", strict=True)


def test_unattachable_pod_and_hung_container_are_reported_failures(cluster: tuple[Cluster, StandInServer]) -> None:
    c, server = cluster
    c.kubelet = fake_kubelet([])
    c.forbid_ephemeral.add("gvp-mcp-0")
    c.hang.add("gvp-mcp-1")
    api = kube.make_api_client(host=server.url)
    pods = [p for p in kube.discover(api, NS, SELECTORS) if p.role == "mcp"]
    backend = kube.KubernetesBackend(api, "img:1", "version: 1\n", allow_job=False, poll_s=0.05)
    outcomes = runner.run_all(backend, runner.pick_per_zone(pods, ["mcp"]), run_timeout=1.5, total_timeout=30)
    by_pod = {o.source.pod: o for o in outcomes}
    assert by_pod["gvp-mcp-0"].cause == "attach" and "403" in (by_pod["gvp-mcp-0"].error or "")
    # a running container gets the entrypoint's grace past the deadline (its own timeout may end it there)
    from gvpconf.pods.entry import GRACE

    assert by_pod["gvp-mcp-1"].cause == "timeout" and 1.5 + GRACE <= by_pod["gvp-mcp-1"].duration < 1.5 + GRACE + 8
    root = junit.merge(outcomes).getroot()
    assert root.get("failures") == "2"


def test_runner_cli_against_the_stand_in(cluster: tuple[Cluster, StandInServer], tmp_path: Any) -> None:
    from gvpconf.pods.__main__ import main

    c, server = cluster
    c.kubelet = fake_kubelet([])
    inv = tmp_path / "inv.yaml"
    inv.write_text("version: 1\ndestinations: {}\n")
    out = tmp_path / "merged.xml"
    code = main(["run", "--api-url", server.url, "--namespace", NS, "--image", "img:1", "--inventory", str(inv),
                 "--junitxml", str(out), "--roles", "rm,mcp,configserver", "--run-timeout", "20"])
    text = out.read_text()
    assert code == 1  # no configserver pod exists: a reported failure, not a silent gap
    assert "no pod matches" in text and "gvp-mcp-1@eu-west-1b" in text
    # the merged acceptance report next to the JUnit: a verdict per MCP pod, the missing role a failure
    results = json.loads((tmp_path / "results.json").read_text())
    row7 = next(r for r in results["connections"] if r["number"] == 7)
    assert row7["verdict"] == "verified"
    assert [(v["pod"], v["zone"], v["verdict"]) for v in row7["per_source"]] == [
        ("gvp-mcp-0", "eu-west-1a", "verified"), ("gvp-mcp-1", "eu-west-1b", "verified")]
    row17 = next(r for r in results["connections"] if r["number"] == 17)
    assert row17["verdict"] == "FAILED" and "no pod matches" in row17["per_source"][0]["detail"]
    html = (tmp_path / "report.html").read_text()
    assert "gvp-mcp-1@eu-west-1b" in html and "gvp-rm-0@eu-west-1a" in html


def test_job_gets_sub_path_mounts_fs_group_and_no_token_volume_and_a_deadline_margin() -> None:
    from gvpconf.pods import secretmap
    from gvpconf.pods.entry import GRACE

    backend = kube.KubernetesBackend(None, "img:1", "version: 1\n")  # type: ignore[arg-type]
    src = SourcePod("mcp", "gvp-mcp-0", "a", "gvp", "node-a")
    token = {"name": "creds", "projected": {"sources": [{"secret": {"name": "amq"}},
                                                         {"serviceAccountToken": {"path": "token"}}]}}
    spec = {"securityContext": {"fsGroup": 2000, "supplementalGroups": [3000], "runAsUser": 0},
            "volumes": [{"name": "amq", "secret": {"secretName": "amq", "defaultMode": 0o440}}, token],
            "containers": [{"name": "m", "volumeMounts": [
                {"name": "amq", "mountPath": "/etc/amq/password", "subPath": "password"},
                {"name": "creds", "mountPath": "/var/run/creds"}]}]}
    mapping = secretmap.map_secrets([secretmap.Reference("file", "/etc/amq/password", "a.password"),
                                     secretmap.Reference("file", "/var/run/creds/user", "a.username")], spec, "p")
    container = backend._container(src, ["--source", "mcp"], 60, "gvpconf-abc", mapping)
    assert [m["name"] for m in container["volumeMounts"]] == ["creds"]  # the ephemeral container: no subPath
    manifest = backend.job_manifest(src, container, 60, mapping, spec["securityContext"])
    pod_spec = manifest["spec"]["template"]["spec"]
    assert pod_spec["securityContext"]["fsGroup"] == 2000 and pod_spec["securityContext"]["supplementalGroups"] == [
        3000] and "runAsUser" not in pod_spec["securityContext"]
    assert [v["name"] for v in pod_spec["volumes"]] == ["amq"]  # the token's projected volume is not copied
    assert pod_spec["containers"][0]["volumeMounts"] == [
        {"name": "amq", "mountPath": "/etc/amq/password", "readOnly": True, "subPath": "password"}]
    assert mapping.job_token_problems() and "serviceAccountToken" in mapping.job_token_problems()[0]
    assert manifest["spec"]["activeDeadlineSeconds"] == int(60 + GRACE / 2)
    assert kv.validate(manifest, "1.30.0", strict=True) == "1.30"


@pytest.mark.parametrize("field", [{"volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": "a"}]},
                                   {"ports": [{"containerPort": 80}]}, {"resources": {"limits": {"cpu": "1"}}},
                                   {"readinessProbe": {"exec": {"command": ["true"]}}}])
def test_the_stand_in_refuses_what_an_ephemeral_container_may_not_have(
        cluster: tuple[Cluster, StandInServer], field: dict[str, Any]) -> None:
    import urllib.error
    import urllib.request

    _c, server = cluster
    body = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "img:1", **field}]}}
    req = urllib.request.Request(f"{server.url}/api/v1/namespaces/{NS}/pods/gvp-mcp-0/ephemeralcontainers",
                                 data=json.dumps(body).encode(), method="PATCH",
                                 headers={"Content-Type": "application/strategic-merge-patch+json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 422 and b"cannot be set for an Ephemeral Container" in info.value.read()
