"""Reading a user's YAML file (inventory, waivers): every problem becomes one line naming the file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: str | os.PathLike[str], what: str, option: str, error: type[Exception]) -> Any:
    """The parsed YAML of ``path``, or ``error("FILE[:LINE:COL]: what is wrong (fix)")``.

    ``what`` names the file's role ("inventory", "waivers"); ``option`` the flag that passes it.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what} file (pass {option} FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise error(f"{p}: cannot read the {what}: {reason}") from None
    try:
        return yaml.safe_load(text)
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
