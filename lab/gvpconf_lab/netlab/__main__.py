"""``python -m gvpconf_lab.netlab``: the namespace lab that plays the cluster (root; iproute2 and iptables).

* ``run [--deny-matrix] [--junitxml FILE]``: bring the lab up, run the suite from one pod per source
  role and zone INSIDE its namespace, merge the reports into one JUnit file (every case names its pod
  and zone), tear everything down. Exit 0 only when every run ran and every case passed or was skipped.
* ``up``: bring the lab up, print the namespaces and the inventory, wait for Ctrl-C / SIGTERM.
* ``clean TAG``: delete the namespaces of a lab that was killed before it could clean up.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from gvpconf.pods import junit, runner
from gvpconf.pods.reports import write_merged_reports
from gvpconf_lab.base import LabError
from gvpconf_lab.netlab import lab as netlab
from gvpconf_lab.netlab.backend import LocalBackend
from gvpconf_lab.netlab.netns import NetnsError

PROG = "python -m gvpconf_lab.netlab"


def _sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="A network-namespace lab that plays the GVP cluster.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "up"):
        p = sub.add_parser(name)
        p.add_argument("--mcp-pods", type=int, default=2, help="MCP pods (default 2, zones alternate)")
        p.add_argument("--default-action", choices=["DROP", "REJECT"], default="DROP",
                       help="what the generated policies do with traffic the table does not allow")
        p.add_argument("--workdir", help="keep the lab's files here (default: a temporary directory)")
    run = sub.choices["run"]
    run.add_argument("--junitxml", default="reports/junit-pods.xml", help="the merged report")
    run.add_argument("--reports", help="directory for the merged report.html, report.md, results.json and "
                     "metrics.prom (default: the directory of --junitxml)")
    run.add_argument("--deny-matrix", action="store_true", help="also run the expected-deny matrix from each pod")
    run.add_argument("--run-timeout", type=float, default=180.0, help="seconds for one pod's run")
    run.add_argument("--total-timeout", type=float, default=600.0, help="seconds for all runs")
    run.add_argument("--parallel", type=int, default=3, help="runs at once (default 3)")
    clean = sub.add_parser("clean")
    clean.add_argument("tag", help="the lab's tag (the xxxxxx in gvpc-xxxxxx-*)")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-netlab-"))
    out = Path(args.junitxml)
    with netlab.NetLab(workdir, mcp_pods=args.mcp_pods, default_action=args.default_action) as lab:
        print(lab.describe(), flush=True)
        plan = runner.pick_per_zone(lab.source_pods(), runner.roles_with_connections())
        backend = LocalBackend(lab.inventory_path, workdir / "runs")
        outcomes = runner.run_all(backend, plan, deny_matrix=args.deny_matrix, run_timeout=args.run_timeout,
                                  total_timeout=args.total_timeout, parallel=args.parallel)
    tree = junit.merge(outcomes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tree.write(out, encoding="utf-8", xml_declaration=True)
    for line in runner.summary_lines(outcomes):
        print(line)
    root = tree.getroot()
    assert root is not None
    print(f"merged report: {out} ({root.get('tests')} cases, {root.get('failures')} failures, "
          f"{root.get('errors')} errors)")
    merged_ok = write_merged_reports(outcomes, args.reports or str(out.parent), PROG)
    ok = (merged_ok and all(o.junit is not None for o in outcomes) and root.get("failures") == "0"
          and root.get("errors") == "0")
    return 0 if ok else 1


def cmd_up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-netlab-"))
    try:
        with netlab.NetLab(workdir, mcp_pods=args.mcp_pods, default_action=args.default_action) as lab:
            print(lab.describe())
            print(f"inventory: {lab.inventory_path}")
            print("run from a pod: ip netns exec " + lab.ns("mcp-0") + f" {sys.executable} -m pytest tests "
                  f"--inventory {lab.inventory_path} --source mcp", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping the netns lab", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "clean":
        for name in netlab.clean(args.tag):
            print(f"deleted {name}")
        return 0
    if os.geteuid() != 0:
        print(f"{PROG}: needs root (network namespaces and iptables)", file=sys.stderr)
        return 2
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _sigterm)
    try:
        return cmd_run(args) if args.command == "run" else cmd_up(args)
    except (LabError, NetnsError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
