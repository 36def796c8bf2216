"""The container entrypoint: run the suite from this pod and print the JUnit report into the container's log.

An ephemeral container cannot mount new volumes and its files cannot be copied out without ``exec``;
the probe container runs as uid 10001 on a read-only root with no writable volume. So nothing here
needs a directory: the inventory comes in ``$GVP_INVENTORY_YAML`` (it holds no secret values, only
references to secrets the container gets from the pod: ``secretKeyRef`` env and the pod's Secret
volumes, mapped by the runner), the waivers in ``$GVP_WAIVERS_YAML`` and the drift baseline in
``$GVP_BASELINE_JSON``; each is handed to pytest as an anonymous in-memory file (``memfd_create``,
opened by pytest as ``/proc/self/fd/N``), and so are pytest's JUnit report and the run's
``results.json`` (written by :mod:`gvpconf.pods.capture`). Both go out through the log, between two
marker lines, gzip+base64 encoded (``extract_junit``, ``extract_results`` read them back).

Arguments are pytest's (``--source auto``, ``--deny-matrix``, ...). Bounded by ``$GVP_RUN_TIMEOUT``
seconds (default 300). A SIGTERM (the pod deleted, a Job's deadline) or SIGINT is passed on to pytest
as one SIGINT (pytest runs in its own process group, so a Ctrl-C to the terminal's group reaches it only
through here; later signals are not forwarded), so the run stops its probes and still writes its
reports, with the unfinished cases ``interrupted``; they are printed as usual. The run gets
:data:`GRACE` seconds to do so.

    python -m gvpconf.pods.entry --source auto --deny-matrix
"""

from __future__ import annotations

import base64
import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

BEGIN = "----- BEGIN GVPCONF JUNIT (gzip+base64) -----"
END = "----- END GVPCONF JUNIT -----"
#: the run's results.json (the merged acceptance report is built from these), the same way
RESULTS_BEGIN = "----- BEGIN GVPCONF RESULTS (gzip+base64) -----"
RESULTS_END = "----- END GVPCONF RESULTS -----"
#: the fd pytest's child writes results.json to (gvpconf.pods.capture)
RESULTS_FD_ENV = "GVP_RESULTS_FD"
#: seconds an interrupted or timed-out run has to write its reports before it is killed
GRACE = 10.0
#: environment variables whose text becomes a file argument of pytest
INLINE_FILES = (("GVP_INVENTORY_YAML", "--inventory"), ("GVP_WAIVERS_YAML", "--gvp-waivers"),
                ("GVP_BASELINE_JSON", "--gvp-baseline"))


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


def memfile(name: str, data: bytes = b"") -> int:
    """An anonymous in-memory file (no filesystem needed), holding ``data``."""
    fd = os.memfd_create(f"gvpconf-{name}")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


def fd_path(fd: int) -> str:
    """The path a child process opens ``fd`` by (the same in-memory file, not a copy)."""
    return f"/proc/self/fd/{fd}"


def read_memfile(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    timeout = float(os.environ.get("GVP_RUN_TIMEOUT", "300"))
    junit_fd, results_fd = memfile("junit.xml"), memfile("results.json")
    fds = [junit_fd, results_fd]
    # test-only plugins a dev install brings (hypothesis imports itself at the summary: seconds of the GRACE)
    cmd = [sys.executable, "-m", "pytest", str(suite_dir() / "tests"), "-p", "no:cacheprovider",
           "-p", "no:hypothesispytest", "-p", "no:anyio",
           "-p", "gvpconf.pods.capture", "--capture=sys", "--junitxml", fd_path(junit_fd),
           "--gvp-reports", "none"]
    for env_name, option in INLINE_FILES:
        text = os.environ.get(env_name)
        if text:
            fd = memfile(option.strip("-"), text.encode("utf-8"))
            fds.append(fd)
            cmd += [option, fd_path(fd)]
    cmd += args
    env = {k: v for k, v in os.environ.items() if k not in {e for e, _o in INLINE_FILES}}
    env[RESULTS_FD_ENV] = str(results_fd)
    # the reports name the inventory by what it is, not by its in-memory file (/proc/self/fd/N)
    env.setdefault("GVP_INVENTORY_NAME", "$GVP_INVENTORY_YAML (inline)")
    code = run_bounded(cmd, env, fds, timeout)
    junit = read_memfile(junit_fd)
    if junit:
        print(encode_junit(junit), flush=True)
    results = read_memfile(results_fd)
    if results:
        print(encode_results(results), flush=True)
    for fd in fds:
        os.close(fd)
    return code


def run_bounded(cmd: list[str], env: dict[str, str], fds: Sequence[int], timeout: float) -> int:
    """Run pytest; on SIGTERM/SIGINT or at ``timeout``, interrupt it (SIGINT) and give it :data:`GRACE` seconds."""
    # pytest in a process group of its own: a Ctrl-C in an interactive debug pod signals the terminal's
    # whole foreground group, and pytest must get one interrupt (ours), not two (a second is a traceback)
    proc = subprocess.Popen(cmd, cwd=suite_dir(), env=env, pass_fds=tuple(fds), process_group=0)
    stopping: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + timeout
    grace_until: float | None = None
    timed_out = False
    try:
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if grace_until is None and (stopping or now >= deadline):
                timed_out = not stopping
                why = f"{stopping[0]} received" if stopping else f"the suite did not finish within {timeout:.0f} s"
                print(f"gvpconf: {why}: interrupting the run (its reports mark unfinished cases interrupted)",
                      flush=True)
                proc.send_signal(signal.SIGINT)
                grace_until = now + GRACE
            elif grace_until is not None and now >= grace_until:
                print(f"gvpconf: the run did not stop within {GRACE:.0f} s of the interrupt: killed", flush=True)
                proc.kill()
                code = proc.wait()
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 124 if timed_out else code


if __name__ == "__main__":
    sys.exit(main())
