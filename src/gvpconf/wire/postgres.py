"""PostgreSQL SSLRequest (PostgreSQL protocol docs, "Message Flow" §55.2.10 / "SSLRequest").

A client that wants TLS first sends the 8-byte SSLRequest; the server answers with one
byte, ``S`` (go ahead with the TLS handshake) or ``N`` (no TLS here). A server that does
not understand SSLRequest (older than 7.0) answers with an ErrorResponse, starting ``E``.
"""

from __future__ import annotations

import struct

from gvpconf.wire import WireError
from gvpconf.wire.banner import describe

__all__ = ["SSL_REQUEST", "SSL_REQUEST_CODE", "parse_ssl_response"]

SSL_REQUEST_CODE = 80877103  # 1234 << 16 | 5679
SSL_REQUEST: bytes = struct.pack("!ii", 8, SSL_REQUEST_CODE)


def parse_ssl_response(byte: bytes) -> bool:
    """True if the server accepts TLS (``S``), False if it refuses it (``N``).

    Raises WireError for anything else. Exactly one byte is expected: data after ``S``
    would have been sent before the TLS handshake, unencrypted (CVE-2021-23222), and is
    rejected too.
    """
    if byte in (b"S", b"N"):
        return byte == b"S"
    if byte.startswith(b"E"):
        raise WireError(
            "the server answered the SSLRequest with an error message instead of 'S' or 'N' "
            f"(a server older than 7.0, or one not accepting SSLRequest): {describe(byte)}"
        )
    if byte[:1] in (b"S", b"N"):
        raise WireError(f"{len(byte) - 1} unexpected bytes after the one-byte SSLRequest answer (sent before "
                        f"any TLS handshake: possible injection by a man in the middle): {describe(byte)}")
    raise WireError(f"expected 'S' or 'N' in answer to the SSLRequest, got {describe(byte)}")
