"""``--plan``: which connections and targets would be probed from here, and what each probe sends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gvpconf.catalog import CONNECTIONS
from gvpconf.inventory import Inventory, Target
from gvpconf.inventory.policy import retry_for
from gvpconf.plugin import params, verdicts
from gvpconf.plugin.options import Options
from gvpconf.plugin.results import digest


def lines(items: Sequence[pytest.Item], inventory: Inventory | None, options: Options,
          rows: verdicts.Rows) -> list[str]:
    from gvpconf.probes import PROBES
    from gvpconf.report import plan

    steps: list[plan.Step] = []
    for item in items:
        row, probe, param = params.row_of(item), params.probe_of(item), params.param_of(item)
        if row is None or probe is None or param is None:
            continue
        if isinstance(param, Target) and inventory is not None:
            zone = f" zone {param.zone}" if param.zone else ""
            policy = retry_for(inventory, row.number, probe)
            dest = inventory.destination(row.destination)
            detail = dest.plan_detail(probe) if dest is not None else ""
            sends = PROBES.get(probe, "(not described)") + (f" ({detail})" if detail else "")
            steps.append(plan.Step(row, f"{param.id} ({param.address}{zone})", probe, sends, policy.describe(), True))
        else:
            steps.append(plan.Step(row, param.reason if not isinstance(param, Target) else "no inventory",
                                   probe, "", "", False))
    not_probed = {}
    for c in CONNECTIONS:
        v = verdicts.judge(c.number, rows, ())
        if v.verdict in (verdicts.NOT_SELECTED, verdicts.NOT_IMPLEMENTED):
            not_probed[c.number] = f"{v.verdict} ({v.why})"
    path = options.inventory_path
    header = (f"GVP plan: source {options.source or 'all'}, inventory {path}"
              f"{f' (sha256 {digest(path)[:12]})' if path else ''}; read-only unless a probe says otherwise")
    return plan.lines(steps, not_probed, header)
