"""The image recipe, the Kubernetes manifests (validated against the Kubernetes schemas) and the CI examples."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate.utils as kv
import yaml

from gvpconf import __version__
from gvpconf.inventory import parse
from gvpconf.pods.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc", "python3-dev", "libc6-dev", "cargo", "rustc")


def stages(text: str) -> dict[str, list[str]]:
    """Containerfile instructions (continuations joined), per stage name."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, list[str]] = {}
    current = ""
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            assert m
            current = m.group(2) or m.group(1)
            out[current] = [line]
        else:
            out.setdefault(current, []).append(line)
    return out


def test_image_recipe_is_slim_non_root_versioned_and_installs_only_what_probes_need() -> None:
    text = (ROOT / "deploy" / "Containerfile").read_text()
    st = stages(text)
    probe = st["probe"]
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", text)
    runs = [i for i in probe if i.upper().startswith("RUN ")]
    for run in runs:
        words = set(re.split(r"[\s;&|]+", run))
        assert not words & {"apt-get", "apt", "apk", "dnf", "yum"}, f"package manager in the probe image: {run}"
        assert not words & set(COMPILERS), run
        assert not re.search(r"\b(curl|wget)\b", run), run
    installed = []
    for run in runs:
        for command in run[4:].split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                installed += [w for w in words[2:] if not w.startswith("-")]
            elif words[:2] == ["pip", "wheel"]:
                assert "--no-deps" in words and words[-1] == ".", words
    assert installed == ["/tmp/wheels/gvpconf-*.whl"], installed  # the project alone: its runtime deps, no extras
    assert "--only-binary=:all:" in " ".join(runs), "dependencies must come as wheels (no compiler needed)"
    assert not any("[dev]" in r or "[pods]" in r or "kubernetes" in r for r in runs)
    users = [i.split()[1] for i in probe if i.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert any("org.opencontainers.image.version" in i and "${GVPCONF_VERSION}" in i for i in probe)
    assert f"ARG GVPCONF_VERSION={__version__}" in text
    runner_users = [i.split()[1] for i in st["runner"] if i.upper().startswith("USER ")]
    assert runner_users[-1] != "0" and not runner_users[-1].startswith("0:")


def resources() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    found = []
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        found += [(path.name, r) for r in kv.resources_from_file(str(path))]
    return found


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    found = resources()
    kinds = sorted({r["kind"] for _, r in found})
    assert kinds == ["ConfigMap", "CronJob", "Job", "Role", "RoleBinding", "ServiceAccount"]
    for name, res in found:
        assert kv.validate(res, K8S_VERSION, strict=True) == "1.30", name


def test_rbac_is_minimal_and_namespaced() -> None:
    (role,) = [r for _, r in resources() if r["kind"] == "Role"]
    grants = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert grants == {("pods", "get"), ("pods", "list"), ("pods/log", "get"), ("pods/ephemeralcontainers", "patch"),
                      ("endpointslices", "list"), ("jobs", "create"), ("jobs", "delete")}
    assert not [r for _, r in resources() if r["kind"].startswith("Cluster")]


def test_inventory_configmap_loads_and_secrets_are_references() -> None:
    (cm,) = [r for _, r in resources() if r["kind"] == "ConfigMap"]
    inv = parse(yaml.safe_load(cm["data"]["inventory.yaml"]), "configmap")
    assert inv.cluster.namespace == "gvp"
    text = cm["data"]["inventory.yaml"]
    assert "password: {file:" in text and "password: {env:" not in text.replace("username: {env:", "")
    for name, res in resources():
        if res["kind"] in ("Job", "CronJob"):
            spec = res["spec"] if res["kind"] == "Job" else res["spec"]["jobTemplate"]["spec"]
            # the runner needs no secret: the probe containers get the target pods' own (gvpconf.pods.secretmap)
            runner_container = spec["template"]["spec"]["containers"][0]
            assert "env" not in runner_container and "envFrom" not in runner_container, name


def ci_commands() -> list[str]:
    cmds = []
    gh = yaml.safe_load((ROOT / "ci" / "github-actions.yml").read_text())
    assert gh[True]["schedule"][0]["cron"]  # "on:" parses as True in YAML 1.1
    for step in gh["jobs"]["from-the-pods"]["steps"]:
        if "gvpconf.pods run" in step.get("run", ""):
            cmds.append(step["run"])
    gl = yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())
    job = gl["gvpconf-from-the-pods"]
    assert job["artifacts"]["reports"]["junit"] == "reports/junit-pods.xml"
    cmds += [c for c in job["script"] if "gvpconf.pods run" in c]
    jf = (ROOT / "ci" / "Jenkinsfile").read_text()
    assert re.search(r"triggers\s*\{\s*cron\('", jf) and "junit testResults: 'reports/junit-pods.xml'" in jf
    cmds += re.findall(r"sh '\. \.venv/bin/activate && (python -m gvpconf\.pods run[^']*)'", jf)
    return cmds


def test_ci_examples_publish_the_reports_install_pinned_and_jenkins_uses_a_venv() -> None:
    gh = (ROOT / "ci" / "github-actions.yml").read_text()
    gl = yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())["gvpconf-from-the-pods"]
    jf = (ROOT / "ci" / "Jenkinsfile").read_text()
    for name in ("report.html", "report.md"):
        assert f"reports/{name}" in gh and f"reports/{name}" in gl["artifacts"]["paths"] and f"reports/{name}" in jf
    assert "pip install -c deploy/constraints.txt" in gh and any("-c deploy/constraints.txt" in c
                                                                  for c in gl["before_script"])
    assert "python -m venv .venv && .venv/bin/pip install -c deploy/constraints.txt" in jf
    assert not re.search(r"sh ['\"]pip ", jf), "pip into the image's Python fails as Jenkins' non-root user"


def test_image_is_pinned_by_digest_and_constraints_and_header_commands_build_their_stage() -> None:
    text = (ROOT / "deploy" / "Containerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}\n", text)
    runs = [i for st in stages(text).values() for i in st if i.upper().startswith("RUN ") and "pip install" in i]
    assert runs and all("--constraint=/opt/gvpconf/constraints.txt" in r for r in runs), runs
    assert "COPY deploy/constraints.txt ./constraints.txt" in text
    pins = dict(line.split("==") for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {"pytest", "pydantic", "kubernetes", "pyyaml"} <= set(pins) and "gvpconf" not in pins
    headers = [line for line in text.splitlines() if line.startswith("#   docker build")]
    assert len(headers) == 2
    for line in headers:
        target = re.search(r"--target (\S+)", line)
        assert target and target.group(1) in stages(text), line
    assert [re.search(r"--target (\S+)", h).group(1) for h in headers] == ["probe", "runner"]  # type: ignore[union-attr]


def test_ci_examples_run_the_runner_nightly_and_publish_junit() -> None:
    cmds = ci_commands()
    assert len(cmds) == 3
    parser = build_parser()
    for cmd in cmds:
        argv = shlex.split(cmd)
        assert argv[:3] == ["python", "-m", "gvpconf.pods"]
        args = parser.parse_args(argv[3:])
        assert args.junitxml == "reports/junit-pods.xml" and args.deny_matrix
        assert (ROOT / args.inventory).exists(), args.inventory
        parse(yaml.safe_load((ROOT / args.inventory).read_text()), args.inventory)


def test_image_compiles_its_bytecode_at_build_and_precompile_writes_the_tests_rewritten_form(tmp_path: Path) -> None:
    """The pod runs read-only with PYTHONDONTWRITEBYTECODE=1: bytecode not compiled into the image is compiled again
    at every start. The recipe compiles it (pip, the stdlib, ``gvpconf.precompile``); precompile writes pytest's
    rewritten form of every conformance module, under that very environment."""
    probe = stages((ROOT / "deploy" / "Containerfile").read_text())["probe"]
    runs = " ".join(i for i in probe if i.upper().startswith("RUN "))
    assert "--no-compile" not in runs and "python -m compileall" in runs
    assert "python -m gvpconf.precompile /opt/gvpconf/tests" in runs
    assert "ENV PYTHONDONTWRITEBYTECODE=1" in " ".join(probe)
    shutil.copytree(ROOT / "tests", tmp_path / "tests")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "gvpconf.precompile", str(tmp_path / "tests")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    modules = sorted(p.name for p in (tmp_path / "tests").rglob("test_c*.py"))
    cached = sorted(p.name.split(".")[0] + ".py" for p in (tmp_path / "tests").rglob("__pycache__/*-pytest-*.pyc"))
    assert len(modules) == 22 and cached == modules
