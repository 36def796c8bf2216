"""Known secret values, scrubbed from every text the suite writes (failure messages, properties, logs).

Process-wide on purpose, and the one such registry: a secret value seen once in a process must never be printed
by anything in it, whichever session, thread or library produced the text. It only ever masks more.

Where text leaves the process, it goes through ``scrub`` (``gvpconf.plugin.scrub`` is that point for a pytest
run: terminal, captured output and logs, JUnit, report files). Code that shortens a peer's text for a message
shortens it with ``cut`` or ``preview``: scrub first, then cut, so that a cut never leaves the first characters
of a secret unmasked. ``scrub`` also masks what is left of a secret where a text was cut before it came here (a
peer or a library that shortened it): a secret's first characters (at least ``PARTIAL``) before a ``...``
cut mark (a text shortened elsewhere says so with one).
"""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import unquote

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()
MASK = "***"
#: the fewest characters of a secret masked where a text was cut (fewer would mask noise)
PARTIAL = 4
_CUT_MARK = re.compile(r"""['"]?(?:\.\.\.|…)""")


def register(value: str) -> None:
    """Remember a secret so ``scrub`` removes it. Very short values are ignored (they would mask noise)."""
    global _ordered
    if len(value) >= PARTIAL:
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def register_userinfo(user: str, password: str) -> None:
    """The password of a URL's userinfo and the forms it travels in: as written (percent-encoded) and decoded,
    ``user:password``, and the Basic credentials ``base64(user:password)`` a proxy or server may echo back."""
    for u, p in {(user, password), (unquote(user), unquote(password))}:
        register(p)
        if p:
            register(f"{u}:{p}")
            register(base64.b64encode(f"{u}:{p}".encode()).decode("ascii"))


def known() -> bool:
    """Whether any secret is registered yet: until one is, ``scrub`` returns every text as it is."""
    return bool(_ordered)


def generation() -> int:
    """Grows with every secret registered: a text scrubbed at one generation is scrubbed for every later one of
    the same generation (secrets are only ever added)."""
    return len(_ordered)


def _secrets_now() -> tuple[str, ...]:
    """The secrets, longest first. No lock: ``register`` replaces the tuple whole (under its lock), and reading a
    module global is atomic, so a reader sees the old tuple or the new one (a SIP probe scrubs seven texts: seven
    lock round trips saved)."""
    return _ordered


def _prefix_before(text: str, end: int, secret: str) -> int | None:
    """Where the longest proper prefix of ``secret`` (at least PARTIAL characters) ending at ``end`` starts."""
    i = text.find(secret[0], max(0, end - len(secret) + 1), end)
    while i != -1 and end - i >= PARTIAL:
        if secret.startswith(text[i:end]):
            return i
        i = text.find(secret[0], i + 1, end)
    return None


def _mask_partial(text: str, secrets: tuple[str, ...], *, cut_at_end: bool = False) -> str:
    """Mask a secret's first characters before each cut mark in ``text``, and at its end when it was cut there."""
    if not cut_at_end and "..." not in text and "…" not in text:
        return text  # no cut mark (the regex's scan of a whole SIP request costs ~10 us; these two, ~0.5 us)
    ends = [m.start() for m in _CUT_MARK.finditer(text)] + ([len(text)] if cut_at_end else [])
    spans: set[tuple[int, int]] = set()
    for s in secrets:
        for end in ends:
            start = _prefix_before(text, end, s)
            if start is not None:
                spans.add((start, end))
    last = len(text) + 1
    for start, end in sorted(spans, reverse=True):  # from the end, so that earlier offsets stay right
        end = min(end, last)
        if start < end:
            text = text[:start] + MASK + text[end:]
            last = start
    return text


def scrub(text: str) -> str:
    """``text`` with every known secret masked, and what is left of one at a cut."""
    secrets = _ordered  # _secrets_now(), without the call
    if not secrets:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return _mask_partial(text, secrets)


def cut(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` for a message: scrubbed first, then cut (a secret the cut
    would split is already masked), and a secret's first characters left at the cut masked too."""
    text = scrub(text)
    if len(text) <= limit:
        return text
    return _mask_partial(text[:limit], _secrets_now(), cut_at_end=True) + "..."


def preview(data: bytes, limit: int = 40) -> str:
    """``gvpconf.wire.banner.describe`` of a peer's bytes for a message, scrubbed before it is cut."""
    from gvpconf.wire.banner import describe

    clean = scrub(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    return scrub(describe(clean, limit))
