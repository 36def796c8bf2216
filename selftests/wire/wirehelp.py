"""Shared helpers for the codec tests: feeding styles (h11's), the checks every decoder gets, and hypothesis
settings. Every decoder has the one interface ``gvpconf.wire.Decoder`` (``feed``, ``next_message``)."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from gvpconf.wire import Decoder, WireError

T = TypeVar("T")

#: hypothesis settings of the codec property tests, chosen by $GVPCONF_FUZZ (default ``ci``). None writes an
#: example database into the work tree.
#: ``ci``      ``make test``: fast, no deadline (a loaded CI machine must not fail a test on time);
#: ``long``    ``make fuzz``: many examples, and a per-example deadline, so that a slow input is a failure
#:             (the largest inputs, 19 KB fed one byte at a time, take under 0.1 s to a linear decoder and
#:             2.4 s to the quadratic RTSP decoder of 880335e; hypothesis then shrinks the slow example);
#: ``mutants`` ``make mutants``: few examples, each mutant runs the tests again.
FUZZ_PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"max_examples": 200, "deadline": None},
    "long": {"max_examples": int(os.environ.get("GVPCONF_FUZZ_EXAMPLES", "20000")),
             "deadline": timedelta(seconds=1), "suppress_health_check": [HealthCheck.too_slow]},
    "mutants": {"max_examples": 30, "deadline": None},
}
FUZZ_PROFILE = os.environ.get("GVPCONF_FUZZ", "ci")
if FUZZ_PROFILE not in FUZZ_PROFILES:
    raise ValueError(f"GVPCONF_FUZZ={FUZZ_PROFILE!r}: expected one of {', '.join(FUZZ_PROFILES)}")
WIRE_SETTINGS = settings(database=None, **FUZZ_PROFILES[FUZZ_PROFILE])

FEEDS = ("whole", "bytewise")


def chunks(data: bytes, how: str) -> list[bytes]:
    """``data`` cut as one write or as one byte per write."""
    return [data] if how == "whole" else [data[i : i + 1] for i in range(len(data))]


def drain(decoder: Decoder[T]) -> Iterator[T]:
    """Every complete message a decoder holds right now."""
    while (item := decoder.next_message()) is not None:
        yield item


def decode_chunks(decoder: Decoder[T], parts: list[bytes]) -> list[T]:
    """Feed ``parts`` one by one, collecting every message as soon as it is complete."""
    out: list[T] = []
    for part in parts:
        decoder.feed(part)
        out.extend(drain(decoder))
    return out


def check_trailing(decoder: Decoder[T], data: bytes, expected: T, follower: bytes, follower_expected: T,
                   cut: int) -> None:
    """``data`` then the first ``cut`` bytes of the next message: ``expected``, then need-more, then the rest."""
    decoder.feed(data + follower[:cut])
    assert decoder.next_message() == expected
    assert decoder.next_message() is None
    decoder.feed(follower[cut:])
    assert decoder.next_message() == follower_expected


def check_table(make: Callable[[], Decoder[T]], data: bytes, expected: T, follower: bytes, follower_expected: T,
                cut: int) -> None:
    """One row of a codec's table of valid input: ``data`` decodes to ``expected`` fed whole, byte by byte, and
    followed by the first ``cut`` bytes of another message (``check_trailing``)."""
    for how in FEEDS:
        assert decode_chunks(make(), chunks(data, how)) == [expected], how
    check_trailing(make(), data, expected, follower, follower_expected, cut)


def refused(make: Callable[[], object], message: str) -> None:
    """``make()`` raises a WireError whose whole text is ``message`` (what a user reads, compared exactly)."""
    with pytest.raises(WireError) as caught:
        make()
    assert str(caught.value) == message


def check_broken(decoder: Decoder[object], data: bytes, message: str) -> None:
    """``data`` is a WireError matching ``message``, and the decoder stays broken."""
    decoder.feed(data)
    with pytest.raises(WireError, match=message):
        decoder.next_message()
    with pytest.raises(WireError, match=message):  # stays broken
        decoder.next_message()


def parse_or_wire_error(decoder: Decoder[object], data: bytes) -> None:
    """Fuzz contract: arbitrary bytes yield messages or raise WireError, nothing else."""
    try:
        for part in (data[: len(data) // 2], data[len(data) // 2 :]):
            decoder.feed(part)
            for _ in range(len(data) + 2):  # every message consumes at least one byte
                if decoder.next_message() is None:
                    break
    except WireError:
        return


def message_classes(*modules: ModuleType) -> list[type]:
    """Every dataclass a codec module defines (its messages), for the frozen-and-slotted check."""
    return [cls for module in modules for _, cls in inspect.getmembers(module, inspect.isclass)
            if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__]


def check_frozen_slotted(cls: type) -> None:
    """Messages are values (h11): frozen, so a decoded message cannot be altered, and slotted."""
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
    assert "__slots__" in cls.__dict__, cls
