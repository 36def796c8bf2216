"""The Peer base class and LabError, shared by every real peer the lab runs.

A peer is one OS process (plus whatever it forks, all kept in the process group it leads):
``start()`` launches it with stdout/stderr in ``log_path``, ``wait_ready()`` polls the peer's
own protocol until it answers or a deadline passes, ``stop()`` signals it by PID and makes sure
nothing of it is left.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

LOOPBACK = "127.0.0.1"


class LabError(RuntimeError):
    """A lab peer could not be started, became unready, or could not be stopped."""


def tail(path: Path, lines: int = 20, max_chars: int = 4000) -> str:
    """The last ``lines`` lines of a log file ("" when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_chars))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _proc_state(pid: int) -> tuple[str, int, int] | None:
    """(state letter, parent pid, process group) of a pid from /proc, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _all_states() -> dict[int, tuple[str, int, int]]:
    states = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            state = _proc_state(int(entry.name))
            if state is not None:
                states[int(entry.name)] = state
    return states


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (PID 1 here does not reap orphans)."""
    state = _proc_state(pid)
    return state is not None and state[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    return sorted(pid for pid, (st, _pp, pg) in _all_states().items() if pg == pgid and st not in ("Z", "X"))


def _descendants(pid: int, states: Mapping[int, tuple[str, int, int]],
                 children: Mapping[int, list[int]]) -> list[int]:
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if states[child][0] not in ("Z", "X"):
            found.append(child)
        todo.extend(children.get(child, []))
    return found


def family(pids: Iterable[int]) -> list[int]:
    """Each of ``pids``, its descendants (postgres backends setsid(), so they leave its group) and the
    members of the process group it leads: the live ones, from one read of /proc."""
    states = _all_states()
    children: dict[int, list[int]] = {}
    for child, (_st, ppid, _pg) in states.items():
        children.setdefault(ppid, []).append(child)
    wanted = set(pids)
    found = {pid for pid in wanted if pid in states and states[pid][0] not in ("Z", "X")}
    found.update(p for pid in wanted for p in _descendants(pid, states, children))
    found.update(p for p, (st, _pp, pg) in states.items() if pg in wanted and st not in ("Z", "X"))
    return sorted(found)


def lineage(pid: int) -> list[int]:
    """``pid``, its descendants and the members of the process group it leads (live ones only)."""
    return family([pid])


def processes_using(path: Path) -> list[int]:
    """Live processes (other than this one) whose cwd or command line refers to ``path``."""
    needle = str(Path(path).resolve())
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode("utf-8", "replace")
        if (cwd.startswith(needle) or needle in cmdline) and pid_alive(pid):
            found.append(pid)
    return sorted(found)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace_s: float = 5.0) -> int:
    """Stop a child process by its PID: ``sig``, SIGKILL if it is still there after ``grace_s``; returns its
    exit status once it is reaped (at once when it had already exited)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def gvpconf_env() -> dict[str, str]:
    """os.environ with PYTHONPATH set so a child ``python -m gvpconf...`` imports this same tree."""
    src = str(Path(__file__).resolve().parents[2])  # the directory holding the gvpconf package
    env = dict(os.environ)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def bound_socket_inodes(port: int, kind: str = "tcp", pid: int | None = None) -> set[int]:
    """Inodes of sockets bound to ``port`` (TCP: listening ones) in this network namespace, or in the
    network namespace of process ``pid``."""
    inodes: set[int] = set()
    proc = f"/proc/{pid}/net" if pid is not None else "/proc/net"
    for table in (f"{proc}/{kind}", f"{proc}/{kind}6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 10 or int(cols[1].rsplit(":", 1)[1], 16) != port:
                continue
            if kind == "tcp" and cols[3] != "0A":  # 0A = LISTEN
                continue
            inodes.add(int(cols[9]))
    return inodes


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` has open."""
    found: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


class Peer(abc.ABC):
    """One real server process of the lab.

    Subclasses provide ``command()`` and ``probe()``; they may override ``prepare()`` (write
    config files before the process starts) and ``after_ready()`` (provision users etc.).
    """

    kind: ClassVar[str] = "peer"
    #: signal that asks the process to shut down (postgres: SIGINT = fast shutdown)
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    stop_grace_s: ClassVar[float] = 5.0
    poll_interval_s: ClassVar[float] = 0.1
    default_ready_deadline_s: ClassVar[float] = 10.0

    def __init__(self, name: str, workdir: Path, port: int, host: str = LOOPBACK) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.workdir = Path(workdir)
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_at: float | None = None
        #: seconds from start() to the first successful probe (None until ready)
        self.ready_after_s: float | None = None
        self._lock = threading.Lock()  # start() and stop() may run in different threads
        self._closed = False

    # -- to provide ------------------------------------------------------------------------
    @abc.abstractmethod
    def command(self) -> Sequence[str]:
        """argv of the peer process."""

    @abc.abstractmethod
    def probe(self, timeout: float) -> None:
        """One protocol-level readiness check; raises (any Exception) when not ready."""

    def prepare(self) -> None:
        """Write configuration before the process starts (runs inside start())."""
        return None

    def after_ready(self) -> None:
        """Provision the peer once it answers (runs inside wait_ready())."""
        return None

    def environment(self) -> Mapping[str, str] | None:
        return None

    def cwd(self) -> Path:
        return self.workdir

    def summary(self) -> str:
        """What this peer is, for describe()."""
        return self.kind

    def port_kind(self) -> str:
        """"tcp" or "udp": the protocol of ``port``."""
        return "tcp"

    def owns_port(self) -> bool:
        """True when our process (or one it forked) holds ``port``, not some other process."""
        if self.proc is None:
            return False
        bound = bound_socket_inodes(self.port, self.port_kind())
        return any(bound & socket_inodes(pid) for pid in lineage(self.proc.pid))

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._closed:
            raise LabError(f"{self.name}: stopped before it was started")
        if self.proc is not None:
            raise LabError(f"{self.name}: already started (pid {self.proc.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        self._hook(self.prepare, "preparing failed: {}")
        self._log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                list(self.command()), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                cwd=self.cwd(), env=self.environment(), start_new_session=True)
        except OSError as exc:
            self._close_log()
            raise self.error(f"cannot run {self.command()[0]}: {exc}") from exc

    def wait_ready(self, deadline_s: float | None = None) -> float:
        """Poll ``probe()`` until it passes; returns the seconds since start(). Raises LabError."""
        if self.proc is None or self.started_at is None:
            raise LabError(f"{self.name}: wait_ready() before start()")
        limit = self.default_ready_deadline_s if deadline_s is None else deadline_s
        deadline = time.monotonic() + limit
        last: Exception | None = None
        while True:
            code = self.proc.poll()
            if code is not None:
                raise self.error(f"exited with code {code} before it was ready")
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.error(f"not ready after {limit:.1f} s (last probe: {last!r})")
            try:
                self.probe(min(2.0, max(0.05, left)))
                if not self.owns_port():
                    raise ConnectionError(f"{self.host}:{self.port} answers, but another process holds it")
            except Exception as exc:
                last = exc
                time.sleep(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))
                continue
            break
        self._hook(self.after_ready, "provisioning failed: {!r}")
        self.ready_after_s = time.monotonic() - self.started_at
        return self.ready_after_s

    def stop(self) -> None:
        """Stop by PID: stop_signal, SIGKILL to the whole group after stop_grace_s, then verify."""
        with self._lock:  # waits for a start() in progress, and prevents a later one
            self._closed = True
            proc = self.proc
        if proc is None:
            self._close_log()
            self.cleanup()
            return
        pgid = proc.pid  # start_new_session=True: the peer leads its own process group
        family = set(lineage(proc.pid)) - {proc.pid} if proc.poll() is None else set()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, self.stop_signal)
            try:
                proc.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                proc.wait(timeout=5.0)
        # what it forked (its process group; postgres backends, which setsid()): SIGKILL what is left
        deadline = time.monotonic() + 5.0
        while left := sorted({*group_members(pgid), *(p for p in family if pid_alive(p))}):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                self._close_log()
                raise LabError(f"{self.name}: processes {left} (of pid {pgid}) survived SIGKILL")
            time.sleep(0.02)
        self._close_log()
        if pid_alive(proc.pid):
            raise LabError(f"{self.name}: pid {proc.pid} is still alive after stop()")
        self.cleanup()

    def cleanup(self) -> None:
        """Remove temporary files once the process is gone."""
        return None

    def _hook(self, hook: Callable[[], None], failed: str) -> None:
        """Run a subclass hook; any error but a LabError becomes this peer's LabError (``failed`` formats it)."""
        try:
            hook()
        except LabError:
            raise
        except Exception as exc:
            raise self.error(failed.format(exc)) from exc

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- reporting ---------------------------------------------------------------------------
    def error(self, reason: str) -> LabError:
        text = tail(self.log_path)
        detail = f"\n--- tail of {self.log_path} ---\n{text}" if text else ""
        return LabError(f"{self.name}: {reason}; see {self.log_path}{detail}")

    def describe(self) -> str:
        pid = self.pid if self.pid is not None else "-"
        ready = f", ready in {self.ready_after_s:.2f} s" if self.ready_after_s is not None else ""
        where = f"{self.host}:{self.port}"
        return f"{self.name}: {self.summary()} on {where} (pid {pid}{ready}; log {self.log_path})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.host}:{self.port} pid={self.pid}>"
