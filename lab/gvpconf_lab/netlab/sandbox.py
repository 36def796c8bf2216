"""A pod sandbox: the lab's "kubelet" runs the very container spec the runner sends, as a container runtime would.

The stand-in API server (``gvpconf_lab.standin_api``) hands each ephemeral container the runner adds,
and the container of each Job's pod, to :meth:`PodSandbox.run`. It starts the container with
bubblewrap (Debian ``bubblewrap``) inside the network namespace of the pod's node (each lab pod is its
own node), so the probe has the pod's address and is subject to its egress rules, and with what the
spec gives and nothing else:

* a **read-only root**: the probe image is this machine's filesystem, read-only, with the project at
  the image's ``WORKDIR`` (``/opt/gvpconf``, as the Containerfile copies it) and ``/tmp``, ``/var/tmp``,
  ``/run``, ``/home``, ``/root`` and ``/opt`` otherwise empty and read-only (``readOnlyRootFilesystem:
  false`` gets a writable ``/tmp`` instead); a fresh ``/proc`` and ``/dev``, its own PID, IPC and UTS
  namespaces, the pod's name as hostname;
* **only the declared ``volumeMounts``**, resolved against the pod's ``volumes``: a ``secret`` volume's
  keys as files (``defaultMode``, default 0644) from the stand-in's Secrets, bound read-only; an
  ``emptyDir`` shared by the pod's containers; ``downwardAPI`` labels;
* **the environment exactly as the spec gives it**: the image's ``ENV``, then ``env`` (``value``,
  ``valueFrom.secretKeyRef``, ``valueFrom.fieldRef``) and ``envFrom.secretRef``; a missing Secret or key
  is the kubelet's ``CreateContainerConfigError``;
* **the spec's user**: ``runAsUser``/``runAsGroup`` of the container, else of the pod, else the image's
  (10001:10001); ``runAsNonRoot`` with user 0 is refused as the kubelet refuses it;
* **no capability the securityContext does not grant**: the bounding set is the runtime's default set
  less ``capabilities.drop`` (``ALL``: everything) plus ``add``; ``allowPrivilegeEscalation: false`` is
  ``no_new_privs``.

* **the spec's ``seccompProfile``** (the container's, else the pod's): ``RuntimeDefault`` is a seccomp filter
  bubblewrap installs before the container's command (``seccomp.runtime_default``: what the runtimes' default
  profile refuses a container without capabilities); ``Unconfined`` (and no profile) none; a ``Localhost``
  profile is refused (``CreateContainerError``), never run without it.
* **the spec's ``resources.limits``**: the container runs in a cgroup of its own (``cgroups.Limits``): memory
  without swap, reaching it is the kernel's OOM kill (exit 137, reason ``OOMKilled``); cpu a CFS quota. Where
  they cannot be enforced the container is refused (``CreateContainerError``), never run without them.

The user switch and the capability sets are applied by ``setpriv`` (util-linux) as the last step
before the container's command, after bubblewrap (run as root) has built the mounts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvpconf_lab.netlab import seccomp
from gvpconf_lab.netlab.cgroups import CgroupError, Limits
from gvpconf_lab.netlab.netns import exec_prefix

#: the capabilities a container runtime (containerd, CRI-O) grants by default
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")
#: directories of this machine that are not the image's: empty and read-only in the sandbox
HIDDEN = ("/tmp", "/var/tmp", "/run", "/home", "/root", "/opt")

SecretLookup = Callable[[str, str], Mapping[str, bytes] | None]


class SandboxError(Exception):
    """The container cannot be created, as a kubelet says it: ``REASON: message``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def project_root() -> Path:
    here = Path(__file__).resolve().parents[3]
    return here if (here / "tests").is_dir() else Path.cwd()


@dataclass(frozen=True)
class Image:
    """What the probe image (deploy/Containerfile, target ``probe``) gives a container."""

    project: Path = field(default_factory=project_root)
    workdir: str = "/opt/gvpconf"
    user: int = 10001
    group: int = 10001
    entrypoint: tuple[str, ...] = ("python", "-m", "gvpconf.pods.entry")
    cmd: tuple[str, ...] = ("--source", "auto")

    def env(self) -> dict[str, str]:
        """The image's ``ENV`` (the interpreter of this machine's venv first on PATH, as ``python`` is in the image)."""
        return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PIP_NO_CACHE_DIR": "1",
                "GVP_SUITE_DIR": self.workdir, "LANG": "C.UTF-8"}


def have_bwrap() -> bool:
    return shutil.which("bwrap") is not None and shutil.which("setpriv") is not None


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(pod.get("spec", {}).get("securityContext") or {}), dict(container.get("securityContext") or {})


@dataclass
class PodSandbox:
    """Runs containers of stand-in pods. ``secrets(namespace, name)`` gives a Secret's data (None: no such
    Secret); ``netns_of(node_name)`` the network namespace of a node (None: the host's, for tests without one)."""

    workdir: Path
    secrets: SecretLookup
    netns_of: Callable[[str], str | None]
    image: Image = field(default_factory=Image)
    timeout: float = 900.0
    _procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the spec, as a kubelet reads it ----------------------------------------------------------
    def user(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int, int]:
        psc, csc = _security(pod, container)
        uid = csc.get("runAsUser", psc.get("runAsUser", self.image.user))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", self.image.group))
        if uid == 0 and csc.get("runAsNonRoot", psc.get("runAsNonRoot", False)):
            raise SandboxError("CreateContainerConfigError", "container has runAsNonRoot and image will run as root")
        return int(uid), int(gid)

    def capabilities(self, container: Mapping[str, Any]) -> list[str]:
        caps = (container.get("securityContext") or {}).get("capabilities") or {}
        drop = {c.upper().removeprefix("CAP_") for c in caps.get("drop") or []}
        add = [c.upper().removeprefix("CAP_") for c in caps.get("add") or []]
        kept = [] if "ALL" in drop else [c for c in DEFAULT_CAPS if c not in drop]
        return sorted({*kept, *add})

    @staticmethod
    def seccomp_program(pod: Mapping[str, Any], container: Mapping[str, Any]) -> bytes | None:
        """The seccomp filter the spec asks for (``RuntimeDefault``), None for ``Unconfined`` or no profile."""
        kind = seccomp.profile_type(pod, container)
        if kind == "Unconfined":
            return None
        if kind != "RuntimeDefault":
            raise SandboxError("CreateContainerError", f"seccompProfile type {kind}: the lab's sandbox has "
                               "RuntimeDefault and Unconfined only")
        try:
            return seccomp.runtime_default()
        except seccomp.Unsupported as exc:
            raise SandboxError("CreateContainerError", str(exc)) from exc

    def environment(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
        meta = pod.get("metadata", {})
        ns = meta.get("namespace", "default")
        env = {**self.image.env(), "HOSTNAME": meta.get("name", "")}
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref is None:
                raise SandboxError("CreateContainerConfigError", f"unsupported envFrom {sorted(source)}")
            data = self.secrets(ns, ref["name"])
            if data is None:
                if ref.get("optional"):
                    continue
                raise SandboxError("CreateContainerConfigError", f'secret "{ref["name"]}" not found')
            env.update({source.get("prefix", "") + k: v.decode() for k, v in data.items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = str(item.get("value", ""))
                continue
            value_from = item["valueFrom"]
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                data = self.secrets(ns, ref["name"])
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    what = f'secret "{ref["name"]}" not found' if data is None else \
                        f'couldn\'t find key {ref["key"]} in Secret {ns}/{ref["name"]}'
                    raise SandboxError("CreateContainerConfigError", what)
                env[name] = data[ref["key"]].decode()
            elif "fieldRef" in value_from:
                env[name] = self._field(pod, value_from["fieldRef"]["fieldPath"])
            else:
                raise SandboxError("CreateContainerConfigError", f"env {name}: unsupported valueFrom "
                                   f"{sorted(value_from)}")
        return env

    @staticmethod
    def _field(pod: Mapping[str, Any], path: str) -> str:
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
                  "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
                  "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP")}
        if path in simple:
            return str(simple[path] or "")
        if path.startswith("metadata.labels['") and path.endswith("']"):
            return str(meta.get("labels", {}).get(path[len("metadata.labels['"):-2], ""))
        raise SandboxError("CreateContainerConfigError", f"unsupported fieldRef {path}")

    def volume_dir(self, pod: Mapping[str, Any], volume: Mapping[str, Any]) -> tuple[Path, bool]:
        """The host directory that backs ``volume`` for this pod, and whether it must be read-only."""
        meta = pod.get("metadata", {})
        ns, pod_name = meta.get("namespace", "default"), meta.get("name", "pod")
        root = self.workdir / "volumes" / pod_name / volume["name"]
        if "emptyDir" in volume:
            if not root.exists():
                root.mkdir(parents=True)
                root.chmod(0o1777)
            return root, False
        if "secret" in volume:
            src = volume["secret"]
            data = self.secrets(ns, src["secretName"])
            if data is None:
                raise SandboxError("ContainerCreating", f'MountVolume.SetUp failed for volume "{volume["name"]}": '
                                   f'secret "{src["secretName"]}" not found')
            items = src.get("items") or [{"key": k, "path": k} for k in data]
            mode = int(src.get("defaultMode", 0o644))
            files = {}
            for it in items:
                if it["key"] not in data:
                    raise SandboxError("ContainerCreating", f"secret {src['secretName']}: no key {it['key']}")
                files[it["path"]] = (data[it["key"]], int(it.get("mode", mode)))
            done = self._materialise(root, files)
            fs_group = (pod.get("spec", {}).get("securityContext") or {}).get("fsGroup")
            if fs_group is not None:  # the kubelet gives the volume's files to the fsGroup, group-readable
                for rel, (_data, file_mode) in files.items():
                    os.chown(done / rel, 0, int(fs_group))
                    (done / rel).chmod(file_mode | 0o040)
            return done, True
        if "downwardAPI" in volume:
            files = {}
            for it in volume["downwardAPI"].get("items") or []:
                if it.get("fieldRef", {}).get("fieldPath") == "metadata.labels":
                    labels = meta.get("labels", {})
                    text = "\n".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                else:
                    text = self._field(pod, it["fieldRef"]["fieldPath"])
                files[it["path"]] = (text.encode(), 0o644)
            return self._materialise(root, files), True
        raise SandboxError("ContainerCreating", f"volume {volume['name']}: a type the lab's sandbox does not "
                           f"provide ({', '.join(k for k in volume if k != 'name')})")

    @staticmethod
    def _materialise(root: Path, files: Mapping[str, tuple[bytes, int]]) -> Path:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        root.chmod(0o755)
        for rel, (data, mode) in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode)
        return root

    def mounts(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[tuple[Path, str, bool]]:
        """(host dir, mount path, read-only) for each of the container's ``volumeMounts``: those only."""
        volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes") or []}
        out = []
        for m in container.get("volumeMounts") or []:
            if m["name"] not in volumes:
                raise SandboxError("CreateContainerConfigError", f"volumeMounts: volume {m['name']!r} is not a "
                                   f"volume of pod {pod.get('metadata', {}).get('name')}")
            src, forced_ro = self.volume_dir(pod, volumes[m["name"]])
            if m.get("subPath"):  # one file or directory of the volume at mountPath, as the kubelet does
                sub = Path(m["subPath"])
                if sub.is_absolute() or ".." in sub.parts:
                    raise SandboxError("CreateContainerConfigError", f"volumeMounts: subPath {m['subPath']!r} "
                                       "must be a relative path without '..'")
                src = src / sub
                if not src.exists():
                    raise SandboxError("CreateContainerConfigError", f"volumeMounts: subPath {m['subPath']!r} "
                                       f"is not in volume {m['name']!r}")
            out.append((src, m["mountPath"], forced_ro or bool(m.get("readOnly"))))
        return out

    # -- the command ------------------------------------------------------------------------------
    def command(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                seccomp_fd: int | None = None) -> tuple[list[str], dict[str, str]]:
        """The argv (``ip netns exec``, ``bwrap``, ``setpriv``, the container's command) and its environment.
        ``seccomp_fd``: a descriptor bubblewrap reads the container's seccomp program from (``seccomp_program``)."""
        meta = pod.get("metadata", {})
        uid, gid = self.user(pod, container)
        env = self.environment(pod, container)
        csc = container.get("securityContext") or {}
        read_only = bool(csc.get("readOnlyRootFilesystem", False))
        argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
                "--unshare-ipc", "--unshare-uts", "--hostname", str(meta.get("name", "pod")), "--die-with-parent"]
        for hidden in HIDDEN:
            argv += ["--tmpfs", hidden]
        # the interpreter, where this machine keeps it under a hidden directory (pyenv in /root)
        base = Path(sys.base_prefix).resolve()
        if any(base.is_relative_to(h) for h in HIDDEN):
            argv += [*self._parents(base), "--ro-bind", str(base), str(base)]
        argv += [*self._parents(Path(self.image.workdir)), "--ro-bind", str(self.image.project), self.image.workdir]
        for src, dest, ro in self.mounts(pod, container):
            inside = Path(self._inside(dest))
            argv += [*self._parents(inside), "--ro-bind" if ro else "--bind", str(src), str(inside)]
        if read_only:
            argv += [a for hidden in HIDDEN for a in ("--remount-ro", hidden)]
        else:  # the container's writable layer, as far as the probe would use it
            argv += [a for hidden in HIDDEN if hidden != "/tmp" for a in ("--remount-ro", hidden)]
            argv += ["--chmod", "1777", "/tmp"]
        argv += ["--chdir", container.get("workingDir") or self.image.workdir]
        if seccomp_fd is not None:  # installed last, right before the command: setpriv runs under it too
            argv += ["--seccomp", str(seccomp_fd)]
        caps = self.capabilities(container)
        bounding = "-all" + "".join(f",+{c.lower()}" for c in caps)
        psc = pod.get("spec", {}).get("securityContext") or {}
        groups = [int(g) for g in [psc.get("fsGroup"), *(psc.get("supplementalGroups") or [])] if g is not None]
        argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={gid}",
                 f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups", "--inh-caps=-all",
                 f"--bounding-set={bounding}"]
        # no ambient capabilities: as in Kubernetes, added capabilities only widen the bounding set; a
        # non-root process gets none of them unless its file has them (or it is root)
        if csc.get("allowPrivilegeEscalation") is False:
            argv.append("--no-new-privs")
        command = list(container.get("command") or self.image.entrypoint)
        args: list[str] = list(container["args"] if "args" in container else
                               ([] if container.get("command") else self.image.cmd))
        argv += ["--", *command, *args]
        node = str(pod.get("spec", {}).get("nodeName") or "")
        netns = self.netns_of(node)
        prefix = exec_prefix(netns) if netns else []
        argv[0] = shutil.which("bwrap") or "bwrap"
        if prefix:
            prefix[0] = shutil.which(prefix[0], path="/usr/sbin:/usr/bin:/sbin:/bin") or prefix[0]
        # the environment goes to bwrap as its own (never on a command line), and it passes it on unchanged
        return [*prefix, *argv], env

    @staticmethod
    def _parents(path: Path) -> list[str]:
        """Mount points' parent directories, 0755 as a runtime makes them (bwrap would make them 0700)."""
        out: list[str] = []
        for parent in reversed(path.parents):
            if any(parent.is_relative_to(h) and parent != Path(h) for h in HIDDEN):
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    @staticmethod
    def _inside(dest: str) -> str:
        """A mount path as the sandbox sees it: ``/var/run/...`` is ``/run/...`` where /var/run links there.
        A runtime creates mount points in the container's root; here they can be made only where the
        sandbox has an empty directory of its own (:data:`HIDDEN`) or where the directory exists."""
        probe = Path(dest)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        inside = Path(os.path.realpath(probe)) / Path(dest).relative_to(probe)
        if not Path(dest).exists() and not any(inside.is_relative_to(h) for h in HIDDEN):
            raise SandboxError("CreateContainerError", f"the lab's sandbox cannot create the mount point {dest} "
                               f"(mount under {', '.join(HIDDEN)})")
        return str(inside)

    # -- running ----------------------------------------------------------------------------------
    def run(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[int, str, str]:
        """Run ``container`` of ``pod`` to its end: (exit code, log, the terminated state's reason). A spec the
        kubelet would refuse gives exit 128 and the refusal as its log (the stand-in's container status then
        says terminated). ``resources.limits`` hold in a cgroup of the container's own (``cgroups.Limits``):
        reaching the memory limit is the kernel's OOM kill, reason ``OOMKilled``."""
        try:
            program = self.seccomp_program(pod, container)
        except SandboxError as exc:
            return 128, f"kubelet: {exc}\n", exc.reason
        if program is None:
            return self._run(pod, container, ())
        read_end, write_end = os.pipe()  # the program in a pipe (a few hundred bytes: within the pipe's buffer)
        try:
            try:
                os.write(write_end, program)
            finally:
                os.close(write_end)
            return self._run(pod, container, (read_end,))
        finally:
            os.close(read_end)

    def _run(self, pod: Mapping[str, Any], container: Mapping[str, Any], fds: tuple[int, ...]) -> tuple[int, str, str]:
        try:
            argv, env = self.command(pod, container, fds[0] if fds else None)
        except SandboxError as exc:
            return 128, f"kubelet: {exc}\n", exc.reason
        limits = Limits(dict((container.get("resources") or {}).get("limits") or {}))
        try:
            limits.create()
        except CgroupError as exc:
            return 128, f"kubelet: CreateContainerError: {exc}\n", "CreateContainerError"
        try:
            proc = subprocess.Popen(limits.enter(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True, pass_fds=fds)
            with self._lock:
                self._procs[proc.pid] = proc
            try:
                out, _ = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
            finally:
                with self._lock:
                    self._procs.pop(proc.pid, None)
            code = proc.returncode
            reason = "OOMKilled" if limits.oom_killed() else "Completed" if code == 0 else "Error"
            return (137 if reason == "OOMKilled" else code), out.decode("utf-8", errors="replace"), reason
        finally:
            limits.remove()

    def __call__(self, pod: dict[str, Any], container: dict[str, Any]) -> tuple[int, str, str]:
        """The stand-in API server's kubelet."""
        return self.run(pod, container)

    def signal_all(self, sig: int) -> list[int]:
        """Send ``sig`` to every running container (its process group); returns their PIDs."""
        with self._lock:
            pids = list(self._procs)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        return pids

    def stop_all(self) -> None:
        """Kill every container still running (the lab is going down)."""
        self.signal_all(signal.SIGKILL)


def container_added(container: Mapping[str, Any]) -> set[str]:
    caps = (container.get("securityContext") or {}).get("capabilities") or {}
    return {c.upper().removeprefix("CAP_") for c in caps.get("add") or []}
