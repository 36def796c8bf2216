"""The model layer under the inventory and the waivers (``gvpconf.model``): pydantic's lax rules, error types,
locations and messages, which the inventory's one-line errors are made of (the messages in this table are
pydantic 2.14's for the same input; 20 267 mutated inventories and 162 waiver files gave the same line and the same
loaded values with both). The published JSON Schema is compared by ``test_published_json_schema_is_current``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from gvpconf.model import Field, Model, ValidationError, field_validator, model_validator, validate_list


class Ref(Model):
    env: str | None = Field(None, min_length=1)
    file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> Ref:
        if (self.env is None) == (self.file is None):
            raise ValueError("exactly one")
        return self


Port = Annotated[int, Field(ge=1, le=65535)]


class Sample(Model):
    port: Port = 1
    hold: float = Field(1.0, ge=0.1, le=30)
    name: str = Field("/x", min_length=2, pattern=r"^/")
    transport: Literal["tcp", "udp"] = "tcp"
    version: Literal[1] = 1
    flag: bool = True
    ports: list[Port] = Field(default_factory=list, min_length=1)
    labels: dict[str, int] = Field(default_factory=dict)
    user: str | Ref | None = None
    secret: Ref | None = None
    day: dt.date | None = None
    value: str | int | float | bool | None = None


@pytest.mark.parametrize(("data", "errors"), [
    ({"port": 0}, [("greater_than_equal", ("port",), "Input should be greater than or equal to 1")]),
    ({"port": 1.5}, [("int_from_float", ("port",), "Input should be a valid integer, got a number with a "
                      "fractional part")]),
    ({"port": "x"}, [("int_parsing", ("port",), "Input should be a valid integer, unable to parse string as an "
                      "integer")]),
    ({"port": []}, [("int_type", ("port",), "Input should be a valid integer")]),
    ({"port": float("inf")}, [("finite_number", ("port",), "Input should be a finite number")]),
    ({"port": "1__0"}, [("int_parsing", ("port",), "Input should be a valid integer, unable to parse string as an "
                         "integer")]),
    ({"hold": 31}, [("less_than_equal", ("hold",), "Input should be less than or equal to 30")]),
    ({"hold": float("nan")}, [("less_than_equal", ("hold",), "Input should be less than or equal to 30")]),
    ({"hold": 0.01}, [("greater_than_equal", ("hold",), "Input should be greater than or equal to 0.1")]),
    ({"hold": "soon"}, [("float_parsing", ("hold",), "Input should be a valid number, unable to parse string as a "
                         "number")]),
    ({"name": "a"}, [("string_too_short", ("name",), "String should have at least 2 characters")]),
    ({"name": "ab"}, [("string_pattern_mismatch", ("name",), "String should match pattern '^/'")]),
    ({"name": 5}, [("string_type", ("name",), "Input should be a valid string")]),
    ({"transport": "x"}, [("literal_error", ("transport",), "Input should be 'tcp' or 'udp'")]),
    ({"version": 2}, [("literal_error", ("version",), "Input should be 1")]),
    ({"flag": "maybe"}, [("bool_parsing", ("flag",), "Input should be a valid boolean, unable to interpret input")]),
    ({"flag": 1.5}, [("bool_type", ("flag",), "Input should be a valid boolean")]),
    ({"ports": []}, [("too_short", ("ports",), "List should have at least 1 item after validation, not 0")]),
    ({"ports": [1, 0]}, [("greater_than_equal", ("ports", 1), "Input should be greater than or equal to 1")]),
    ({"labels": {"a": "x"}}, [("int_parsing", ("labels", "a"), "Input should be a valid integer, unable to parse "
                               "string as an integer")]),
    ({"user": 5}, [("string_type", ("user", "str"), "Input should be a valid string"),
                   ("model_type", ("user", "function-after[_one(), Ref]"),
                    "Input should be a valid dictionary or instance of Ref")]),
    ({"user": {"env": "a", "zz": 1}}, [("string_type", ("user", "str"), "Input should be a valid string"),
                                       ("extra_forbidden", ("user", "function-after[_one(), Ref]", "zz"),
                                        "Extra inputs are not permitted")]),
    ({"secret": "hunter2"}, [("model_type", ("secret",), "Input should be a valid dictionary or instance of Ref")]),
    ({"secret": {}}, [("value_error", ("secret",), "Value error, exactly one")]),
    ({"day": "2025-13-01"}, [("date_from_datetime_parsing", ("day",), "Input should be a valid date or datetime, "
                              "month value is outside expected range of 1-12")]),
    ({"day": "20250731"}, [("date_from_datetime_inexact", ("day",), "Datetimes provided to dates should have zero "
                            "time - e.g. be exact dates")]),
    ({"value": []}, [("string_type", ("value", "str"), "Input should be a valid string"),
                     ("int_type", ("value", "int"), "Input should be a valid integer"),
                     ("float_type", ("value", "float"), "Input should be a valid number"),
                     ("bool_type", ("value", "bool"), "Input should be a valid boolean")]),
    ({"zz": 1, "port": 0}, [("greater_than_equal", ("port",), "Input should be greater than or equal to 1"),
                            ("extra_forbidden", ("zz",), "Extra inputs are not permitted")]),
])
def test_errors_are_pydantics(data: dict[str, Any], errors: list[tuple[str, tuple[Any, ...], str]]) -> None:
    with pytest.raises(ValidationError) as exc:
        Sample.model_validate(data)
    assert [(e["type"], tuple(e["loc"]), e["msg"]) for e in exc.value.errors()] == errors


def test_lax_values_become_the_field_type() -> None:
    assert Sample.model_validate({"port": " 1_000 "}).port == 1000 and Sample(port="5.0").port == 5
    s = Sample.model_validate({"port": "80", "hold": 2, "version": True, "flag": "yes", "user": "u",
                               "secret": {"env": "A"}, "day": "2025-07-31", "value": 5.0})
    assert (s.port, s.hold, s.version, s.flag, s.user) == (80, 2.0, 1, True, "u")
    assert s.secret == Ref(env="A") and s.day == dt.date(2025, 7, 31) and s.value == 5.0
    assert isinstance(s.value, float) and isinstance(s.hold, float)


class Base(Model):
    a: int = 1

    @model_validator(mode="before")
    @classmethod
    def _base_before(cls, data: Any) -> Any:
        order.append("base before")
        return data

    @model_validator(mode="after")
    def _base_after(self) -> Base:
        order.append("base after")
        return self


class Child(Base):
    b: int = 2
    a: int = 5  # keeps its place: fields are a, b

    @model_validator(mode="before")
    @classmethod
    def _child_before(cls, data: Any) -> Any:
        order.append("child before")
        return data

    @model_validator(mode="after")
    def _child_after(self) -> Child:
        order.append("child after")
        return self

    @field_validator("b")
    @classmethod
    def _b(cls, value: int) -> int:
        if value > 9:
            raise ValueError("b is at most 9")
        return value


order: list[str] = []


def test_validators_run_in_pydantics_order_and_fields_keep_their_place() -> None:
    order.clear()
    assert Child.model_validate({}).a == 5
    assert order == ["child before", "base before", "base after", "child after"]
    assert list(Child.model_fields) == ["a", "b"]
    with pytest.raises(ValidationError) as exc:
        Child(b=10)
    assert exc.value.errors()[0]["msg"] == "Value error, b is at most 9"


def test_a_model_is_frozen_comparable_and_copied_with_updates() -> None:
    s = Sample.model_validate({"port": 5})
    with pytest.raises(ValidationError):
        s.port = 6  # type: ignore[misc]
    t = s.model_copy(update={"port": 6})
    assert (s.port, t.port) == (5, 6) and s != t and s == Sample(port=5) and hash(s) == hash(Sample(port=5))
    assert s.model_dump(exclude_unset=True) == {"port": 5}
    assert repr(Ref(env="A")) == "Ref(env='A', file=None)"


def test_a_list_of_models() -> None:
    assert validate_list(Ref, [{"env": "A"}]) == [Ref(env="A")]
    with pytest.raises(ValidationError) as exc:
        validate_list(Ref, [{"env": "A"}, {"env": ""}])
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [(1, "env")]
