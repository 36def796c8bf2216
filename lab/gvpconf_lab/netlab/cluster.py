"""The namespace lab as a Kubernetes cluster: the stand-in API server lists the lab's pods, and its kubelet
is the pod sandbox, so the runner (``python -m gvpconf.pods run``) drives the lab exactly as it drives a
cluster and every container spec it generates is executed as it is.

Each lab pod ``rm-0``, ``mcp-1``... is a stand-in Pod of the same name in namespace ``gvp``, labelled as
the runner's default selectors expect (``app.kubernetes.io/name=gvp-<role>``, ``prometheus``) with its
zone (``topology.kubernetes.io/zone``) and its address; its ``nodeName`` is its network namespace, so a
Job pinned to the pod's node runs in the pod's namespace too. The pods that reach a peer with
credentials carry them as a real deployment does: the Secrets ``gvp-rs-activemq`` (RM and MCP pods)
and ``gvp-pg`` (the Config Server pod) mounted at ``/var/run/secrets/<secret>``, and the user names in
env from ``secretKeyRef``. The runner's inventory (:func:`pod_inventory`) names them by reference only:
``{env: GVP_RS_AMQ_USER}``, ``{file: /var/run/secrets/gvp-rs-activemq/password}``... Any other file the lab's
inventory names (the fault lab's Nexus and Consul tokens, Google's key, SQL Server's password, its CA; a secret
by ``{file: ...}`` or a ``ca_file``) lives in the lab's work directory, which no pod sees: each is a key of the
Secret ``gvp-lab-files``, mounted in every pod at ``/var/run/secrets/gvp-lab-files``, and the inventory names it
there.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import TracebackType
from typing import Any

from gvpconf.pods import kube
from gvpconf_lab.netlab.lab import NetLab
from gvpconf_lab.netlab.peers import NetnsActiveMQ, NetnsPostgres
from gvpconf_lab.netlab.sandbox import PodSandbox
from gvpconf_lab.standin_api import Cluster, StandInServer, pod

NAMESPACE = "gvp"
SECRETS_ROOT = "/var/run/secrets"
AMQ_SECRET, PG_SECRET = "gvp-rs-activemq", "gvp-pg"
#: the lab's other files an inventory names (tokens, keys, CA files), for every pod
FILES_SECRET = "gvp-lab-files"
AMQ_USER_ENV, PG_USER_ENV = "GVP_RS_AMQ_USER", "GVP_PG_USER"
#: which pods carry which Secret (the roles whose connections need it)
SECRET_OF_ROLE = {"rm": AMQ_SECRET, "mcp": AMQ_SECRET, "configserver": PG_SECRET}
USER_ENV = {AMQ_SECRET: AMQ_USER_ENV, PG_SECRET: PG_USER_ENV}


def app_label(role: str) -> str:
    return "prometheus" if role == "prometheus" else f"gvp-{role}"


def _role_secrets(inv: dict[str, Any]) -> dict[str, Any]:
    dests = inv["destinations"]
    dests["activemq"]["username"] = {"env": AMQ_USER_ENV}
    dests["activemq"]["password"] = {"file": f"{SECRETS_ROOT}/{AMQ_SECRET}/password"}
    dests["postgres"]["username"] = {"env": PG_USER_ENV}
    dests["postgres"]["password"] = {"file": f"{SECRETS_ROOT}/{PG_SECRET}/password"}
    dests["postgres"]["tls"]["ca_file"] = f"{SECRETS_ROOT}/{PG_SECRET}/ca.crt"
    return inv


def lab_files(inv: dict[str, Any]) -> dict[str, str]:
    """The files the inventory names outside the pods' view (``{file: PATH}`` secrets and ``ca_file``s, but for
    those of the role Secrets): path -> its key in ``FILES_SECRET``, in the inventory's order."""
    found: dict[str, str] = {}

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if (k == "file" or k == "ca_file") and isinstance(v, str) and not v.startswith(SECRETS_ROOT):
                    found.setdefault(v, f"{len(found):02d}-{Path(v).name}")
                else:
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(inv.get("destinations", {}))
    return found


def _files_of(lab: NetLab) -> dict[str, str]:
    """``lab_files`` of the lab's inventory as the pods get it (the role Secrets' paths already theirs)."""
    return lab_files(_role_secrets(copy.deepcopy(lab.inventory())))


def _relocated(node: Any, files: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (f"{SECRETS_ROOT}/{FILES_SECRET}/{files[v]}" if k in ("file", "ca_file") and v in files
                    else _relocated(v, files)) for k, v in node.items()}
    if isinstance(node, list):
        return [_relocated(v, files) for v in node]
    return node


def pod_inventory(lab: NetLab) -> dict[str, Any]:
    """The lab's inventory as a deployment writes it for the runner: secrets by reference to the pods' own."""
    inv = _role_secrets(copy.deepcopy(lab.inventory()))
    files = lab_files(inv)
    inv["destinations"] = _relocated(inv["destinations"], files)
    return inv


def secrets_of(lab: NetLab) -> dict[str, dict[str, str | bytes]]:
    amq, pg = lab.peers["activemq"], lab.peers["postgres"]
    assert isinstance(amq, NetnsActiveMQ) and isinstance(pg, NetnsPostgres)
    out: dict[str, dict[str, str | bytes]] = {
        AMQ_SECRET: {"username": amq.username, "password": amq.password},
        PG_SECRET: {"username": pg.username, "password": pg.password, "ca.crt": pg.ca_file.read_bytes()}}
    files = _files_of(lab)
    if files:
        out[FILES_SECRET] = {key: Path(path).read_bytes() for path, key in files.items()}
    return out


def lab_pods(lab: NetLab) -> list[dict[str, Any]]:
    """Every lab pod as a stand-in Pod, with the Secret volume and env of the roles that need one, and the lab's
    files (``FILES_SECRET``) where its inventory names any."""
    pods = []
    shared = bool(_files_of(lab))
    for node in lab.pods():
        assert node.role is not None
        obj = pod(node.name, NAMESPACE, {"app.kubernetes.io/name": app_label(node.role),
                                         kube.ZONE_LABEL: node.zone}, ip=node.address, node=lab.ns(node.name))
        main = obj["spec"]["containers"][0]
        volumes = [s for s in (SECRET_OF_ROLE.get(node.role), FILES_SECRET if shared else None) if s is not None]
        if volumes:
            obj["spec"]["volumes"] = [{"name": s, "secret": {"secretName": s}} for s in volumes]
            main["volumeMounts"] = [{"name": s, "mountPath": f"{SECRETS_ROOT}/{s}", "readOnly": True}
                                    for s in volumes]
        secret = SECRET_OF_ROLE.get(node.role)
        if secret is not None:
            main["env"] = [{"name": USER_ENV[secret],
                            "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}}]
        pods.append(obj)
    return pods


class LabCluster:
    """The stand-in API server over a running :class:`NetLab`, its kubelet the pod sandbox. A context manager;
    ``url`` for ``--api-url``, ``inventory_path`` for ``--inventory``."""

    def __init__(self, lab: NetLab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = Path(workdir)
        self.cluster = Cluster()
        self.sandbox = PodSandbox(self.workdir / "sandbox", self.cluster.secret, self._netns_of)
        self.cluster.kubelet = self.sandbox
        for obj in lab_pods(lab):
            self.cluster.add_pod(obj)
        for name, data in secrets_of(lab).items():
            self.cluster.add_secret(NAMESPACE, name, data)
        self.server = StandInServer(self.cluster)
        self.inventory_path = self.workdir / "inventory.pods.yaml"

    def _netns_of(self, node: str) -> str | None:
        return node if node in {self.lab.ns(n.name) for n in self.lab.pods()} else None

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> LabCluster:
        import yaml

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.inventory_path.write_text(yaml.safe_dump(pod_inventory(self.lab), sort_keys=False), encoding="utf-8")
        self.server.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.sandbox.stop_all()
        self.server.__exit__(exc_type, exc, tb)
