"""Known secret values, scrubbed from every text the suite writes (failure messages, properties, logs).

Process-wide on purpose, and the one such registry: a secret value seen once in a process must never be printed
by anything in it, whichever session, thread or library produced the text. It only ever masks more.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register(value: str) -> None:
    """Remember a secret so ``scrub`` removes it. Very short values are ignored (they would mask noise)."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text
