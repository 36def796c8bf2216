"""The product wheel holds only what runs in a pod: no lab, stand-in, impostor or installer code.

The debug-pod image installs exactly this wheel (deploy/Containerfile), so what the wheel holds is what
ships into production pods. The lab is its own distribution (lab/pyproject.toml, package gvpconf_lab).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: words that only lab code has any business containing, in module names or in source
LAB_NAMES = ("gvpconf_lab", "impostor", "standin", "stand_in", "netlab", "apt-get", "policy-rc.d")
#: the lab's own tools: a wheel module importing one of these is lab code, whatever it is called
LAB_TOOLS = ("sipp", "rtpengine", "activemq.jar", "initdb", "pg_ctl")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy of every file git tracks (as `pip wheel .` on a clean clone sees the tree: lab/ included,
    # so a packaging change that picked it up would show), without build/ or egg-info left in the working tree;
    # --no-build-isolation: setuptools comes from the venv (the dev extra), so the test needs no network
    tree = tmp_path_factory.mktemp("tree")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    assert (tree / "lab" / "gvpconf_lab" / "__init__.py").is_file()  # the lab is there to be (not) picked up
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--wheel-dir", str(out), str(tree)], check=True, capture_output=True, timeout=300)
    (found,) = out.glob("gvpconf-*.whl")
    return found


def test_wheel_holds_the_product_and_nothing_of_the_lab(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    modules = [n for n in names if n.endswith(".py")]
    packages = {n.split("/")[0] for n in modules}
    assert packages == {"gvpconf"}, packages
    # the product is there: the pytest plugin, the probes, the codecs, the pod runner
    for needed in ("gvpconf/probes/sip.py", "gvpconf/wire/sip.py", "gvpconf/pods/entry.py",
                   "gvpconf/catalog.py"):
        assert needed in names, needed
    bad = [n for n in modules if any(word in n.lower() for word in LAB_NAMES)]
    assert bad == [], f"lab modules in the product wheel: {bad}"


def test_no_wheel_module_mentions_lab_code_or_lab_tools(wheel: Path) -> None:
    """Not only file names: no module imports the lab or drives a lab peer (the TDS codec keeps PRELOGIN only)."""
    archive = zipfile.ZipFile(wheel)
    offenders = []
    for name in archive.namelist():
        if not name.endswith(".py"):
            continue
        code = "\n".join(line for line in archive.read(name).decode().splitlines()
                         if line.lstrip().startswith(("import ", "from ")) or "subprocess" in line
                         or ('"' in line and any(tool in line for tool in LAB_TOOLS)))
        if "gvpconf_lab" in code or any(f'"{tool}' in code for tool in LAB_TOOLS):
            offenders.append(name)
    assert offenders == [], offenders
    tds = archive.read("gvpconf/wire/tds.py").decode()
    for lab_only in ("class Login7", "def encode_sql_batch", "def parse_tokens"):
        assert lab_only not in tds, f"{lab_only}: the lab-only half of TDS belongs to gvpconf_lab.tds"
