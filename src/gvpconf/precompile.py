"""Compile at build time what the suite would otherwise compile at every start: ``python -m gvpconf.precompile
TESTS_DIR [PYTEST_OPTION...]`` (deploy/Containerfile runs it; ``bench/`` too, to measure the suite as the image
runs it).

The image runs from a read-only root with ``PYTHONDONTWRITEBYTECODE=1``: whatever has no bytecode on disk is
parsed and compiled again at every start, and nothing is ever cached. This writes (whatever that variable says):

* the bytecode of the ``gvpconf`` package (``compileall``);
* pytest's own cached form of the conformance modules under ``TESTS_DIR``, with their asserts rewritten
  (``__pycache__/*-pytest-<version>.pyc``, which pytest reads instead of rewriting), by one ``--collect-only`` with
  an inventory that names no destination: nothing is probed.

Bytecode is checked against the source's modification time at import, so an edited file is never run stale.
"""

from __future__ import annotations

import compileall
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m gvpconf.precompile TESTS_DIR [PYTEST_OPTION...]", file=sys.stderr)
        return 2
    sys.dont_write_bytecode = False  # writing bytecode is this tool's job, whatever the image's environment says
    import gvpconf  # the package the suite imports (bench/ runs this file against another tree's too)

    if not compileall.compile_dir(str(Path(gvpconf.__file__).parent), quiet=1):
        return 1
    import pytest

    with tempfile.TemporaryDirectory(prefix="gvpconf-precompile-") as tmp:
        inventory = Path(tmp) / "inventory.yaml"
        inventory.write_text("version: 1\n", encoding="utf-8")
        rc = pytest.main([args[0], "--collect-only", "-q", "-p", "no:cacheprovider", "--inventory", str(inventory),
                          "--gvp-reports", "none", *args[1:]])
    return int(rc)


if __name__ == "__main__":
    raise SystemExit(main())
