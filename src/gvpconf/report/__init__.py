"""Results people can act on, written at the end of every run into the reports directory.

=================  ===========================================================================
``report.html``    the acceptance report: one self-contained file (no network fetches)
``report.md``      its Markdown twin
``results.json``   every verdict, case, attempt, fact and redacted transcript (a drift baseline)
``metrics.prom``   Prometheus textfile-collector output, blackbox_exporter style
=================  ===========================================================================

``junit.xml`` stays pytest's own ``--junitxml``; the plugin adds causes, flaky/rerun failures and
transcripts to it. Modules: ``model`` (the data), ``html``, ``markdown``, ``prometheus``,
``drift`` (baseline comparison), ``waivers`` (accepted exceptions), ``plan`` (``--plan``).
Everything is imported at session end only, so collection stays light.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gvpconf import redact
from gvpconf.report.model import RunRecord


def _write(path: Path, text: str) -> None:
    """Write atomically (a reader, or a concurrent run, never sees half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_all(run: RunRecord) -> dict[str, str]:
    from gvpconf.report import html, markdown, prometheus

    texts = {"report.html": html.render(run), "report.md": markdown.render(run), "results.json": run.to_json(),
             "metrics.prom": prometheus.render(run)}
    # defence in depth: facts, messages and transcripts are scrubbed when recorded; scrub again here
    return {name: redact.scrub(text) for name, text in texts.items()}


def write_all(run: RunRecord, outdir: str | os.PathLike[str]) -> list[Path]:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(run).items():
        _write(out / name, text)
        written.append(out / name)
    return written
