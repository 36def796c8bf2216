"""Network namespaces, veths, one bridge and iptables, driven through iproute2 and iptables.

Nothing here touches the host's own network namespace: the bridge lives in a namespace of its own
(the *switch*), each node's veth pair is created there with its other end moved straight into the
node's namespace, and every iptables rule is written into a node namespace's own tables. Deleting
the namespaces therefore removes every veth, the bridge and every rule with them.

``in_netns(name, fn)`` runs ``fn`` in a fresh thread that has entered the namespace (``setns(2)``
affects only the calling thread); sockets created there stay in that namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")


class NetnsError(RuntimeError):
    """A namespace, link or rule could not be created, checked or removed."""


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def iptables(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """iptables inside ``netns`` (its own tables: the host's chains are never touched)."""
    return run(["ip", "netns", "exec", netns, "iptables", "-w", "5", *args], check=check)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def add(name: str) -> None:
    """A new namespace with loopback up and IPv6 off (no link-local routes: the lab is IPv4 only)."""
    ip("netns", "add", name)
    for scope in ("all", "default"):
        run([*exec_prefix(name), "sh", "-c", f"echo 1 > /proc/sys/net/ipv6/conf/{scope}/disable_ipv6"])
    ip("link", "set", "lo", "up", netns=name)


def delete(name: str) -> None:
    if exists(name):
        ip("netns", "del", name)


def list_prefixed(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(name: str, fn: Callable[[], T], timeout: float = 60.0) -> T:
    """Run ``fn()`` in a new thread that has entered network namespace ``name``; returns or re-raises."""
    box: dict[str, object] = {}

    def body() -> None:
        try:
            fd = os.open(NETNS_DIR / name, os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise NetnsError(f"in_netns({name}): no answer within {timeout:.0f} s")
    if "error" in box:
        error = box["error"]
        assert isinstance(error, BaseException)
        raise error
    return box["value"]  # type: ignore[return-value]


def exec_prefix(name: str) -> list[str]:
    """argv prefix that runs a command inside ``name`` (``ip netns exec`` execs: the PID is the command's)."""
    return ["ip", "netns", "exec", name]
