"""Kubernetes resource quantities (``500m``, ``256Mi``, ``1.5G``): parsed to numbers, and the ``--job-requests``
/ ``--job-limits`` option text (``cpu=50m,memory=128Mi``) to a ``resources`` map the API server would admit."""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIX: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_QUANTITY = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<s>m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
#: a probe Job's container resources by default: those of the runner's own Job (deploy/k8s/job.yaml); the whole
#: suite's peak RSS is about 100 MB (make bench)
JOB_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
#: the resources a probe container may name
NAMES = ("cpu", "memory", "ephemeral-storage")


def parse(text: str) -> Decimal:
    """A quantity as a number (cpu in cores, memory in bytes). Raises ValueError naming the text."""
    m = _QUANTITY.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (for example 500m, 1, 256Mi, 1Gi)")
    return Decimal(m["n"]) * _SUFFIX[m["s"] or ""]


def resource_map(text: str, option: str) -> dict[str, str]:
    """``cpu=50m,memory=128Mi`` as {name: quantity}; ValueError with one line naming the option."""
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, sep, value = item.partition("=")
        if not sep or name not in NAMES:
            raise ValueError(f"{option}: {item!r}: want NAME=QUANTITY with NAME in {', '.join(NAMES)}")
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{option}: {name}: {exc}") from None
        out[name] = value.strip()
    return out


def resources(requests: str, limits: str) -> dict[str, dict[str, str]]:
    """The ``resources`` of a container from the two option texts; a request over its limit is refused here,
    as the API server would refuse the Job."""
    req, lim = resource_map(requests, "--job-requests"), resource_map(limits, "--job-limits")
    for name in req.keys() & lim.keys():
        if parse(req[name]) > parse(lim[name]):
            raise ValueError(f"--job-requests: {name} {req[name]} is over its limit {lim[name]} (--job-limits)")
    return {k: v for k, v in (("requests", req), ("limits", lim)) if v}
