"""The false-alarm soak: the whole suite, N times, from every pod of a healthy namespace lab.

    make soak N=100          (python bench/soak.py --runs 100)

A benchmark, not a test: it prints figures and asserts nothing. The lab is the fault lab of ``make faults``
(``gvpconf_lab.netlab.faultlab``: every GVP pod in its namespace, NetworkPolicies as iptables rules, the
cluster resolver) with no fault injected; each run is the suite from every pod (as ``make pods-lab``), with
the retry policy a nightly job would use (``--attempts``, default 2: one retry). It prints the runs with
any failed case (target 0: each one is a false alarm, a defect to fix at its cause), the retries used
(cases that passed only on a retry: flaky), and the slowest run, and lists every failure and retry with
its message, so the cause can be found.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from gvpconf_lab.netlab.faultlab import FaultLab
from gvpconf_lab.netlab.faults import Case, read_cases, run_suite


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=int(os.environ.get("N", "100")))
    p.add_argument("--attempts", type=int, default=2, help="retry policy: attempts per probe (default 2)")
    p.add_argument("--parallel", type=int, default=3, help="pods run at once (default 3)")
    p.add_argument("--workdir", help="keep the lab's files here (default: a temporary directory)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces and iptables)", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gvpc-soak-"))
    walls: list[float] = []
    failed_runs: list[tuple[int, list[Case]]] = []
    flaky: list[tuple[int, Case]] = []
    errors: list[tuple[int, str]] = []
    cases_per_run: Counter[int] = Counter()
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by PID: the lab unwinds, the figures so far are printed
    done = 0
    try:
        done = soak(args, workdir, walls, failed_runs, flaky, errors, cases_per_run)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the figures of the runs done so far
        done = len(walls)
        print(f"\nsoak interrupted after {done} runs")
    if not walls:
        return 1
    retries = sum(c.attempts - 1 for _i, c in flaky)
    print()
    print(f"runs: {done} of {args.runs}; cases per run: {dict(cases_per_run)}")
    print(f"runs with any failure: {len(failed_runs)} (target 0)")
    print(f"retries used: {retries} (in {len(flaky)} cases that passed only on a retry)")
    for i, c in flaky:
        print(f"    run {i + 1}: {c.text}")
    print(f"slowest run: {max(walls):.1f} s (median {statistics.median(walls):.1f} s)")
    return 0


def soak(args: argparse.Namespace, workdir: Path, walls: list[float], failed_runs: list[tuple[int, list[Case]]],
         flaky: list[tuple[int, Case]], errors: list[tuple[int, str]], cases_per_run: Counter[int]) -> int:
    with FaultLab(workdir) as lab:
        inv = yaml.safe_load(lab.inventory_path.read_text())
        inv["retry"] = {"default": {"attempts": args.attempts, "delay": 0.5}}
        soak_inventory = workdir / "soak-inventory.yaml"
        soak_inventory.write_text(yaml.safe_dump(inv))
        print(f"soak: {args.runs} runs of the whole suite from {len(lab.pods())} pods, retry attempts "
              f"{args.attempts}, lab {lab.tag}", flush=True)
        for i in range(args.runs):
            started = time.monotonic()
            outcomes = run_suite(lab, workdir / "runs", parallel=args.parallel, inventory=soak_inventory)
            walls.append(time.monotonic() - started)
            cases, run_errors = read_cases(outcomes)
            cases_per_run[len(cases)] += 1
            failed = [c for c in cases if c.failed]
            errors += [(i, e) for e in run_errors]
            flaky += [(i, c) for c in cases if c.attempts > 1 and not c.failed]
            if failed or run_errors:
                failed_runs.append((i, failed))
            mark = "FAIL" if failed or run_errors else "ok"
            retried = [c for n, c in flaky if n == i]
            print(f"run {i + 1:3d}/{args.runs}: {mark} {len(cases)} cases, {walls[-1]:.1f} s, "
                  f"{sum(c.attempts - 1 for c in retried)} retries"
                  + "".join(f"\n    {c.text}: {c.message}" for c in failed)
                  + "".join(f"\n    retried: {c.text}" for c in retried)
                  + "".join(f"\n    {e}" for n, e in errors if n == i), flush=True)
    return int(args.runs)


if __name__ == "__main__":
    sys.exit(main())
