"""``report.md``: the acceptance report as Markdown (the twin of ``report.html``)."""

from __future__ import annotations

from gvpconf.report import common
from gvpconf.report.model import RunRecord


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def render(run: RunRecord) -> str:
    out: list[str] = ["# GVP connectivity acceptance report", ""]
    status = "FAILED" if run.exit_status else "passed"
    out += [f"**Result: {common.summary_line(run)}** (run {status}, exit status {run.exit_status})", ""]
    for problem in run.problems:
        out.append(f"> **Run failed:** {problem}")
    if run.problems:
        out.append("")
    for note in run.notes:
        out.append(f"> **Note:** {note}")
    if run.notes:
        out.append("")
    if run.merged:
        source = (f"{len(run.sources)} source pod runs merged (roles {_cell(run.source_role)}; "
                  f"zones {_cell(run.source_zone or '-')})")
    else:
        source = f"role {_cell(run.source_role)}, pod {_cell(run.source_pod)}, zone {_cell(run.source_zone or '-')}"
    out += ["| | |", "|---|---|",
            f"| cluster | {_cell(run.cluster)} |",
            f"| namespace | {_cell(run.namespace)} |",
            f"| suite version | gvpconf {_cell(run.suite_version)} |",
            f"| inventory | `{_cell(run.inventory_path)}`"
            f"{' (' + _cell(run.inventory_note) + ')' if run.inventory_note else ''} |",
            f"| inventory digest | sha256 `{run.inventory_sha256}` |",
            f"| source | {source} |",
            f"| selection | {_cell(run.selection or 'every connection')} |",
            *([f"| stand-ins (lab run) | {'<br>'.join(_cell(s) for s in common.stand_in_lines(run))} |"]
              if run.stand_ins else []),
            f"| run id | {_cell(run.run_id or '-')} |",
            f"| started | {common.when(run.started)} |",
            f"| finished | {common.when(run.finished)} ({common.duration(run)}) |", ""]
    if run.merged:
        out += ["## Source pod runs", "", "| " + " | ".join(common.SOURCE_RUN_HEAD) + " |",
                "|" + "---|" * len(common.SOURCE_RUN_HEAD)]
        for src_run, cells in zip(run.sources, common.source_run_rows(run), strict=True):
            shown = [_cell(c) for c in cells]
            if src_run.digest_differs:
                shown[5] = f"**{shown[5]}**"
            if src_run.error:
                shown[6] = f"**{shown[6]}**"
            out.append("| " + " | ".join(shown) + " |")
        out.append("")
    per_source_head = " verdict per source pod/zone |" if run.merged else ""
    out += ["## Connections", "",
            f"| # | source | destination | protocol | port | class | verdict |{per_source_head} "
            f"{_cell(common.targets_header(run))} | evidence | causes / why not run |",
            "|---:|---|---|---|---|---|---|" + ("---|" if run.merged else "") + "---|---|---|"]
    for row in run.connections:
        verdict = f"**{row.verdict}**" if row.verdict in ("FAILED", "waived", "flaky") else _cell(row.verdict_text)
        if row.warnings:
            verdict += ": " + "<br>".join(_cell(w) for w in row.warnings)
        per_source = ""
        if run.merged:
            per_source = " " + ("<br>".join(_cell(f"{v.where} {v.text}") for v in row.per_source) or " ") + " |"
        stand_in = row.destination in run.stand_ins
        targets = "<br>".join(_cell(f"{common.where(c, stand_in)}: {common.case_outcome(c)}") for c in row.cases
                              if c.outcome != "skipped")
        facts = "<br>".join(_cell(f"{t}: {f}") for t, f in common.target_facts(row.cases))
        why = ("" if row.verdict == "not selected" else row.why) or "; ".join(common.row_causes(row))
        out.append(f"| {row.number} | {_cell(row.source_label)} | {_cell(row.destination_label)} | "
                   f"{_cell(row.protocol)} | {_cell(row.ports or '-')} | {row.classification} | {verdict} |{per_source}"
                   f" {targets or ' '} | {facts or ' '} | {_cell(why)} |")
    out.append("")
    zone_rows = common.zones(run)
    if zone_rows:
        out += ["## Zones", "", "| " + " | ".join(common.ZONES_HEAD) + " |", "|---|---:|---:|---:|---:|"]
        out += ["| " + " | ".join(_cell(str(v)) for v in z) + " |" for z in zone_rows]
        out.append("")
    attention = [(row, c) for row in run.connections for c in row.cases if c.outcome in
                 ("failed", "error", "waived", "flaky")]
    if attention:
        out += ["## Failures, waivers and flaky cases", ""]
        for row, c in attention:
            src = f" from {c.source}" if c.source_pod else ""
            out += [f"### #{row.number} {row.source}{src} -> {c.target} ({c.address}): {common.case_outcome(c)}", ""]
            if c.outcome == "flaky":
                out.append(f"Passed only after retries: {len(c.failed_attempts)} of {len(c.attempts)} "
                           "attempts failed.")
            else:
                out.append(f"- cause: `{c.cause or '-'}`, phase: {_cell(c.phase or '-')}, probe `{c.probe}`")
                out.append(f"- message: {_cell(c.message)}")
            if c.waiver:
                w = c.waiver
                out.append(f"- waived by {_cell(w['owner'])} until {w['expires']}: {_cell(w['reason'])}")
            out.append("")
            for i, a in enumerate(c.attempts, 1):
                if a.outcome != "passed":
                    out.append(f"Attempt {i}: {a.outcome}, {a.cause or 'prober error'}: {_cell(a.message)} "
                               f"({a.duration_ms:.0f} ms)")
                    out.append("")
                    if a.transcript:
                        out += ["Last protocol exchange (secrets redacted):", "",
                                _fence(common.transcript_text(a.transcript)), ""]
                else:
                    out += [f"Attempt {i}: passed ({a.duration_ms:.0f} ms)", ""]
            if not c.attempts and c.transcript:
                out += ["Last protocol exchange (secrets redacted):", "", _fence(common.transcript_text(c.transcript)),
                        ""]
    if run.drift is not None:
        out += ["## Drift since the baseline", "",
                f"Compared with `{_cell(run.drift.baseline)}` (run of {common.when(run.drift.baseline_started)}), "
                f"latency threshold +{run.drift.latency_threshold_pct:g}%.", ""]
        if run.drift.items:
            out += ["| change | case | what | before | after |", "|---|---|---|---|---|"]
            out += [f"| {i.kind} | {_cell(i.key)} | {_cell(i.what) } | {_cell(i.before)} | {_cell(i.after)} |"
                    for i in run.drift.items]
        else:
            out.append("No drift: same verdicts, no latency regression, no changed facts.")
        out.append("")
    out += ["## Evidence", ""]
    for row in run.connections:
        for c in row.cases:
            if c.facts:
                facts = ", ".join(f"`{n}` = {_cell(str(v))}" for n, v in c.facts.items())
                dur = f", {c.duration_ms:.1f} ms" if c.duration_ms is not None else ""
                out.append(f"- #{row.number} {row.source} -> {common.where(c)} `{c.probe}`{dur}: {facts}")
    out.append("")
    if run.waivers:
        out += ["## Waivers", "", "| connection | source | target | owner | expires | status | reason |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {w['connection']} | {w['source']} | {_cell(w['target'])} | {_cell(w['owner'])} | {w['expires']} | "
                f"{w['status']} | {_cell(w['reason'])} |" for w in run.waivers]
        out.append("")
    out += ["## Sign-off", "",
            f"Inventory sha256 `{run.inventory_sha256}`, run finished {common.when(run.finished)}.", "",
            "| role | name | signature | date |", "|---|---|---|---|"]
    out += [f"| {role} | | | |" for role in common.SIGN_OFF_ROLES]
    out.append("")
    return "\n".join(out)
