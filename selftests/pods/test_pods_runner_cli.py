"""The cluster runner's command line when things go wrong before or around the runs: a bad inventory, an
API server that is unreachable or forbids, the suite's options passed to every pod (stand-in API server)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gvpconf.pods.__main__ import main
from gvpconf_lab.standin_api import Cluster, StandInServer
from selftests.pods.test_pods_kube import NS, fake_kubelet, make_cluster

INVENTORY = "version: 1\ndestinations: {}\n"


@pytest.fixture
def served() -> Iterator[tuple[Cluster, StandInServer]]:
    c = make_cluster()
    with StandInServer(c) as server:
        yield c, server


def run(tmp_path: Path, url: str, *extra: str, inventory: str = INVENTORY) -> tuple[int, Path]:
    inv = tmp_path / "inv.yaml"
    inv.write_text(inventory)
    out = tmp_path / "merged.xml"
    code = main(["run", "--api-url", url, "--namespace", NS, "--image", "img:1", "--inventory", str(inv),
                 "--junitxml", str(out), "--roles", "rm,mcp", "--run-timeout", "20", *extra])
    return code, out


def failing_cases(out: Path) -> list[tuple[str, str, str]]:
    found = []
    for tc in ET.parse(out).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        failure = tc.find("failure")
        assert failure is not None
        found.append((str(props["source.role"]), str(props["cause"]), failure.get("message", "")))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_api_server_is_one_line_and_a_failing_case_per_role(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, f"http://127.0.0.1:{free_port()}")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "Retrying" not in err
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("python -m gvpconf.pods: the API server refused the connection (refused)"), err
    assert [(r, c) for r, c, _m in failing_cases(out)] == [("rm", "refused"), ("mcp", "refused")]
    assert (tmp_path / "report.html").exists() and (tmp_path / "report.md").exists()


def test_a_silent_api_server_is_a_timeout_not_a_hang(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An API server that accepts and never answers: every request has a (connect, read) timeout."""
    import time

    from gvpconf.pods import kube
    from gvpconf_lab import impostors

    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (1.0, 2.0))
    with impostors.silent() as (host, port):
        started = time.monotonic()
        code, out = run(tmp_path, f"http://{host}:{port}")
        took = time.monotonic() - started
    err = capsys.readouterr().err
    assert took < 15, f"the runner took {took:.1f} s against a silent API server"
    assert code == 1 and "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("python -m gvpconf.pods: the API server did not answer in time (timeout)"), err
    assert [(r, c) for r, c, _m in failing_cases(out)] == [("rm", "timeout"), ("mcp", "timeout")]


def test_an_unwritable_report_path_stops_before_any_api_request(
        served: tuple[Cluster, StandInServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c, server = served
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    blocker = tmp_path / "file"
    blocker.write_text("")
    for extra in (["--junitxml", str(blocker / "junit.xml")], ["--reports", str(blocker / "reports")]):
        code = main(["run", "--api-url", server.url, "--namespace", NS, "--image", "img:1", "--inventory",
                     str(inv), "--roles", "rm", *(extra if extra[0] == "--junitxml" else
                                                  ["--junitxml", str(tmp_path / "j.xml"), *extra])])
        err = capsys.readouterr().err
        (line,) = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and line.startswith(f"python -m gvpconf.pods: {extra[0]}: cannot create"), err
    assert c.requests == []


def test_a_malformed_kubeconfig_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - {name: x\n")
    out = tmp_path / "junit.xml"
    code = main(["run", "--kubeconfig", str(kubeconfig), "--namespace", NS, "--image", "img:1", "--inventory",
                 str(inv), "--roles", "rm", "--junitxml", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and "the kubeconfig is not valid YAML" in line and line.endswith("(config); nothing was run")
    assert [(r, cause) for r, cause, _m in failing_cases(out)] == [("rm", "config")]


def test_forbidden_api_server_is_cause_auth(served: tuple[Cluster, StandInServer], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    c, server = served
    c.forbid_pods = True
    code, out = run(tmp_path, server.url)
    assert code == 1 and "403 Forbidden (auth)" in capsys.readouterr().err
    assert {(r, cause) for r, cause, _m in failing_cases(out)} == {("rm", "auth"), ("mcp", "auth")}


def test_the_inventory_is_validated_before_anything_is_touched(
        served: tuple[Cluster, StandInServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c, server = served
    code, out = run(tmp_path, server.url, inventory="version: 1\ndestinations: {activemq: {targets: [{port: 1}]}}\n")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "inv.yaml" in err and "host" in err, err
    assert c.requests == [] and not out.exists()


def test_suite_options_reach_every_pod(served: tuple[Cluster, StandInServer], tmp_path: Path) -> None:
    c, server = served
    seen: list[dict[str, Any]] = []
    c.kubelet = fake_kubelet(seen)
    waivers = tmp_path / "waivers.yaml"
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waivers.write_text(f"- {{connection: 7, source: mcp, reason: r, owner: o, expires: {expires}}}\n")
    code, _out = run(tmp_path, server.url, "--gvp-calls", "--deny-matrix", "--gvp-waivers", str(waivers))
    # with the calls on, each MCP pod also runs 19 (--source nuance: its probe listens in that pod), without the
    # deny matrix (that pod's own is the mcp run's)
    assert code == 0 and len(seen) == 6
    nuance = [s for s in seen if s["container"]["args"][s["container"]["args"].index("--source") + 1] == "nuance"]
    assert sorted(s["pod"] for s in nuance) == ["gvp-mcp-0", "gvp-mcp-1"]
    for s in seen:
        container = s["container"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert "--gvp-calls" in container["args"]
        assert ("--deny-matrix" in container["args"]) is (s not in nuance)
        assert env["GVP_WAIVERS_YAML"] == waivers.read_text()
    # the baseline is the merged results.json of an earlier run: the drift is the merged report's, per pod
    earlier = tmp_path / "earlier.json"
    earlier.write_text((tmp_path / "results.json").read_text())
    seen.clear()
    code, _out = run(tmp_path, server.url, "--gvp-baseline", str(earlier))
    assert code == 0 and all("GVP_BASELINE_JSON" not in {e["name"] for e in s["container"]["env"]} for s in seen)
    merged = json.loads((tmp_path / "results.json").read_text())
    assert merged["drift"]["baseline"] == str(earlier)
    assert not [i for i in merged["drift"]["items"] if i["kind"] in ("new case", "gone")], merged["drift"]["items"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {connection: 99}\n")
    assert run(tmp_path, server.url, "--gvp-waivers", str(bad))[0] == 2


def test_sigint_stops_the_runner_keeps_finished_runs_and_exits_interrupted(
        served: tuple[Cluster, StandInServer], tmp_path: Path) -> None:
    """Two pods answer, two never finish: the first SIGINT ends the waits at once (not at --run-timeout),
    the finished runs are kept and the others are ``interrupted`` in the merged JUnit; exit status 2."""
    import signal
    import subprocess
    import sys

    from selftests.helpers import interrupt

    c, server = served
    c.kubelet = fake_kubelet([])
    c.hang |= {"gvp-mcp-1", "gvp-rm-1"}
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    out = tmp_path / "merged.xml"
    proc = subprocess.Popen([sys.executable, "-m", "gvpconf.pods", "run", "--api-url", server.url, "--namespace", NS,
                             "--image", "img:1", "--inventory", str(inv), "--junitxml", str(out), "--roles", "rm,mcp",
                             "--run-timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a hang shows its threads
    answering = ("gvp-rm-0", "gvp-mcp-0")

    def answering_runs_collected() -> bool:  # all four pods patched, and the runner read both answering pods' logs
        requests = list(c.requests)
        return len([r for r in requests if r[0] == "PATCH"]) >= 4 and all(
            any(r[0] == "GET" and f"/pods/{name}/log" in r[1] for r in requests) for name in answering)

    # then an impatient second signal: no traceback, the reports still written
    stopped = interrupt(proc, signal.SIGINT, signal.SIGTERM, when=answering_runs_collected,
                        what="the answering pods' runs were collected", within=120)  # a loaded machine is slow
    output = stopped.output
    assert stopped.returncode == 2 and stopped.took < 5, (stopped.returncode, stopped.took, output)
    assert "Traceback" not in output and "SIGTERM: already stopping" in output, output
    cases = {}
    for tc in ET.parse(out).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        cases.setdefault(props["source.pod"], set()).add(props.get("cause", "passed"))
    assert cases == {"gvp-mcp-0": {"passed"}, "gvp-rm-0": {"passed"}, "gvp-mcp-1": {"interrupted"},
                     "gvp-rm-1": {"interrupted"}}, cases


def test_a_stalled_api_server_does_not_hold_the_stop(served: tuple[Cluster, StandInServer], tmp_path: Path) -> None:
    """The API server stops answering the reads of the two unfinished runs: one SIGINT, and the runner stops
    waiting for them after --stop-grace (not after the request timeout and its retries), keeps the finished
    runs, and exits (the stuck requests do not hold the process)."""
    import signal
    import subprocess
    import sys

    from selftests.helpers import interrupt

    c, server = served
    c.kubelet = fake_kubelet([])
    stuck = ("gvp-mcp-1", "gvp-rm-1")
    c.hang |= set(stuck)
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    out = tmp_path / "merged.xml"
    proc = subprocess.Popen([sys.executable, "-m", "gvpconf.pods", "run", "--api-url", server.url, "--namespace", NS,
                             "--image", "img:1", "--inventory", str(inv), "--junitxml", str(out), "--roles", "rm,mcp",
                             "--run-timeout", "120", "--stop-grace", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    since: list[int] = []

    def stuck_in_a_read() -> bool:  # the finished runs collected; then both others blocked in a read of their pod
        requests = list(c.requests)
        if not since:
            if all(any(r[0] == "GET" and f"/pods/{name}/log" in r[1] for r in requests)
                   for name in ("gvp-rm-0", "gvp-mcp-0")):
                c.stall |= set(stuck)
                since.append(len(requests))
            return False
        return all(any(r[0] == "GET" and r[1].endswith(f"/pods/{name}") for r in requests[since[0]:])
                   for name in stuck)

    try:
        stopped = interrupt(proc, signal.SIGINT, when=stuck_in_a_read, what="both runs stuck in a read", within=120)
    finally:
        c.unstall.set()
    output = stopped.output
    assert stopped.returncode == 2 and 0.9 < stopped.took < 6, (stopped.returncode, stopped.took, output)
    assert "Traceback" not in output, output
    cases: dict[str, set[tuple[str, str]]] = {}
    for tc in ET.parse(out).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        error = tc.find("error")
        said = "" if error is None else error.get("message", "")
        waited = "stopped waiting (1 s after the stop)" if "stopped waiting for this run (1 s after the stop" in said \
            else said
        cases.setdefault(props["source.pod"], set()).add((props.get("cause", "passed"), waited))
    stopped_waiting = ("interrupted", "stopped waiting (1 s after the stop)")
    assert cases == {"gvp-mcp-0": {("passed", "")}, "gvp-rm-0": {("passed", "")}, "gvp-mcp-1": {stopped_waiting},
                     "gvp-rm-1": {stopped_waiting}}, cases


def test_job_resources_are_checked_first_and_reach_the_job(served: tuple[Cluster, StandInServer], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    c, server = served
    c.kubelet = fake_kubelet([])
    for bad, said in ((["--job-limits", "memory=lots"], "--job-limits: memory: 'lots' is not a Kubernetes quantity"),
                      (["--job-limits", "gpu=1"], "--job-limits: 'gpu=1': want NAME=QUANTITY"),
                      (["--job-requests", "memory=512Mi"], "--job-requests: memory 512Mi is over its limit 256Mi")):
        assert run(tmp_path, server.url, *bad)[0] == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    assert c.requests == []  # nothing was asked of the API server
    c.forbid_ephemeral |= {"gvp-rm-0", "gvp-rm-1", "gvp-mcp-0", "gvp-mcp-1", "gvp-mcp-2"}
    code, _out = run(tmp_path, server.url, "--job-requests", "cpu=100m,memory=200Mi", "--job-limits", "memory=1Gi")
    assert code == 0
    jobs = [p for (_ns, name), p in c.pods.items() if name.startswith("gvpconf-")]
    assert jobs and all(p["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "1Gi"}} for p in jobs)


def test_a_selector_may_name_the_roles_namespace() -> None:
    import argparse

    from gvpconf.pods.__main__ import _selector

    assert _selector("prometheus:monitoring=app.kubernetes.io/name=prometheus") == (
        "prometheus", "app.kubernetes.io/name=prometheus", None, "monitoring")
    assert _selector("mcp=app=gvp-mcp@gvp-mcp") == ("mcp", "app=gvp-mcp", "gvp-mcp", None)
    with pytest.raises(argparse.ArgumentTypeError):
        _selector("nuance=app=x")
