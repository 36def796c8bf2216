"""``report.html``: the acceptance report, one self-contained file.

No scripts, no fonts, no images, no links to fetch: a Content-Security-Policy of ``default-src
'none'`` with inline styles only, so the file renders the same on an air-gapped laptop and a
browser never reaches the network to show it.
"""

from __future__ import annotations

from html import escape

from gvpconf.report import common
from gvpconf.report.model import VERIFIED_WITH_WARNINGS, CaseRecord, ConnectionRecord, RunRecord, SourceVerdict

CSP = "default-src 'none'; style-src 'unsafe-inline'"

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1a1a1a}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #c8c8c8;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#eef0f3}td.num{text-align:right}
.meta{width:auto}.meta th{width:11em;background:#f6f7f9;font-weight:600}
.result{font-size:16px;font-weight:600;margin:8px 0 12px}
.note{background:#fff4d6;border:2px solid #b7791f;color:#5c3d00;padding:8px 10px;margin:8px 0}
.differs{color:#8b0000;font-weight:700}
.banner{background:#fde2e1;border:2px solid #c62828;color:#7f1010;padding:8px 10px;margin:8px 0;font-weight:600}
.v{display:inline-block;padding:1px 7px;border-radius:3px;font-weight:700;white-space:nowrap}
.v-verified{background:#d7f0db;color:#14532d}.v-flaky{background:#fff0c2;color:#7a4b00}
.v-waived{background:#e6ddf7;color:#4a2a85}.v-FAILED,.v-failed,.v-error{background:#fbd4d4;color:#8b0000}
.v-warned{background:#fff0c2;color:#7a4b00}.warning{font-size:12px;color:#7a4b00;margin-top:2px}
.v-skipped,.v-not{background:#eceff1;color:#455a64;font-weight:400}
tr.r-FAILED td.verdict{background:#fff3f3}
tr.r-flaky td.verdict{background:#fffaf0}tr.r-waived td.verdict{background:#f8f5ff}
ul.cases{margin:0;padding-left:16px}.why{color:#455a64}.facts{font-size:12px;color:#333}
pre{background:#f6f7f9;border:1px solid #ddd;padding:6px;white-space:pre-wrap;word-break:break-all;font-size:12px}
.signoff td{height:34px}.small{font-size:12px;color:#555}
@media print{body{margin:8mm}details{display:block}details>summary{display:none}}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _badge(verdict: str, text: str = "") -> str:
    cls = verdict if verdict in ("verified", "flaky", "waived", "FAILED") else (
        "warned" if verdict == VERIFIED_WITH_WARNINGS else "not")
    return f'<span class="v v-{cls}">{_e(text or verdict)}</span>'


def _case_badge(case: CaseRecord) -> str:
    cls = case.outcome if case.outcome in ("flaky", "waived", "failed", "error") else (
        ("warned" if case.warnings else "verified") if case.outcome == "passed" else "skipped")
    return f'<span class="v v-{cls}">{_e(common.case_outcome(case))}</span>'


def _source_badge(v: SourceVerdict) -> str:
    cls = v.verdict if v.verdict in ("verified", "flaky", "waived", "FAILED") else (
        "warned" if v.verdict == VERIFIED_WITH_WARNINGS else "not")
    return f'<span class="v v-{cls}">{_e(v.text)}</span>'


def _per_source(row: ConnectionRecord) -> str:
    items = "".join(f'<li class="src"><b>{_e(v.where)}</b> {_source_badge(v)}</li>' for v in row.per_source)
    return f'<td class="per-source"><ul class="cases">{items}</ul></td>'


def _row(row: ConnectionRecord, merged: bool = False, stand_in: bool = False) -> str:
    cases = [c for c in row.cases if c.outcome != "skipped"]
    targets = "".join(f"<li>{_e(common.where(c, stand_in))}: {_case_badge(c)}</li>" for c in cases)
    facts = "<br>".join(f"<b>{_e(t)}</b>: {_e(f)}" for t, f in common.target_facts(cases))
    if row.why and row.verdict != "not selected":
        causes = f'<span class="why">{_e(row.why)}</span>'
    else:
        lines = [f"{_e(c.source + ': ') if c.source_pod else ''}<b>{_e(c.cause or 'prober error')}</b>: "
                 f"{_e(c.message)}" for c in cases if c.outcome in ("failed", "waived", "error")]
        lines += [f"{_e(v.where)}: <b>could not run</b>: {_e(v.detail)}" for v in row.per_source
                  if v.causes and v.causes[0].startswith("could not run")]
        causes = "<br>".join(lines)
    warnings = "".join(f'<div class="warning">{_e(w)}</div>' for w in row.warnings)
    verdict_class = row.verdict if row.verdict in ("FAILED", "flaky", "waived") else "other"
    return (f'<tr id="c{row.number:02d}" class="r-{verdict_class}"><td class="num">{row.number}</td>'
            f"<td>{_e(row.source_label)}</td><td>{_e(row.destination_label)}</td><td>{_e(row.protocol)}</td>"
            f"<td>{_e(row.ports or '-')}</td><td>{_e(row.classification)}</td>"
            f'<td class="verdict">{_badge(row.verdict, row.verdict_text)}{warnings}</td>'
            f'{_per_source(row) if merged else ""}'
            f'<td>{f"<ul class=cases>{targets}</ul>" if targets else ""}</td>'
            f'<td class="facts">{facts}</td><td>{causes}</td></tr>')


def _attention(run: RunRecord) -> list[str]:
    out: list[str] = []
    for row in run.connections:
        for c in row.cases:
            if c.outcome not in ("failed", "error", "waived", "flaky"):
                continue
            anchor = f"{c.target}-{c.source_pod}" if c.source_pod else c.target
            out.append(f'<section class="case" id="case-c{row.number:02d}-{_e(anchor)}">')
            src = f" from {_e(c.source)}" if c.source_pod else ""
            out.append(f"<h3>#{row.number} {_e(row.source)}{src} &rarr; {_e(c.target)} ({_e(c.address)}) "
                       f"{_case_badge(c)}</h3>")
            if c.outcome == "flaky":
                out.append(f"<p>Passed only after retries: {len(c.failed_attempts)} of {len(c.attempts)} "
                           "attempts failed.</p>")
            else:
                out.append(f"<p>cause <b>{_e(c.cause or '-')}</b>, phase {_e(c.phase or '-')}, probe "
                           f"<code>{_e(c.probe)}</code><br>{_e(c.message)}</p>")
            if c.waiver:
                w = c.waiver
                out.append(f"<p>Waived by {_e(w['owner'])} until {_e(w['expires'])}: {_e(w['reason'])}</p>")
            for i, a in enumerate(c.attempts, 1):
                if a.outcome == "passed":
                    out.append(f'<p class="small">attempt {i}: passed ({a.duration_ms:.0f} ms)</p>')
                    continue
                cause = a.cause or "prober error"
                out.append(f'<p class="small">attempt {i}: {_e(a.outcome)}, {_e(cause)}: {_e(a.message)} '
                           f"({a.duration_ms:.0f} ms)</p>")
                if a.transcript:
                    out.append("<details open><summary>last protocol exchange (secrets redacted)</summary>"
                               f"<pre>{_e(common.transcript_text(a.transcript))}</pre></details>")
            if not c.attempts and c.transcript:
                out.append("<details open><summary>last protocol exchange (secrets redacted)</summary>"
                           f"<pre>{_e(common.transcript_text(c.transcript))}</pre></details>")
            out.append("</section>")
    return out


def _sources(run: RunRecord) -> list[str]:
    """The merged report's runs: one row per source pod (a pod that could not run in red)."""
    out = ['<h2>Source pod runs</h2><table id="runs"><thead><tr>'
           + "".join(f"<th>{_e(h)}</th>" for h in common.SOURCE_RUN_HEAD) + "</tr></thead><tbody>"]
    for source, cells in zip(run.sources, common.source_run_rows(run), strict=True):
        cls = ' class="r-FAILED"' if source.error else ""
        tds = [f"<td>{_e(c)}</td>" for c in cells]
        if source.digest_differs:
            tds[5] = f'<td class="differs">{_e(cells[5])}</td>'
        if source.error:
            tds[6] = f'<td class="verdict"><span class="v v-FAILED">{_e(cells[6])}</span></td>'
        out.append(f"<tr{cls}>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    return out


def render(run: RunRecord) -> str:
    if run.merged:
        source = f"{len(run.sources)} source pod runs merged (roles {run.source_role}; zones {run.source_zone or '-'})"
    else:
        source = f"role {run.source_role}, pod {run.source_pod}, zone {run.source_zone or '-'}"
    meta = [("cluster", run.cluster), ("namespace", run.namespace), ("suite version", f"gvpconf {run.suite_version}"),
            ("inventory", common.inventory_text(run)), ("inventory digest", f"sha256 {run.inventory_sha256}"),
            ("source", source),
            ("selection", run.selection or "every connection"), ("run id", run.run_id),
            *([("stand-ins (lab run)", "; ".join(common.stand_in_lines(run)))] if run.stand_ins else []),
            ("started", common.when(run.started)),
            ("finished", f"{common.when(run.finished)} ({common.duration(run)})")]
    status = "FAILED" if run.exit_status else "passed"
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>GVP connectivity acceptance report: {_e(run.cluster)}</title><style>{CSS}</style></head><body>",
             f"<h1>GVP connectivity acceptance report: {_e(run.cluster)}</h1>",
             f'<p class="result" id="result">{_e(common.summary_line(run))} &middot; run {status} '
             f"(exit status {run.exit_status})</p>"]
    parts += [f'<p class="banner">Run failed: {_e(p)}</p>' for p in run.problems]
    parts += [f'<p class="note">Note: {_e(n)}</p>' for n in run.notes]
    parts.append('<table class="meta" id="meta">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                                          for k, v in meta) + "</table>")
    if run.merged:
        parts += _sources(run)
    per_source = "<th>verdict per source pod/zone</th>" if run.merged else ""
    parts += ["<h2>Connections</h2>", '<table id="connections"><thead><tr><th>#</th><th>source</th>'
              "<th>destination</th><th>protocol</th><th>port</th><th>class</th><th>verdict</th>"
              f"{per_source}<th>{_e(common.targets_header(run))}</th><th>evidence</th><th>causes / why not run</th>"
              "</tr></thead><tbody>"]
    parts += [_row(row, run.merged, row.destination in run.stand_ins) for row in run.connections]
    parts.append("</tbody></table>")
    zone_rows = common.zones(run)
    if zone_rows:
        parts.append('<h2>Zones</h2><table class="meta" id="zones"><tr>'
                     + "".join(f"<th>{_e(h)}</th>" for h in common.ZONES_HEAD) + "</tr>"
                     + "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in z) + "</tr>" for z in zone_rows)
                     + "</table>")
    attention = _attention(run)
    if attention:
        parts += ["<h2>Failures, waivers and flaky cases</h2>", *attention]
    if run.drift is not None:
        d = run.drift
        parts += ['<h2 id="drift">Drift since the baseline</h2>',
                  f"<p>Compared with <code>{_e(d.baseline)}</code> (run of {_e(common.when(d.baseline_started))}),"
                  f" latency threshold +{d.latency_threshold_pct:g}%.</p>"]
        if d.items:
            parts.append("<table><tr><th>change</th><th>case</th><th>what</th><th>before</th><th>after</th></tr>"
                         + "".join(f"<tr><td>{_e(i.kind)}</td><td>{_e(i.key)}</td><td>{_e(i.what)}</td>"
                                   f"<td>{_e(i.before)}</td><td>{_e(i.after)}</td></tr>" for i in d.items)
                         + "</table>")
        else:
            parts.append("<p>No drift: same verdicts, no latency regression, no changed facts.</p>")
    parts.append('<h2>Evidence</h2><details><summary>every fact recorded, per case</summary><table>'
                 "<tr><th>#</th><th>target</th><th>probe</th><th>duration</th><th>facts</th></tr>")
    for row in run.connections:
        for c in row.cases:
            if c.facts or c.duration_ms is not None:
                dur = f"{c.duration_ms:.1f} ms" if c.duration_ms is not None else ""
                facts = "<br>".join(f"{_e(n)} = {_e(v)}" for n, v in c.facts.items())
                parts.append(f'<tr><td class="num">{row.number}</td><td>{_e(common.where(c))}</td>'
                             f"<td>{_e(c.probe)}</td><td>{dur}</td><td class=facts>{facts}</td></tr>")
    parts.append("</table></details>")
    if run.waivers:
        parts.append('<h2>Waivers</h2><table id="waivers"><tr><th>connection</th><th>source</th><th>target</th>'
                     "<th>owner</th><th>expires</th><th>status</th><th>reason</th></tr>")
        parts += [f"<tr><td>{_e(w['connection'])}</td><td>{_e(w['source'])}</td><td>{_e(w['target'])}</td>"
                  f"<td>{_e(w['owner'])}</td><td>{_e(w['expires'])}</td><td>{_e(w['status'])}</td>"
                  f"<td>{_e(w['reason'])}</td></tr>" for w in run.waivers]
        parts.append("</table>")
    parts += ['<h2>Sign-off</h2><p class="small">Inventory sha256 '
              f"{_e(run.inventory_sha256)}, run finished {_e(common.when(run.finished))}.</p>",
              '<table class="signoff" id="signoff"><tr><th>role</th><th>name</th><th>signature</th><th>date</th></tr>']
    parts += [f"<tr><td>{_e(role)}</td><td></td><td></td><td></td></tr>" for role in common.SIGN_OFF_ROLES]
    parts.append("</table></body></html>\n")
    return "\n".join(parts)
