"""The one failure type every probe raises, and the fixed set of causes.

Exception tree::

    Exception
     +-- ProbeFailure          a probe could not verify its connection (cause: Cause)
     +-- WireError             (gvpconf.wire) bytes that are not the protocol they claim to be
     +-- InventoryError        (gvpconf.inventory) the inventory file is unusable

Library and OS errors are translated into a ``ProbeFailure`` in exactly one place per
family (``failure_from_os_error`` here, and one ``translate`` function per probe module
for a library's own exceptions), always raised ``from`` the original.
"""

from __future__ import annotations

import enum
import errno
import socket


class Cause(enum.StrEnum):
    """Why a probe failed. The set is fixed: reports, JUnit and dashboards rely on it."""

    DNS = "dns"  # the name did not resolve
    REFUSED = "refused"  # RST / ICMP unreachable: the path answers, nothing listens (or a reject rule)
    TIMEOUT = "timeout"  # no answer within the deadline: filtered, blackholed or a silent peer
    TLS = "tls"  # handshake or certificate verification failed
    PROTOCOL = "protocol"  # the peer answered, but not in the expected protocol
    AUTH = "auth"  # the peer speaks the protocol and rejected our credentials
    SEMANTIC = "semantic"  # the protocol works but the answer is wrong (status, content, state)
    CONFIG = "config"  # the inventory or a secret reference is unusable for this probe


class ProbeFailure(Exception):
    """A probe failed. ``str()`` is one line: what was expected and what came back."""

    def __init__(self, cause: Cause, message: str, *, phase: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.phase = phase

    def __str__(self) -> str:
        return f"{self.cause.value}: {self.message}"


class PeerClosed(ProbeFailure):
    """The peer closed the connection before a whole message (PROTOCOL): a probe that knows what such a close means
    at its step (a broker refusing a login) can say so."""


def failure_from_os_error(exc: BaseException, *, during: str, timeout: float | None = None) -> ProbeFailure:
    """Map an OS/ssl/socket error raised while doing ``during`` to a ProbeFailure."""
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, socket.gaierror):
        return ProbeFailure(Cause.DNS, f"name resolution failed during {during}: {exc.strerror}", phase=during)
    if isinstance(exc, TimeoutError | socket.timeout):
        limit = f" ({timeout:.1f} s)" if timeout is not None else ""
        return ProbeFailure(Cause.TIMEOUT, f"timeout during {during}{limit}", phase=during)
    # ssl is imported by the probes that speak TLS (a plain TCP run does without it): an error of one of its classes
    # means it is, or is being imported by another thread (``import`` waits for that one to finish)
    if any(klass.__module__ == "ssl" for klass in type(exc).__mro__):
        import ssl

        if isinstance(exc, ssl.SSLCertVerificationError):
            return ProbeFailure(Cause.TLS, f"certificate verification failed during {during}: "
                                f"{exc.verify_message}", phase=during)
        if isinstance(exc, ssl.SSLError):
            return ProbeFailure(Cause.TLS, f"TLS error during {during}: {exc.reason or exc}", phase=during)
    if isinstance(exc, ConnectionRefusedError):
        return ProbeFailure(Cause.REFUSED, f"connection refused during {during} (nothing listening, or a "
                            "reject rule)", phase=during)
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ProbeFailure(Cause.REFUSED, f"{exc.strerror} during {during} (ICMP unreachable or no route)",
                            phase=during)
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return ProbeFailure(Cause.CONFIG, f"out of file descriptors during {during}: {_fd_limit()}; raise "
                            "`ulimit -n` or run fewer probes at once (--gvp-workers)", phase=during)
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return ProbeFailure(Cause.PROTOCOL, f"peer reset the connection during {during}", phase=during)
    if isinstance(exc, OSError):
        return ProbeFailure(Cause.PROTOCOL, f"{exc.strerror or exc} during {during}", phase=during)
    return ProbeFailure(Cause.PROTOCOL, f"{type(exc).__name__} during {during}: {exc}", phase=during)


def _fd_limit() -> str:
    """The open-files limit in words, for the message of a probe that ran out of descriptors."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return "the open-files limit (ulimit -n) is reached"
    return f"the open-files limit (ulimit -n) is {soft} (hard limit {hard})"
