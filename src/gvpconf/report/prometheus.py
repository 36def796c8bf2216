"""Prometheus textfile-collector output, named in the style of blackbox_exporter.

One series per case (connection, source, target, probe)::

    probe_success{connection="8",source="mcp",target="gvp-rs",probe="activemq.stomp",...} 1
    probe_duration_seconds{...} 0.042
    probe_attempts{...} 2
    probe_flaky{...} 1
    probe_waived{...} 0
    probe_failure_cause{...,cause="refused"} 1     (failed or waived cases only)
    probe_measurement{...,fact="sip.rtt_ms"} 3.1   (every numeric fact: RTT, loss, jitter, latency...)

plus one series per row, ``gvp_connection_verdict{connection="8",verdict="verified"} 1``, and
``gvp_run_timestamp_seconds`` (labelled with the run id every file of the run's report set carries). A row
left out says what left it out: ``verdict="not selected",reason="-m intra"``. ``push`` sends the same text
to a Pushgateway.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import urllib.request

from gvpconf.report.model import FLAKY, NOT_SELECTED, PASSED, SKIPPED, WAIVED, CaseRecord, ConnectionRecord, RunRecord

HELP = {
    "probe_success": "Whether the probe of the connection succeeded (flaky passes count as success)",
    "probe_duration_seconds": "Seconds the verdict's attempt of the probe took",
    "probe_attempts": "How many times the probe was run (retry policy)",
    "probe_flaky": "1 when the probe passed only after a failed attempt",
    "probe_waived": "1 when the failure is covered by an active waiver",
    "probe_failure_cause": "Why the probe failed (dns, refused, timeout, tls, protocol, auth, semantic, config)",
    "probe_warning": "1 per warning of a passing probe (expiring certificate, verification off, no credentials)",
    "probe_measurement": "Numeric facts the probe recorded (RTT, loss, jitter, latency, versions...)",
    "gvp_connection_verdict": "Verdict of each row of the GVP connections table (1 for its current verdict)",
    "gvp_connection_source_verdict": "Verdict of each row from each source pod (merged reports; 1 for its verdict)",
    "gvp_run_timestamp_seconds": "When the conformance run finished (Unix time)",
}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in pairs.items()) + "}"


def _case_labels(run: RunRecord, row: ConnectionRecord, case: CaseRecord) -> dict[str, str]:
    return {"connection": str(row.number), "source": row.source, "destination": row.destination,
            "target": case.target, "address": case.address, "zone": case.zone, "probe": case.probe,
            "classification": row.classification, "cluster": run.cluster,
            "source_pod": case.source_pod or run.source_pod}


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(run: RunRecord) -> str:
    series: dict[str, list[str]] = {name: [] for name in HELP}
    for row in run.connections:
        for case in row.cases:
            if case.outcome == SKIPPED or not case.probe:
                continue
            labels = _case_labels(run, row, case)
            lab = _labels(labels)
            ok = case.outcome in (PASSED, FLAKY)
            series["probe_success"].append(f"probe_success{lab} {int(ok)}")
            if case.duration_ms is not None:
                series["probe_duration_seconds"].append(
                    f"probe_duration_seconds{lab} {_num(round(case.duration_ms / 1000, 6))}")
            series["probe_attempts"].append(f"probe_attempts{lab} {max(1, len(case.attempts))}")
            series["probe_flaky"].append(f"probe_flaky{lab} {int(case.outcome == FLAKY)}")
            series["probe_waived"].append(f"probe_waived{lab} {int(case.outcome == WAIVED)}")
            if not ok and case.cause:
                series["probe_failure_cause"].append(
                    f"probe_failure_cause{_labels({**labels, 'cause': case.cause})} 1")
            for warning in case.warnings:
                series["probe_warning"].append(
                    f"probe_warning{_labels({**labels, 'warning': warning.split(':', 1)[0]})} 1")
            for name, value in sorted(case.facts.items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    series["probe_measurement"].append(
                        f"probe_measurement{_labels({**labels, 'fact': name})} {_num(value)}")
        row_labels = {"connection": str(row.number), "source": row.source, "destination": row.destination,
                      "verdict": row.verdict, "reason": row.why if row.verdict == NOT_SELECTED else "",
                      "cluster": run.cluster}
        series["gvp_connection_verdict"].append(f"gvp_connection_verdict{_labels(row_labels)} 1")
        for v in row.per_source:
            labels = {**row_labels, "verdict": v.verdict, "reason": "", "source_pod": v.pod, "source_zone": v.zone}
            series["gvp_connection_source_verdict"].append(f"gvp_connection_source_verdict{_labels(labels)} 1")
    runs = [(s.pod, s.finished) for s in run.sources if s.finished] if run.merged else [(run.source_pod, run.finished)]
    for pod, when in runs:
        finished = dt.datetime.fromisoformat(when).timestamp()
        series["gvp_run_timestamp_seconds"].append(
            f"gvp_run_timestamp_seconds{_labels({'cluster': run.cluster, 'source_pod': pod, 'run_id': run.run_id})} "
            f"{_num(round(finished, 3))}")
    out: list[str] = []
    for name, lines in series.items():
        if not lines:
            continue
        out += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge", *lines]
    return "\n".join(out) + "\n"


def push(text: str, url: str, job: str = "gvpconf", instance: str = "", timeout: float = 10.0) -> None:
    """PUT the metrics to a Pushgateway (replaces the group ``job``/``instance``). Raises OSError."""
    path = f"/metrics/job/{urllib.parse.quote(job, safe='')}"
    if instance:
        path += f"/instance/{urllib.parse.quote(instance, safe='')}"
    req = urllib.request.Request(url.rstrip("/") + path, data=text.encode(), method="PUT",
                                 headers={"Content-Type": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # the user's own URL
        if resp.status // 100 != 2:
            raise OSError(f"Pushgateway answered {resp.status}")
