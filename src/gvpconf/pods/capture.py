"""``-p gvpconf.pods.capture``: the run's ``results.json`` into the file descriptor ``$GVP_RESULTS_FD``.

The probe container has no writable directory (``gvpconf.pods.entry``), so the entrypoint runs pytest
with ``--gvp-reports none`` and this plugin: at the end of the session, once the suite's plugin has
made the run's record, the record's JSON (scrubbed of secrets like every report) is written to the
in-memory file the entrypoint passed down, from which the entrypoint prints it into the log.
"""

from __future__ import annotations

import os

import pytest

from gvpconf import redact
from gvpconf.plugin.session import SESSION

ENV = "GVP_RESULTS_FD"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    gvp = session.config.stash.get(SESSION, None)
    fd = os.environ.get(ENV)
    if gvp is None or gvp.run is None or not fd:
        return
    with open(f"/proc/self/fd/{int(fd)}", "w", encoding="utf-8") as out:
        out.write(redact.scrub(gvp.run.to_json()))
