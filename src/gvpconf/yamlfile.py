"""Reading a user's YAML file (inventory, waivers): every problem becomes one line naming the file.

The loader is PyYAML's safe one, with two additions: a key given twice in one mapping is an error (PyYAML
lets the last one win, silently), and the line of every key and list item is kept (``Lines``), so a
validation error can name ``FILE:LINE: key``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

#: libyaml's safe loader when PyYAML has it (the same nodes, marks and errors, several times faster on a large
#: inventory: a pool of 1000 targets), else the pure-Python one
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: a location in a YAML document (mapping keys and list indexes) -> its 1-based line
Lines = dict[tuple[int | str, ...], int]


def _lines(node: yaml.Node, at: tuple[int | str, ...], lines: Lines) -> None:
    """Every key's and item's line, below ``at``; a key given twice raises (with both lines)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key_node.tag != "tag:yaml.org,2002:merge":
                raise _DuplicateKey(f"duplicate key {key!r} (first at line {seen[key]}; keep one)", line)
            seen[key] = line
            lines[(*at, key)] = line
            _lines(value_node, (*at, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*at, i)] = item.start_mark.line + 1
            _lines(item, (*at, i), lines)


class _DuplicateKey(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def parse_yaml(text: str) -> tuple[Any, Lines]:
    """The safe-loaded data of ``text`` and the line of each location; raises ``yaml.YAMLError``, or
    ``_DuplicateKey`` for a key given twice."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        lines: Lines = {}
        if node is None:
            return None, lines
        _lines(node, (), lines)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def line_of(lines: Lines, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest part of ``loc`` the file has (a missing key: its parent's)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def read_yaml(path: str | os.PathLike[str], what: str, option: str, error: type[Exception]) -> Any:
    """The parsed YAML of ``path``, or ``error("FILE[:LINE:COL]: what is wrong (fix)")``.

    ``what`` names the file's role ("inventory", "waivers"); ``option`` the flag that passes it.
    """
    return read_yaml_lines(path, what, option, error)[0]


def read_yaml_lines(path: str | os.PathLike[str], what: str, option: str, error: type[Exception],
                    ) -> tuple[Any, Lines]:
    """``read_yaml``, and the line of every key and item (``Lines``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what} file (pass {option} FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise error(f"{p}: cannot read the {what}: {reason}") from None
    try:
        return parse_yaml(text)
    except _DuplicateKey as exc:
        raise error(f"{p}:{exc.line}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise error(f"{p}{at}: YAML syntax error: {exc.problem} (fix the YAML)") from None
    except yaml.YAMLError as exc:
        raise error(f"{p}: YAML error: {exc} (fix the YAML)") from None


def first_error(errors: list[Any]) -> dict[str, Any]:
    """The pydantic error worth one line: a misspelt key shows up as both "unknown key" and "missing key",
    so the unknown key comes first, then the most specific location."""
    best = max(errors, key=lambda e: (e.get("type") == "extra_forbidden", len(e.get("loc", ()))))
    return dict(best)


def one_line(exc: Any, describe: Callable[[dict[str, Any]], str]) -> str:
    """A pydantic ``ValidationError`` as one line: its ``first_error`` described, and how many more there are."""
    errors = exc.errors()
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{describe(first_error(errors))}{more}"
