"""The conformance rules, said once.

Each rule is a small pure predicate over what a probe saw and what the inventory expects of the destination.
The prober applies it to decide its verdict (and, when it does not hold, raises ``ProbeFailure`` with cause
``semantic``); the conformance module under ``tests/`` states the same rule on the recorded evidence, so that it
reads like its row of the table::

    assert status_accepted(evidence["sip.status"], expect.accept_status)
    assert within(evidence["rtp.loss_pct"], expect.call.media.max_loss_pct)

A rule the prober applied holds in a passing case by construction; stating it in the test keeps the rule visible
where a reader looks for it, and fails the case (cause ``semantic``) should a prober ever stop enforcing it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: the VoiceXML versions a fetched application may declare (W3C VoiceXML 2.0, 2.1, 3.0): data of the rule, kept
#: here so that stating it costs no XML parser at collection
VOICEXML_VERSIONS = ("2.0", "2.1", "3.0")


def status_accepted(status: int, accepted: Iterable[str]) -> bool:
    """``status`` matches one of ``accepted`` ('2xx', '200', '200-299'): SIP and HTTP alike."""
    for pattern in accepted:
        if pattern.endswith("xx"):
            if status // 100 == int(pattern[0]):
                return True
        elif "-" in pattern:
            low, high = (int(p) for p in pattern.split("-"))
            if low <= status <= high:
                return True
        elif status == int(pattern):
            return True
    return False


def within(measured: float, limit: float) -> bool:
    """A measured figure (loss %, jitter ms, round trip ms) is at or under its threshold."""
    return measured <= limit


def missing(offered: Iterable[str] | str, required: Iterable[str], *, ignore_case: bool = False) -> list[str]:
    """What of ``required`` is absent from ``offered`` (a comma-separated string is a list): metric families
    (case matters), RTSP ``Public`` methods (compared ignoring case, as servers vary)."""
    items = offered.split(",") if isinstance(offered, str) else offered

    def norm(s: str) -> str:
        return s.strip().upper() if ignore_case else s.strip()

    have = {norm(item) for item in items}
    return [r for r in required if norm(r) not in have]


def covers(offered: Iterable[str] | str, required: Iterable[str], *, ignore_case: bool = False) -> bool:
    """Everything ``required`` is ``offered``."""
    return not missing(offered, required, ignore_case=ignore_case)


def at_least(version: Iterable[int] | str | int, minimum: Iterable[int] | str | int) -> bool:
    """A dotted version (or version tuple, or PostgreSQL's server_version_num) is at least ``minimum``."""

    def parts(v: Iterable[int] | str | int) -> tuple[int, ...]:
        if isinstance(v, int):
            return (v,)
        if isinstance(v, str):
            return tuple(int(p) for p in v.split("."))
        return tuple(v)

    have, need = parts(version), parts(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))
