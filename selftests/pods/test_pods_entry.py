"""The probe container's entrypoint, run as the container runs it: no writable directory needed, and a
SIGTERM (the pod deleted, the Job's deadline) still gets the finished and the interrupted cases out
through the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from gvpconf.pods.entry import extract_junit, extract_results
from gvpconf_lab import impostors
from selftests.helpers import ROOT, SIP_TCP_CONNECTIONS, interrupt


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT-group"])
def test_sigterm_to_the_entrypoint_prints_the_reports_with_interrupted_cases(tmp_path: Path, how: str) -> None:
    """SIGTERM to the entrypoint alone (the kubelet to PID 1); SIGINT to its whole process group (Ctrl-C in
    an interactive debug pod): pytest gets one interrupt either way, never two (a second one is a traceback
    and exit 254)."""
    silent = impostors.silent()
    with silent as (host, port), impostors.refused() as (_h, closed):
        inventory = {"version": 1, "defaults": {"timeouts": {"connect": 3.0, "read": 60.0, "probe": 60.0}},
                     "destinations": {"sip_server": {"transport": "tcp", "targets": [
                         {"name": "silent", "host": host, "port": port},
                         {"name": "closed", "host": host, "port": closed}]}}}
        env = {k: v for k, v in os.environ.items() if not k.startswith("GVP_")}
        env.update({"GVP_INVENTORY_YAML": yaml.safe_dump(inventory), "GVP_SUITE_DIR": str(ROOT),
                    "GVP_RUN_TIMEOUT": "120"})
        # (the read-only root itself is the pod sandbox's test: selftests/e2e/test_pods_sandbox.py)
        proc = subprocess.Popen([sys.executable, "-m", "gvpconf.pods.entry", "--source", "rm", "--connection", "1"],
                                cwd="/proc", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        # SIGTERM to the entrypoint only, as the kubelet does to PID 1; SIGINT-group: the terminal's Ctrl-C, to
        # every process of the foreground group
        stopped = interrupt(proc, signal.Signals[how.split("-")[0]], group=how == "SIGINT-group",
                            when=lambda: len(silent._conns) >= SIP_TCP_CONNECTIONS, exit_within=40,
                            what=f"the {SIP_TCP_CONNECTIONS} connections of #1's probes wait on the silent peer")
    log = stopped.output
    assert stopped.returncode == 2 and stopped.took < 20, (stopped.returncode, stopped.took, log[-2000:])
    assert f"{how.split('-')[0]} received: interrupting the run" in log
    assert "inventory: /proc/self/fd" not in log and "inventory: $GVP_INVENTORY_YAML (inline)" in log
    junit = extract_junit(log)
    assert junit is not None and extract_results(log) is not None, log[-2000:]
    states = {}
    for tc in ET.fromstring(junit).iter("testcase"):
        tag = next((t for t in ("failure", "error") if tc.find(t) is not None), "passed")
        test, _, target = (tc.get("name") or "").partition("[")
        states[(test, target.rstrip("]"))] = tag
    # the OPTIONS: the closed port had failed (kept), the silent one is interrupted (an error)
    assert states[("test_sip_server_answers_options", "closed")] == "failure", states
    assert states[("test_sip_server_answers_options", "silent")] == "error", states
    # the padded OPTIONS (path MTU): silent is interrupted; closed had failed, or had not started yet
    assert states[("test_sip_server_takes_invite_sized_requests", "silent")] == "error", states
    assert states[("test_sip_server_takes_invite_sized_requests", "closed")] in ("failure", "error"), states
    assert len(states) == 4, states
    assert '"outcome": "interrupted"' in (extract_results(log) or "")
