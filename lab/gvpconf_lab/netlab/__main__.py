"""``python -m gvpconf_lab.netlab``: the namespace lab that plays the cluster (root; iproute2 and iptables).

* ``run [--deny-matrix] [--junitxml FILE]``: bring the lab up and run the cluster runner
  (``python -m gvpconf.pods run``) against it: the stand-in API server lists the lab's pods and its
  kubelet, the pod sandbox (``gvpconf_lab.netlab.sandbox``), executes every ephemeral container (or Job)
  spec the runner generates inside the pod's namespace; the reports are merged into one JUnit file
  (every case names its pod and zone) and the merged report.html/report.md; everything is torn down.
  Exit 0 only when every run ran and every case passed or was skipped; 2 when interrupted.
* ``--lab fault`` (``run`` and ``up``): the fault catalog's lab instead (``faultlab.FaultLab``): a resolver, the SBC
  (rtpengine), Nuance (sipp and GStreamer's RTSP server, 14 and 19), Nexus, Google TTS, Consul and SQL Server
  stand-ins, the DAS behind its fetch proxy, the ORS, web server and customer system, Prometheus, and the call
  tests opted into in its inventory: all 22 rows through the runner, 19 from each MCP pod (``--source nuance``).
* ``up``: bring the lab up, print the namespaces and the inventory, wait for Ctrl-C / SIGTERM.
* ``clean TAG``: delete the namespaces of a lab that was killed before it could clean up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

from gvpconf.pods import runner
from gvpconf_lab.base import LabError
from gvpconf_lab.lifecycle import run_command
from gvpconf_lab.netlab import lab as netlab
from gvpconf_lab.netlab.cluster import NAMESPACE, LabCluster
from gvpconf_lab.netlab.netns import NetnsError
from gvpconf_lab.netlab.sandbox import have_bwrap

PROG = "python -m gvpconf_lab.netlab"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="A network-namespace lab that plays the GVP cluster.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "up"):
        p = sub.add_parser(name)
        p.add_argument("--mcp-pods", type=int, default=2, help="MCP pods (default 2, zones alternate)")
        p.add_argument("--default-action", choices=["DROP", "REJECT"], default="DROP",
                       help="what the generated policies do with traffic the table does not allow")
        p.add_argument("--workdir", help="keep the lab's files here (default: a temporary directory)")
        p.add_argument("--lab", choices=["netns", "fault"], default="netns",
                       help="netns: the pods and the peers of 1-5, 7, 8, 15, 17 (default); fault: the fault "
                            "catalog's lab, a peer for every row")
    run = sub.choices["run"]
    runner.add_run_options(run, run_timeout=180.0, total_timeout=600.0, parallel=3)
    clean = sub.add_parser("clean")
    clean.add_argument("tag", help="the lab's tag (the xxxxxx in gvpc-xxxxxx-*)")
    return parser


def runner_argv(args: argparse.Namespace, api_url: str, inventory: Path) -> list[str]:
    """The cluster runner's command line for this lab (the same options, passed on)."""
    argv = ["run", "--api-url", api_url, "--namespace", NAMESPACE, "--image", "gvpconf:netlab",
            "--inventory", str(inventory), "--junitxml", args.junitxml, "--run-timeout", str(args.run_timeout),
            "--total-timeout", str(args.total_timeout), "--parallel", str(args.parallel),
            "--stop-grace", str(args.stop_grace)]
    argv += ["--reports", args.reports] if args.reports else []
    argv += ["--deny-matrix"] if args.deny_matrix else []
    argv += ["--gvp-calls"] if args.gvp_calls else []
    argv += ["--gvp-waivers", args.gvp_waivers] if args.gvp_waivers else []
    argv += ["--gvp-baseline", args.gvp_baseline] if args.gvp_baseline else []
    return argv


def make_lab(args: argparse.Namespace, workdir: Path) -> netlab.NetLab:
    if args.lab == "fault":
        from gvpconf_lab.netlab.faultlab import FaultLab

        return FaultLab(workdir, mcp_pods=args.mcp_pods, default_action=args.default_action)
    return netlab.NetLab(workdir, mcp_pods=args.mcp_pods, default_action=args.default_action)


def cmd_run(args: argparse.Namespace) -> int:
    from gvpconf.pods.__main__ import main as run_from_pods

    if not have_bwrap():
        print(f"{PROG}: needs bubblewrap and setpriv (python -m gvpconf_lab install)", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-netlab-"))
    with make_lab(args, workdir) as lab, \
            LabCluster(lab, workdir / "cluster") as cluster:
        print(lab.describe(), flush=True)
        print(f"stand-in API server {cluster.url}; every pod's container runs in the pod sandbox", flush=True)
        return run_from_pods(runner_argv(args, cluster.url, cluster.inventory_path))


def cmd_up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-netlab-"))
    try:
        with make_lab(args, workdir) as lab:
            print(lab.describe())
            print(f"inventory: {lab.inventory_path}")
            print("run from a pod: ip netns exec " + lab.ns("mcp-0") + f" {sys.executable} -m pytest tests "
                  f"--inventory {lab.inventory_path} --source mcp", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Terminated)
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
    return run_command(PROG, lambda: cmd_run(args) if args.command == "run" else cmd_up(args),
                       (LabError, NetnsError))


if __name__ == "__main__":
    sys.exit(main())
