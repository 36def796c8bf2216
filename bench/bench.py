"""The suite's benchmark: how fast and how light it is, side by side with blackbox_exporter.

    make bench          full mode (the figures quoted in the README)
    make bench-quick    small counts, run by `make test` so the benchmark cannot rot

Prints every figure with its target beside it. Nothing here is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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


def run_pytest(inventory: Path, *args: str, junit: Path | None = None) -> tuple[float, int, str]:
    """Wall time of one suite run in a fresh process, its exit code and stdout."""
    cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "--inventory", str(inventory),
           *args]
    if junit is not None:
        cmd += ["--junitxml", str(junit)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


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

def healthy(lab: Lab, work: Path, repeats: int) -> None:
    inv = lab.inventory()
    walls = []
    for i in range(repeats):
        wall, rc, out = run_pytest(lab.inventory_path, junit=work / f"healthy-{i}.xml")
        if rc != 0:
            print(out[-3000:])
            raise SystemExit(f"healthy run failed (rc {rc})")
        walls.append(wall)
    wall = statistics.median(walls)
    wait = mandatory_wait(inv)
    startup = collect_time(lab.inventory_path, repeats)
    ratio = (wall - startup) / wait
    row("healthy run: wall time", f"{wall:.2f} s", "", None)
    row("healthy run: (wall - start-up) / longest wait", f"{ratio:.2f} (wait {wait:.1f} s)", "<= 1.5", ratio <= 1.5)
    row("start-up: process start to probes sent (imports + collection)", f"{startup:.2f} s", "<= 1.0 s", startup <= 1.0)


def collect_time(inventory: Path, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        wall, rc, out = run_pytest(inventory, "--collect-only")
        if rc != 0:
            print(out[-2000:])
            raise SystemExit("collection failed")
        walls.append(wall)
    return statistics.median(walls)


def blackholed(lab: Lab, work: Path) -> None:
    inv = json.loads(json.dumps(lab.inventory()))
    connect = 2.0
    inv["defaults"]["timeouts"] = {"connect": connect, "read": 3.0, "probe": 10.0}
    with impostors.blackhole() as (host, port):
        for section in inv["destinations"].values():
            for target in section.get("targets", []):
                target["host"], target["port"] = host, port
            if section.get("proxy"):  # a proxy on the way is blackholed too
                section["proxy"] = f"http://{host}:{port}"
        path = write_inventory(work / "blackholed.yaml", inv)
        wall, rc, out = run_pytest(path, junit=work / "blackholed.xml")
    if rc != 1:
        print(out[-3000:])
        raise SystemExit(f"blackholed run should fail every case (rc {rc})")
    extra = wall - connect
    row("all blackholed: wall time", f"{wall:.2f} s", f"<= {connect:.0f} + 2 s", extra <= 2.0)
    row("all blackholed: wall / connect timeout", f"{wall / connect:.2f}", "", None)


def scale(work: Path, counts: list[int]) -> None:
    walls: dict[int, float] = {}
    for n in counts:
        with SipResponder(n) as responder:
            pool = [{"name": f"gvp-mcp-{i}", "host": responder.host, "port": p} for i, p in enumerate(responder.ports)]
            inv = {"version": 1, "defaults": {"timeouts": {"connect": 2.0, "read": 3.0, "probe": 10.0}},
                   "destinations": {"mcp": {"targets": pool}}}
            path = write_inventory(work / f"scale-{n}.yaml", inv)
            wall, rc, out = run_pytest(path, "--connection", "4", junit=work / f"scale-{n}.xml")
            if rc != 0 or responder.answered < n:
                print(out[-3000:])
                raise SystemExit(f"scale run with {n} targets failed (rc {rc}, answered {responder.answered})")
        walls[n] = wall
        row(f"scale: MCP pool of {n} (connection 4), wall time", f"{wall:.2f} s", "", None)
    lo, hi = min(counts), max(counts)
    ratio = walls[hi] / walls[lo]
    row(f"scale: wall({hi}) / wall({lo})", f"{ratio:.2f}", "<= 2", ratio <= 2.0)


def memory(lab: Lab) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run_pytest(lab.inventory_path)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    note = "" if peak_mb > before / 1024 else " (a previous child was larger)"
    row("peak RSS of a whole run" + note, f"{peak_mb:.0f} MB", "<= 150 MB", peak_mb <= 150)


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


def blackbox_duration(url: str, module: str, target: str, allow_failure: bool = False) -> float:
    """blackbox_exporter's own probe_duration_seconds for one probe (``allow_failure``: the gRPC module's
    health check is answered UNIMPLEMENTED by the TextToSpeech stand-in, after TLS, HTTP/2 and one RPC)."""
    body = urllib.request.urlopen(f"{url}/probe?module={module}&target={target}", timeout=10).read().decode()
    values = {}
    for line in body.splitlines():
        if line.startswith(("probe_success ", "probe_duration_seconds ")):
            name, value = line.split()
            values[name] = float(value)
    if values.get("probe_success") != 1.0 and not allow_failure:
        raise SystemExit(f"blackbox_exporter {module} probe of {target} failed:\n{body[-1500:]}")
    return values["probe_duration_seconds"]


def ours_duration(lab: Lab, probe: str, number: int) -> float:
    """One run of our prober against the lab target of connection ``number``, as the plugin runs it."""
    inv = parse(lab.inventory(), "lab inventory")
    row_ = catalog.connection(number)
    dest = inv.destination(row_.destination)
    assert dest is not None
    secrets = resolve_secrets(inv, [row_.destination], "lab inventory").get(row_.destination, {})
    target = dest.targets[0]

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row_, target=target, destination=dest, secrets=secrets, deadline=deadline)

    result = run_job(Job(probe, Timeouts(connect=5, read=5, probe=10), make))
    if not result.ok:
        raise SystemExit(f"our {probe} probe failed: {result.failure or result.error}")
    return result.duration


def ours_sip(host: str, port: int) -> float:
    """Our sip.options prober against the bench responder (the same peer blackbox_exporter probes)."""
    from gvpconf.inventory import SipDestination, Target

    row_ = catalog.connection(1)
    target = Target(host=host, port=port, name="bench")

    def make(deadline: Any) -> ProbeContext:
        return ProbeContext(connection=row_, target=target, destination=SipDestination(), secrets={},
                            deadline=deadline)

    result = run_job(Job("sip.options", Timeouts(connect=5, read=5, probe=10), make))
    if not result.ok:
        raise SystemExit(f"our sip.options probe failed: {result.failure or result.error}")
    return result.duration


def lab_target(lab: Lab, key: str) -> tuple[str, int]:
    t = lab.inventory()["destinations"][key]["targets"][0]
    return str(t["host"]), int(t["port"])


def versus_blackbox(lab: Lab, work: Path, repeats: int) -> None:
    sip_host, sip_port = lab_target(lab, "sip_server")
    http = lab.inventory()["destinations"]["customer"]
    http_host, http_port = lab_target(lab, "customer")
    http_url = f"http://{http_host}:{http_port}{http['path']}"
    tts = lab.inventory()["destinations"]["google_tts"]
    tts_host, tts_port = lab_target(lab, "google_tts")
    comparisons: list[tuple[str, Callable[[], float], Callable[[str], float]]] = [
        ("TCP connect", lambda: tcp_connect_duration(sip_host, sip_port),
         lambda url: blackbox_duration(url, "tcp", f"{sip_host}:{sip_port}")),
        ("SIP OPTIONS", lambda: ours_sip(responder_host, responder_port),
         lambda url: blackbox_duration(url, "sip", f"{responder_host}:{responder_port}")),
        ("HTTP GET", lambda: ours_duration(lab, "http.customer", 21),
         lambda url: blackbox_duration(url, "http", http_url)),
        ("gRPC over TLS", lambda: ours_duration(lab, "grpc.tts_list_voices", 22),
         lambda url: blackbox_duration(url, "grpc", f"{tts_host}:{tts_port}", allow_failure=True)),
    ]
    responder = SipResponder(1)
    responder_host, responder_port = responder.host, responder.ports[0]
    with responder, blackbox_exporter(work, responder_host, responder_port, tts["tls"]["ca_file"],
                                      tts["tls"]["server_name"]) as url:
        for name, ours, theirs in comparisons:
            ours(), theirs(url)  # warm up both
            o = statistics.median(ours() for _ in range(repeats))
            t = statistics.median(theirs(url) for _ in range(repeats))
            ratio = o / t
            row(f"vs blackbox_exporter, {name}: ours / theirs", f"{o * 1000:.2f} / {t * 1000:.2f} ms = {ratio:.2f}",
                "<= 1.2", ratio <= 1.2)


def tcp_connect_duration(host: str, port: int) -> float:
    """Our TCP connect path (DNS within the deadline, connect, close), timed like a probe."""
    from gvpconf import net
    from gvpconf.deadline import Deadline

    deadline = Deadline(Timeouts(connect=5, read=5, probe=10))
    net.connect_tcp(host, port, deadline).close()
    return deadline.elapsed()


SECTIONS = ("healthy", "blackholed", "scale", "memory", "rtp", "blackbox")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts (run by make test)")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    args = ap.parse_args()
    only = set(args.only or SECTIONS)
    repeats = 1 if args.quick else 5
    counts = [3, 20] if args.quick else [3, 50, 200]
    print(f"gvpconf benchmark ({'quick' if args.quick else 'full'}) on {platform.node()}: "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}", flush=True)
    if "rtp" in only:  # before the lab starts: the sender's pacing, not the lab's CPU load, is measured
        rtp_pacing(args.quick)
    with tempfile.TemporaryDirectory(prefix="gvpconf-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        os.chmod(work, 0o755)
        lab = stack.enter_context(Lab(work / "lab"))
        print(f"lab ready in {lab.ready_after_s:.2f} s", flush=True)
        if "healthy" in only:
            healthy(lab, work, repeats)
        if "blackholed" in only:
            blackholed(lab, work)
        if "scale" in only:
            scale(work, counts)
        if "memory" in only:
            memory(lab)
        if "blackbox" in only:
            versus_blackbox(lab, work, 3 if args.quick else 15)
    print()
    print("| figure | value | target | verdict |")
    print("|---|---|---|---|")
    for figure, value, target, verdict in ROWS:
        print(f"| {figure} | {value} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
