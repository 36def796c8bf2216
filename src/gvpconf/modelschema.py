"""The JSON Schema (draft 2020-12) of a ``gvpconf.model`` model, in the form pydantic published it
(``fixtures/inventory.schema.json``): models under ``$defs``, referenced with ``$ref``; a field's title from its
name; defaults, descriptions and constraints beside its type. Only ``python -m gvpconf.inventory --schema`` and
its test use it."""

from __future__ import annotations

import datetime as dt
import inspect
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from gvpconf.model import FieldInfo, Model, _dump, _is_union, _split


def json_schema(root: type[Model]) -> dict[str, Any]:
    defs: dict[str, dict[str, Any]] = {}
    schema = _model(root, defs)
    defs.pop(root.__name__, None)
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def _model(cls: type[Model], defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cls._resolve()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, info in cls.model_fields.items():
        properties[name] = _field(info, defs)
        if info.required:
            required.append(name)
    out: dict[str, Any] = {"additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    out["title"] = cls.__name__
    out["type"] = "object"
    doc = cls.__dict__.get("__doc__")
    if doc:
        out["description"] = inspect.cleandoc(doc)
    return out


def _titled(tp: Any) -> bool:
    """pydantic gives a field a title unless its schema is a model's reference (possibly nullable)."""
    base, _ = _split(tp)
    if _is_union(base):
        rest = [a for a in get_args(base) if a is not type(None)]
        if len(rest) == 1:
            return _titled(rest[0])
        return True
    return not (isinstance(base, type) and issubclass(base, Model))


def _field(info: FieldInfo, defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = _type(info.annotation, info, defs)
    if not info.required and info.default_factory is None:
        out["default"] = _json(info.default)
    if info.description is not None:
        out["description"] = info.description
    if _titled(info.annotation):
        out["title"] = info.name.replace("_", " ").title()
    return out


def _json(value: Any) -> Any:
    value = _dump(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _constraints(out: dict[str, Any], info: FieldInfo | None, kind: str) -> dict[str, Any]:
    if info is None:
        return out
    if kind in ("integer", "number"):
        if info.gt is not None:
            out["exclusiveMinimum"] = info.gt
        if info.ge is not None:
            out["minimum"] = info.ge
        if info.le is not None:
            out["maximum"] = info.le
    elif kind == "string":
        if info.min_length is not None:
            out["minLength"] = info.min_length
        if info.pattern is not None:
            out["pattern"] = info.pattern
    elif kind == "array" and info.min_length is not None:
        out["minItems"] = info.min_length
    return out


_KINDS = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _type(tp: Any, info: FieldInfo | None, defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base, inner = _split(tp)
    if inner is not None:
        out = _type(base, inner, defs)
        if inner.description is not None:
            out["description"] = inner.description
        return out
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        members = [_type(a, info if len(args) == 1 else None, defs) for a in args]
        if len(args) < len(get_args(tp)):
            members.append({"type": "null"})
        return {"anyOf": members}
    origin = get_origin(tp)
    if origin is Literal:
        values = list(get_args(tp))
        kind = _KINDS[type(values[0])]
        return {"const": values[0], "type": kind} if len(values) == 1 else {"enum": values, "type": kind}
    if origin is list:
        return _constraints({"items": _type(get_args(tp)[0], None, defs), "type": "array"}, info, "array")
    if origin is dict:
        return {"additionalProperties": _type(get_args(tp)[1], None, defs), "type": "object"}
    if isinstance(tp, type) and issubclass(tp, Model):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # a placeholder while it is built (recursive models)
            defs[tp.__name__] = _model(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if tp is Path:
        return {"format": "path", "type": "string"}
    if tp is dt.date:
        return {"format": "date", "type": "string"}
    if tp in _KINDS:
        return _constraints({"type": _KINDS[tp]}, info, _KINDS[tp])
    if tp is typing.Any:
        return {}
    raise TypeError(f"no JSON Schema for {tp!r}")
