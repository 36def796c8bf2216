"""The container entrypoint: run the suite from this pod and print the JUnit report into the container's log.

An ephemeral container cannot mount new volumes and its files cannot be copied out without ``exec``,
so the inventory comes in ``$GVP_INVENTORY_YAML`` (it holds no secret values, only references to
secrets the pod already mounts or to env variables) and the report goes out through the log, between
two marker lines, gzip+base64 encoded (``extract_junit`` reads it back), followed the same way by the
run's ``results.json`` (``extract_results``), from which the runner builds the merged acceptance report.
Arguments are pytest's (``--source auto``, ``--deny-matrix``, ...). Bounded by ``$GVP_RUN_TIMEOUT``
seconds (default 300).

    python -m gvpconf.pods.entry --source auto --deny-matrix
"""

from __future__ import annotations

import base64
import gzip
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

BEGIN = "----- BEGIN GVPCONF JUNIT (gzip+base64) -----"
END = "----- END GVPCONF JUNIT -----"
#: the run's results.json (the merged acceptance report is built from these), the same way
RESULTS_BEGIN = "----- BEGIN GVPCONF RESULTS (gzip+base64) -----"
RESULTS_END = "----- END GVPCONF RESULTS -----"


def suite_dir() -> Path:
    if os.environ.get("GVP_SUITE_DIR"):
        return Path(os.environ["GVP_SUITE_DIR"])
    here = Path(__file__).resolve().parents[3]
    return here if (here / "tests").is_dir() else Path("/opt/gvpconf")


def _encode(data: bytes, begin: str, end: str) -> str:
    body = base64.b64encode(gzip.compress(data)).decode("ascii")
    return "\n".join([begin, *textwrap.wrap(body, 76), end])


def _extract(log: str, begin: str, end_marker: str) -> str | None:
    start = log.rfind(begin)
    if start < 0:
        return None
    end = log.find(end_marker, start)
    if end < 0:
        return None
    body = "".join(log[start + len(begin):end].split())
    try:
        return gzip.decompress(base64.b64decode(body, validate=True)).decode("utf-8")
    except (ValueError, OSError, EOFError):
        return None


def encode_junit(xml: bytes) -> str:
    return _encode(xml, BEGIN, END)


def extract_junit(log: str) -> str | None:
    """The JUnit XML printed by ``encode_junit`` in a container log, or None when there is none."""
    return _extract(log, BEGIN, END)


def encode_results(results_json: bytes) -> str:
    return _encode(results_json, RESULTS_BEGIN, RESULTS_END)


def extract_results(log: str) -> str | None:
    """The ``results.json`` printed by ``encode_results`` in a container log, or None when there is none."""
    return _extract(log, RESULTS_BEGIN, RESULTS_END)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    timeout = float(os.environ.get("GVP_RUN_TIMEOUT", "300"))
    with tempfile.TemporaryDirectory(prefix="gvpconf-") as tmp:
        cmd = [sys.executable, "-m", "pytest", str(suite_dir() / "tests"), "-p", "no:cacheprovider",
               "--junitxml", str(Path(tmp) / "junit.xml"), "--gvp-reports", str(Path(tmp) / "reports")]
        inline = os.environ.get("GVP_INVENTORY_YAML")
        if inline:
            inv = Path(tmp) / "inventory.yaml"
            inv.write_text(inline, encoding="utf-8")
            cmd += ["--inventory", str(inv)]
        cmd += args
        try:
            proc = subprocess.run(cmd, cwd=suite_dir(), timeout=timeout, check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            print(f"gvpconf: the suite did not finish within {timeout:.0f} s", flush=True)
            code = 124
        junit = Path(tmp) / "junit.xml"
        if junit.exists():
            print(encode_junit(junit.read_bytes()), flush=True)
        results = Path(tmp) / "reports" / "results.json"
        if results.exists():
            print(encode_results(results.read_bytes()), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
