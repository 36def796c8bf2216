"""Command line of the lab: ``python -m gvpconf_lab {install,up,run}``.

* ``install``: apt-get install the peers' Debian packages that are missing (root only).
* ``up``: start the lab, print each peer and the inventory path, wait for Ctrl-C / SIGTERM, stop.
* ``run [...] -- CMD ARGS...``: start the lab, run CMD with ``GVP_INVENTORY`` set, stop the lab,
  exit with CMD's exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gvpconf_lab import DEFAULT_PEERS, Lab, LabError, component_class, interop_peers
from gvpconf_lab.base import stop_process
from gvpconf_lab.lifecycle import run_command

PROG = "python -m gvpconf_lab"


def missing_packages(components: Sequence[str] = DEFAULT_PEERS) -> list[str]:
    """Debian packages whose binaries are not on this machine (the lab CA needs openssl)."""
    checks: dict[str, Callable[[], bool]] = {
        "openssl": lambda: shutil.which("openssl") is not None,  # the lab CA
        "iproute2": lambda: shutil.which("ip") is not None,  # the network-namespace lab
        "iptables": lambda: shutil.which("iptables") is not None,
        "bubblewrap": lambda: shutil.which("bwrap") is not None,  # the namespace lab's pod sandbox
        "dnsmasq-base": lambda: shutil.which("dnsmasq") is not None,  # the fault lab's cluster resolver
        "tinyproxy": lambda: shutil.which("tinyproxy") is not None,  # the fault lab's fetch proxy (make faults)
        "chromium": lambda: shutil.which("chromium") is not None,  # the HTML report's browser check
        # the benchmark's side-by-side comparison (bench/bench.py)
        "prometheus-blackbox-exporter": lambda: shutil.which("prometheus-blackbox-exporter") is not None,
        # peers of single selftests: the DAS fetch proxy (squid), PostgreSQL behind a pooler, VLC's RTSP server
        "squid": lambda: Path("/usr/sbin/squid").exists(),
        "pgbouncer": lambda: Path("/usr/sbin/pgbouncer").exists(),
        "vlc-bin": lambda: shutil.which("cvlc") is not None,
        "vlc-plugin-base": lambda: bool(glob.glob("/usr/lib/*/vlc/plugins/stream_out/libstream_out_rtp_plugin.so")),
    }
    for name in components:
        checks.update(component_class(name).packages)
    checks.update(interop_peers.PACKAGES)  # the interoperability matrix's second implementations (selftests/interop)
    return [pkg for pkg, installed in checks.items() if not installed()]


POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """The lab runs its peers itself: the packages' system services (nginx on 80, PostgreSQL's main
    cluster, Prometheus on 9090, ActiveMQ...) must not start on install, where they would hold ports and,
    on a machine without an init system, fail the install. policy-rc.d answering 101 is Debian's switch."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# written by gvpconf_lab install, removed after it\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def cmd_install(_args: argparse.Namespace) -> int:
    code = _install_debian()
    # the interop matrix's Node.js peers (ws, @grpc/grpc-js) from npm, into lab/gvpconf_lab/node/node_modules
    return code or interop_peers.install_node_modules()


def _install_debian() -> int:
    missing = missing_packages()
    if not missing:
        print("lab peers already installed")
        return 0
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        print("not root; run: sudo apt-get update && sudo " + " ".join(apt), file=sys.stderr)
        return 2
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with _no_service_starts():
        for argv in (["apt-get", "update"], apt):
            print("+ " + " ".join(argv), flush=True)
            code = subprocess.run(argv, env=env, check=False).returncode
            if code != 0:
                print(f"{PROG}: error: {' '.join(argv[:2])} failed with exit code {code}", file=sys.stderr)
                return code
    still = missing_packages()
    if still:
        print(f"{PROG}: error: still missing after install: {', '.join(still)}", file=sys.stderr)
        return 1
    return 0


def _parse_ports(values: Sequence[str]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in values:
        name, sep, num = item.partition("=")
        if not sep or not num.isdigit() or not 0 < int(num) < 65536:
            raise LabError(f"--port wants peer=N, got {item!r}")
        ports[name.strip()] = int(num)
    return ports


def _workdir(args: argparse.Namespace) -> tuple[Path, bool]:
    """(workdir, whether it is a temp dir we made)."""
    if args.workdir:
        path = Path(args.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix="gvpconf-lab-"))
    os.chmod(path, 0o755)
    return path, True


def _make_lab(args: argparse.Namespace) -> tuple[Lab, Path, bool]:
    peers = [p.strip() for p in args.peers.split(",") if p.strip()] if args.peers else list(DEFAULT_PEERS)
    ports = _parse_ports(args.port)
    workdir, temp = _workdir(args)
    try:
        return Lab(workdir, peers=peers, ports=ports, activemq_stomp=args.activemq_stomp), workdir, temp
    except LabError:
        if temp:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def cmd_up(args: argparse.Namespace) -> int:
    lab, workdir, temp = _make_lab(args)
    try:
        with lab:
            for line in lab.describe().splitlines():
                print(line)
            print(f"inventory: {lab.inventory_path}")
            print(f"lab ready in {lab.ready_after_s:.2f} s; Ctrl-C or SIGTERM stops it", flush=True)
            threading.Event().wait()  # until a signal unwinds us
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Terminated)
        print("stopping lab", file=sys.stderr, flush=True)
    finally:
        if temp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def cmd_run(args: argparse.Namespace, command: Sequence[str]) -> int:
    if not command:
        raise LabError("run needs a command after --")
    lab, workdir, temp = _make_lab(args)
    code = 1
    try:
        with lab:
            env = dict(os.environ, **lab.environment())
            proc = subprocess.Popen(list(command), env=env)
            try:
                code = proc.wait()
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Terminated)
                stop_process(proc)
                raise
    finally:
        if temp and not args.keep and code == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        elif temp and code != 0:
            print(f"lab workdir kept: {workdir}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Real loopback peers for gvpconf's own tests.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="apt-get install the peers' packages that are missing (root)")
    for name, helptext in (("up", "start the lab and wait for Ctrl-C / SIGTERM"),
                           ("run", "start the lab, run a command with GVP_INVENTORY set, stop the lab")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--workdir", help="lab directory (default: a fresh temp dir)")
        p.add_argument("--port", action="append", default=[], metavar="PEER=N",
                       help="fixed port for a peer (repeatable); default: free ports")
        p.add_argument("--peers", help=f"comma-separated subset of {','.join(DEFAULT_PEERS)}")
        p.add_argument("--keep", action="store_true", help="keep a temp workdir after stopping")
        p.add_argument("--activemq-stomp", action="store_true",
                       help="give the broker a separate stomp:// connector (stock: OpenWire only)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_argv: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command_argv = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)

    def command() -> int:
        if args.command == "install":
            return cmd_install(args)
        if args.command == "up":
            return cmd_up(args)
        return cmd_run(args, command_argv)

    return run_command(PROG, command)


if __name__ == "__main__":
    sys.exit(main())
