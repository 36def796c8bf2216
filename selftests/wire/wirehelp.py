"""Shared helpers for the codec tests: feeding styles (h11's) and hypothesis settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from hypothesis import settings

from gvpconf.wire import WireError

T = TypeVar("T")

# Fast and side-effect free: no example database written into the work tree.
WIRE_SETTINGS = settings(max_examples=200, deadline=None, database=None)

FEEDS = ("whole", "bytewise")


class Decoder(Protocol):
    def feed(self, data: bytes) -> None: ...


def chunks(data: bytes, how: str) -> list[bytes]:
    """``data`` cut as one write or as one byte per write."""
    return [data] if how == "whole" else [data[i : i + 1] for i in range(len(data))]


def drain(next_item: Callable[[], T | None]) -> Iterator[T]:
    """Every complete item a decoder holds right now."""
    while (item := next_item()) is not None:
        yield item


def decode_chunks(decoder: Decoder, next_item: Callable[[], T | None], parts: list[bytes]) -> list[T]:
    """Feed ``parts`` one by one, collecting every item as soon as it is complete."""
    out: list[T] = []
    for part in parts:
        decoder.feed(part)
        out.extend(drain(next_item))
    return out


def parse_or_wire_error(decoder: Decoder, next_item: Callable[[], object], data: bytes) -> None:
    """Fuzz contract: arbitrary bytes yield items or raise WireError, nothing else."""
    try:
        for part in (data[: len(data) // 2], data[len(data) // 2 :]):
            decoder.feed(part)
            for _ in range(len(data) + 2):  # every item consumes at least one byte
                if next_item() is None:
                    break
    except WireError:
        return
