"""Declarative, validated, frozen models of user files (the inventory, the waivers): a small stdlib layer.

A model is a class whose annotated attributes are its fields (``Field(...)`` for constraints, a description and
defaults), validated when built from parsed YAML (``Model.model_validate(data)``) with the rules of pydantic's
lax mode that the inventory relied on, the same error types, locations and messages; its JSON Schema is
``gvpconf.modelschema.json_schema``'s (which imports this module, never the other way round). It replaced pydantic
on the start-up path: importing pydantic and building the inventory's 41 models took about 0.25 s of a 0.6 s
start-up (bench/); this builds a model's validators the first time it validates, from its annotations, and only
for the models a file uses.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``Path``, ``datetime.date``, ``Literal[...]``,
models, ``list[X]``, ``dict[str, X]``, ``X | None``, unions of those, and ``Annotated[X, Field(...)]``.
Errors: ``ValidationError.errors()`` is a list of ``{"type", "loc", "msg", "input", "ctx"}`` as pydantic gives
them; a union's members are tagged in ``loc`` (``str``, ``SecretRef``, ``function-after[_check(), Model]``...).
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

__all__ = ["CustomError", "Field", "FieldInfo", "Model", "PrivateAttr", "ValidationError", "field_validator",
           "model_validator"]

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()

M = TypeVar("M", bound="Model")


class FieldInfo:
    """A field's default, constraints and description (``Field(...)``), and once resolved its annotation."""

    __slots__ = ("_annotation", "default", "default_factory", "description", "ge", "gt", "le", "min_length",
                 "name", "owner", "pattern")

    def __init__(self, default: Any = _MISSING, *, default_factory: Callable[[], Any] | None = None,
                 description: str | None = None, ge: float | None = None, gt: float | None = None,
                 le: float | None = None, min_length: int | None = None, pattern: str | None = None) -> None:
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.ge, self.gt, self.le = ge, gt, le
        self.min_length = min_length
        self.pattern = pattern
        self._annotation: Any = None
        self.name = ""
        self.owner: type[Model] | None = None

    @property
    def annotation(self) -> Any:
        """The field's type (resolved from its string form the first time it is asked for)."""
        if isinstance(self._annotation, str) and self.owner is not None:
            self.owner._resolve()
        return self._annotation

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def constraints(self) -> dict[str, Any]:
        return {k: v for k in ("ge", "gt", "le", "min_length", "pattern") if (v := getattr(self, k)) is not None}


def Field(default: Any = _MISSING, **kwargs: Any) -> Any:
    """A field's default, constraints (``ge``, ``gt``, ``le``, ``min_length``, ``pattern``) and description."""
    return FieldInfo(default, **kwargs)


class _Private:
    __slots__ = ("default",)

    def __init__(self, default: Any) -> None:
        self.default = default


def PrivateAttr(default: Any = None) -> Any:
    """An attribute that is no field: not validated, not in the schema, settable on a frozen model."""
    return _Private(default)


def field_validator(*names: str) -> Callable[[Any], Any]:
    """``@field_validator("name") @classmethod def check(cls, value)``: after the field's own validation; raise
    ``ValueError`` (reported as ``Value error, ...``) or return the value."""
    def mark(fn: Any) -> Any:
        target: Any = fn.__func__ if isinstance(fn, classmethod) else fn
        target._gvp_field = names
        return fn
    return mark


def model_validator(*, mode: Literal["before", "after"]) -> Callable[[Any], Any]:
    """``mode="before"`` (a classmethod taking the raw data) or ``mode="after"`` (a method taking the model)."""
    def mark(fn: Any) -> Any:
        target: Any = fn.__func__ if isinstance(fn, classmethod) else fn
        target._gvp_model = mode
        return fn
    return mark


class CustomError(Exception):
    """An error of a given type and message, from a validator (pydantic_core's ``PydanticCustomError``)."""

    def __init__(self, error_type: str, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.type, self.message, self.context = error_type, message, context or {}


class ValidationError(ValueError):
    """Data a model does not take: ``errors()`` lists every problem found."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for {title}")
        self.title = title
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self._errors]

    def __str__(self) -> str:
        """pydantic's layout: the count, then each error's location and message, its type and input."""
        lines = [str(self.args[0])]
        for e in self._errors:
            if e["loc"]:
                lines.append(".".join(str(p) for p in e["loc"]))
            shown = repr(e["input"])
            shown = shown if len(shown) <= 100 else f"{shown[:50]}...{shown[-47:]}"
            lines.append(f"  {e['msg']} [type={e['type']}, input_value={shown}, "
                         f"input_type={type(e['input']).__name__}]")
        return "\n".join(lines)


class _Invalid(Exception):
    """Raised inside the validators: the errors so far, with locations relative to the value validated."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors


def _error(kind: str, msg: str, value: Any, loc: tuple[Any, ...] = (), **ctx: Any) -> _Invalid:
    err: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        err["ctx"] = ctx
    return _Invalid([err])


def _prefix(errors: list[dict[str, Any]], *loc: Any) -> list[dict[str, Any]]:
    return [{**e, "loc": (*loc, *e["loc"])} for e in errors]


def _num(value: float) -> str:
    """A constraint as pydantic's messages print it: 30, 0.1."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Validator = Callable[[Any], Any]


# -- scalar validators (pydantic's lax mode, Python input) -------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _v_int(value: Any) -> int:
    if isinstance(value, int):  # a bool is an int: pydantic takes it as 0/1 (the inventory refuses it earlier)
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error("finite_number", "Input should be a finite number", value)
        if not value.is_integer():
            raise _error("int_from_float", "Input should be a valid integer, got a number with a fractional part",
                         value)
        return int(value)
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if _INT_TEXT.fullmatch(text.strip()):
            return int(text.strip().partition(".")[0])
        raise _error("int_parsing", "Input should be a valid integer, unable to parse string as an integer", value)
    raise _error("int_type", "Input should be a valid integer", value)


def _v_float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        try:
            if not text.isascii():  # Python's float() reads other scripts' digits; pydantic does not
                raise ValueError(text)
            return float(text.strip())
        except ValueError:
            raise _error("float_parsing", "Input should be a valid number, unable to parse string as a number",
                         value) from None
    raise _error("float_type", "Input should be a valid number", value)


def _v_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise _error("string_unicode", "Input should be a valid string, unable to parse raw data as a unicode "
                         "string", value) from None
    raise _error("string_type", "Input should be a valid string", value)


def _v_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not value.is_integer():
        raise _error("bool_type", "Input should be a valid boolean", value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if isinstance(text, str) and text.strip().lower() in _TRUE | _FALSE:
        return text.strip().lower() in _TRUE
    if isinstance(value, int | float | str | bytes):
        raise _error("bool_parsing", "Input should be a valid boolean, unable to interpret input", value)
    raise _error("bool_type", "Input should be a valid boolean", value)


def _v_path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise _error("path_type", "Input is not a valid path for <class 'pathlib.Path'>", value)


_NUMBER_TEXT = re.compile(r"[+-]?\d+(\.\d*)?")
_TIME_TEXT = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:[Zz]|[+-]\d{2}:?\d{2})?")
_INEXACT = "Datetimes provided to dates should have zero time - e.g. be exact dates"


def _date_problem(value: Any, reason: str) -> _Invalid:
    return _error("date_from_datetime_parsing", f"Input should be a valid date or datetime, {reason}", value,
                  error=reason)


def _date_from_stamp(stamp: float, value: Any) -> dt.date:
    """A Unix time (seconds, or milliseconds above 2e10) that must fall on a midnight, UTC."""
    seconds = stamp / 1000 if abs(stamp) > 2e10 else stamp
    if seconds % 86400:
        raise _error("date_from_datetime_inexact", _INEXACT, value)
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(seconds // 86400))


def _date_text(text: str, value: Any) -> dt.date:
    """``YYYY-MM-DD``, optionally with a zero time, or a Unix time: pydantic's (speedate's) rules and reasons."""
    if _NUMBER_TEXT.fullmatch(text):
        return _date_from_stamp(float(text), value)
    if len(text) < 10:
        raise _date_problem(value, "input is too short")
    for part, (a, b) in (("year", (0, 4)), ("month", (5, 7)), ("day", (8, 10))):
        if a and text[a - 1] != "-":
            raise _date_problem(value, "invalid date separator, expected `-`")
        if not text[a:b].isascii() or not text[a:b].isdigit():
            raise _date_problem(value, f"invalid character in {part}")
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    if not 1 <= month <= 12:
        raise _date_problem(value, "month value is outside expected range of 1-12")
    try:
        date = dt.date(year, month, day)
    except ValueError:
        raise _date_problem(value, "day value is outside expected range") from None
    rest = text[10:]
    if rest:
        if rest[0] not in "Tt_ ":
            raise _date_problem(value, "invalid datetime separator, expected `T`, `t`, `_` or space")
        time = _TIME_TEXT.fullmatch(rest[1:])
        if time is None:
            raise _date_problem(value, "invalid character in hour")
        if any(int(g or 0) for g in time.groups()):
            raise _error("date_from_datetime_inexact", _INEXACT, value)
    return date


def _v_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise _error("date_from_datetime_inexact", _INEXACT, value)
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str | bytes):
        return _date_text(value.decode(errors="replace") if isinstance(value, bytes) else value, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _date_from_stamp(value, value)
    raise _error("date_type", "Input should be a valid date", value)


_SCALARS: dict[Any, tuple[Validator, str]] = {
    int: (_v_int, "int"), float: (_v_float, "float"), str: (_v_str, "str"), bool: (_v_bool, "bool"),
    Path: (_v_path, "path"), dt.date: (_v_date, "date"),
}


def _constrained(inner: Validator, info: FieldInfo | None, kind: Any) -> Validator:
    """``inner`` followed by the field's constraints, with pydantic's messages."""
    if info is None or not info.constraints():
        return inner
    ge, gt, le, min_length, pattern = info.ge, info.gt, info.le, info.min_length, info.pattern
    regex = re.compile(pattern) if pattern is not None else None

    def check(value: Any) -> Any:
        out = inner(value)
        if kind in (int, float):  # in pydantic-core's order (only NaN can break two)
            if le is not None and not out <= le:
                raise _error("less_than_equal", f"Input should be less than or equal to {_num(le)}", value, le=le)
            if ge is not None and not out >= ge:
                raise _error("greater_than_equal", f"Input should be greater than or equal to {_num(ge)}", value,
                             ge=ge)
            if gt is not None and not out > gt:
                raise _error("greater_than", f"Input should be greater than {_num(gt)}", value, gt=gt)
        elif kind is str:
            if min_length is not None and len(out) < min_length:
                s = "" if min_length == 1 else "s"
                raise _error("string_too_short", f"String should have at least {min_length} character{s}", value,
                             min_length=min_length)
            if regex is not None and not regex.search(out):
                raise _error("string_pattern_mismatch", f"String should match pattern '{pattern}'", value,
                             pattern=pattern)
        elif kind is list and min_length is not None and len(out) < min_length:
            s = "" if min_length == 1 else "s"
            raise _error("too_short", f"List should have at least {min_length} item{s} after validation, not "
                         f"{len(out)}", value, field_type="List", min_length=min_length, actual_length=len(out))
        return out
    return check


def _literal(choices: tuple[Any, ...]) -> Validator:
    shown = [repr(c) for c in choices]
    expected = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def check(value: Any) -> Any:
        for c in choices:  # a number equal to a number choice is it (True is 1, 8.0 is 8); text only as text
            if value == c and (type(value) is type(c) or (isinstance(value, int | float) and not isinstance(c, str))):
                return c
        raise _error("literal_error", f"Input should be {expected}", value, expected=expected)
    return check


def _list(item: Validator) -> Validator:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple | set | frozenset):
            raise _error("list_type", "Input should be a valid list", value)
        out, errors = [], []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except _Invalid as exc:
                errors += _prefix(exc.errors, i)
        if errors:
            raise _Invalid(errors)
        return out
    return check


def _dict(key: Validator, item: Validator) -> Validator:
    def check(value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise _error("dict_type", "Input should be a valid dictionary", value)
        out, errors = {}, []
        for k, v in value.items():
            try:
                kk = key(k)
            except _Invalid as exc:
                errors += _prefix(exc.errors, k, "[key]")
                continue
            try:
                out[kk] = item(v)
            except _Invalid as exc:
                errors += _prefix(exc.errors, k)
        if errors:
            raise _Invalid(errors)
        return out
    return check


def _union(members: list[tuple[str, Any, Validator]]) -> Validator:
    """pydantic's smart union: a member of the input's exact type wins, else the first that validates; the errors
    of every member otherwise, each tagged with the member's name."""
    def check(value: Any) -> Any:
        for _tag, tp, v in members:
            if isinstance(tp, type) and type(value) is tp:
                return v(value)
        for _tag, tp, _v in members:
            if isinstance(tp, type) and issubclass(tp, Model) and isinstance(value, tp):
                return value
        errors = []
        for tag, _tp, v in members:
            try:
                return v(value)
            except _Invalid as exc:
                errors += _prefix(exc.errors, tag)
        raise _Invalid(errors)
    return check


def _optional(inner: Validator) -> Validator:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)
    return check


def _split(tp: Any) -> tuple[Any, FieldInfo | None]:
    """``Annotated[X, Field(...)]`` -> (X, its FieldInfo)."""
    if get_origin(tp) is typing.Annotated:
        base, *meta = get_args(tp)
        infos = [m for m in meta if isinstance(m, FieldInfo)]
        return base, infos[0] if infos else None
    return tp, None


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _tag(tp: Any) -> str:
    """A union member's name in an error location, as pydantic names it."""
    base, _info = _split(tp)
    if isinstance(base, type) and issubclass(base, Model):
        tag = base.__name__
        for name, _fn in base._validators("after"):  # each wraps the ones before it
            tag = f"function-after[{name}(), {tag}]"
        return tag
    if base in _SCALARS:
        return _SCALARS[base][1]
    return str(base)


def build(tp: Any, info: FieldInfo | None = None) -> Validator:
    """The validator of annotation ``tp`` (with the field's own constraints ``info``)."""
    base, inner_info = _split(tp)
    if inner_info is not None:  # the alias's constraints, then the field's own
        checked = build(base, inner_info)
        return checked if info is None or info is inner_info else _constrained(checked, info, base)
    if _is_union(tp):
        args = get_args(tp)
        rest = [a for a in args if a is not type(None)]
        inner = build(rest[0], info) if len(rest) == 1 else _union(
            [(_tag(a), _split(a)[0], build(a)) for a in rest])
        return _optional(inner) if len(rest) < len(args) else inner
    origin = get_origin(tp)
    if origin is Literal:
        return _literal(get_args(tp))
    if origin is list:
        return _constrained(_list(build(get_args(tp)[0])), info, list)
    if origin is dict:
        k, v = get_args(tp)
        return _dict(build(k), build(v))
    if isinstance(tp, type) and issubclass(tp, Model):
        return tp._validate_value
    if tp in _SCALARS:
        return _constrained(_SCALARS[tp][0], info, tp)
    if tp is Any:
        return lambda value: value
    raise TypeError(f"unsupported field type {tp!r}")


# -- models -------------------------------------------------------------------------------------------------------

class Model:
    """A frozen model: unknown keys are refused, fields are validated when built, never changed after."""

    model_fields: ClassVar[dict[str, FieldInfo]] = {}

    _gvp_private: ClassVar[dict[str, _Private]] = {}
    _gvp_validators: ClassVar[dict[str, Validator] | None] = None
    _gvp_cache: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldInfo] = {}
        private: dict[str, _Private] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "model_fields", {}) if issubclass(base, Model) else {})
            private.update(base.__dict__.get("_gvp_private", {}))
        for name, annotation in inspect.get_annotations(cls).items():
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _Private):
                private[name] = value
                continue
            origin: Any = get_origin(annotation)
            if name.startswith("_") or origin is typing.ClassVar or (
                    isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar"))):
                continue
            info = value if isinstance(value, FieldInfo) else FieldInfo(value)
            info.name = name
            info._annotation = annotation  # a string until resolved (``from __future__ import annotations``)
            info.owner = cls
            fields[name] = info
            if value is not _MISSING:
                delattr(cls, name)
        cls.model_fields = fields
        cls._gvp_private = private
        cls._gvp_validators = None

    # -- building -----------------------------------------------------------------------------------------------

    @classmethod
    def _resolve(cls) -> dict[str, Validator]:
        if cls.__dict__.get("_gvp_validators") is None:
            for info in cls.model_fields.values():
                if isinstance(info._annotation, str):  # in the namespace of the class that declared it
                    assert info.owner is not None
                    info._annotation = eval(info._annotation, vars(sys.modules[info.owner.__module__]))
            built = {name: build(info._annotation, info) for name, info in cls.model_fields.items()}
            cls._gvp_validators = built
        validators = cls._gvp_validators
        assert validators is not None
        return validators

    @classmethod
    def _validators(cls, mode: str) -> list[tuple[str, Any]]:
        """The model validators of ``mode``, in pydantic's order: "before" from the class up, "after" down."""
        cache: dict[str, list[tuple[str, Any]]] = cls.__dict__.get("_gvp_cache") or {}
        if mode not in cache:
            cache[mode] = cls._find_validators(mode)
            cls._gvp_cache = cache
        return cache[mode]

    @classmethod
    def _find_validators(cls, mode: str) -> list[tuple[str, Any]]:
        """In order of definition (bases first), once per name; "before" validators run in the reverse order."""
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in klass.__dict__.items():
                raw = fn.__func__ if isinstance(fn, classmethod | staticmethod) else fn
                if getattr(raw, "_gvp_model", None) == mode:
                    names[name] = None
        found = [(name, getattr(cls, name)) for name in names]
        return found[::-1] if mode == "before" else found

    @classmethod
    def _field_validators(cls) -> dict[str, list[Any]]:
        cache: dict[str, Any] = cls.__dict__.get("_gvp_cache") or {}
        if "fields" not in cache:
            cache["fields"] = cls._find_field_validators()
            cls._gvp_cache = cache
        found: dict[str, list[Any]] = cache["fields"]
        return found

    @classmethod
    def _find_field_validators(cls) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in klass.__dict__.items():
                raw = fn.__func__ if isinstance(fn, classmethod) else fn
                for field in getattr(raw, "_gvp_field", None) or ():
                    out.setdefault(field, []).append(getattr(cls, name))
        return out

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        try:
            return cls._validate_value(data)  # type: ignore[return-value]
        except _Invalid as exc:
            raise ValidationError(cls.__name__, exc.errors) from None

    @classmethod
    def _validate_value(cls, data: Any) -> Model:
        if isinstance(data, cls):
            return data
        validators = cls._resolve()
        for _name, fn in cls._validators("before"):
            try:
                data = fn(data)
            except CustomError as exc:
                raise _error(exc.type, exc.message, data, **exc.context) from None
            except (ValueError, AssertionError) as exc:
                raise _error("value_error", f"Value error, {exc}", data, error=str(exc)) from None
        if not isinstance(data, dict):
            raise _error("model_type", f"Input should be a valid dictionary or instance of {cls.__name__}", data,
                         class_name=cls.__name__)
        checks = cls._field_validators()
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for name, info in cls.model_fields.items():
            if name not in data:
                if info.required:
                    errors.append({"type": "missing", "loc": (name,), "msg": "Field required", "input": data})
                else:
                    values[name] = info.default_factory() if info.default_factory is not None else info.default
                continue
            try:
                value = validators[name](data[name])
                for fn in checks.get(name, ()):
                    try:
                        value = fn(value)
                    except (ValueError, AssertionError) as exc:
                        raise _error("value_error", f"Value error, {exc}", value, error=str(exc)) from None
                values[name] = value
            except _Invalid as exc:
                errors += _prefix(exc.errors, name)
        for key, value in data.items():
            if key not in cls.model_fields:
                errors.append({"type": "extra_forbidden", "loc": (key,), "msg": "Extra inputs are not permitted",
                               "input": value})
        if errors:
            raise _Invalid(errors)
        model = cls.__new__(cls)
        object.__setattr__(model, "__dict__", values)
        object.__setattr__(model, "_gvp_set", frozenset(k for k in data if k in cls.model_fields))
        for name, private in cls._gvp_private.items():
            object.__setattr__(model, name, copy.copy(private.default))
        for _name, fn in cls._validators("after"):
            try:
                result = fn(model)
            except (ValueError, AssertionError) as exc:
                raise _error("value_error", f"Value error, {exc}", data, error=str(exc)) from None
            model = result if result is not None else model
        model.model_post_init(None)
        return model

    def __init__(self, **data: Any) -> None:
        try:
            built = type(self)._validate_value(data)
        except _Invalid as exc:
            raise ValidationError(type(self).__name__, exc.errors) from None
        object.__setattr__(self, "__dict__", built.__dict__)

    def model_post_init(self, context: Any) -> None:
        """After validation: a subclass may derive what it keeps (a private attribute)."""

    # -- a built model ------------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self)._gvp_private:
            object.__setattr__(self, name, value)
            return
        raise ValidationError(type(self).__name__, [{"type": "frozen_instance", "loc": (name,),
                                                     "msg": "Instance is frozen", "input": value}])

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _field_values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__.get(n) for n in type(self).model_fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Model)
        return self._field_values() == other._field_values()

    def __hash__(self) -> int:
        return hash((type(self), tuple(_hashable(v) for v in self._field_values())))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={self.__dict__.get(n)!r}" for n in type(self).model_fields)
        return f"{type(self).__name__}({shown})"

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from ((n, self.__dict__.get(n)) for n in type(self).model_fields)

    def model_copy(self: M, *, update: dict[str, Any] | None = None) -> M:
        """A copy with some fields replaced (not validated, as pydantic's)."""
        new = type(self).__new__(type(self))
        values = dict(self.__dict__)
        values.update(update or {})
        object.__setattr__(new, "__dict__", values)
        return new

    @property
    def model_fields_set(self) -> frozenset[str]:
        found: frozenset[str] = self.__dict__.get("_gvp_set", frozenset(type(self).model_fields))
        return found

    def model_dump(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        names = [n for n in type(self).model_fields if not exclude_unset or n in self.model_fields_set]
        return {n: _dump(self.__dict__.get(n), exclude_unset) for n in names}


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def _dump(value: Any, exclude_unset: bool = False) -> Any:
    if isinstance(value, Model):
        return value.model_dump(exclude_unset=exclude_unset)
    if isinstance(value, list):
        return [_dump(v, exclude_unset) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v, exclude_unset) for k, v in value.items()}
    return value


def validate_list(model: type[M], data: Any) -> list[M]:
    """A list of ``model`` (pydantic's ``TypeAdapter(list[model])``)."""
    try:
        result: list[M] = _list(model._validate_value)(data)
        return result
    except _Invalid as exc:
        raise ValidationError(f"list[{model.__name__}]", exc.errors) from None
