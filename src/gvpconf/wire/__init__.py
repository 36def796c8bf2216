"""Pure wire-format codecs (sans-I/O, in the style of h11).

Every module here turns bytes into frozen message objects and back, and nothing else:
no sockets, no clocks, no logging. Decoders are incremental (``feed`` bytes, then ask
for the next message, ``None`` meaning "need more bytes") so that the probes own all
I/O, timeouts and error translation.
"""

from __future__ import annotations

__all__ = ["WireError"]


class WireError(ValueError):
    """Bytes (or arguments) that are not the protocol they claim to be.

    The single base error of every codec in :mod:`gvpconf.wire`: a decoder fed arbitrary
    bytes either returns messages or raises this, never ``IndexError``,
    ``UnicodeDecodeError``, ``struct.error`` and the like. Message constructors raise it
    for values that could not be put on the wire (a CR inside a header value, a status
    code of 42, ...). ``str()`` is one line saying what was expected and what was found.
    """
