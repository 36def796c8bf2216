"""Network namespaces, veths, one bridge and iptables, driven through iproute2 and iptables.

Nothing here touches the host's own network namespace: the bridge lives in a namespace of its own
(the *switch*), each node's veth pair is created there with its other end moved straight into the
node's namespace, and every iptables rule is written into a node namespace's own tables. Deleting
the namespaces therefore removes every veth, the bridge and every rule with them.

``Segment`` is that wiring, for any set of namespaces: the namespace lab's pods and peers, or a test's
two hosts. ``in_netns(name, fn)`` runs ``fn`` in a fresh thread that has entered the namespace
(``setns(2)`` affects only the calling thread); sockets created there stay in that namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

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


def _json(*args: str, netns: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(ip("-j", *args, netns=netns).stdout)
    return found


class Segment:
    """Namespaces on one Ethernet segment: a bridge ``br0`` in a namespace of its own (``switch``) and, for each
    member namespace, a veth pair (``v<i>`` on the bridge, ``eth0`` with the member's address in ``subnet``).

    ``members`` maps namespace name -> address, in order. A context manager: created and checked
    (:meth:`verify`) on entry, deleted on exit; a failure half-way deletes what was made.
    """

    def __init__(self, switch: str, subnet: str, members: Mapping[str, str]) -> None:
        self.switch = switch
        self.subnet = ipaddress.ip_network(subnet)
        self.members = dict(members)
        self._created: list[str] = []

    def __enter__(self) -> Segment:
        try:
            self.create()
            self.verify()
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        errors = self.delete()
        if errors:
            raise NetnsError("; ".join(errors))

    def create(self) -> None:
        add(self.switch)
        self._created.append(self.switch)
        ip("link", "add", "br0", "type", "bridge", netns=self.switch)
        ip("link", "set", "br0", "up", netns=self.switch)
        for index, (name, address) in enumerate(self.members.items()):
            add(name)
            self._created.append(name)
            port = f"v{index}"
            ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name, netns=self.switch)
            ip("link", "set", port, "master", "br0", "up", netns=self.switch)
            ip("addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0", netns=name)
            ip("link", "set", "eth0", "up", netns=name)

    def verify(self) -> None:
        """Check that every route stays on this segment: raises NetnsError naming each problem otherwise."""
        problems: list[str] = []
        sw_links = {link["ifname"] for link in _json("link", "show", netns=self.switch)}
        expected_sw = {"lo", "br0", *(f"v{i}" for i in range(len(self.members)))}
        if sw_links != expected_sw:
            problems.append(f"switch {self.switch} has links {sorted(sw_links)}, expected {sorted(expected_sw)}")
        sw_addrs = [a for link in _json("addr", "show", netns=self.switch)
                    for a in link.get("addr_info", []) if link["ifname"] != "lo"]
        if sw_addrs:
            problems.append(f"switch {self.switch} has addresses {sw_addrs}: it must only bridge")
        for name in self.members:
            links = {link["ifname"] for link in _json("link", "show", netns=name)}
            if links != {"lo", "eth0"}:
                problems.append(f"{name} has links {sorted(links)}, expected lo and eth0")
            for route in _json("route", "show", "table", "all", netns=name):
                dst, dev = route.get("dst", ""), route.get("dev", "")
                if route.get("table") == "local" or dev == "lo":
                    continue
                if dst == "default" or dev != "eth0":
                    problems.append(f"{name}: route {route} leaves the lab")
                    continue
                try:
                    inside = ipaddress.ip_network(dst, strict=False).subnet_of(self.subnet)  # type: ignore[arg-type]
                except (ValueError, TypeError):
                    inside = False
                if not inside:
                    problems.append(f"{name}: route to {dst} is outside {self.subnet}")
        if problems:
            raise NetnsError("lab wiring is unsafe: " + "; ".join(problems))

    def delete(self) -> list[str]:
        """Delete every namespace this segment made (veths and bridge go with them); returns the errors."""
        errors: list[str] = []
        for name in reversed(self._created):
            try:
                delete(name)
            except NetnsError as exc:
                errors.append(str(exc))
        self._created.clear()
        return errors
