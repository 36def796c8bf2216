"""The runner's container specs, executed as they are: the stand-in API server's kubelet is the pod sandbox
(``gvpconf_lab.netlab.sandbox``: bubblewrap, a read-only root, only the declared volumeMounts, the env
as the spec gives it, the spec's user, no capability it does not grant), inside each lab pod's network
namespace. Needs root, bubblewrap and the namespace lab (iproute2, iptables)."""

from __future__ import annotations

import json
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf.pods import kube, runner
from gvpconf.pods.model import RunOutcome
from gvpconf_lab.netlab import NetLab
from gvpconf_lab.netlab.cluster import AMQ_SECRET, NAMESPACE, LabCluster, secrets_of
from gvpconf_lab.netlab.sandbox import PodSandbox, have_bwrap
from gvpconf_lab.standin_api import pod


@pytest.fixture(autouse=True, scope="module")
def _bubblewrap() -> None:
    """A missing sandbox fails these tests (CI installs every peer): a skip would hide the missing install."""
    assert have_bwrap(), "bubblewrap is not installed: run python -m gvpconf_lab install"


SELECTORS = {r: kube.DEFAULT_SELECTORS[r] for r in ("rm", "mcp", "configserver")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    netlab = NetLab(tmp_path_factory.mktemp("netlab"), mcp_pods=1)
    with netlab, LabCluster(netlab, tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


def run_from(lab: LabCluster, pods: list[str], *extra: str) -> list[RunOutcome]:
    api = kube.make_api_client(host=lab.url)
    sources = [p for p in kube.discover(api, NAMESPACE, SELECTORS) if p.pod in pods]
    assert sorted(s.pod for s in sources) == sorted(pods)
    backend = kube.KubernetesBackend(api, "gvpconf:lab", lab.inventory_path.read_text(), poll_s=0.2)
    return runner.run_all(backend, runner.Plan(sources, []), run_timeout=120, total_timeout=150, parallel=2,
                          extra=extra)


def cases(outcome: RunOutcome) -> list[tuple[str, str, str]]:
    """(connection, state, message) of every case of one run."""
    assert outcome.junit is not None, f"{outcome.source.pod}: {outcome.cause}: {outcome.error}\n{outcome.log[-3000:]}"
    out = []
    for tc in ET.fromstring(outcome.junit).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        bad = next((tc.find(t) for t in ("failure", "error") if tc.find(t) is not None), None)
        out.append((str(props.get("connection")), "passed" if bad is None else "failed",
                    "" if bad is None else bad.get("message", "")))
    before_reports = outcome.log.split("----- BEGIN")[0]
    assert out, f"{outcome.source.pod}: exit {outcome.exit_code}, no case ran:\n{before_reports[-1500:]}"
    return out


def probe_spec(lab: LabCluster, pod_name: str) -> dict[str, Any]:
    """The last container the runner sent for ``pod_name``: its ephemeral container, or its Job's container."""
    obj = lab.cluster.pods[(NAMESPACE, pod_name)]
    spec: dict[str, Any] = obj["spec"].get("ephemeralContainers", [])[-1]
    return spec


def test_probe_container_runs_on_a_read_only_root(lab: LabCluster) -> None:
    """The ephemeral container has readOnlyRootFilesystem and no writable volume: the run still reports."""
    (outcome,) = run_from(lab, ["mcp-0"], "--connection", "7")
    spec = probe_spec(lab, "mcp-0")
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}  # and the run held under it
    assert cases(outcome) and all(state == "passed" for _n, state, _m in cases(outcome)), cases(outcome)
    assert outcome.exit_code == 0 and outcome.results is not None


def test_secrets_reach_the_ephemeral_container(lab: LabCluster) -> None:
    """#3 RM -> ActiveMQ and #17 Config Server -> PostgreSQL log in with the user from env (secretKeyRef)
    and the password from a file (the pod's Secret volume), as the inventory references them."""
    outcomes = run_from(lab, ["rm-0", "configserver"], "--connection", "3", "--connection", "17")
    by_pod = {o.source.pod: o for o in outcomes}
    assert {n for n, state, _m in cases(by_pod["rm-0"]) if state == "passed"} == {"3"}, cases(by_pod["rm-0"])
    assert {n for n, state, _m in cases(by_pod["configserver"]) if state == "passed"} == {"17"}, \
        cases(by_pod["configserver"])
    spec = probe_spec(lab, "rm-0")
    env = {e["name"]: e for e in spec["env"]}
    assert env["GVP_RS_AMQ_USER"]["valueFrom"] == {"secretKeyRef": {"name": AMQ_SECRET, "key": "username"}}
    assert {"name": AMQ_SECRET, "mountPath": f"/var/run/secrets/{AMQ_SECRET}", "readOnly": True} in \
        spec["volumeMounts"]
    text = json.dumps(spec) + "".join(o.log for o in outcomes)
    for name, values in secrets_of(lab.lab).items():
        assert str(values["password"]) not in text, f"the password of {name} is in the spec or a log"


def test_secrets_reach_the_job_fallback(lab: LabCluster) -> None:
    """Where ephemeral containers are refused, the Job declares the Secret volume and env itself."""
    lab.cluster.forbid_ephemeral.add("rm-1")
    try:
        (outcome,) = run_from(lab, ["rm-1"], "--connection", "3")
    finally:
        lab.cluster.forbid_ephemeral.discard("rm-1")
    assert outcome.backend == "job", outcome.error
    assert {(n, state) for n, state, _m in cases(outcome)} == {("3", "passed")}, cases(outcome)
    (job_pod,) = [p for (_ns, name), p in lab.cluster.pods.items() if name.startswith("gvpconf-")]
    spec = job_pod["spec"]
    assert {"name": AMQ_SECRET, "secret": {"secretName": AMQ_SECRET}} in spec["volumes"]
    container = spec["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # the probe Job carries the runner's own resources, and the run above held within them in the sandbox
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert any(m["mountPath"] == f"/var/run/secrets/{AMQ_SECRET}" for m in container["volumeMounts"])


def test_the_sandbox_gives_what_the_spec_declares_and_nothing_else() -> None:
    """The sandbox itself: read-only root, declared mounts only, env exact, the spec's user, no capability."""
    secrets = {("gvp", "s"): {"password": b"pw-1", "username": b"u-1"}}
    obj = pod("gvp-x-0", "gvp", {"app": "x"}, ip="10.0.0.1", node="n")
    obj["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "s"}}, {"name": "other", "emptyDir": {}},
                              {"name": "scratch", "emptyDir": {}}]
    container = {
        "name": "c", "image": "i",
        "command": ["sh", "-c", "id -u; id -g; hostname; cat /var/run/secrets/s/password; echo; echo $U; "
                    "grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status; ls /run; "
                    "touch /opt/gvpconf/x 2>&1 | tail -c 22; touch /tmp/x 2>&1 | tail -c 22; "
                    "touch /scratch/y && echo scratch-writable; env | sort | cut -d= -f1 | tr '\\n' ' '"],
        "env": [{"name": "U", "valueFrom": {"secretKeyRef": {"name": "s", "key": "username"}}}],
        "volumeMounts": [{"name": "s", "mountPath": "/var/run/secrets/s"},
                         {"name": "scratch", "mountPath": "/run/scratch"}],
        "workingDir": "/",
        "securityContext": {"runAsUser": 10002, "runAsGroup": 10003, "runAsNonRoot": True,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}}}
    container["command"][2] = container["command"][2].replace("/scratch/y", "/run/scratch/y")
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = PodSandbox(Path(tmp), lambda ns, name: secrets.get((ns, name)), lambda node: None)
        code, log, _ = sandbox.run(obj, container)
        assert code == 0, log
        lines = log.splitlines()
        assert lines[:6] == ["10002", "10003", "gvp-x-0", "pw-1", "u-1", "CapEff:\t0000000000000000"], log
        assert lines[6:8] == ["CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"], log
        assert "scratch" in log and "secrets" in log.split("CapAmb")[1]  # /run holds the declared mounts only
        assert log.count("Read-only file system") == 2 and "scratch-writable" in log
        env = lines[-1].split()
        assert sorted(env) == sorted(["GVP_SUITE_DIR", "HOSTNAME", "LANG", "PATH", "PIP_NO_CACHE_DIR", "PWD",
                                      "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "U"]), env
        # a Secret that is not there is the kubelet's refusal, not an empty variable
        code, log, _ = sandbox.run(obj, {**container, "env": [
            {"name": "U", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}]})
        assert code == 128 and 'CreateContainerConfigError: secret "missing" not found' in log
        code, log, _ = sandbox.run(obj, {**container, "securityContext": {"runAsUser": 0, "runAsNonRoot": True}})
        assert code == 128 and "runAsNonRoot" in log
        # an optional secretKeyRef whose key is missing is skipped; the last one found wins
        code, log, _ = sandbox.run(obj, {**container, "command": ["sh", "-c", "echo U=$U"], "env": [
            {"name": "U", "valueFrom": {"secretKeyRef": {"name": "s", "key": "username", "optional": True}}},
            {"name": "U", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope", "optional": True}}}]})
        assert code == 0 and "U=u-1" in log, log
        # subPath: one file of the volume at the mount path
        code, log, _ = sandbox.run(obj, {**container, "command": ["sh", "-c", "cat /run/gvp/pw"], "volumeMounts": [
            {"name": "s", "mountPath": "/run/gvp/pw", "subPath": "password", "readOnly": True}]})
        assert code == 0 and log.strip() == "pw-1", log
        # an added capability widens the bounding set only: a non-root process has none in effect or ambient
        code, log, _ = sandbox.run(obj, {**container,
                                         "command": ["sh", "-c", "grep -E '^Cap(Eff|Amb)' /proc/self/status"],
                                         "securityContext": {**container["securityContext"],  # type: ignore[dict-item]
                                                          "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}})
        assert code == 0 and log.split() == ["CapEff:", "0000000000000000", "CapAmb:", "0000000000000000"], log
        # a restrictive defaultMode (0440) is readable through the pod's fsGroup, and only through it
        strict = pod("gvp-y-0", "gvp", {"app": "y"}, ip="10.0.0.2", node="n")
        strict["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o440}}]
        reader = {**container, "command": ["sh", "-c", "cat /var/run/secrets/s/password"],
                  "volumeMounts": [{"name": "s", "mountPath": "/var/run/secrets/s", "readOnly": True}]}
        code, log, _ = sandbox.run(strict, reader)
        assert code != 0 and "Permission denied" in log, log
        strict["spec"]["securityContext"] = {"fsGroup": 2000}
        code, log, _ = sandbox.run(strict, reader)
        assert code == 0 and log.strip() == "pw-1", log


def test_resources_limits_hold_in_the_sandbox() -> None:
    """``limits.memory`` is the container's own cgroup limit: outgrowing it is the kernel's OOM kill, reported as a
    kubelet reports it (exit 137, ``OOMKilled``); ``limits.cpu`` is a CFS quota: a busy loop gets its share only."""
    obj = pod("gvp-z-0", "gvp", {"app": "z"}, ip="10.0.0.3", node="n")
    base = {"name": "c", "image": "i", "securityContext": {"runAsUser": 10002, "runAsNonRoot": True,
                                                           "allowPrivilegeEscalation": False,
                                                           "readOnlyRootFilesystem": True,
                                                           "capabilities": {"drop": ["ALL"]}}}

    def python(code: str, **limits: str) -> dict[str, Any]:
        return {**base, "command": [sys.executable, "-c", code], "resources": {"limits": limits}}

    with tempfile.TemporaryDirectory() as tmp:
        sandbox = PodSandbox(Path(tmp), lambda ns, name: None, lambda node: None)
        grow = "x = bytearray(200 * 2**20); print('grew', len(x))"
        code, log, reason = sandbox.run(obj, python(grow, memory="64Mi"))
        assert (code, reason) == (137, "OOMKilled") and "grew" not in log, log
        code, log, reason = sandbox.run(obj, python(grow, memory="512Mi"))
        assert (code, reason) == (0, "Completed") and "grew" in log, log
        busy = ("import os, time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.5: pass\n"
                "print(sum(os.times()[:2]))")
        code, log, reason = sandbox.run(obj, python(busy, cpu="200m"))
        assert (code, reason) == (0, "Completed"), log
        assert float(log.split()[-1]) <= 0.4, log  # 1.5 s at 200m: 0.3 s of CPU, a period's slack
        assert not list(Path("/sys/fs/cgroup").glob("**/gvpconf-sandbox-*")), "a cgroup was left behind"


def test_seccomp_runtime_default_holds_in_the_sandbox() -> None:
    """``seccompProfile: RuntimeDefault`` (the container's, else the pod's) is a filter in the kernel: a new user
    namespace and keyctl refused with EPERM, clone3 answered ENOSYS, while fork, posix_spawn and threads work;
    Unconfined lets the same calls through; a Localhost profile is the kubelet's refusal, never run unfiltered."""
    code = (
        "import ctypes, os, subprocess, threading\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(nr, *args):\n"
        "    return 'ok' if libc.syscall(nr, *args) >= 0 else os.strerror(ctypes.get_errno())\n"
        "print('unshare', call(272, 0x10000000))\n"  # unshare(CLONE_NEWUSER): allowed to anyone unconfined
        "print('keyctl', call(250, 0, -3, 0))\n"  # KEYCTL_GET_KEYRING_ID of the session keyring
        "print('clone3', call(435, None, 0))\n"
        "pid = os.fork() or os._exit(0)\n"
        "print('fork', os.waitpid(pid, 0)[1], 'spawn', subprocess.run(['true']).returncode)\n"
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n")
    obj = pod("gvp-s-0", "gvp", {"app": "s"}, ip="10.0.0.4", node="n")
    base = {"name": "c", "image": "i", "command": [sys.executable, "-c", code],
            "securityContext": {"runAsUser": 10002, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}}

    def with_profile(kind: str) -> dict[str, Any]:
        return {**base, "securityContext": {**base["securityContext"],  # type: ignore[dict-item]
                                            "seccompProfile": {"type": kind}}}

    with tempfile.TemporaryDirectory() as tmp:
        sandbox = PodSandbox(Path(tmp), lambda ns, name: None, lambda node: None)
        code_, log, _ = sandbox.run(obj, with_profile("RuntimeDefault"))
        assert code_ == 0, log
        lines = log.splitlines()
        assert lines[:3] == ["unshare Operation not permitted", "keyctl Operation not permitted",
                             "clone3 Function not implemented"], log
        assert lines[3:] == ["fork 0 spawn 0", "thread"], log
        # no profile: Unconfined, as a kubelet without --seccomp-default (whether unshare then succeeds is the host's
        # user-namespace policy, not seccomp's: keyctl and clone3 tell)
        code_, log, _ = sandbox.run(obj, base)
        assert code_ == 0 and log.splitlines()[1] == "keyctl ok", log
        assert "clone3 Function not implemented" not in log, log
        # the pod's profile holds for a container that names none; the container's wins over the pod's
        obj["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
        code_, log, _ = sandbox.run(obj, base)
        assert code_ == 0 and log.splitlines()[1] == "keyctl Operation not permitted", log
        code_, log, _ = sandbox.run(obj, with_profile("Unconfined"))
        assert code_ == 0 and log.splitlines()[1] == "keyctl ok", log
        code_, log, reason = sandbox.run(obj, with_profile("Localhost"))
        assert (code_, reason) == (128, "CreateContainerError") and "Localhost" in log, log
