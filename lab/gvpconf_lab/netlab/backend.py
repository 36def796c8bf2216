"""The runner's local backend: run the suite INSIDE a source pod's network namespace, as it would run in the pod.

``ip netns exec <ns> python -m pytest tests --inventory ... --source <role> --junitxml ...``: the
process has the pod's address, the pod's routes and is subject to the pod's egress rules. It runs in
its own session and is killed (by its PID's process group) when it overruns its time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gvpconf.pods.model import RunOutcome, SourcePod
from gvpconf.pods.runner import POD_ROLES
from gvpconf_lab.netlab.netns import exec_prefix


def project_root() -> Path:
    """The directory holding ``tests/`` and ``pyproject.toml`` (src layout: two levels above the package)."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "tests").is_dir() and (here / "pyproject.toml").exists() else Path.cwd()


def run_name(source: SourcePod) -> str:
    """A run's name in its files: its pod's, or, for a run of another role in that pod (19's ``nuance`` run in an
    MCP pod), the pod's and the role's."""
    return source.pod if source.role in POD_ROLES else f"{source.pod}-as-{source.role}"


class LocalBackend:
    """Run the suite in a subprocess, optionally inside a network namespace (``SourcePod.location``)."""

    name = "netns"

    def __init__(self, inventory: Path, workdir: Path, *, root: Path | None = None, python: str = sys.executable,
                 use_netns: bool = True, env: Mapping[str, str] | None = None) -> None:
        self.inventory = Path(inventory)
        self.workdir = Path(workdir)
        self.root = root or project_root()
        self.python = python
        self.use_netns = use_netns
        self.env = dict(env or {})
        if not use_netns:
            self.name = "local"

    def reports_dir(self, source: SourcePod) -> Path:
        """Each run's own reports directory (report.html... and the results.json the merged report is built from)."""
        return self.workdir / f"reports-{run_name(source)}"

    def command(self, source: SourcePod, suite_args: Sequence[str], junit: Path) -> list[str]:
        prefix = exec_prefix(source.location) if self.use_netns else []
        return [*prefix, self.python, "-m", "pytest", str(self.root / "tests"), "-p", "no:cacheprovider",
                "--inventory", str(self.inventory), "--junitxml", str(junit),
                "--gvp-reports", str(self.reports_dir(source)),
                "-o", f"junit_suite_name=gvp-conformance-{run_name(source)}", *suite_args]

    def run(self, source: SourcePod, suite_args: Sequence[str], timeout: float) -> RunOutcome:
        self.workdir.mkdir(parents=True, exist_ok=True)
        junit = self.workdir / f"junit-{run_name(source)}.xml"
        junit.unlink(missing_ok=True)
        results = self.reports_dir(source) / "results.json"
        results.unlink(missing_ok=True)
        log_path = self.workdir / f"run-{run_name(source)}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
        env.update(self.env)
        env.update({"GVP_SOURCE_ROLE": source.role, "GVP_POD_NAME": source.pod, "GVP_POD_ZONE": source.zone,
                    "GVP_SOURCE_POD": source.pod, "GVP_SOURCE_ZONE": source.zone})
        started = time.monotonic()
        outcome = RunOutcome(source, backend=self.name)
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(self.command(source, suite_args, junit), cwd=self.root, env=env,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            except OSError as exc:
                outcome.error, outcome.cause = f"cannot start the run: {exc}", "attach"
                return outcome
            try:
                outcome.exit_code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the run and what it forked
                proc.wait(timeout=10)
                outcome.error, outcome.cause = f"the run did not finish within {timeout:.0f} s", "timeout"
        outcome.duration = time.monotonic() - started
        outcome.log = log_path.read_text(encoding="utf-8", errors="replace")[-8000:]
        if outcome.error is None:
            if results.exists():
                outcome.results = results.read_text(encoding="utf-8")
            if junit.exists() and junit.stat().st_size > 0:
                outcome.junit = junit.read_text(encoding="utf-8")
            else:
                outcome.error = f"pytest exited {outcome.exit_code} without a JUnit report"
                outcome.cause = "no-report"
        return outcome
