"""One lifecycle for both labs: the loopback ``Lab`` and the namespace ``NetLab`` are each a ``LabLifecycle``.

``up()`` (or ``with``) runs, in order: ``prepare()`` (the namespace lab wires its namespaces), the lab CA in
``tls/``, ``make_peers()`` (configured, not started), every peer started at once and waited for (a thread
each: the lab takes as long as its slowest peer), ``inventory.yaml`` from ``inventory()``, ``after_up()``
(the namespace lab's policies). A failure anywhere stops what was started and re-raises the first error.

``down()`` (or leaving the ``with``) stops every peer by PID in reverse order, runs ``teardown()`` (the
namespace lab deletes its namespaces), then checks that no process of the lab is left: every error is
collected and raised as one LabError. While a lab is up, SIGTERM unwinds like Ctrl-C (when nobody else
handles it; it raises ``Terminated``, a KeyboardInterrupt), and an interpreter that exits with a lab still
up stops it (atexit). ``run_command`` is the main of both labs' command lines: SIGTERM unwinds the whole
command, errors are one line.
"""

from __future__ import annotations

import abc
import atexit
import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, TypeVar

import yaml

from gvpconf_lab.base import LabError, Peer, family, pid_alive
from gvpconf_lab.tlsca import CA, make_ca

#: the inventory's default timeouts in both labs (seconds)
DEFAULT_TIMEOUTS = {"connect": 2.0, "read": 3.0, "probe": 10.0}

_RUNNING: weakref.WeakSet[LabLifecycle] = weakref.WeakSet()


@atexit.register
def _stop_running_labs() -> None:
    """Safety net: an interpreter that exits with a lab still up stops its peers."""
    for lab in list(_RUNNING):
        with contextlib.suppress(Exception):
            lab.down()


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: it unwinds like Ctrl-C, so every with-block and fixture stops its lab."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _sigterm_as_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def run_command(prog: str, command: Callable[[], int],
                errors: tuple[type[Exception], ...] = (LabError,)) -> int:
    """The main of a lab's command line: SIGTERM unwinds like Ctrl-C for the whole command (the lab stops
    its peers); an error of ``errors`` is printed as ``PROG: error: <first line>`` (then its detail) and
    exits 1, never as a traceback; Ctrl-C exits 130, SIGTERM 143."""
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return command()
    except errors as exc:
        first, *detail = str(exc).splitlines() or [""]
        print(f"{prog}: error: {first}", file=sys.stderr)
        if detail:
            print("\n".join(detail), file=sys.stderr)
        return 1
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _bring_up(peer: Peer) -> None:
    peer.start()
    peer.wait_ready()


L = TypeVar("L", bound="LabLifecycle")


class LabLifecycle(abc.ABC):
    """Peers in ``workdir``, the CA that signs their certificates, the inventory naming them. A context manager."""

    #: what the lab is called in messages
    label: ClassVar[str] = "lab"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.peers: dict[str, Peer] = {}
        self.inventory_path = self.workdir / "inventory.yaml"
        self.secrets_dir = self.workdir / "secrets"
        self.tls_dir = self.workdir / "tls"
        #: seconds from the start of up() until the lab was ready
        self.ready_after_s: float | None = None
        self._ca: CA | None = None
        self._up = False
        self._previous_sigterm: Any = None

    # -- what a lab provides ---------------------------------------------------------------------
    def prepare(self) -> None:
        """Before the CA and the peers (the namespace lab makes and checks its namespaces here)."""
        return None

    @abc.abstractmethod
    def make_peers(self) -> Iterable[Peer]:
        """Every peer, configured but not started (the CA exists by now)."""

    @abc.abstractmethod
    def inventory(self) -> dict[str, Any]:
        """The inventory as data (the shape the suite's loader validates); called once every peer is ready."""

    def after_up(self) -> None:
        """Once the inventory is written (the namespace lab applies its policies here)."""
        return None

    def teardown(self) -> list[str]:
        """After every peer is stopped, also when up() failed half-way; returns what could not be undone."""
        return []

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self: L) -> L:
        self.up()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        """Start the lab (see the module's docstring). Stops everything and re-raises on failure."""
        if self._up:
            raise LabError(f"{self.label} is already up")
        t0 = time.monotonic()
        self._up = True
        _RUNNING.add(self)
        self._catch_sigterm()
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
            self.prepare()
            self._ca = make_ca(self.tls_dir)
            for peer in self.make_peers():
                if peer.name in self.peers:
                    raise LabError(f"two {self.label} peers are named {peer.name!r}")
                self.peers[peer.name] = peer
            self._start_peers()
            text = yaml.safe_dump(self.inventory(), sort_keys=False, default_flow_style=None)
            self.inventory_path.write_text(text)
            self.after_up()
        except BaseException as exc:  # including KeyboardInterrupt and a CLI's SIGTERM exception
            try:
                self.down()
            except Exception as also:  # the first failure is the one to report
                exc.add_note(f"and stopping the {self.label} failed: {also}")
            raise
        self.ready_after_s = time.monotonic() - t0

    def _start_peers(self) -> None:
        """Start and wait for every peer at once; the first failure stops them all (their waits end) and is raised."""
        peers = list(self.peers.values())
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(peers)),
                                                   thread_name_prefix=f"{self.label}-up") as pool:
            futures = [pool.submit(_bring_up, peer) for peer in peers]
            try:
                for fut in concurrent.futures.as_completed(futures):
                    fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                self._stop_peers()  # the other waits see their process gone and end now
                raise

    def _stop_peers(self) -> list[str]:
        errors: list[str] = []
        for peer in reversed(list(self.peers.values())):
            try:
                peer.stop()
            except LabError as exc:
                errors.append(str(exc))
        return errors

    def down(self) -> None:
        """Stop every peer by PID (reverse order), tear down, check nothing is left. Raises LabError if not."""
        before = self.processes()
        errors = self._stop_peers()
        errors += self.teardown()
        left = [pid for pid in before if pid_alive(pid)]
        if left:
            errors.append(f"{self.label}: processes {left} still running after every peer was stopped")
        self._up = False
        _RUNNING.discard(self)
        self._release_sigterm()
        if errors:
            raise LabError("; ".join(errors))

    def _catch_sigterm(self) -> None:
        """While up, SIGTERM unwinds like Ctrl-C (so with-blocks and fixtures stop the peers).

        Only from the main thread, and only when nobody else handles SIGTERM (the CLI does).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)

    def _release_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) is _sigterm_as_interrupt:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # -- what the peers share --------------------------------------------------------------------
    @property
    def ca(self) -> CA:
        if self._ca is None:
            raise LabError(f"the {self.label} CA exists only once the {self.label} is up")
        return self._ca

    def write_secret(self, name: str, value: str) -> Path:
        """A secret file (0600 in a 0700 directory) for the inventory to reference as ``{file: ...}``."""
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)
        path = self.secrets_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        os.chmod(path, 0o600)
        return path

    # -- reporting -------------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """Every live process of the lab: each peer's PID, what it forked and its process group."""
        return family(self.pids().values())

    def pids(self) -> dict[str, int]:
        return {name: peer.pid for name, peer in self.peers.items() if peer.pid is not None}

    def describe(self) -> str:
        return "\n".join(peer.describe() for peer in self.peers.values())

    def __getitem__(self, name: str) -> Peer:
        return self.peers[name]
