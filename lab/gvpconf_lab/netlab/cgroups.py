"""A container's ``resources.limits`` as a kubelet enforces them: a cgroup of its own, under this process's.

``memory`` is the cgroup's memory limit with no swap (the kernel's OOM killer ends the container when it is
reached: the kubelet's ``OOMKilled``), ``cpu`` a CFS quota per 100 ms period. cgroup v2 where this machine
mounts it with the memory controller enabled, else the v1 ``memory`` and ``cpu`` hierarchies. Where neither
can be written, a container with limits is refused (``CgroupError``): the lab never runs a spec without the
constraints the spec asks for.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

from gvpconf.pods.quantity import parse

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class CgroupError(Exception):
    """The limits cannot be enforced here (one line)."""


def _own(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (``memory``), or in the v2 one (``""``)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") if controller else controllers == "":
            return path.lstrip("/")
    return ""


class Limits:
    """The cgroup(s) of one container. ``enter`` wraps its argv so that its first process joins them before
    anything of the container runs; ``oom_killed`` tells, after the run, whether the OOM killer ended it."""

    def __init__(self, limits: dict[str, str], name: str = "") -> None:
        self.memory = int(parse(limits["memory"])) if limits.get("memory") else None
        cpu = parse(limits["cpu"]) if limits.get("cpu") else None
        self.cpu_quota_us = max(1000, int(cpu * PERIOD_US)) if cpu is not None else None
        self.name = name or f"gvpconf-sandbox-{secrets.token_hex(4)}"
        self.dirs: list[Path] = []
        self.v2 = (ROOT / "cgroup.controllers").exists() and \
            "memory" in (ROOT / "cgroup.controllers").read_text().split()

    @property
    def empty(self) -> bool:
        return self.memory is None and self.cpu_quota_us is None

    def create(self) -> None:
        if self.empty:
            return
        try:
            if self.v2:
                self._create_v2()
            else:
                self._create_v1()
        except OSError as exc:
            self.remove()
            raise CgroupError(f"the lab's sandbox cannot enforce resources.limits here: {exc.strerror} "
                              f"({exc.filename})") from None

    def _create_v2(self) -> None:
        d = ROOT / _own("") / self.name
        d.mkdir()
        self.dirs.append(d)
        if self.memory is not None:
            (d / "memory.max").write_text(str(self.memory))
            with contextlib.suppress(FileNotFoundError):
                (d / "memory.swap.max").write_text("0")
        if self.cpu_quota_us is not None:
            (d / "cpu.max").write_text(f"{self.cpu_quota_us} {PERIOD_US}")

    def _create_v1(self) -> None:
        if self.memory is not None:
            d = ROOT / "memory" / _own("memory") / self.name
            d.mkdir()
            self.dirs.append(d)
            (d / "memory.limit_in_bytes").write_text(str(self.memory))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting: there is no swap to use either
                (d / "memory.memsw.limit_in_bytes").write_text(str(self.memory))
        if self.cpu_quota_us is not None:
            d = ROOT / "cpu" / _own("cpu") / self.name
            d.mkdir()
            self.dirs.append(d)
            (d / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (d / "cpu.cfs_quota_us").write_text(str(self.cpu_quota_us))

    def enter(self, argv: list[str]) -> list[str]:
        """``argv`` started by a shell that first moves itself into the cgroups (its children inherit them)."""
        if not self.dirs:
            return argv
        joins = " && ".join(f"echo $$ > {d / 'cgroup.procs'}" for d in self.dirs)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def oom_killed(self) -> bool:
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(FileNotFoundError):
                    for line in (d / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
        return False

    def remove(self) -> None:
        """Delete the cgroups (once their processes are gone: the kernel refuses a busy one for a moment)."""
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs.clear()
