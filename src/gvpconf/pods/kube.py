"""Kubernetes: discovery of the source pods and the backend that runs the suite in them.

Uses the official ``kubernetes`` client (in-cluster config, a kubeconfig, or an explicit API URL).

Discovery: for each role, the pods matching its label selector in its namespace, every one of them
(the RM pair, the whole MCP pool); the zone of each from its Service's EndpointSlices (``zone``, set
by the EndpointSlice controller from the node's ``topology.kubernetes.io/zone``), else the pod's own
label, else the node's label (only if the RBAC allows ``get nodes``), else ``unknown``.

Backend: the suite runs as an *ephemeral container* added to the pod (it shares the pod's network
identity, so the pod's NetworkPolicies apply), with ``python -m gvpconf.pods.entry`` printing the JUnit
report into its log. Where ephemeral containers are refused (403 by RBAC or admission, 404/405 on old
clusters, 422 invalid) the run becomes a *Job* pinned to the same node with the pod's own labels (so
label-selected NetworkPolicies apply to it) and a readiness gate nothing ever sets (so Services never
route traffic to it). Every wait is bounded; a failure to attach is a reported failure.

Secrets: before attaching, the backend reads the target pod's spec and maps the inventory's secret
references onto it (``gvpconf.pods.secretmap``): the probe container mounts the pod's own Secret
volumes and carries its ``secretKeyRef`` env; a Job declares those volumes itself. What cannot be
mapped is a note of the run (printed by the runner), never a guess.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from gvpconf.pods import secretmap
from gvpconf.pods.entry import GRACE, extract_junit, extract_results
from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf.pods.quantity import JOB_RESOURCES

ZONE_LABEL = "topology.kubernetes.io/zone"
RUN_LABEL = "gvpconf.io/run"
NEVER_READY = "gvpconf.io/never-ready"
#: labels a controller owns: not copied to the Job's pod (they would confuse the StatefulSet/ReplicaSet)
CONTROLLER_LABELS = ("controller-revision-hash", "pod-template-hash", "statefulset.kubernetes.io/pod-name",
                     "apps.kubernetes.io/pod-index", "job-name", "controller-uid", "batch.kubernetes.io/")
IMAGE_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                  "CreateContainerError"}
FALLBACK_STATUSES = {403, 404, 405, 415, 422}
#: (connect, read) seconds of every API request: a silent API server is a timeout, never a hang
REQUEST_TIMEOUT: tuple[float, float] = (5.0, 30.0)


def _t() -> tuple[float, float]:
    """The ``_request_timeout`` of an API call (read at call time, so a test may shorten it)."""
    return REQUEST_TIMEOUT


@dataclass(frozen=True)
class RoleSelector:
    role: str
    label_selector: str
    service: str | None = None  # its EndpointSlices carry the zones
    namespace: str | None = None  # default: the runner's namespace


#: the sample deployment's workloads (configurable: the label keys of a real chart may differ)
DEFAULT_SELECTORS: dict[str, RoleSelector] = {
    "rm": RoleSelector("rm", "app.kubernetes.io/name=gvp-rm", "gvp-rm"),
    "mcp": RoleSelector("mcp", "app.kubernetes.io/name=gvp-mcp", "gvp-mcp"),
    "rs": RoleSelector("rs", "app.kubernetes.io/name=gvp-rs", "gvp-rs"),
    "sd": RoleSelector("sd", "app.kubernetes.io/name=gvp-sd", "gvp-sd"),
    "configserver": RoleSelector("configserver", "app.kubernetes.io/name=gvp-configserver", "gvp-configserver"),
    "prometheus": RoleSelector("prometheus", "app.kubernetes.io/name=prometheus"),
}


def make_api_client(*, host: str | None = None, kubeconfig: str | None = None, context: str | None = None,
                    in_cluster: bool = False) -> client.ApiClient:
    cfg = client.Configuration()
    if host:
        cfg.host = host
    elif in_cluster:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(config_file=kubeconfig, context=context,  # type: ignore[no-untyped-call]
                                client_configuration=cfg)
    # one attempt per call: an unreachable API server is one clear failure, not three retries' tracebacks
    cfg.retries = False
    return client.ApiClient(cfg)


def _ready(pod: client.V1Pod) -> bool:
    status = pod.status
    if status is None or status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))


def discover(api: client.ApiClient, namespace: str,
             selectors: Mapping[str, RoleSelector] = DEFAULT_SELECTORS) -> list[SourcePod]:
    """Every pod of every role (ready or not; the runner decides), with its zone."""
    core = client.CoreV1Api(api)
    disc = client.DiscoveryV1Api(api)
    found: list[SourcePod] = []
    node_zones: dict[str, str | None] = {}
    for role, sel in selectors.items():
        ns = sel.namespace or namespace
        pods = core.list_namespaced_pod(ns, label_selector=sel.label_selector, _request_timeout=_t()).items
        zone_of: dict[str, str] = {}
        if sel.service:
            slices = disc.list_namespaced_endpoint_slice(
                ns, label_selector=f"kubernetes.io/service-name={sel.service}", _request_timeout=_t()).items
            for sl in slices:
                for ep in sl.endpoints or []:
                    ref = ep.target_ref
                    if ref is not None and ref.kind == "Pod" and ref.name and ep.zone:
                        zone_of[ref.name] = ep.zone
        for pod in pods:
            meta = pod.metadata
            if meta is None or meta.name is None:
                continue
            labels = dict(meta.labels or {})
            node = pod.spec.node_name if pod.spec is not None else None
            zone = zone_of.get(meta.name) or labels.get(ZONE_LABEL)
            if zone is None and node:
                if node not in node_zones:
                    node_zones[node] = _node_zone(core, node)
                zone = node_zones[node]
            found.append(SourcePod(role=role, pod=meta.name, zone=zone or "unknown", location=ns, node=node or "",
                                   ready=_ready(pod), labels=tuple(sorted(labels.items())),
                                   ip=(pod.status.pod_ip or "") if pod.status is not None else ""))
    return found


def _node_zone(core: client.CoreV1Api, node: str) -> str | None:
    try:
        meta = core.read_node(node, _request_timeout=_t()).metadata
        labels = (meta.labels if meta is not None else None) or {}
    except ApiException:  # no RBAC for nodes (the default manifests do not grant it): zone stays unknown
        return None
    zone = labels.get(ZONE_LABEL)
    return str(zone) if zone is not None else None


def with_discovered_targets(inventory: Mapping[str, Any], pods: Sequence[SourcePod], port: int = 5070,
                            role: str = "mcp", destination: str = "mcp") -> dict[str, Any]:
    """The inventory with ``destinations.<destination>.targets`` = every discovered pod of ``role`` (IP, zone)."""
    data = dict(inventory)
    dests = dict(data.get("destinations") or {})
    section = dict(dests.get(destination) or {})
    existing = section.get("targets") or []
    if existing:
        port = int(existing[0].get("port", port))
    section["targets"] = [{"name": p.pod, "host": p.ip, "port": port, "zone": p.zone}
                          for p in pods if p.role == role and p.ip]
    dests[destination] = section
    data["destinations"] = dests
    return data


@dataclass
class KubernetesBackend:
    api: client.ApiClient
    image: str
    inventory_yaml: str
    allow_job: bool = True
    poll_s: float = 1.0
    job_service_account: str | None = None
    name: str = "kubernetes"
    image_pull_policy: str = "IfNotPresent"
    #: files handed to every run inline (``GVP_WAIVERS_YAML``, ``GVP_BASELINE_JSON``: gvpconf.pods.entry)
    inline_files: dict[str, str] = field(default_factory=dict)
    #: how the pods' reports name the inventory (``GVP_INVENTORY_NAME``: they get it inline, as a memfd)
    inventory_name: str = ""
    #: what each run left in the cluster that the runner could not remove (ephemeral containers cannot be)
    left_behind: list[str] = field(default_factory=list)
    #: set by the runner on SIGINT/SIGTERM: every wait ends, Jobs are deleted, the runs are "interrupted"
    stop: threading.Event = field(default_factory=threading.Event)
    #: the probe container's ``resources`` in a Job (an ephemeral container may have none: it is charged to its
    #: pod); the same as the runner's own Job (deploy/k8s/job.yaml), so that a namespace whose ResourceQuota
    #: covers cpu or memory (it refuses a pod without them) admits it, and a limit stops a runaway probe
    job_resources: dict[str, dict[str, str]] = field(default_factory=lambda: copy.deepcopy(JOB_RESOURCES))

    def secret_mapping(self, source: SourcePod, pod_spec: Mapping[str, Any]) -> secretmap.SecretMapping:
        data = yaml.safe_load(self.inventory_yaml) or {}
        return secretmap.map_secrets(secretmap.references(data, source.role), pod_spec, source.pod)

    def _container(self, source: SourcePod, suite_args: Sequence[str], timeout: float, name: str,
                   mapping: secretmap.SecretMapping | None = None) -> dict[str, Any]:
        env = {"GVP_SOURCE_ROLE": source.role, "GVP_POD_NAME": source.pod, "GVP_POD_ZONE": source.zone,
               "GVP_SOURCE_POD": source.pod, "GVP_SOURCE_ZONE": source.zone,
               "GVP_RUN_TIMEOUT": str(int(max(1, timeout - 10))), "GVP_INVENTORY_YAML": self.inventory_yaml,
               **({"GVP_INVENTORY_NAME": self.inventory_name} if self.inventory_name else {}),
               **self.inline_files}
        container: dict[str, Any] = {
            "name": name, "image": self.image, "imagePullPolicy": self.image_pull_policy,
            "command": ["python", "-m", "gvpconf.pods.entry"], "args": list(suite_args),
            "env": [{"name": k, "value": v} for k, v in env.items()],
            # uid 10001 as the image's USER, read-only root, no writable volume: the entrypoint needs none; the
            # runtime's default seccomp profile whatever the target pod's (Pod Security "restricted" asks for it, and
            # the ephemeral container gets it even in a pod that runs Unconfined)
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}},
        }
        if mapping is not None:
            container["env"] += [dict(e) for e in mapping.env]
            if mapping.volume_mounts:
                container["volumeMounts"] = [dict(m) for m in mapping.volume_mounts]
        return container

    def _target_spec(self, core: client.CoreV1Api, source: SourcePod) -> dict[str, Any]:
        obj = core.read_namespaced_pod(source.pod, source.location, _request_timeout=_t())
        spec: dict[str, Any] = (self.api.sanitize_for_serialization(obj.spec)  # type: ignore[no-untyped-call]
                                if obj.spec is not None else {})
        return spec

    def run(self, source: SourcePod, suite_args: Sequence[str], timeout: float) -> RunOutcome:
        started = time.monotonic()
        try:
            return self._run(source, suite_args, timeout)
        except HTTPError as exc:  # the API server stopped answering (REQUEST_TIMEOUT) or the connection broke
            cause, line = api_failure(exc)
            outcome = RunOutcome(source, backend=self.name, error=f"API request failed: {line}", cause=cause)
            outcome.duration = time.monotonic() - started
            return outcome

    def _run(self, source: SourcePod, suite_args: Sequence[str], timeout: float) -> RunOutcome:
        started = time.monotonic()
        deadline = started + timeout
        name = f"gvpconf-{secrets.token_hex(3)}"
        outcome = RunOutcome(source, backend="ephemeral-container")
        core = client.CoreV1Api(self.api)
        try:
            target_spec = self._target_spec(core, source)
            mapping = self.secret_mapping(source, target_spec)
        except ApiException as exc:
            outcome.error = f"cannot read pod {source.pod}: {exc.status} {exc.reason}"
            outcome.cause = "attach"
            outcome.duration = time.monotonic() - started
            return outcome
        notes = [f"secret not mapped: {line}" for line in mapping.unmapped]
        ephemeral_notes = [f"secret not mapped: {line}" for line in mapping.ephemeral_problems]
        container = self._container(source, suite_args, timeout, name, mapping)
        try:
            core.patch_namespaced_pod_ephemeralcontainers(
                source.pod, source.location, {"spec": {"ephemeralContainers": [container]}},
                _content_type="application/strategic-merge-patch+json", _request_timeout=_t())
        except ApiException as exc:
            if self.allow_job and exc.status in FALLBACK_STATUSES:
                outcome = self._run_job(source, container, deadline, mapping,
                                        target_spec.get("securityContext") or {})
                outcome.notes.insert(0, f"ephemeral container refused ({exc.status} {exc.reason}): ran as a Job")
                outcome.notes += notes + [f"secret not mapped: {line}" for line in mapping.job_problems()]
                outcome.notes += [f"not copied into the Job: {line}" for line in mapping.job_token_problems()]
            else:
                outcome.error = f"cannot attach an ephemeral container to {source.pod}: {exc.status} {exc.reason}"
                outcome.cause = "attach"
            outcome.duration = time.monotonic() - started
            return outcome
        outcome.notes += notes + ephemeral_notes
        # an ephemeral container cannot be removed from its pod: it stays in the spec, terminated
        self.left_behind.append(f"ephemeral container {name} in pod {source.location}/{source.pod} (cannot be "
                                "removed; it is terminated once the run ends, and goes with the pod)")
        try:
            self._wait_ephemeral(core, source, name, deadline, outcome)
        except ApiException as exc:
            outcome.error, outcome.cause = f"API error while waiting: {exc.status} {exc.reason}", "backend"
        outcome.duration = time.monotonic() - started
        return outcome

    def _wait_ephemeral(self, core: client.CoreV1Api, source: SourcePod, name: str, deadline: float,
                        outcome: RunOutcome) -> None:
        running = False
        while True:
            pod = core.read_namespaced_pod(source.pod, source.location, _request_timeout=_t())
            statuses = (pod.status.ephemeral_container_statuses or []) if pod.status is not None else []
            mine = next((s for s in statuses if s.name == name), None)
            state = mine.state if mine is not None else None
            if state is not None and state.terminated is not None:
                outcome.exit_code = state.terminated.exit_code
                outcome.terminated_reason = state.terminated.reason or ""
                break
            running = running or (state is not None and state.running is not None)
            if state is not None and state.waiting is not None and state.waiting.reason in IMAGE_FAILURES:
                outcome.error = f"ephemeral container {name} cannot start: {state.waiting.reason}: " \
                                f"{state.waiting.message or ''}".rstrip(": ")
                outcome.cause = "attach"
                return
            # once running, the entrypoint's own timeout and grace may end it just after the deadline
            if time.monotonic() >= deadline + ((GRACE + self.poll_s) if running else 0):
                outcome.error = (f"ephemeral container {name} in {source.pod} did not finish in time (it cannot "
                                 "be removed; it ends on its own run timeout)")
                outcome.cause = "timeout"
                return
            if self.stop.wait(self.poll_s):
                outcome.error = (f"interrupted: the runner stopped waiting for ephemeral container {name} (it "
                                 "cannot be removed; it ends on its own run timeout)")
                outcome.cause = "interrupted"
                return
        outcome.log = core.read_namespaced_pod_log(source.pod, source.location, container=name,
                                                     _request_timeout=_t())
        self._take_report(outcome)

    def _take_report(self, outcome: RunOutcome) -> None:
        outcome.junit = extract_junit(outcome.log)
        outcome.results = extract_results(outcome.log)
        if outcome.junit is None and outcome.terminated_reason == "OOMKilled":
            limit = self.job_resources.get("limits", {}).get("memory") if outcome.backend == "job" else None
            where = (f"its Job's memory limit ({limit}: --job-limits)" if limit else
                     "its pod's memory limit (an ephemeral container is charged to the pod it joins)")
            outcome.error = f"the run was OOM-killed (exit {outcome.exit_code}) by {where}, before its report"
            outcome.cause = "oom"
        elif outcome.junit is None:
            outcome.error = f"the run exited {outcome.exit_code} without a JUnit report in its log"
            outcome.cause = "no-report"

    def job_manifest(self, source: SourcePod, container: Mapping[str, Any], timeout: float,
                     mapping: secretmap.SecretMapping | None = None,
                     pod_security: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The Job of a run where ephemeral containers are refused. Its pod copies the target pod's
        ``fsGroup``/``supplementalGroups`` (a Secret volume with a restrictive ``defaultMode`` is readable
        through them) and the Secret volumes the mounts need, never a projected volume with a
        ``serviceAccountToken`` (the pod's token is not the probe's). ``activeDeadlineSeconds`` is the run's
        own timeout plus half the entrypoint's grace: the entrypoint stops pytest itself first, and the
        runner waits a full grace and a poll more, so an interrupted run's reports are read before deletion."""
        labels = {k: v for k, v in source.labels if not any(k == c or (c.endswith("/") and k.startswith(c))
                                                             for c in CONTROLLER_LABELS)}
        name = str(container["name"])
        labels[RUN_LABEL] = name
        container = {**container, "resources": copy.deepcopy(self.job_resources)}
        spec: dict[str, Any] = {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "readinessGates": [{"conditionType": NEVER_READY}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [dict(container)],
        }
        for key in ("fsGroup", "supplementalGroups"):
            if (pod_security or {}).get(key) is not None:
                spec["securityContext"][key] = pod_security[key]  # type: ignore[index]
        if mapping is not None:
            container = {**container, "volumeMounts": [*(container.get("volumeMounts") or []),
                                                       *(dict(m) for m in mapping.job_mounts)]}
            volumes = [dict(v) for v in mapping.volumes if next((k for k in v if k != "name"), "")
                       in secretmap.COPYABLE_VOLUMES and not secretmap.has_token(v)]
            if volumes:
                spec["volumes"] = volumes
                names = {v["name"] for v in volumes}
                mounts = [m for m in container.get("volumeMounts") or [] if m["name"] in names]
                spec["containers"] = [{**container, "volumeMounts": mounts} if mounts else
                                      {k: v for k, v in container.items() if k != "volumeMounts"}]
            elif "volumeMounts" in container:
                spec["containers"] = [{k: v for k, v in container.items() if k != "volumeMounts"}]
        if source.node:
            spec["nodeName"] = source.node
        if self.job_service_account:
            spec["serviceAccountName"] = self.job_service_account
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "labels": {RUN_LABEL: name, "app.kubernetes.io/name": "gvpconf"}},
                "spec": {"backoffLimit": 0, "activeDeadlineSeconds": max(1, int(timeout + GRACE / 2)),
                         "ttlSecondsAfterFinished": 600,
                         "template": {"metadata": {"labels": labels}, "spec": spec}}}

    def _run_job(self, source: SourcePod, container: Mapping[str, Any], deadline: float,
                 mapping: secretmap.SecretMapping | None = None,
                 pod_security: Mapping[str, Any] | None = None) -> RunOutcome:
        outcome = RunOutcome(source, backend="job")
        core, batch = client.CoreV1Api(self.api), client.BatchV1Api(self.api)
        body = self.job_manifest(source, container, deadline - time.monotonic(), mapping, pod_security)
        running = False
        name = body["metadata"]["name"]
        try:
            job = client.V1Job.from_dict(body)
            assert job is not None
            batch.create_namespaced_job(source.location, job, _request_timeout=_t())
        except ApiException as exc:
            outcome.error = f"cannot attach to {source.pod} (ephemeral container refused) nor create a Job: " \
                            f"{exc.status} {exc.reason}"
            outcome.cause = "attach"
            return outcome
        try:
            while True:
                pods = core.list_namespaced_pod(source.location, label_selector=f"{RUN_LABEL}={name}",
                                            _request_timeout=_t()).items
                pod = pods[0] if pods else None
                phase = pod.status.phase if pod is not None and pod.status is not None else None
                if pod is not None and phase in ("Succeeded", "Failed"):
                    break
                running = running or phase == "Running"
                # once running, the entrypoint's own timeout and grace may end it just after the deadline
                if time.monotonic() >= deadline + ((GRACE + self.poll_s) if running else 0):
                    outcome.error, outcome.cause = f"Job {name} did not finish in time (phase {phase})", "timeout"
                    return outcome
                if self.stop.wait(self.poll_s):
                    outcome.error, outcome.cause = f"interrupted: Job {name} deleted before it finished", "interrupted"
                    return outcome
            assert pod is not None and pod.metadata is not None and pod.metadata.name is not None
            for st in (pod.status.container_statuses or []) if pod.status is not None else []:
                if st.state is not None and st.state.terminated is not None:
                    outcome.exit_code = st.state.terminated.exit_code
                    outcome.terminated_reason = st.state.terminated.reason or ""
            outcome.log = core.read_namespaced_pod_log(pod.metadata.name, source.location, _request_timeout=_t())
            self._take_report(outcome)
            return outcome
        except ApiException as exc:
            outcome.error, outcome.cause = f"API error while running Job {name}: {exc.status} {exc.reason}", "backend"
            return outcome
        finally:
            try:
                batch.delete_namespaced_job(name, source.location, propagation_policy="Background",
                                            _request_timeout=_t())
            except ApiException as exc:
                self.left_behind.append(f"Job {source.location}/{name} (run from {source.pod}): delete refused "
                                        f"({exc.status} {exc.reason}); ttlSecondsAfterFinished (600 s) removes it")
            except HTTPError as exc:
                self.left_behind.append(f"Job {source.location}/{name} (run from {source.pod}): delete failed "
                                        f"({type(exc).__name__}); ttlSecondsAfterFinished (600 s) removes it")


def api_failure(exc: BaseException) -> tuple[str, str]:
    """(cause, one line) for an API server that cannot be used: refused, timeout, auth or config."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError

    if isinstance(exc, ApiException):
        cause = "auth" if exc.status in (401, 403) else "config"
        return cause, f"the API server answered {exc.status} {exc.reason}"
    if isinstance(exc, ConfigException):
        return "config", f"no usable Kubernetes configuration: {exc}"
    if isinstance(exc, yaml.YAMLError):
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        return "config", f"the kubeconfig is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}"
    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    # NewConnectionError is a ConnectTimeoutError in urllib3: asked first
    if isinstance(reason, NewConnectionError) and "refused" in str(reason).lower():
        return "refused", "the API server refused the connection"
    if isinstance(reason, NewConnectionError) and "timed out" not in str(reason).lower():
        return "config", f"cannot connect to the API server: {str(reason).split(': ', 1)[-1]}"
    if isinstance(reason, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return "timeout", "the API server did not answer in time"
    return "config", f"cannot use the API server: {type(reason).__name__}: {reason}"
