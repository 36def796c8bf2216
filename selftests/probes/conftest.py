"""What the probe tests share: the impostors every probe must fail against (``gvpconf_lab.impostors``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from gvpconf_lab import impostors

#: a socket that accepts and stays silent, one that accepts and closes, an HTTP server (answering what it
#: receives, or greeting first), one that sends garbage, one that echoes every byte back (a probe must never take
#: its own request for the peer's answer), a port with nothing listening, a blackholed port
IMPOSTORS: dict[str, Callable[[], AbstractContextManager[tuple[str, int]]]] = {
    "silent": impostors.silent,
    "closer": impostors.closer,
    "http": impostors.http_server,
    "http-banner": impostors.http_banner_server,
    "garbage": impostors.garbage,
    "echo": impostors.echo,
    "refused": impostors.refused,
    "blackhole": impostors.blackhole,
}


@pytest.fixture(params=sorted(IMPOSTORS))
def impostor(request: pytest.FixtureRequest) -> Iterator[tuple[str, tuple[str, int]]]:
    """(kind, address) of each impostor in turn."""
    with IMPOSTORS[request.param]() as address:
        yield request.param, address
