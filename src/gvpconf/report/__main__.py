"""``python -m gvpconf.report merge results-a.json results-b.json ... --out DIR``

Merges the ``results.json`` of several runs (one per source pod) into one acceptance report for the
whole deployment: ``report.html``, ``report.md``, ``results.json`` and ``metrics.prom`` in ``DIR``,
every row with its verdict per source pod and zone. Exit status 0 when the merged run passed, 1 when
a row FAILED or a run reported an error, 2 when an input is unreadable.
"""

from __future__ import annotations

import argparse
import sys

from gvpconf.report import common, merge, write_all

PROG = "python -m gvpconf.report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="GVP conformance reports.")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge per-pod results.json files into one deployment-wide report")
    m.add_argument("results", nargs="+", help="results.json of each source pod's run")
    m.add_argument("--out", required=True, help="directory for report.html, report.md, results.json, metrics.prom")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = merge.merge(merge.load_inputs(args.results))
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        written = write_all(run, args.out)
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(common.summary_line(run))
    for line in run.problems:
        print(f"problem: {line}")
    for line in run.notes:
        print(f"note: {line}")
    print("merged reports: " + ", ".join(str(p) for p in written))
    return 1 if run.exit_status else 0


if __name__ == "__main__":
    sys.exit(main())
