"""The GVP conformance suite's pytest plugin, loaded through the ``pytest11`` entry point ``gvpconf``.

``pip install gvpconf`` is all a user needs: ``pytest tests/ --inventory FILE`` (or ``pytest --pyargs
PACKAGE``) finds the plugin without a conftest. ``-p no:gvpconf`` switches it off.

This module only declares the options and markers and, in ``pytest_configure``, makes the run's one
``GvpSession`` (``gvpconf.plugin.session``), keeps it in ``config.stash`` and registers it as a plugin:
its methods are the hooks. Nothing here holds state between runs.

=============  ====================================================================================
``options``    the command-line options, read and checked once (``Options``)
``optin``      the opt-in table (calls, the Consul write check): flag, environment, inventory key
``session``    ``GvpSession``: the hooks, and everything one run knows
``params``     targets as parameters (one case per target), and what an item is about
``selection``  ``--connection``/``--source``/opt-ins, one module per row, waivers as xfail marks
``cases``      a case's record from its report and probe result: the one tally
``verdicts``   row verdicts derived from the case records; the end table
``results``    the ``RunRecord``, the report files, the JUnit testsuite properties
``junit``      the JUnit extras, added to pytest's file once written
``plan``       ``--plan``
``deny``       ``--deny-matrix``: the expected-deny checks
``terminal``   the end of the run in the terminal
``fixtures``   ``gvp_target`` and ``evidence``
``scrub``      the one scrubbing point: logs, captured output, reports, terminal, JUnit, report files
=============  ====================================================================================
"""

from __future__ import annotations

import atexit
import gc
import sys


def _product_modules_not_rewritten() -> None:
    """pytest marks every module of a plugin's distribution for assertion rewriting: each ``gvpconf`` module would
    then be parsed, rewritten and compiled by pytest at every start, past its compiled bytecode (the image's is
    compiled at build and read-only, so pytest's own cache of rewritten modules is never written). Their asserts
    are internal invariants, not test assertions: left to the normal import system (half the CPU time of
    start-up, bench/). The modules under ``tests/`` are still rewritten (pytest's ``python_files``)."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)  # pytest's AssertionRewritingHook (private; else no-op)
        if isinstance(marked, set):
            marked.difference_update({n for n in marked if n == "gvpconf" or n.startswith("gvpconf.")})
            getattr(finder, "_marked_for_rewrite_cache", {}).clear()


_product_modules_not_rewritten()  # before the imports below

# The imports below (the inventory's models above all) allocate tens of thousands of objects that live for the
# run and free few: about 45 young-generation garbage collections with nothing to collect, 15 ms of start-up
# (bench/). The collector is off while they run, and back as it was after.
_collecting = gc.isenabled()
gc.disable()
try:
    import pytest

    from gvpconf.catalog import CONNECTIONS, ROLES
    from gvpconf.plugin import optin, options, scrub
    from gvpconf.plugin.scrub import Scrubber
    from gvpconf.plugin.session import NAME, SESSION, GvpSession
finally:
    if _collecting:
        gc.enable()

# At interpreter exit the collector would walk the whole heap once more (the modules' teardown): about 0.1 s
# of every run's end, more after a large one (bench/: all blackholed). Nothing the run needs is left to collect
# by then (reports are written and closed); an in-process caller (pytester) is unaffected until its own exit.
atexit.register(gc.freeze)

#: fixtures live in their own module, loaded with this one
pytest_plugins = ("gvpconf.plugin.fixtures",)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # added before the builtin plugins' cleanups (this hook runs first), so it runs after them, garbage collections
    # included: an in-process run (pytester) leaves nothing frozen behind (pytest_collection_finish)
    config.add_cleanup(gc.unfreeze)
    if config.getoption("collectonly", False) or config.getoption("plan", False):
        # listing and planning write nothing: not even pytest's junit.xml (before junitxml reads the option), so
        # the previous run's set stays whole
        config.option.xmlpath = None
    config.addinivalue_line("markers", "gvp_connection(number): conformance test of connection NUMBER")
    config.addinivalue_line("markers", "gvp_probe(name): the prober whose evidence the test asserts on")
    config.addinivalue_line("markers", f"{optin.MARKER}(name): a test that runs only when opted into "
                            "(" + "; ".join(f"{o.name}: {o.flag}" for o in optin.OPT_INS if o.marker) + ")")
    config.addinivalue_line("markers", "expected_deny: a connection the table does not have; it must be blocked")
    for c in CONNECTIONS:
        config.addinivalue_line("markers", f"c{c.number:02d}: connection {c.title}")
    for cls in ("egress", "intra", "ingress"):
        config.addinivalue_line("markers", f"{cls}: {cls} connections")
    for role in ROLES:
        config.addinivalue_line("markers", f"from_{role}: connections that start at {ROLES[role]}")
    session = GvpSession.from_config(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, NAME)
    from gvpconf.plugin import fixtures  # loaded already (pytest_plugins)

    config.pluginmanager.register(fixtures.CaseFixtures(session), fixtures.NAME)
    scrubber = Scrubber(config, session.options.reports_dir)
    scrubber.install()
    config.pluginmanager.register(scrubber, scrub.NAME)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (items, the inventory, the catalog) lives until the end: out of the garbage collector's
    sight (``gc.freeze``), so its full collections during the run, and pytest's own at the end, only walk what the
    run creates (a fifth of the CPU time of a 1000-target run). Undone by the cleanup ``pytest_configure`` adds."""
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    scrubber = config.pluginmanager.get_plugin(scrub.NAME)
    if scrubber is not None:
        scrubber.finish(config)  # the last writer has written: scrub the files, restore logging
        config.pluginmanager.unregister(scrubber, scrub.NAME)
    session = config.stash.get(SESSION, None)
    if session is not None:
        from gvpconf.plugin import fixtures

        config.pluginmanager.unregister(name=fixtures.NAME)
        config.pluginmanager.unregister(session, NAME)
        del config.stash[SESSION]
        if session.interrupted:
            _end_interrupted_run()


def _end_interrupted_run() -> None:
    """An interrupted run whose probes are still running (a client library's own sockets, a DNS lookup: the
    interrupt cannot shut those down) ends now, its reports written and flushed: at exit Python joins the
    probe pool's threads, which would keep the process alive until each probe's own timeout."""
    import os
    import sys
    import threading

    main = threading.main_thread()
    if threading.current_thread() is not main:  # pragma: no cover - pytest runs hooks in the main thread
        return
    # any thread still alive may be joined at exit (the probe pool's, a library's own): an interrupted run does
    # not wait for any of them (CI once saw the entrypoint's 10 s grace run out with no gvpconf thread left)
    lingering = [t for t in threading.enumerate() if t is not main and t.is_alive()]
    if not lingering:
        return
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(int(pytest.ExitCode.INTERRUPTED))
