"""How the inventory's secrets reach the probe container: mapped onto what the target pod already has.

The inventory names secrets by reference, ``{env: NAME}`` or ``{file: PATH}`` (and TLS files by path,
``tls.ca_file``...). An ephemeral container sees only the volumes listed in its own ``volumeMounts``
and only its own ``env``; it cannot add volumes, but it may mount volumes the pod already has and carry
``env`` with ``valueFrom.secretKeyRef``. So, for one source pod, the runner reads the pod's spec and,
for each reference the connections from that pod's role need:

* ``{file: PATH}``: the pod's container ``volumeMounts`` whose ``mountPath`` holds PATH (the deepest)
  become the probe container's ``volumeMounts`` (read-only, same path); one with ``subPath`` is a Job's
  only (the API refuses ``subPath`` on an ephemeral container: a note says so);
* ``{env: NAME}``: a pod container's ``env`` entry NAME is copied (its ``valueFrom.secretKeyRef``, or
  ``configMapKeyRef``/``fieldRef``/``value``); else each ``envFrom.secretRef`` whose prefix NAME starts
  with becomes an optional ``secretKeyRef`` to that Secret's key, in envFrom's order (the last Secret
  that has the key wins, as with envFrom).

What cannot be mapped is said, one line per reference, naming the inventory key and what to do. A Job
(the fallback where ephemeral containers are refused) has its own pod: it also declares the volumes
the mounts need (Secret, ConfigMap, projected and downward-API volumes, copied from the target pod;
a PVC, hostPath or emptyDir is not copied, and said so). Nothing here reads a Secret's value: the
runner needs no RBAC on Secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gvpconf.catalog import CONNECTIONS

#: volume types a Job may declare as they are (namespaced objects, no node- or pod-bound storage)
COPYABLE_VOLUMES = ("secret", "configMap", "projected", "downwardAPI")


@dataclass(frozen=True)
class Reference:
    """One thing the probe container must find: an env variable or a file, and the inventory key naming it."""

    kind: str  # "env" | "file"
    name: str  # the variable's name, or the file's absolute path
    key: str  # e.g. "destinations.activemq.password"

    def __str__(self) -> str:
        return f"{self.key} {{{self.kind}: {self.name}}}"


def references(inventory: Mapping[str, Any], role: str | None = None) -> list[Reference]:
    """The secret references (and TLS file paths) of the destinations reached from ``role`` (None: all)."""
    wanted = None if role is None else {c.destination for c in CONNECTIONS if c.source == role}
    found: list[Reference] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            if set(value) == {"env"} and isinstance(value["env"], str):
                found.append(Reference("env", value["env"], key))
                return
            if set(value) == {"file"} and isinstance(value["file"], str):
                found.append(Reference("file", value["file"], key))
                return
            for k, v in value.items():
                if isinstance(v, str) and str(k).endswith("_file"):
                    found.append(Reference("file", v, f"{key}.{k}"))
                else:
                    walk(v, f"{key}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")

    for dest, section in (inventory.get("destinations") or {}).items():
        if wanted is None or dest in wanted:
            walk(section, f"destinations.{dest}")
    return found


@dataclass
class SecretMapping:
    """What the probe container carries so that the references resolve inside it."""

    env: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    #: mounts with subPath/subPathExpr: a Job's only (the API refuses them on an ephemeral container)
    job_mounts: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)  # the pod's volumes the mounts name (for a Job)
    mapped: list[str] = field(default_factory=list)  # "destinations.x.password {file: ...}: volume gvp-pg at ..."
    unmapped: list[str] = field(default_factory=list)  # one line each: what, why, what to do
    ephemeral_problems: list[str] = field(default_factory=list)  # mapped for a Job only (subPath)

    def job_token_problems(self) -> list[str]:
        """Projected volumes with a service account token: a Job does not get the target pod's identity."""
        return [f"volume {v['name']} (projected, with a serviceAccountToken source): the target pod's "
                "service account token is not the probe's; mount the secret apart from the token"
                for v in self.volumes if has_token(v)]

    def job_problems(self) -> list[str]:
        """Mounts a Job cannot have: their volumes are not namespaced objects it could declare."""
        return [f"volume {v['name']} ({_volume_type(v)}) is not copied into the Job: only "
                f"{', '.join(COPYABLE_VOLUMES)} volumes are" for v in self.volumes if _volume_type(v) not in
                COPYABLE_VOLUMES]


def has_token(volume: Mapping[str, Any]) -> bool:
    """A projected volume with a ``serviceAccountToken`` source: the pod's own identity, never copied."""
    return any("serviceAccountToken" in src for src in (volume.get("projected") or {}).get("sources") or [])


def _volume_type(volume: Mapping[str, Any]) -> str:
    return next((k for k in volume if k != "name"), "unknown")


def _containers(pod_spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from pod_spec.get("containers") or []
    yield from pod_spec.get("initContainers") or []


def _covers(mount_path: str, path: str) -> bool:
    mount = mount_path.rstrip("/") or "/"
    return path == mount or path.startswith(mount + "/") or mount == "/"


def map_secrets(refs: Iterable[Reference], pod_spec: Mapping[str, Any], pod_name: str) -> SecretMapping:
    """Map ``refs`` onto the pod's volumes and env (``pod_spec`` in the API's JSON form, camelCase)."""
    out = SecretMapping()
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    seen_env: set[str] = set()
    for ref in refs:
        if ref.kind == "file":
            mounts = [m for c in _containers(pod_spec) for m in c.get("volumeMounts") or []
                      if _covers(m["mountPath"], ref.name)]
            if not mounts:
                out.unmapped.append(f"{ref}: no container of {pod_name} mounts a volume holding {ref.name} "
                                    "(mount the Secret in the pod, or point the inventory at a path it mounts)")
                continue
            best = max(mounts, key=lambda m: len(m["mountPath"]))
            mount = {"name": best["name"], "mountPath": best["mountPath"], "readOnly": True}
            sub = {k: best[k] for k in ("subPath", "subPathExpr") if best.get(k)}
            # the API refuses subPath/subPathExpr on an ephemeral container (ValidateEphemeralContainers):
            # such a mount is the Job's only
            target = out.job_mounts if sub else out.volume_mounts
            if not any(m["mountPath"] == mount["mountPath"] for m in out.volume_mounts + out.job_mounts):
                target.append({**mount, **sub})
                if best["name"] in volumes and volumes[best["name"]] not in out.volumes:
                    out.volumes.append(volumes[best["name"]])
            if sub:
                out.ephemeral_problems.append(
                    f"{ref}: {pod_name} mounts it with {next(iter(sub))} {next(iter(sub.values()))!r}, which an "
                    "ephemeral container cannot use (the API refuses subPath there): mount the whole Secret "
                    "volume at a directory in the pod, or run from a Job (where ephemeral containers are "
                    "refused the runner maps it)")
            out.mapped.append(f"{ref}: volume {best['name']} at {best['mountPath']}")
            continue
        entries = _env_entries(ref.name, pod_spec)
        if not entries:
            out.unmapped.append(f"{ref}: no container of {pod_name} sets {ref.name} (add it to the pod's env "
                                "from its Secret, or use {file:} of a mounted Secret)")
            continue
        if ref.name not in seen_env:
            seen_env.add(ref.name)
            out.env += entries
        srcs = [e.get("valueFrom", {}).get("secretKeyRef") for e in entries]
        how = " or ".join(f"secret {s['name']} key {s['key']}" for s in srcs if s) or "the pod's own env entry"
        out.mapped.append(f"{ref}: {how}")
    return out


def _env_entries(name: str, pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The env entries that give ``name`` its value in the probe container: the pod's own ``env`` entry;
    else one ``secretKeyRef`` per ``envFrom.secretRef`` whose prefix ``name`` starts with, in envFrom's
    order and each ``optional`` (the runner cannot read the Secrets to know which holds the key: one that
    lacks it is skipped, the last that has it wins, as envFrom resolves it). Empty: nothing sets it."""
    for c in _containers(pod_spec):
        for e in c.get("env") or []:
            if e.get("name") == name:
                return [dict(e)]
    found: list[dict[str, Any]] = []
    for c in _containers(pod_spec):
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix", "")
            secret = src.get("secretRef")
            if secret and name.startswith(prefix) and len(name) > len(prefix):
                found.append({"name": name, "valueFrom": {"secretKeyRef": {
                    "name": secret["name"], "key": name[len(prefix):], "optional": True}}})
        if found:
            return found
    return found
