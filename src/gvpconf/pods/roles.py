"""``--source auto``: which GVP role is this pod? Read from the environment, the pod's labels, or its name.

In order, the first that answers wins:

1. ``$GVP_SOURCE_ROLE`` (the runner sets it; ``kubectl debug --env GVP_SOURCE_ROLE=mcp`` too);
2. the pod's labels as the downward API writes them (``key="value"`` lines) in ``$GVP_PODINFO_LABELS``
   (default ``/etc/podinfo/labels``): ``gvpconf.io/role`` if present, else ``app.kubernetes.io/name``,
   ``app.kubernetes.io/component`` or ``app`` mapped through :data:`NAME_TO_ROLE`;
3. the hostname, which in a pod (also in an ephemeral container) is the pod's name:
   ``gvp-mcp-3`` -> ``mcp`` (StatefulSet and Deployment suffixes are removed).

Nothing found is an error that says what was looked at: the suite never guesses "all".
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gvpconf.catalog import ROLES

ENV_ROLE = "GVP_SOURCE_ROLE"
ENV_LABELS = "GVP_PODINFO_LABELS"
DEFAULT_LABELS_PATH = Path("/etc/podinfo/labels")
ROLE_LABEL = "gvpconf.io/role"
NAME_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app")

#: workload names of the sample deployment (and plain role names) -> role
NAME_TO_ROLE: dict[str, str] = {
    "gvp-rm": "rm", "gvp-mcp": "mcp", "gvp-rs": "rs", "gvp-sd": "sd", "gvp-configserver": "configserver",
    "prometheus": "prometheus", "prometheus-server": "prometheus", "nuance": "nuance",
    **{role: role for role in ROLES},
}


class RoleError(Exception):
    """The role could not be detected. ``str()`` says what was looked at and how to set it."""


@dataclass(frozen=True)
class Detected:
    role: str
    how: str  # "env GVP_SOURCE_ROLE", "label app.kubernetes.io/name=gvp-mcp", "hostname gvp-mcp-3"


def parse_downward_labels(text: str) -> dict[str, str]:
    """The downward API's ``metadata.labels`` file: one ``key="value"`` per line (value JSON-quoted)."""
    labels: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].encode().decode("unicode_escape")
        labels[key] = value
    return labels


def role_from_name(name: str) -> str | None:
    """``gvp-mcp``, ``gvp-mcp-3``, ``gvp-rm-7d9f8b7c6-x2x4z`` -> the role, or None."""
    candidates = [name]
    stripped = re.sub(r"-[0-9]+$", "", name)  # StatefulSet ordinal
    candidates.append(stripped)
    candidates.append(re.sub(r"-[0-9a-f]{5,10}-[0-9a-z]{5}$", "", name))  # Deployment hash + suffix
    for cand in candidates:
        if cand in NAME_TO_ROLE:
            return NAME_TO_ROLE[cand]
    return None


def role_from_labels(labels: Mapping[str, str]) -> tuple[str, str] | None:
    """(role, which label) from a pod's labels, or None."""
    if ROLE_LABEL in labels:
        value = labels[ROLE_LABEL]
        if value not in ROLES:
            raise RoleError(f"label {ROLE_LABEL}={value!r} is not a role ({', '.join(ROLES)})")
        return value, f"label {ROLE_LABEL}={value}"
    for key in NAME_LABELS:
        if key in labels:
            role = role_from_name(labels[key])
            if role is not None:
                return role, f"label {key}={labels[key]}"
    return None


def detect(environ: Mapping[str, str] | None = None, hostname: str | None = None) -> Detected:
    env = os.environ if environ is None else environ
    looked: list[str] = []
    value = env.get(ENV_ROLE, "").strip()
    if value:
        if value not in ROLES:
            raise RoleError(f"${ENV_ROLE}={value!r} is not a role; use one of {', '.join(ROLES)}")
        return Detected(value, f"env {ENV_ROLE}")
    looked.append(f"${ENV_ROLE} (unset)")
    path = Path(env.get(ENV_LABELS) or DEFAULT_LABELS_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        looked.append(f"{path} (no downward-API labels file)")
    else:
        found = role_from_labels(parse_downward_labels(text))
        if found is not None:
            return Detected(found[0], f"{found[1]} ({path})")
        looked.append(f"{path} (no role label)")
    host = hostname if hostname is not None else socket.gethostname()
    role = role_from_name(host)
    if role is not None:
        return Detected(role, f"hostname {host}")
    looked.append(f"hostname {host!r} (no known workload name)")
    raise RoleError("--source auto: cannot tell this pod's role; looked at " + ", ".join(looked)
                    + f". Set {ENV_ROLE}, or the pod label {ROLE_LABEL}, or pass --source ROLE")
