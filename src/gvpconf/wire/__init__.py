"""Pure wire-format codecs (sans-I/O, in the style of h11).

Every module here turns bytes into frozen message objects and back, and nothing else:
no sockets, no clocks, no logging. Every stream decoder has the one interface
:class:`Decoder`: ``feed`` bytes, then ``next_message()`` until it returns ``None``
("need more bytes"); it raises only :class:`WireError`. So the probes own all I/O,
timeouts and error translation (``gvpconf.net.read_message``).

Every decoder is bounded and linear: it states its ``max_message_size`` and raises WireError
rather than buffer more, and fed one byte at a time it resumes where its last search stopped, so
a peer dripping bytes costs time in proportion to what it sent (``selftests/wire/test_linear.py``
feeds 64 KB one byte at a time to each).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["BufferedDecoder", "Decoder", "WireError"]

M_co = TypeVar("M_co", covariant=True)
M = TypeVar("M")


class WireError(ValueError):
    """Bytes (or arguments) that are not the protocol they claim to be.

    The single base error of every codec in :mod:`gvpconf.wire`: a decoder fed arbitrary
    bytes either returns messages or raises this, never ``IndexError``,
    ``UnicodeDecodeError``, ``struct.error`` and the like. Message constructors raise it
    for values that could not be put on the wire (a CR inside a header value, a status
    code of 42, ...). ``str()`` is one line saying what was expected and what was found.
    """


class Decoder(Protocol[M_co]):
    """The interface of every incremental decoder here (h11's ``receive_data``/``next_event`` shape)."""

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""

    def next_message(self) -> M_co | None:
        """The next complete message, or None when more bytes are needed; raises only WireError."""


class BufferedDecoder(Decoder[M]):
    """The skeleton every decoder here shares: a receive buffer, and a WireError that sticks.

    It subclasses the ``Decoder`` protocol explicitly, so that type checkers read a decoder's message
    type from its base class (``read_message`` returns ``SipRequest | SipResponse`` for a SIP decoder).

    Subclasses implement ``_next()`` over ``self._buffer`` (consuming what they return). After
    a WireError the decoder stays broken and raises the same error again: the stream has lost
    its framing, and no later byte can be trusted to start a message.

    ``max_message_size`` is the largest message accepted, in bytes on the wire (framing included):
    a message that is, or announces itself, larger is a WireError, never buffered.
    """

    def __init__(self, *, max_message_size: int) -> None:
        self._buffer = bytearray()
        self._error: WireError | None = None
        self.max_message_size = max_message_size

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        self._buffer += data

    def next_message(self) -> M | None:
        """The next complete message, or None when more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except WireError as exc:
            self._error = exc
            raise

    def _next(self) -> M | None:
        raise NotImplementedError
