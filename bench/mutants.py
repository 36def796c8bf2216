"""The kill ratio and the survivors of the last ``mutmut run`` (``make mutants``): figures, never assertions.

    python bench/mutants.py [--diff] PATTERN...
    python bench/mutants.py --pick N PATTERN...   # N mutant names drawn (seeded) from each group, for a sample run

PATTERNs are the mutant-name globs the run was given (``gvpconf.wire.*``); the figures are per group (the wire
codecs, the probes' checking functions). A mutant counts as killed when a test failed (or timed out, or the
type checker caught it); it survived when every selected test passed, or when no test ran it at all. The
survivors are listed, with their diffs under ``--diff``; the ones kept on purpose are explained in the README
("Mutation testing").
"""

from __future__ import annotations

import argparse
import fnmatch
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

KILLED = {"killed", "timeout", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious", "segfault"}


def group(name: str) -> str:
    module = name.split(".x_")[0].split(".xǁ")[0]
    return "wire/" if module.startswith("gvpconf.wire") else module.removeprefix("gvpconf.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="+")
    parser.add_argument("--diff", action="store_true", help="print each survivor's diff")
    parser.add_argument("--pick", type=int, metavar="N", help="print N names per group, drawn with a fixed seed")
    args = parser.parse_args()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    status: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep and any(fnmatch.fnmatchcase(name, p) for p in args.patterns):
            status[name] = state
    if args.pick:
        by_group: dict[str, list[str]] = {}
        for name in sorted(status):
            by_group.setdefault(group(name), []).append(name)
        draw = random.Random(17)
        for names in by_group.values():
            print("\n".join(sorted(draw.sample(names, min(args.pick, len(names))))))
        return 0
    counts: dict[str, Counter[str]] = {}
    for name, state in status.items():
        counts.setdefault(group(name), Counter())[state] += 1
    print(f"{'group':<28} {'mutants':>8} {'killed':>8} {'survived':>9} {'unchecked':>10} {'kill ratio':>11}")
    for g, c in sorted(counts.items()):
        killed = sum(c[s] for s in KILLED)
        survived = sum(c[s] for s in SURVIVED)
        checked = killed + survived
        ratio = f"{100 * killed / checked:.1f}%" if checked else "-"
        print(f"{g:<28} {sum(c.values()):>8} {killed:>8} {survived:>9} {c['not checked']:>10} {ratio:>11}")
    survivors = sorted(n for n, s in status.items() if s in SURVIVED)
    print(f"\nsurvivors ({len(survivors)}):")
    for name in survivors:
        print(f"  {name}: {status[name]}")
        if args.diff:
            diff = subprocess.run([mutmut, "show", name], capture_output=True, text=True).stdout
            print("\n".join("      " + line for line in diff.splitlines() if line.startswith(("+", "-"))
                            and not line.startswith(("+++", "---"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
