"""docs/interop.md and the cells agree: every row is a cell with the verdict its selftest asserts, every cell is a
row, and every protocol is run against at least two implementations by a module of this directory."""

from __future__ import annotations

import os
import re

import pytest

from selftests.interop import matrix


@pytest.mark.skipif(os.environ.get("GVPCONF_UPDATE_INTEROP") == "1",
                    reason="make interop-doc: this run rewrites docs/interop.md from its cells")
def test_the_document_lists_every_cell_with_its_verdict() -> None:
    rows = matrix.parse_doc(matrix.DOC.read_text(encoding="utf-8"))
    expected = [(c.protocol, c.implementation, c.scenario, "not run" if c.not_run else c.expected)
                for c in matrix.CELLS]
    missing = [r for r in expected if r not in rows]
    extra = [r for r in rows if r not in expected]
    assert not missing and not extra, (f"docs/interop.md disagrees with selftests/interop/matrix.py: cells not in "
                                       f"the document {missing}, rows that are no cell {extra}; run make interop-doc")
    assert rows == expected  # same order too


def test_a_cell_that_cannot_run_says_why() -> None:
    for c in matrix.CELLS:
        assert c.not_run is None or len(c.not_run) > 10, c


def test_every_protocol_has_two_implementations_and_a_module() -> None:
    sources = "\n".join(p.read_text() for p in matrix.DOC.parents[1].joinpath("selftests", "interop").glob(
        "test_interop_*.py"))
    declared = set(re.findall(r'^PROTOCOL = "([^"]+)"', sources, re.M)) | set(
        re.findall(r'matrix\.cells\("([^"]+)"\)', sources))
    for protocol in dict.fromkeys(c.protocol for c in matrix.CELLS):
        implementations = {c.implementation for c in matrix.cells(protocol) if "posing" not in c.implementation}
        assert len(implementations) >= 2, (protocol, implementations)
        assert protocol in declared, f"no selftests/interop module runs the {protocol} cells"


def test_ids_are_unique() -> None:
    ids = [(c.protocol, c.id) for c in matrix.CELLS]
    assert len(ids) == len(set(ids))


def test_every_implementation_says_what_it_changes_from_stock() -> None:
    implementations = {c.implementation for c in matrix.CELLS if "posing" not in c.implementation}
    implementations = {"pgbouncer" if i.startswith("pgbouncer") else i for i in implementations}
    assert implementations <= set(matrix.CHANGED_FROM_STOCK), implementations - set(matrix.CHANGED_FROM_STOCK)
