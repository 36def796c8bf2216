"""``--plan``: what a run would probe from this source, and what each probe sends. Sends nothing."""

from __future__ import annotations

from dataclasses import dataclass

from gvpconf.catalog import CONNECTIONS, Connection


@dataclass(frozen=True)
class Step:
    row: Connection
    target: str  # "gvp-rs 10.0.0.5:61616 zone a", or why there is no target
    probe: str
    sends: str
    retry: str
    runs: bool  # False: skipped (not configured, disabled)


def lines(steps: list[Step], not_probed: dict[int, str], header: str) -> list[str]:
    out = [header]
    by_row: dict[int, list[Step]] = {}
    for step in steps:
        by_row.setdefault(step.row.number, []).append(step)
    probes = 0
    for number, row_steps in sorted(by_row.items()):
        row = row_steps[0].row
        out.append(f"#{number} {row.source_label} -> {row.destination_label}  {row.protocol} {row.ports or '-'}  "
                   f"({row.suite_class})")
        for step in row_steps:
            if step.runs:
                probes += 1
                out.append(f"    {step.target}: {step.probe}: sends {step.sends}; {step.retry}")
            else:
                out.append(f"    not probed: {step.target}")
    for c in CONNECTIONS:
        if c.number not in by_row and c.number in not_probed:
            out.append(f"#{c.number} not probed: {not_probed[c.number]}")
    out.append(f"{probes} probe(s) would run; nothing was sent (--plan)")
    return out
