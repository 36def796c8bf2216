"""What the text protocols (SIP, RTSP) share: header tuples and the token grammar.

RFC 3261 §25.1 and RFC 2326 §15 define the same ``token``; both keep headers in wire order as
``(name, value)`` pairs whose names must be tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gvpconf.wire import WireError

Headers = tuple[tuple[str, str], ...]

TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")


def check_headers(headers: Headers, protocol: str, check_value: Callable[[str, str], None]) -> Headers:
    """``headers`` as a tuple of string pairs; names must be tokens, values pass ``check_value(name, value)``."""
    checked = tuple((str(name), str(value)) for name, value in headers)
    for name, value in checked:
        if not TOKEN.fullmatch(name):
            raise WireError(f"{protocol} header name is not a token: {name!r}")
        check_value(name, value)
    return checked
