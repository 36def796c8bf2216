"""The plugin's command-line options, and ``Options``: what they say for one run, read and checked once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gvpconf.catalog import BY_NUMBER, ROLES
from gvpconf.plugin import optin

if TYPE_CHECKING:
    from gvpconf.pods import roles

DEFAULT_WORKERS = 256


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("gvpconf", "GVP connectivity conformance")
    group.addoption("--inventory", metavar="FILE", default=None,
                    help="inventory YAML naming the deployment's targets (default: $GVP_INVENTORY)")
    group.addoption("--source", metavar="ROLE", default=None, choices=[*ROLES, "all", "auto"],
                    help="run only the connections that start at this pod's role: " + ", ".join(ROLES)
                    + "; auto: from $GVP_SOURCE_ROLE, the pod's labels or its name")
    group.addoption("--connection", metavar="N", type=int, action="append", default=None,
                    help="run only connection N of the GVP table (repeatable)")
    group.addoption("--gvp-workers", metavar="N", type=int, default=DEFAULT_WORKERS,
                    help=f"probes run concurrently (default {DEFAULT_WORKERS})")
    group.addoption("--gvp-reports", metavar="DIR", default=None,
                    help="where report.html, report.md, results.json and metrics.prom go (default: the "
                         "directory of --junitxml, else reports/; 'none': write none)")
    group.addoption("--gvp-waivers", metavar="FILE", default=None,
                    help="YAML list of accepted exceptions (connection, source, reason, owner, expires)")
    group.addoption("--gvp-baseline", metavar="RESULTS", default=None,
                    help="results.json of a previous run: report new failures, fixes, latency and fact drift")
    group.addoption("--gvp-latency-threshold", metavar="PCT", type=float, default=50.0,
                    help="latency growth, in percent, reported as drift (default 50)")
    group.addoption("--gvp-pushgateway", metavar="URL", default=None,
                    help="also push metrics.prom to this Prometheus Pushgateway")
    group.addoption("--gvp-strict", action="store_true", default=False,
                    help="fail a case whose probe passed with a warning (expiring certificate, verification off, "
                         "no credentials): for the go-live sign-off")
    group.addoption("--plan", action="store_true", default=False,
                    help="print which connections and targets would be probed and what each probe sends; "
                         "send nothing")
    optin.add_options(group)
    pods = parser.getgroup("gvpconf-pods", "GVP conformance: running from the pods")
    pods.addoption("--deny-matrix", action="store_true", default=False,
                   help="also check that this pod's role can NOT reach the destinations the table does not "
                        "connect it to (needs --source ROLE or auto)")
    pods.addoption("--deny-timeout", metavar="S", type=float, default=3.0,
                   help="connect timeout of one expected-deny check (default 3 s)")


def resolve_source(value: str | None, environ: Mapping[str, str] | None = None,
                   ) -> tuple[str | None, roles.Detected | None]:
    """``--source``: a role, ``None`` for every role (``all`` or absent), ``auto`` detected from the pod."""
    if value == "auto":
        from gvpconf.pods import roles  # the pod's labels, name...: only for auto

        try:
            found = roles.detect(environ)
        except roles.RoleError as exc:
            raise pytest.UsageError(str(exc)) from None
        return found.role, found
    return (None if value in (None, "all") else value), None


@dataclass(frozen=True)
class Options:
    inventory_path: str | None
    source: str | None  # the source role (``--source auto`` resolved), None: every role
    detected: roles.Detected | None  # how ``--source auto`` found the role
    connections: frozenset[int]  # --connection, empty: every row
    workers: int
    reports: str | None
    waivers: str | None
    baseline: str | None
    latency_threshold: float
    pushgateway: str | None
    plan: bool
    collect_only: bool
    strict: bool  # --gvp-strict: warnings fail
    deny_matrix: bool
    deny_timeout: float
    xmlpath: str | None  # --junitxml
    selection: str  # how the run was narrowed ("--source rm, --connection 1 2"), for "not selected" rows
    pytest_selects: bool  # -k or -m: pytest's own selection, after collection

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        wanted = config.getoption("connection") or []
        for n in wanted:
            if n not in BY_NUMBER:
                raise pytest.UsageError(f"--connection {n}: the GVP table numbers connections 1-22")
        source, detected = resolve_source(config.getoption("source"))
        workers = config.getoption("gvp_workers")
        if workers < 1:
            raise pytest.UsageError(f"--gvp-workers {workers}: at least 1 (how many probes run at once; default "
                                    f"{DEFAULT_WORKERS})")
        parts = []
        if source is not None:
            parts.append(f"--source {source}")
        if wanted:
            parts.append("--connection " + " ".join(str(n) for n in wanted))
        if config.getoption("markexpr", ""):
            parts.append(f"-m {config.getoption('markexpr')!r}")
        if config.getoption("keyword", ""):
            parts.append(f"-k {config.getoption('keyword')!r}")
        pytest_selects = bool(config.getoption("markexpr", "") or config.getoption("keyword", ""))
        xmlpath = config.getoption("xmlpath", None)
        return cls(
            inventory_path=config.getoption("inventory") or os.environ.get("GVP_INVENTORY") or None,
            source=source, detected=detected, connections=frozenset(wanted),
            workers=workers, reports=config.getoption("gvp_reports"),
            waivers=config.getoption("gvp_waivers"), baseline=config.getoption("gvp_baseline"),
            latency_threshold=config.getoption("gvp_latency_threshold"),
            pushgateway=config.getoption("gvp_pushgateway"), plan=config.getoption("plan"),
            collect_only=bool(config.getoption("collectonly", False)),
            strict=bool(config.getoption("gvp_strict", False)),
            deny_matrix=config.getoption("deny_matrix"), deny_timeout=float(config.getoption("deny_timeout")),
            xmlpath=str(xmlpath) if xmlpath else None, selection=", ".join(parts), pytest_selects=pytest_selects)

    @property
    def reports_dir(self) -> str:
        """``--gvp-reports``, else next to ``--junitxml`` (so the reports and JUnit of one run stay together)."""
        if self.reports:
            return self.reports
        return str(Path(self.xmlpath).parent) if self.xmlpath else "reports"

    def filtered_out(self, source: str, number: int) -> bool:
        """Left out by ``--connection`` or ``--source``."""
        return bool(self.left_out_by(source, number))

    def left_out_by(self, source: str, number: int) -> str:
        """What leaves row ``number`` out: ``--connection 1 3``, ``--source mcp``, or nothing ("")."""
        if self.connections and number not in self.connections:
            return "--connection " + " ".join(str(n) for n in sorted(self.connections))
        if self.source is not None and source != self.source:
            return f"--source {self.source}"
        return ""
