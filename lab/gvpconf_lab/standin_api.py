"""A STAND-IN Kubernetes API server for the project's own tests (no cluster exists on this machine).

It speaks the real REST paths and JSON of the calls the runner makes, on loopback:

    GET    /api/v1/namespaces/{ns}/pods[?labelSelector=]            PodList
    GET    /api/v1/namespaces/{ns}/pods/{name}                       Pod
    PATCH  /api/v1/namespaces/{ns}/pods/{name}/ephemeralcontainers   strategic-merge / merge patch of spec
    GET    /api/v1/namespaces/{ns}/pods/{name}/log?container=        text
    GET    /api/v1/nodes/{name}                                      Node
    GET    /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices[?labelSelector=]
    POST   /apis/batch/v1/namespaces/{ns}/jobs                       Job (its pod is created and "run")
    DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}

A *kubelet* callable plays the container runtime: given the pod and the container spec it returns
(exit code, log); ``gvpconf_lab.netlab.sandbox.PodSandbox`` is the one that executes the spec. Secrets
(``Cluster.add_secret``) are what the kubelet resolves ``secretKeyRef`` and ``secret`` volumes from;
the API does not serve them (the runner's RBAC has no access to Secrets, and needs none).
Errors are ``Status`` objects with the real codes (403 Forbidden, 404 NotFound...).
It is not an API server: no watch, no auth, no validation beyond what the tests need.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gvpconf_lab.http_standin import InThread, RoutingHandler

#: runs a container of a pod: (exit code, log) or (exit code, log, the terminated state's reason)
Kubelet = Callable[[dict[str, Any], dict[str, Any]], tuple[int, str] | tuple[int, str, str]]


def pod(name: str, namespace: str, labels: dict[str, str], *, ip: str, node: str, ready: bool = True,
        phase: str = "Running") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "uid": f"uid-{name}"},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "gvp/main:1"}]},
            "status": {"phase": phase, "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def endpoint_slice(service: str, namespace: str, members: list[tuple[str, str, str, str]],
                   port: int) -> dict[str, Any]:
    """``members``: (pod name, ip, zone, node)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-abcde", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node, "zone": zone,
                           "targetRef": {"kind": "Pod", "name": name, "namespace": namespace}}
                          for name, ip, zone, node in members],
            "ports": [{"name": "main", "port": port, "protocol": "TCP"}]}


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


#: container fields an ephemeral container may not have (the API answers 422)
FORBIDDEN_EPHEMERAL = ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                       "resizePolicy")

@dataclass
class Cluster:
    """The stand-in's state. Tests fill ``pods``, ``slices``, ``nodes`` and may set the failure knobs."""

    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)  # (ns, name) -> data
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    kubelet: Kubelet | None = None
    forbid_ephemeral: set[str] = field(default_factory=set)  # pod names: PATCH -> 403
    forbid_nodes: bool = True  # the default RBAC has no "get nodes"
    forbid_pods: bool = False  # a service account without "list pods": every pod list -> 403
    hang: set[str] = field(default_factory=set)  # pod names whose containers never finish
    #: pod names whose reads are never answered (an API server that stalls), until ``unstall`` is set
    stall: set[str] = field(default_factory=set)
    unstall: threading.Event = field(default_factory=threading.Event)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, content-type)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_pod(self, obj: dict[str, Any]) -> None:
        self.pods[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj

    def add_secret(self, namespace: str, name: str, data: dict[str, str | bytes]) -> None:
        self.secrets[(namespace, name)] = {k: v.encode() if isinstance(v, str) else v for k, v in data.items()}

    def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """A Secret's data, as the kubelet reads it (``PodSandbox.secrets``)."""
        with self.lock:
            data = self.secrets.get((namespace, name))
            return dict(data) if data is not None else None

    def _run(self, ns: str, pod_name: str, container: dict[str, Any], status_key: str) -> None:
        obj = self.pods[(ns, pod_name)]
        if pod_name in self.hang or self.kubelet is None:
            return
        code, log, *told = self.kubelet(copy.deepcopy(obj), copy.deepcopy(container))
        reason = told[0] if told else "Completed" if code == 0 else "Error"
        with self.lock:
            self.logs[(ns, pod_name, container["name"])] = log
            for st in obj["status"].get(status_key, []):
                if st["name"] == container["name"]:
                    st["state"] = {"terminated": {"exitCode": code, "reason": reason}}
            if status_key == "containerStatuses":
                obj["status"]["phase"] = "Succeeded" if code == 0 else "Failed"

    def start(self, ns: str, pod_name: str, container: dict[str, Any], status_key: str) -> None:
        obj = self.pods[(ns, pod_name)]
        obj["status"].setdefault(status_key, []).append(
            {"name": container["name"], "image": container.get("image", ""), "imageID": "", "ready": False,
             "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
        threading.Thread(target=self._run, args=(ns, pod_name, container, status_key), daemon=True).start()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class _Handler(RoutingHandler):
    server: StandInServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        self.reply(code, body.encode() if isinstance(body, str) else json.dumps(body).encode(), content_type)

    def _body(self) -> Any:
        return json.loads(self.read_body() or b"null")

    def route(self, method: str) -> None:
        c = self.server.cluster
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        with c.lock:
            c.requests.append((method, path, self.headers.get("Content-Type", "")))
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(?:/(ephemeralcontainers|log))?", path)
        if m:
            return self._pods(method, m.group(1), m.group(2), m.group(3), q)
        m = re.fullmatch(r"/api/v1/nodes/([^/]+)", path)
        if m and method == "GET":
            if c.forbid_nodes:
                return self._send(403, _status(403, "Forbidden", f'nodes "{m.group(1)}" is forbidden: User '
                                                 'cannot get resource "nodes" at the cluster scope'))
            node = c.nodes.get(m.group(1))
            return self._send(200, node) if node else self._send(404, _status(404, "NotFound", "node not found"))
        m = re.fullmatch(r"/apis/discovery.k8s.io/v1/namespaces/([^/]+)/endpointslices", path)
        if m and method == "GET":
            items = [s for s in c.slices if s["metadata"]["namespace"] == m.group(1)
                     and _matches(s["metadata"].get("labels", {}), q.get("labelSelector"))]
            return self._send(200, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
                                    "metadata": {}, "items": items})
        m = re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?", path)
        if m:
            return self._jobs(method, m.group(1), m.group(2))
        return self._send(404, _status(404, "NotFound", f"the server could not find the requested resource {path}"))

    def _pods(self, method: str, ns: str, name: str | None, sub: str | None, q: dict[str, str]) -> None:
        c = self.server.cluster
        if name is None and method == "GET":
            if c.forbid_pods:
                return self._send(403, _status(403, "Forbidden", f'pods is forbidden: User cannot list resource '
                                                 f'"pods" in the namespace "{ns}"'))
            with c.lock:
                items = [copy.deepcopy(p) for (pns, _), p in c.pods.items()
                         if pns == ns and _matches(p["metadata"].get("labels", {}), q.get("labelSelector"))]
            return self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})
        obj = c.pods.get((ns, name or ""))
        if obj is None:
            return self._send(404, _status(404, "NotFound", f'pods "{name}" not found'))
        if sub is None and method == "GET":
            if name in c.stall:
                c.unstall.wait(300)
            with c.lock:
                body = copy.deepcopy(obj)
            return self._send(200, body)
        if sub == "log" and method == "GET":
            container = q.get("container") or obj["spec"]["containers"][0]["name"]
            with c.lock:
                log = c.logs.get((ns, obj["metadata"]["name"], container))
            if log is None:
                return self._send(400, _status(400, "BadRequest", f'container "{container}" in pod "{name}" is '
                                                 "waiting to start or not found"))
            return self._send(200, log, "text/plain")
        if sub == "ephemeralcontainers" and method == "PATCH":
            ctype = self.headers.get("Content-Type", "")
            if ctype not in ("application/strategic-merge-patch+json", "application/merge-patch+json"):
                return self._send(415, _status(415, "UnsupportedMediaType", f"the body of the request was in an "
                                                 f"unknown format - accepted media types include: "
                                                 f"application/strategic-merge-patch+json, got {ctype}"))
            if obj["metadata"]["name"] in c.forbid_ephemeral:
                return self._send(403, _status(403, "Forbidden", f'pods "{name}" is forbidden: cannot patch '
                                                 'resource "pods/ephemeralcontainers"'))
            body = self._body()
            new = (body or {}).get("spec", {}).get("ephemeralContainers", [])
            with c.lock:
                have = obj["spec"].setdefault("ephemeralContainers", [])
                names = {e["name"] for e in have}
                added = [e for e in new if e["name"] not in names]
                if any("name" not in e or "image" not in e for e in added):
                    return self._send(422, _status(422, "Invalid", "ephemeral container needs name and image"))
                for e in added:  # what ValidateEphemeralContainers refuses (k8s.io/kubernetes validation.go)
                    bad = [f"spec.ephemeralContainers[{e['name']}].{k}" for k in FORBIDDEN_EPHEMERAL if e.get(k)]
                    bad += [f"spec.ephemeralContainers[{e['name']}].volumeMounts[{i}].{k}"
                            for i, m in enumerate(e.get("volumeMounts") or []) for k in ("subPath", "subPathExpr")
                            if m.get(k)]
                    if bad:
                        return self._send(422, _status(422, "Invalid", f'Pod "{name}" is invalid: ' + ", ".join(
                            f"{b}: Forbidden: cannot be set for an Ephemeral Container" for b in bad)))
                have.extend(added)
                for e in added:
                    c.start(ns, obj["metadata"]["name"], e, "ephemeralContainerStatuses")
                return self._send(200, copy.deepcopy(obj))
        return self._send(405, _status(405, "MethodNotAllowed", f"{method} not allowed"))

    def _jobs(self, method: str, ns: str, name: str | None) -> None:
        c = self.server.cluster
        if method == "POST" and name is None:
            job = self._body()
            jname = job["metadata"]["name"]
            template = job["spec"]["template"]
            spec = template["spec"]
            pod_name = f"{jname}-x7k2p"
            labels = {**template["metadata"].get("labels", {}), "job-name": jname}
            obj = pod(pod_name, ns, labels, ip="10.0.0.99", node=spec.get("nodeName", "node-x"), ready=False)
            obj["spec"] = copy.deepcopy(spec)
            with c.lock:
                c.jobs[(ns, jname)] = job
                c.add_pod(obj)
                c.start(ns, pod_name, spec["containers"][0], "containerStatuses")
            return self._send(201, job)
        if method == "DELETE" and name is not None:
            with c.lock:
                job = c.jobs.pop((ns, name), None)
            if job is None:
                return self._send(404, _status(404, "NotFound", f'jobs.batch "{name}" not found'))
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        return self._send(405, _status(405, "MethodNotAllowed", f"{method} not allowed"))


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = cluster
        self._serving = InThread(self, "k8s-standin")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> StandInServer:
        self._serving.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.stop()
