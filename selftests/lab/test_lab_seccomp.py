"""The sandbox's RuntimeDefault seccomp program, run by a small classic-BPF interpreter: what it refuses, what it lets
through, for which ABI. Pure (the program is bytes); the sandbox's e2e tests run it in the kernel."""

from __future__ import annotations

import errno
import platform
import struct

import pytest

from gvpconf_lab.netlab import seccomp

X86_64 = seccomp.AUDIT_ARCH_X86_64
I386 = 0x40000003


def run(program: bytes, nr: int, arch: int = X86_64, arg0: int = 0) -> int:
    """Evaluate ``program`` on one call as the kernel does (the opcodes it uses only): its return value."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    for _ in range(len(insns)):
        code, jt, jf, k = insns[pc]
        if code == seccomp.LD_ABS:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (seccomp.JEQ, seccomp.JGE, seccomp.JSET):
            hit = {seccomp.JEQ: acc == k, seccomp.JGE: acc >= k, seccomp.JSET: bool(acc & k)}[code]
            pc += 1 + (jt if hit else jf)
        elif code == seccomp.RET:
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not expected")
    raise AssertionError("the program ran off its end")


ALLOW, EPERM, ENOSYS = seccomp.RET_ALLOW, seccomp.RET_ERRNO | errno.EPERM, seccomp.RET_ERRNO | errno.ENOSYS
SIGCHLD, CLONE_VM, CLONE_VFORK, CLONE_THREAD = 17, 0x100, 0x4000, 0x10000


@pytest.fixture(scope="module")
def program() -> bytes:
    if platform.machine() != "x86_64":
        with pytest.raises(seccomp.Unsupported):
            seccomp.runtime_default()
        pytest.fail("this machine is not x86_64: the sandbox refuses RuntimeDefault here (see above)")
    return seccomp.runtime_default()


@pytest.mark.parametrize("name", sorted(seccomp.BLOCKED))
def test_every_blocked_call_is_refused_with_eperm(program: bytes, name: str) -> None:
    assert run(program, seccomp.BLOCKED[name]) == EPERM


@pytest.mark.parametrize("name", sorted(seccomp.ALLOWED_ALTHOUGH_SENSITIVE))
def test_what_the_runtimes_allow_without_capabilities_stays_allowed(program: bytes, name: str) -> None:
    """The lab is never stricter than a cluster on these: ptrace and process_vm_* (kernel 4.8+), adjtimex and
    clock_adjtime (read-only without CAP_SYS_TIME) are in both profiles' allowlists."""
    assert run(program, seccomp.ALLOWED_ALTHOUGH_SENSITIVE[name]) == ALLOW


@pytest.mark.parametrize(("name", "nr"), [("read", 0), ("write", 1), ("openat", 257), ("socket", 41),
                                          ("connect", 42), ("sendto", 44), ("recvfrom", 45), ("execve", 59),
                                          ("futex", 202), ("epoll_wait", 232), ("memfd_create", 319),
                                          ("setresuid", 117), ("capset", 126), ("prctl", 157), ("exit_group", 231)])
def test_what_a_probe_and_setpriv_need_is_allowed(program: bytes, name: str, nr: int) -> None:
    assert run(program, nr) == ALLOW


def test_clone_is_allowed_for_fork_threads_and_vfork_but_not_for_a_namespace(program: bytes) -> None:
    assert run(program, seccomp.CLONE, arg0=SIGCHLD) == ALLOW  # fork
    assert run(program, seccomp.CLONE, arg0=CLONE_VM | CLONE_VFORK | SIGCHLD) == ALLOW  # posix_spawn
    assert run(program, seccomp.CLONE, arg0=0x3D0F00 | CLONE_THREAD) == ALLOW  # pthread_create's flags
    for flag in (0x10000000, 0x20000000, 0x40000000, 0x00020000, 0x08000000, 0x04000000, 0x02000000, 0x80):
        assert run(program, seccomp.CLONE, arg0=SIGCHLD | flag) == EPERM, hex(flag)


def test_clone3_gets_enosys_so_that_glibc_falls_back_to_clone(program: bytes) -> None:
    assert run(program, seccomp.CLONE3) == ENOSYS


def test_other_abis_are_refused(program: bytes) -> None:
    assert run(program, 0 | seccomp.X32_SYSCALL_BIT) == EPERM  # x32's read
    assert run(program, 3, arch=I386) == EPERM  # i386's read (int 0x80)


def test_profile_type_container_over_pod_default_unconfined() -> None:
    pod = {"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}}
    assert seccomp.profile_type(pod, {}) == "RuntimeDefault"
    assert seccomp.profile_type(pod, {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}) == "Unconfined"
    assert seccomp.profile_type({"spec": {}}, {"securityContext": {"seccompProfile": {"type": "Localhost"}}}) \
        == "Localhost"
    assert seccomp.profile_type({"spec": {}}, {"securityContext": {}}) == "Unconfined"
