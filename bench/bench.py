"""The suite's benchmark: how fast and how light it is, side by side with blackbox_exporter.

    make bench          full mode (the figures quoted in the README)
    make bench-quick    small counts, run by `make test` so the benchmark cannot rot

Prints every figure with its target beside it. Nothing here is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from sipresponder import SipResponder  # noqa: E402

from gvpconf import catalog  # noqa: E402
from gvpconf.deadline import Timeouts  # noqa: E402
from gvpconf.inventory import parse, resolve_secrets  # noqa: E402
from gvpconf.probes.context import ProbeContext  # noqa: E402
from gvpconf.scheduler import Job, run_job  # noqa: E402
from gvpconf_lab import Lab, impostors  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []  # figure, value, target, verdict


def row(figure: str, value: str, target: str, met: bool | None) -> None:
    verdict = "n/a" if met is None else ("met" if met else "NOT MET")
    ROWS.append((figure, value, target, verdict))
    print(f"  {figure:<46} {value:>22}   target {target:<22} {verdict}", flush=True)


# -- how a suite run is measured: as the product image (deploy/Containerfile) runs it ------------------------------
#
# * Bytecode: the image compiles everything at build (stdlib, dependencies, gvpconf, and pytest's rewritten form of
#   tests/) and runs read-only with PYTHONDONTWRITEBYTECODE=1: nothing is compiled or written at run time. The
#   bench does the same build step once (``compile_like_the_image``) and runs the suite with that variable set.
# * Packages: the image holds the product's dependencies only (deploy/constraints.txt). Every other distribution
#   of the dev venv is hidden from the suite's process (importing it fails, as it would there: httpx, for one,
#   imports its command line, rich and click, wherever they are installed) and its pytest plugin is off
#   (hypothesis's imports all of hypothesis at the end of every run).
# * Peak RSS: the process's own. ``wait4`` of a child the bench spawns reports at least the bench's own RSS at
#   that moment (Linux keeps the high-water mark of the memory image an ``exec`` replaces), so every run is forked
#   by a small spawner process started first (``Spawner``).

#: distributions in the image besides the locked runtime dependencies
_IMAGE_EXTRAS = {"gvpconf", "pip", "setuptools", "wheel"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dev_only() -> tuple[list[str], list[str]]:
    """(top-level modules, pytest11 entry-point names) of the installed distributions the image does not have."""
    text = (ROOT / "deploy" / "constraints.txt").read_text()
    allowed = {_norm(line.split("==")[0]) for line in text.splitlines() if "==" in line} | _IMAGE_EXTRAS
    product_tops: set[str] = set()
    dev_tops: set[str] = set()
    plugins: set[str] = set()
    for dist in importlib.metadata.distributions():
        tops = {f.parts[0].removesuffix(".py") for f in dist.files or []
                if f.parts and not f.parts[0].endswith((".dist-info", ".egg-info", ".data", ".pth"))
                and f.parts[0] not in ("..", "__pycache__") and (len(f.parts) > 1 or f.parts[0].endswith(".py"))}
        if _norm(dist.metadata["Name"]) in allowed:
            product_tops |= tops
        else:
            dev_tops |= tops
            plugins |= {ep.name for ep in dist.entry_points if ep.group == "pytest11"}
    plugins -= {"gvpconf"}
    return sorted(dev_tops - product_tops - {"gvpconf", "gvpconf_lab"}), sorted(plugins)


_SITECUSTOMIZE = """import os, sys


class _NotInTheImage:
    names = frozenset(os.environ.get("BENCH_HIDDEN_MODULES", "").split())

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.names:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the image)", name=name)
        return None


sys.meta_path.insert(0, _NotInTheImage)
"""

_SPAWNER = """import json, os, sys
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            import resource
            if req["nofile"] is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (req["nofile"], resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            os.chdir(req["cwd"])
            out = os.open(req["out"], os.O_WRONLY)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.execve(req["cmd"][0], req["cmd"], req["env"])
        finally:
            os._exit(127)
    print(json.dumps({"pid": pid}), flush=True)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"status": status, "maxrss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}),
          flush=True)
"""


class Spawner:
    """A small process that forks every suite run, so that a run's peak RSS is its own (see above)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", _SPAWNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def run(self, cmd: list[str], cwd: Path, env: dict[str, str], out: str, nofile: int | None,
            timeout: float = 600) -> tuple[int, float, float]:
        """Run ``cmd``, its output to the file ``out``: (exit code, its own peak RSS in MB, its CPU time in s)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            req = {"cmd": cmd, "cwd": str(cwd), "env": env, "out": out, "nofile": nofile}
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            pid = json.loads(self.proc.stdout.readline())["pid"]
            killer = threading.Timer(timeout, os.kill, (pid, signal.SIGKILL))
            killer.start()
            try:
                done = json.loads(self.proc.stdout.readline())
            finally:
                killer.cancel()
        return os.waitstatus_to_exitcode(done["status"]), done["maxrss_kb"] / 1024, done["cpu"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


_SPAWNER_ONE: list[Spawner] = []
_HIDDEN: list[str] = []
_NO_PLUGINS: list[str] = []
_SITE_DIR: list[Path] = []


def prepare_runs(work: Path) -> None:
    """Once, first: the spawner (while the bench is small), the hidden distributions, the bytecode."""
    _SPAWNER_ONE.append(Spawner())
    hidden, plugins = _dev_only()
    _HIDDEN.extend(hidden)
    _NO_PLUGINS.extend(plugins)
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    _SITE_DIR.append(site)
    compile_like_the_image()


def compile_like_the_image() -> None:
    """The image's build step (deploy/Containerfile): gvpconf compiled (the stdlib's and the venv's packages are,
    by Python's and pip's install), and pytest's rewritten form of tests/, by gvpconf.precompile."""
    # this tree's precompile, run as a file: with PYTHONPATH naming another tree (before/after runs), it compiles
    # the gvpconf that tree's suite imports
    argv = ["precompile", str(ROOT / "tests"), *(a for name in _NO_PLUGINS for a in ("-p", f"no:{name}"))]
    script = (f"import runpy, sys; sys.argv = {argv!r}; "
              f"runpy.run_path({str(ROOT / 'src' / 'gvpconf' / 'precompile.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"gvpconf.precompile failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def run_env() -> dict[str, str]:
    """A suite run's environment: no GVP_ variable of the caller's, no bytecode written, dev packages hidden."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if _SITE_DIR:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SITE_DIR[0]), env.get("PYTHONPATH", "")) if p)
        env["BENCH_HIDDEN_MODULES"] = " ".join(_HIDDEN)
    return env


@dataclass
class Run:
    wall: float
    rc: int
    out: str
    rss_mb: float  # the pytest process's own peak RSS
    cpu_s: float  # its CPU time, user + system


def run_pytest(inventory: Path, *args: str, junit: Path | None = None, nofile: int | None = None) -> Run:
    """One suite run in a fresh process: wall time, exit code, output, and its own peak RSS. ``nofile``: the
    soft ``ulimit -n`` the run starts with (the scale figure starts at the common default, 1024)."""
    cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
           *(a for name in _NO_PLUGINS for a in ("-p", f"no:{name}")), "--inventory", str(inventory), *args]
    if junit is not None:
        cmd += ["--junitxml", str(junit)]
    with tempfile.NamedTemporaryFile("w+") as out:
        started = time.perf_counter()
        rc, rss, cpu = _SPAWNER_ONE[0].run(cmd, ROOT, run_env(), out.name, nofile)
        wall = time.perf_counter() - started
        out.seek(0)
        return Run(wall, rc, out.read(), rss, cpu)


def write_inventory(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    parse(data, str(path))  # the bench never measures a broken inventory
    return path


def mandatory_wait(inv: dict[str, Any]) -> float:
    """The longest wait a healthy run must spend by design, from the inventory: the Config Server hold,
    or an RTP burst (packets x ptime) plus the settle time the receiver waits for late packets."""
    waits = [float(inv.get("destinations", {}).get("configserver", {}).get("hold", 1.0))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            media = node.get("media")
            if isinstance(media, dict) and (node.get("calls") or "rtsp_url" in node):
                waits.append(media.get("packets", 50) * media.get("ptime_ms", 20) / 1000
                             + media.get("settle_ms", 500) / 1000)
            for value in node.values():
                walk(value)

    for section in inv.get("destinations", {}).values():
        # call media counts only where calls run (the lab opts in with calls: true)
        if section.get("calls"):
            walk(section)
    return max(waits)


# -- figures -----------------------------------------------------------------------------------------

def healthy(lab: Lab, work: Path, repeats: int, startup: float) -> None:
    inv = lab.inventory()
    walls = []
    for i in range(repeats):
        run = run_pytest(lab.inventory_path, junit=work / f"healthy-{i}.xml")
        if run.rc != 0:
            print(run.out[-3000:])
            raise SystemExit(f"healthy run failed (rc {run.rc})")
        walls.append(run.wall)
    wall = statistics.median(walls)
    wait = mandatory_wait(inv)
    ratio = (wall - startup) / wait
    row("healthy run: wall time", f"{wall:.2f} s", "", None)
    row("healthy run: (wall - start-up) / longest wait", f"{ratio:.2f} (wait {wait:.1f} s)", "<= 1.5", ratio <= 1.5)


class FirstContact:
    """A TCP listener that notes when the first connection arrives (the first probe sent): the SIP server of
    the start-up figure's inventory. It closes what it accepts, so the run ends at once."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.at = time.monotonic()
        conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def first_probe_after(work: Path, cpu: list[float] | None = None) -> float:
    """Process start to the first probe's TCP connection (imports, configuration, collection, scheduling), for
    ``--connection 1``; ``cpu`` gets the whole run's CPU time (it ends at once: the peer closes)."""
    contact = FirstContact()
    try:
        inv = {"version": 1, "defaults": {"timeouts": {"connect": 2.0, "read": 1.0, "probe": 3.0}},
               "destinations": {"sip_server": {"transport": "tcp",
                                               "targets": [{"name": "sip", "host": "127.0.0.1",
                                                            "port": contact.port}]}}}
        path = write_inventory(work / "startup.yaml", inv)
        started = time.monotonic()
        run = run_pytest(path, "--connection", "1")
        if contact.at is None:
            print(run.out[-2000:])
            raise SystemExit("start-up: the suite never connected to the SIP server")
        if cpu is not None:
            cpu.append(run.cpu_s)
        return contact.at - started
    finally:
        contact.close()


@contextmanager
def cpu_burners() -> Iterator[int]:
    """One busy process per CPU, started here and stopped here (by PID)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        yield len(procs)
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(10)


def startup(work: Path, repeats: int) -> float:
    cpu: list[float] = []
    quiet = statistics.median(first_probe_after(work, cpu) for _ in range(repeats))
    row(f"start-up: process start to first probe sent (median of {repeats})", f"{quiet:.3f} s", "<= 0.35 s",
        quiet <= 0.35)
    # the wall figure follows the machine's load; the CPU time of the same runs much less
    row(f"start-up runs: CPU time, user + system (median of {repeats})", f"{statistics.median(cpu):.3f} s", "",
        None)
    with cpu_burners() as n:
        loaded = statistics.median(first_probe_after(work) for _ in range(repeats))
    row(f"start-up under load ({n} CPU burners, median of {repeats})", f"{loaded:.3f} s", "<= 0.7 s",
        loaded <= 0.7)
    return quiet


def blackholed(lab: Lab, work: Path, startup: float, repeats: int) -> None:
    inv = json.loads(json.dumps(lab.inventory()))
    connect = 2.0
    inv["defaults"]["timeouts"] = {"connect": connect, "read": 3.0, "probe": 10.0}
    walls: list[float] = []
    with impostors.blackhole() as (host, port):
        for section in inv["destinations"].values():
            for target in section.get("targets", []):
                target["host"], target["port"] = host, port
            if section.get("proxy"):  # a proxy on the way is blackholed too
                section["proxy"] = f"http://{host}:{port}"
        path = write_inventory(work / "blackholed.yaml", inv)
        for _ in range(repeats):  # one run swings by a few tenths of a second with this machine's speed
            run = run_pytest(path, junit=work / "blackholed.xml")
            if run.rc != 1:
                print(run.out[-3000:])
                raise SystemExit(f"blackholed run should fail every case (rc {run.rc})")
            walls.append(run.wall)
    wall = statistics.median(walls)
    # the new target is on the probes' part (the run after its start-up, measured above); the whole process keeps
    # the old floor (connect + 2 s)
    probing = wall - startup
    runs = f" (median of {repeats})" if repeats > 1 else ""
    row(f"all blackholed: wall time after start-up{runs}", f"{probing:.2f} s", f"<= {connect:.0f} + 0.5 s",
        probing <= connect + 0.5 if startup else None)
    row(f"all blackholed: wall time, whole process{runs}", f"{wall:.2f} s", f"<= {connect:.0f} + 2 s (floor)",
        wall <= connect + 2.0)
    row("all blackholed: wall / connect timeout", f"{wall / connect:.2f}", "", None)


def scale(work: Path, counts: list[int], repeats: int = 1) -> None:
    walls: dict[int, float] = {}
    rss: dict[int, float] = {}
    # the responder holds two descriptors per target in this process: room for it (the suite gets 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4 * max(counts) + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * max(counts) + 256), hard))
    def pool_run(n: int, *select: str, label: str, times: int = 1) -> Run:
        runs: list[Run] = []
        for _ in range(times):  # the median run by wall time: one run swings with this machine's speed
            with SipResponder(n) as responder:
                pool = [{"name": f"gvp-mcp-{i}", "host": responder.host, "port": p}
                        for i, p in enumerate(responder.ports)]
                inv = {"version": 1, "defaults": {"timeouts": {"connect": 2.0, "read": 3.0, "probe": 10.0}},
                       "destinations": {"mcp": {"targets": pool}}}
                path = write_inventory(work / f"scale-{n}.yaml", inv)
                run = run_pytest(path, "--connection", "4", *select, junit=work / f"scale-{n}.xml", nofile=1024)
                if run.rc != 0 or responder.answered < n:
                    print(run.out[-3000:])
                    raise SystemExit(f"scale run with {n} targets failed (rc {run.rc}, answered {responder.answered})")
            runs.append(run)
        run = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
        of = f", median of {times}" if times > 1 else ""
        row(f"scale: MCP pool of {n} (connection 4, {label}{of}), wall / CPU time / peak RSS",
            f"{run.wall:.2f} s / {run.cpu_s:.2f} s / {run.rss_mb:.0f} MB", "", None)
        return run

    # the issue's figure: connection 4's OPTIONS to every pod of the pool
    for n in counts:
        run = pool_run(n, "-k", "answers_options", label="OPTIONS", times=repeats)
        walls[n], rss[n] = run.wall, run.rss_mb
    # the whole row as a run makes it, for the record: since the path-MTU probe (issue 15) each pod also gets
    # the padded OPTIONS over TCP: the natural size and the largest, one connection each (the ladder of sizes
    # between only when the largest is not answered), two transactions more per pod
    pool_run(max(counts), label="the whole row: OPTIONS and the padded OPTIONS")
    lo, hi = min(counts), max(counts)
    ratio = walls[hi] / walls[lo]
    row(f"scale: wall({hi}) / wall({lo})", f"{ratio:.2f}", "<= 2", ratio <= 2.0)
    pytest_floor(work, lo, hi, repeats)
    row(f"scale: peak RSS with {hi} targets, started at ulimit -n 1024", f"{rss[hi]:.0f} MB", "<= 150 MB",
        rss[hi] <= 150)


# the scale figure's floor: a suite of the same shape that sends nothing and checks nothing
_FLOOR_CONFTEST = """
import os
import pytest

PODS = int(os.environ["BENCH_FLOOR_PODS"])
FACTS = [(f"fact{i}", f"value{i}") for i in range(19)]  # as many JUnit properties as a row-4 OPTIONS case


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", [f"gvp-mcp-{i}" for i in range(PODS)], indirect=True)


@pytest.fixture
def target(request):
    return request.param


@pytest.fixture
def evidence(target, request):
    request.node.user_properties.extend(FACTS)
    return {"sip.status": 200}


@pytest.fixture
def expect(target):
    return None
"""

_FLOOR_TESTS = """
def test_every_mcp_pod_answers_options(evidence, expect):
    assert evidence["sip.status"] == 200


def test_every_mcp_pod_takes_a_call(evidence, expect):
    assert evidence["sip.status"] == 200


def test_every_mcp_pod_takes_invite_sized_requests(evidence, expect):
    assert evidence["sip.status"] == 200
"""


def pytest_floor(work: Path, lo: int, hi: int, repeats: int) -> None:
    """What pytest alone costs per case, for the scale ratio: a suite of the same shape as row 4's (three tests per
    pod collected, ``-k`` choosing one, three fixtures per case, 19 JUnit properties each, --junitxml) whose cases
    send nothing and check one dict entry, without the gvpconf plugin, run like the suite (same interpreter, the
    same hidden packages, bytecode compiled). Its own wall(hi) / wall(lo) is what one pytest case per pod allows."""
    suite = work / "floor"
    suite.mkdir(exist_ok=True)
    (suite / "conftest.py").write_text(_FLOOR_CONFTEST)
    (suite / "test_floor.py").write_text(_FLOOR_TESTS)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:gvpconf",
            *(a for name in _NO_PLUGINS for a in ("-p", f"no:{name}")), "-k", "answers_options",
            "--junitxml", str(work / "floor.xml")]
    env = run_env()
    env.pop("PYTHONDONTWRITEBYTECODE")  # its bytecode written once, as the suite's is compiled beforehand
    walls: dict[int, float] = {}
    for n in (lo, hi):
        env["BENCH_FLOOR_PODS"] = str(n)
        times: list[float] = []
        for i in range(repeats + 1):  # the first run writes the bytecode: not counted
            with tempfile.NamedTemporaryFile("w+") as out:
                started = time.perf_counter()
                rc, _rss, _cpu = _SPAWNER_ONE[0].run(base, suite, env, out.name, None)
                took = time.perf_counter() - started
                if rc != 0:
                    out.seek(0)
                    raise SystemExit(f"the pytest floor suite failed (rc {rc}):\n{out.read()[-2000:]}")
            if i:
                times.append(took)
        walls[n] = statistics.median(times)
    per_case = (walls[hi] - walls[lo]) / (hi - lo) * 1000
    row(f"scale floor: pytest alone, a no-op suite of row 4's shape, {lo} / {hi} pods (median of {repeats})",
        f"{walls[lo]:.2f} / {walls[hi]:.2f} s, {per_case:.2f} ms per case", "", None)
    row(f"scale floor: pytest alone, wall({hi}) / wall({lo})", f"{walls[hi] / walls[lo]:.2f}",
        "(the ratio one pytest case per pod allows)", None)


def memory(lab: Lab, work: Path) -> None:
    whole = run_pytest(lab.inventory_path)
    row("peak RSS, whole suite against the lab", f"{whole.rss_mb:.0f} MB", "<= 100 MB", whole.rss_mb <= 100)
    one = run_pytest(lab.inventory_path, "--connection", "1")
    if one.rc != 0:
        print(one.out[-2000:])
        raise SystemExit(f"--connection 1 against the lab failed (rc {one.rc})")
    row("peak RSS, --connection 1 against the lab", f"{one.rss_mb:.0f} MB", "<= 60 MB", one.rss_mb <= 60)
    plan = run_pytest(lab.inventory_path, "--plan")
    row("peak RSS, --plan of the whole inventory", f"{plan.rss_mb:.0f} MB", "", None)


def rtp_pacing(quick: bool) -> None:
    """The RTP sender's pacing (gvpconf.probes.media.Pacer), by bench/rtp_pacing.py, at 50 and 1000 pps."""
    script = ROOT / "bench" / "rtp_pacing.py"
    for ptime, packets in ((20, 100 if quick else 1500), (1, 500 if quick else 10000)):
        args = [sys.executable, str(script), "--json", "--ptime", str(ptime), "--packets", str(packets)]
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            raise SystemExit("rtp_pacing failed")
        fig = json.loads(proc.stdout.strip().splitlines()[-1])
        pps = fig["pps"]
        row(f"RTP pacing {pps} pps ({packets} pkts): inter-departure error p50/p99/max",
            f"{fig['p50_ms']:.3f}/{fig['p99_ms']:.3f}/{fig['max_ms']:.3f} ms",
            "p99 <= 0.5 ms" if pps == 50 else "", fig["p99_ms"] <= 0.5 if pps == 50 else None)


# -- blackbox_exporter side by side ------------------------------------------------------------------

@contextmanager
def blackbox_exporter(work: Path, sip_host: str, sip_port: int, ca_file: str, server_name: str) -> Iterator[str]:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        raise SystemExit("prometheus-blackbox-exporter is not installed: run `python -m gvpconf_lab install`")
    config = {"modules": {
        "tcp": {"prober": "tcp", "timeout": "5s"},
        "http": {"prober": "http", "timeout": "5s", "http": {"preferred_ip_protocol": "ip4"}},
        "grpc": {"prober": "grpc", "timeout": "5s", "grpc": {
            "tls": True, "preferred_ip_protocol": "ip4",
            "tls_config": {"ca_file": ca_file, "server_name": server_name}}},
        # a TLS handshake and its certificate facts (probe_ssl_*), as the tlscheck part of our gRPC probe
        "tls": {"prober": "tcp", "timeout": "5s", "tcp": {
            "tls": True, "preferred_ip_protocol": "ip4",
            "tls_config": {"ca_file": ca_file, "server_name": server_name}}},
        "sip": {"prober": "tcp", "timeout": "5s", "tcp": {"query_response": [
            {"send": (f"OPTIONS sip:{sip_host}:{sip_port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKbb1\r\nMax-Forwards: 70\r\n"
                      f"To: <sip:{sip_host}:{sip_port}>\r\nFrom: <sip:bb@127.0.0.1>;tag=bb1\r\n"
                      "Call-ID: bb-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r")},  # + its "\n"
            {"expect": "^SIP/2.0 200"}]}},
    }}
    cfg = work / "blackbox.yml"
    cfg.write_text(yaml.safe_dump(config))
    port = free_tcp_port()
    log = (work / "blackbox.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url + "/-/healthy", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"blackbox_exporter did not start; see {work / 'blackbox.log'}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        log.close()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def blackbox_duration(url: str, module: str, target: str) -> float:
    """blackbox_exporter's own probe_duration_seconds for one probe, which must succeed (the gRPC module's
    health check too: the TextToSpeech stand-in serves the standard health service, SERVING)."""
    body = urllib.request.urlopen(f"{url}/probe?module={module}&target={target}", timeout=10).read().decode()
    values = {}
    for line in body.splitlines():
        if line.startswith(("probe_success ", "probe_duration_seconds ")):
            name, value = line.split()
            values[name] = float(value)
    if values.get("probe_success") != 1.0:
        raise SystemExit(f"blackbox_exporter {module} probe of {target} failed:\n{body[-1500:]}")
    return values["probe_duration_seconds"]


def lab_contexts(lab: Lab, number: int, *, credentials: bool = True) -> Callable[[Any], ProbeContext]:
    """The ProbeContext maker of connection ``number``'s lab target, as the plugin's: the inventory parsed and its
    secrets resolved once (``credentials=False``: without the credentials), one memo for the run."""
    inv = parse(lab.inventory(), "lab inventory")
    row_ = catalog.connection(number)
    dest = inv.destination(row_.destination)
    assert dest is not None
    secrets = resolve_secrets(inv, [row_.destination], "lab inventory").get(row_.destination, {})
    if not credentials:
        secrets = {k: v for k, v in secrets.items() if k != "credentials"}
    target = dest.targets[0]
    memo: dict[str, Any] = {}

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row_, target=target, destination=dest, secrets=secrets, deadline=deadline,
                            memo=memo)

    return make


def timed_probe(probe: str, make: Callable[[Any], ProbeContext]) -> Callable[[], float]:
    """``probe`` run as the plugin runs it (``run_job``); each call returns the probe's own duration."""

    def once() -> float:
        result = run_job(Job(probe, Timeouts(connect=5, read=5, probe=10), make))
        if not result.ok:
            raise SystemExit(f"our {probe} probe failed: {result.failure or result.error}")
        return result.duration

    return once


def ours(lab: Lab, probe: str, number: int, *, credentials: bool = True) -> Callable[[], float]:
    """Our prober against the lab target of connection ``number`` (``lab_contexts``, ``timed_probe``)."""
    return timed_probe(probe, lab_contexts(lab, number, credentials=credentials))


def ours_tls(lab: Lab) -> Callable[[], float]:
    """Our TLS handshake with every tlscheck fact (``tlscheck.handshake``, ALPN h2) to connection 22's lab target, the
    gRPC probe's first part, timed by its own deadline as a probe is."""
    from gvpconf.deadline import Deadline
    from gvpconf.inventory.web import GoogleTtsDestination
    from gvpconf.probes import tlscheck

    make = lab_contexts(lab, 22, credentials=False)

    def once() -> float:
        ctx = make(Deadline(Timeouts(connect=5, read=5, probe=10)))
        assert isinstance(ctx.destination, GoogleTtsDestination)
        tlscheck.handshake(ctx, ctx.destination.tls, alpn=["h2"])
        return ctx.deadline.elapsed()

    return once


def bare_sip(host: str, port: int) -> Callable[[], float]:
    """``bare``, timed."""

    def once() -> float:
        started = time.perf_counter()
        bare(host, port)
        return time.perf_counter() - started

    return once


def sip_contexts(host: str, port: int) -> Callable[[Any], ProbeContext]:
    """The ProbeContext maker of a SIP OPTIONS probe of the bench responder, as the plugin's: the destination built
    once (the plugin's comes from the parsed inventory), outside the clock, and one memo for the run (the plugin's
    session memo). Also bench/sip_stages.py's."""
    from gvpconf.inventory import SipDestination, Target

    row_ = catalog.connection(1)
    target = Target(host=host, port=port, name="bench")
    dest = SipDestination()
    memo: dict[str, Any] = {}

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row_, target=target, destination=dest, secrets={}, deadline=deadline,
                            memo=memo)

    return make


def ours_sip(host: str, port: int) -> Callable[[], float]:
    """Our sip.options prober against the bench responder (the same peer blackbox_exporter probes), as the plugin
    runs it (``sip_contexts``)."""
    return timed_probe("sip.options", sip_contexts(host, port))


def fixed_request(host: str, port: int, local: tuple[str, int]) -> bytes:
    lh, lp = local
    b = secrets.token_hex(16)
    return (f"OPTIONS sip:{host}:{port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP {lh}:{lp};branch=z9hG4bK{b};rport\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:{host}:{port}>\r\nFrom: <sip:gvpconf@{lh}>;tag={b[:16]}\r\n"
            f"Call-ID: {b}@{lh}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def bare(host: str, port: int) -> None:
    """A bare Python SIP client, no frame: socket, connect, a fixed OPTIONS, one recv, close (what Python itself
    costs, for reference; also bench/sip_stages.py's first stage)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = fixed_request(host, port, s.getsockname()[:2])
    s.settimeout(5)
    s.sendall(data)
    s.settimeout(5)
    answer = s.recv(65536)
    s.close()
    if not answer.startswith(b"SIP/2.0 200"):
        raise SystemExit(f"the responder answered {answer[:40]!r}")


class ResponderProcess:
    """The bench's SIP responder in a process of its own, as blackbox_exporter sees it. In the bench's process its
    thread shared our probe's GIL: it accepted our connection while the probe built its request and read our close
    before the probe's clock stopped, waits that blackbox_exporter's probes (another process) never had."""

    def __init__(self, count: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sipresponder.py"), str(count)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        host, *ports = self.proc.stdout.readline().split()
        self.host, self.ports = host, [int(p) for p in ports]

    def __enter__(self) -> ResponderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the responder answers until its standard input closes
        self.proc.wait(10)


def lab_target(lab: Lab, key: str) -> tuple[str, int]:
    t = lab.inventory()["destinations"][key]["targets"][0]
    return str(t["host"]), int(t["port"])


def versus_blackbox(lab: Lab, work: Path, repeats: int) -> None:
    """Each probe against the same peer as blackbox_exporter's, in the same run, interleaved one by one (ours,
    theirs, ours...): our probe's own duration against blackbox_exporter's own probe_duration_seconds."""
    sip_host, sip_port = lab_target(lab, "sip_server")
    http = lab.inventory()["destinations"]["customer"]
    http_host, http_port = lab_target(lab, "customer")
    http_url = f"http://{http_host}:{http_port}{http['path']}"
    tts = lab.inventory()["destinations"]["google_tts"]
    tts_host, tts_port = lab_target(lab, "google_tts")
    responder = ResponderProcess(1)
    responder_host, responder_port = responder.host, responder.ports[0]
    comparisons: list[tuple[str, str, float | None, Callable[[], float], Callable[[str], float]]] = [
        ("TCP connect", "<= 0.5", 0.5, lambda: tcp_connect_duration(sip_host, sip_port),
         lambda url: blackbox_duration(url, "tcp", f"{sip_host}:{sip_port}")),
        ("SIP OPTIONS", "<= 0.8", 0.8, ours_sip(responder_host, responder_port),
         lambda url: blackbox_duration(url, "sip", f"{responder_host}:{responder_port}")),
        # for reference: what Python itself allows on this peer, no frame, no check but the status line's prefix
        ("SIP OPTIONS, a bare Python client (reference, not the suite)", "", None,
         bare_sip(responder_host, responder_port),
         lambda url: blackbox_duration(url, "sip", f"{responder_host}:{responder_port}")),
        ("HTTP GET (status, JSON field checked)", "<= 1.0", 1.0, ours(lab, "http.customer", 21),
         lambda url: blackbox_duration(url, "http", http_url)),
        # ours: TLS with every tlscheck fact, a self-signed JWT, ListVoices listing voices; theirs: TLS and the
        # standard health service's Check, SERVING (both answered by a Python handler of the same grpcio server;
        # the stand-in checks each new JWT with google-auth and keeps its verdict until the token's exp)
        ("gRPC over TLS (certificate facts, JWT, ListVoices)", "<= 1.2", 1.2,
         ours(lab, "grpc.tts_list_voices", 22),
         lambda url: blackbox_duration(url, "grpc", f"{tts_host}:{tts_port}")),
        # the gRPC probe's TLS part alone against theirs: the same handshake and certificate facts, no RPC
        ("TLS handshake and certificate facts (the gRPC probe's TLS part)", "", None, ours_tls(lab),
         lambda url: blackbox_duration(url, "tls", f"{tts_host}:{tts_port}")),
        # the same without credentials (UNAUTHENTICATED proves the path): the row above less the token's cost,
        # ours and the peer's (the same within noise since the stand-in keeps its verdict on a token)
        ("gRPC over TLS without credentials (no JWT)", "", None,
         ours(lab, "grpc.tts_list_voices", 22, credentials=False),
         lambda url: blackbox_duration(url, "grpc", f"{tts_host}:{tts_port}")),
    ]
    with responder, blackbox_exporter(work, responder_host, responder_port, tts["tls"]["ca_file"],
                                      tts["tls"]["server_name"]) as url:
        for name, target, limit, ours_once, theirs in comparisons:
            ours_once(), theirs(url)  # warm up both
            mine: list[float] = []
            theirs_: list[float] = []
            for _ in range(repeats):
                mine.append(ours_once())
                theirs_.append(theirs(url))
            o, t = statistics.median(mine), statistics.median(theirs_)
            ratio = o / t
            row(f"vs blackbox_exporter, {name}: ours / theirs (median of {repeats})",
                f"{o * 1000:.2f} / {t * 1000:.2f} ms = {ratio:.2f}", target,
                None if limit is None else ratio <= limit)


def tcp_connect_duration(host: str, port: int) -> float:
    """Our TCP connect path (DNS within the deadline, connect, close), timed like a probe."""
    from gvpconf import net
    from gvpconf.deadline import Deadline

    deadline = Deadline(Timeouts(connect=5, read=5, probe=10))
    net.connect_tcp(host, port, deadline).close()
    return deadline.elapsed()


SECTIONS = ("startup", "healthy", "blackholed", "scale", "memory", "rtp", "blackbox")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts (run by make test)")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    args = ap.parse_args()
    only = set(args.only or SECTIONS)
    repeats = 1 if args.quick else 5
    counts = [3, 20] if args.quick else [3, 50, 200, 1000]
    print(f"gvpconf benchmark ({'quick' if args.quick else 'full'}) on {platform.node()}: "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if "rtp" in only:  # before the lab starts: the sender's pacing, not the lab's CPU load, is measured
        rtp_pacing(args.quick)
    with tempfile.TemporaryDirectory(prefix="gvpconf-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        os.chmod(work, 0o755)
        prepare_runs(work)
        stack.callback(_SPAWNER_ONE[0].close)
        started_up = startup(work, 2 if args.quick else 5) if "startup" in only else 0.0
        if "scale" in only:  # the bench's own responder: before the lab, on a quieter machine
            scale(work, counts, 1 if args.quick else 3)
        if only & {"healthy", "blackholed", "memory", "blackbox"}:
            lab = stack.enter_context(Lab(work / "lab"))
            print(f"lab ready in {lab.ready_after_s:.2f} s", flush=True)
            if "healthy" in only:
                healthy(lab, work, repeats, started_up)
            if "blackholed" in only:
                blackholed(lab, work, started_up, 1 if args.quick else 5)
            if "memory" in only:
                memory(lab, work)
            if "blackbox" in only:
                versus_blackbox(lab, work, 3 if args.quick else 51)  # 15 was too few on a loaded machine
    print()
    print("| figure | value | target | verdict |")
    print("|---|---|---|---|")
    for figure, value, target, verdict in ROWS:
        print(f"| {figure} | {value} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
