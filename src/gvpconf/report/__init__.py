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


#: the files of one run's report set (``junit.xml`` is pytest's, amended by the plugin)
SET = ("junit.xml", "report.html", "report.md", "results.json", "metrics.prom")


class Staged:
    """A run's report set written to temporary files beside their places, moved in by ``commit`` all at once: a
    failure while rendering or writing leaves the previous set untouched, never half replaced."""

    def __init__(self, run: RunRecord, outdir: str | os.PathLike[str]) -> None:
        self.outdir = Path(outdir)
        self.files: list[tuple[Path, Path]] = []  # (temporary, final)
        texts = render_all(run)
        self.outdir.mkdir(parents=True, exist_ok=True)
        try:
            for name, text in texts.items():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.outdir)
                self.files.append((Path(tmp), self.outdir / name))
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.chmod(tmp, 0o644)
        except BaseException:
            self.discard()
            raise

    def commit(self, junit: Path | None) -> list[Path]:
        """Move the set in; a ``junit.xml`` of an earlier run left in the directory goes (this run wrote its own
        elsewhere, or none): what stays is one run's set."""
        for tmp, final in self.files:
            os.replace(tmp, final)
        stale = self.outdir / "junit.xml"
        if stale.exists() and (junit is None or stale.resolve() != junit.resolve()):
            stale.unlink()
        return [final for _tmp, final in self.files]

    def discard(self) -> None:
        for tmp, _final in self.files:
            tmp.unlink(missing_ok=True)


def remove_set(outdir: str | os.PathLike[str], keep: Path | None = None) -> None:
    """Remove a previous run's report files (when this run's cannot be written, rather than leave a mixed set)."""
    for name in SET:
        path = Path(outdir) / name
        if path.exists() and (keep is None or path.resolve() != keep.resolve()):
            path.unlink(missing_ok=True)
