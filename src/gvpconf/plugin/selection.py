"""Which cases run: ``--connection`` and ``--source`` (after pytest's ``-m``/``-k``), then the opt-ins;
which rows that leaves selected; and the waived cases marked ``xfail`` before anything runs.

A waiver names a connection and optionally a target, both known at collection: each case it covers
gets ``pytest.mark.xfail(strict=False)`` with the waiver as its reason, so a failure is reported as
waived (JUnit ``<skipped type="pytest.xfail">``) and a pass stays a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gvpconf.catalog import BY_NUMBER, Connection
from gvpconf.inventory import Target
from gvpconf.plugin import cases, params
from gvpconf.plugin.optin import BY_NAME, item_opt_in

if TYPE_CHECKING:
    from gvpconf.plugin.session import GvpSession
    from gvpconf.report.waivers import Waiver, Waivers


@dataclass
class Chosen:
    kept: list[pytest.Item] = field(default_factory=list)
    dropped: list[pytest.Item] = field(default_factory=list)


def select(gvp: GvpSession, items: list[pytest.Item]) -> Chosen:
    """Keep what ``--connection``, ``--source`` and the opt-ins allow; note what the opt-ins left out, and why."""
    chosen = Chosen()
    opted_out: list[tuple[pytest.Item, Connection, str]] = []
    for item in items:
        row = params.row_of(item)
        if row is None:
            chosen.kept.append(item)
            continue
        check_layout(item, row, gvp.modules)
        by = gvp.options.left_out_by(row.source, row.number)
        if by:
            chosen.dropped.append(item)
            gvp.rows.leave_out(row.number, by)
            continue
        opt_in = item_opt_in(item)
        if opt_in is not None and not gvp.opt_ins.enabled(opt_in.name, row.destination):
            chosen.dropped.append(item)
            opted_out.append((item, row, opt_in.name))
            gvp.left_out.setdefault(opt_in.name, []).append(item.nodeid)
            continue
        chosen.kept.append(item)
    gvp.rows.selected |= {r.number for r in (params.row_of(i) for i in chosen.kept) if r is not None}
    for _item, row, name in opted_out:
        if row.number not in gvp.rows.selected:
            o = BY_NAME[name]
            gvp.rows.opted_out[row.number] = f"opt-in {o.what} not opted into ({o.how})"
            gvp.rows.leave_out(row.number, f"opt-in {o.what.removesuffix('(s)')}: {o.flag}")
    return chosen


def deselected_by(options_markexpr: str, options_keyword: str, batch: int, batches: int) -> str:
    """What pytest's own selection deselected a batch with: ``-k`` first, then ``-m`` (pytest's mark plugin
    deselects by keyword, then by mark, one ``pytest_deselected`` call each)."""
    k = f"-k {options_keyword}" if options_keyword else ""
    m = f"-m {options_markexpr}" if options_markexpr else ""
    if k and m:
        return (k if batch == 0 else m) if batches == 2 else f"{k} or {m}"
    return k or m or "deselected"


def modules_on_disk(collected: set[Path], numbers: set[int]) -> set[int]:
    """Rows among ``numbers`` whose module exists beside the collected ones (``tests/<class>/test_cNN_*.py``):
    a run given a narrower path left them out; they are not missing."""
    roots = {d.parent if d.name in ("egress", "intra", "ingress") else d for d in collected}
    return {n for n in numbers if any(next(root.rglob(f"test_c{n:02d}_*.py"), None) for root in roots)}


def row_of_module(path: Path) -> Connection | None:
    """The row a conformance module is named after (``test_cNN_<slug>.py``), None for any other file."""
    name = path.name
    if not (name.startswith("test_c") and name.endswith(".py") and name[6:8].isdigit() and name[8:9] == "_"):
        return None
    return BY_NUMBER.get(int(name[6:8]))


def check_layout(item: pytest.Item, row: Connection, modules: dict[int, set[str]]) -> None:
    """One module per connection, in the directory of its class (cilium's one-test-per-file), named after its
    row (``--connection``/``--source`` leave a module out by its name: ``GvpSession.pytest_ignore_collect``)."""
    named = row_of_module(item.path)
    if named is not None and named.number != row.number:
        raise pytest.UsageError(f"{item.path}: the module is named after connection {named.number} but is "
                                f"connection {row.number}: rename it test_c{row.number:02d}_<slug>.py")
    check_module(item.path, row, modules)


def check_module(path: Path, row: Connection, modules: dict[int, set[str]]) -> None:
    module = str(path)
    seen = modules.setdefault(row.number, set())
    seen.add(module)
    if len(seen) > 1:
        raise pytest.UsageError(f"connection {row.number} has more than one module: "
                                f"{', '.join(sorted(seen))} (keep one per connection)")
    if path.parent.name in ("egress", "intra", "ingress") and path.parent.name != row.suite_class:
        raise pytest.UsageError(f"{module}: connection {row.number} is {row.suite_class}, "
                                f"move the module to tests/{row.suite_class}/")


def covering(waivers: Waivers, connection: int, target: str) -> Waiver | None:
    """The active waiver covering a case, without counting it as used (only a waived failure does)."""
    return next((w for w in waivers.waivers if w.covers(connection, target) and not w.expired(waivers.today)),
                None)


def mark_waived(gvp: GvpSession, items: list[pytest.Item]) -> None:
    assert gvp.waivers is not None
    for item in items:
        row = params.row_of(item)
        if row is None or not isinstance(params.param_of(item), Target | params.DiscoveryFailed):
            continue
        waiver = covering(gvp.waivers, row.number, params.target_name(item))
        if waiver is not None:
            item.add_marker(pytest.mark.xfail(reason=cases.waiver_reason(waiver), strict=False))
            gvp.waiver_of[item.nodeid] = waiver
