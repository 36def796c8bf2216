"""``seccompProfile: RuntimeDefault`` as the pod sandbox applies it: a seccomp-BPF program for bubblewrap.

What a container runtime loads for ``RuntimeDefault`` is an allowlist of about 350 system calls, some of them
only with certain arguments or capabilities (containerd's ``contrib/seccomp``, and Docker's ``default.json``,
which it follows). For a container that drops every capability, as the runner's do, this program refuses what
the current profiles (containerd 2, Docker 25 and later) refuse it: the calls gated by a capability (``mount``,
``unshare``, ``setns``, ``bpf``, ``perf_event_open``, the new mount API...), those never allowed (``keyctl``,
``add_key``, ``kexec_*``, ``userfaultfd``...), io_uring (refused since containerd 2.0 and Docker 25), with
``EPERM`` as the runtime's ``SCMP_ACT_ERRNO`` does; a ``clone`` asking for a new namespace; and it answers
``clone3`` with ``ENOSYS``, as the profiles do, so that glibc falls back to ``clone``, whose flags a filter can
read. Where the two profiles differ, the stricter answer is taken (``name_to_handle_at``: Docker allows it,
containerd does not). It also refuses every call of another ABI than x86-64 (x32, and i386 through
``int 0x80``), which the profiles allow: a denylist by number holds for one ABI only, and a probe built for
x86-64 makes no such call. Everything else is allowed: a denylist of what the allowlist leaves out, not the
allowlist itself, so a rarely used call the real profile refuses may be let through here.

Pure: the program is bytes (``struct sock_filter`` records, as ``seccomp_export_bpf`` writes them), which
``bwrap --seccomp FD`` reads and installs just before it executes the container's command.
"""

from __future__ import annotations

import errno
import platform
import struct
from collections.abc import Mapping
from typing import Any

#: ``struct seccomp_data`` offsets: the call's number, its ABI, its first argument's low 32 bits (little-endian)
_NR, _ARCH, _ARG0 = 0, 4, 16
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

# classic BPF opcodes (linux/bpf_common.h): LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, JMP|JSET|K, RET|K
LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06

#: x86-64 numbers (asm/unistd_64.h) of the calls RuntimeDefault refuses to a container without capabilities
BLOCKED: dict[str, int] = {
    "syslog": 103, "uselib": 134, "ustat": 136, "sysfs": 139, "vhangup": 153, "pivot_root": 155, "_sysctl": 156,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "iopl": 172, "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
    "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180, "lookup_dcookie": 212,
    "clock_settime": 227, "mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "move_pages": 279, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "kcmp": 312,
    "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "quotactl_fd": 443,
}
#: allowed by both profiles to a container without capabilities (ptrace and process_vm_* on kernels 4.8 and later,
#: which every supported cluster runs): the selftests hold that they stay allowed
ALLOWED_ALTHOUGH_SENSITIVE: dict[str, int] = {"ptrace": 101, "adjtimex": 159, "clock_adjtime": 305,
                                              "process_vm_readv": 310, "process_vm_writev": 311}
CLONE, CLONE3 = 56, 435
#: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (and NEWTIME): refused to ``clone`` without
#: CAP_SYS_ADMIN
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80


class Unsupported(Exception):
    """This machine's architecture is not one the program is written for."""


def runtime_default() -> bytes:
    """The program, as ``struct sock_filter`` records (u16 code, u8 jt, u8 jf, u32 k, native byte order)."""
    if platform.machine() != "x86_64":
        raise Unsupported(f"the lab's RuntimeDefault seccomp program is for x86_64, this machine is "
                          f"{platform.machine()}")
    # (code, jump if true, jump if false, k); jumps name a label, resolved below
    prog: list[tuple[int, str | int, str | int, int]] = [
        (LD_ABS, 0, 0, _ARCH),
        (JEQ, 0, "eperm", AUDIT_ARCH_X86_64),
        (LD_ABS, 0, 0, _NR),
        (JGE, "eperm", 0, X32_SYSCALL_BIT),
        *((JEQ, "eperm", 0, nr) for nr in sorted(BLOCKED.values())),
        (JEQ, "enosys", 0, CLONE3),
        (JEQ, 0, "allow", CLONE),
        (LD_ABS, 0, 0, _ARG0),
        (JSET, "eperm", 0, CLONE_NAMESPACES),
    ]
    labels = {"allow": len(prog), "eperm": len(prog) + 1, "enosys": len(prog) + 2}
    prog += [(RET, 0, 0, RET_ALLOW), (RET, 0, 0, RET_ERRNO | errno.EPERM), (RET, 0, 0, RET_ERRNO | errno.ENOSYS)]
    out = bytearray()
    for i, (code, jt, jf, k) in enumerate(prog):
        offsets = [labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)]
        assert all(0 <= o <= 255 for o in offsets), "a jump beyond classic BPF's 8-bit offsets"
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return bytes(out)


def profile_type(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """The ``seccompProfile.type`` in force for ``container`` of ``pod``: the container's, else the pod's, else
    ``Unconfined`` (a kubelet without ``--seccomp-default``, the default)."""
    for holder in (container, pod.get("spec") or {}):
        profile = (holder.get("securityContext") or {}).get("seccompProfile") or {}
        if profile.get("type"):
            return str(profile["type"])
    return "Unconfined"
