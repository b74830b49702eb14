"""Check a configuration value against its dataclass type hints, before any of it reaches the CDK.

A value of the wrong type (an account given as an int, a count as a string, a NaN) otherwise travels into jsii
and comes back as a stack trace far from the field that caused it. This walks the configuration tree once,
by the type hints of its dataclasses, and names the first wrong value with its field path.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Union


@dataclasses.dataclass(frozen=True)
class TypeProblem:
    """A value that does not have its field's type."""

    path: str
    """The field, e.g. ``variants[0].initial_instance_count``."""
    value: Any
    expected: str

    def __str__(self) -> str:
        return f"field {self.path!r}: {self.value!r} must be {self.expected}"


def _name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(annotation))
    if origin is tuple:
        args = typing.get_args(annotation)
        return f"a tuple of {_name(args[0])}" if len(args) == 2 and args[1] is Ellipsis else "a tuple"
    if origin is not None:
        return f"a mapping of {' to '.join(_name(a) for a in typing.get_args(annotation))}"
    if annotation is type(None):
        return "None"
    return {str: "a string", int: "a whole number", float: "a finite number", bool: "True or False"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def check(value: Any, annotation: Any, path: str) -> TypeProblem | None:
    """The first value under ``value`` that does not have its declared type, or None."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return None
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        problems = [check(value, option, path) for option in options]
        if any(p is None for p in problems):
            return None
        # Name the deepest problem when the value had the right shape for one option (a dataclass, a tuple).
        deeper = [p for p in problems if p is not None and p.path != path]
        return deeper[0] if deeper else TypeProblem(path, value, _name(annotation))
    if origin is tuple:
        if not isinstance(value, tuple):
            return TypeProblem(path, value, _name(annotation))
        args = typing.get_args(annotation)
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return TypeProblem(path, value, f"a tuple of {len(items)} values")
        for index, (item, item_type) in enumerate(zip(value, items, strict=True)):
            problem = check(item, item_type, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            return TypeProblem(path, value, _name(annotation))
        key_type, value_type = typing.get_args(annotation)
        for key, item in value.items():
            problem = check(key, key_type, f"{path} key") or check(item, value_type, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if annotation is type(None):
        return None if value is None else TypeProblem(path, value, "None")
    if annotation is bool:
        return None if isinstance(value, bool) else TypeProblem(path, value, _name(bool))
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else TypeProblem(path, value, _name(int))
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else TypeProblem(path, value, _name(float))
    if annotation is str:
        return None if isinstance(value, str) else TypeProblem(path, value, _name(str))
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, annotation):
            return TypeProblem(path, value, f"a {annotation.__name__}")
        return check_fields(value, path)
    if isinstance(annotation, type):
        if isinstance(value, annotation) or (issubclass(annotation, enum.Enum) and value in list(annotation)):
            return None
        return TypeProblem(path, value, f"a {annotation.__name__}")
    return None


@functools.cache
def _type_hints(dataclass: type) -> dict[str, Any]:
    """A dataclass's field types: its annotations are strings (``from __future__ import annotations``), which
    ``get_type_hints`` evaluates on each call, and a configuration holds thousands of instances of a few classes."""
    return typing.get_type_hints(dataclass)


def check_fields(instance: Any, path: str = "") -> TypeProblem | None:
    """Check every field of the dataclass ``instance`` (``path`` names the instance, empty at the root)."""
    kind: type = type(instance)
    hints = _type_hints(kind)
    for field in dataclasses.fields(instance):
        problem = check(
            getattr(instance, field.name), hints[field.name], f"{path}.{field.name}" if path else field.name
        )
        if problem:
            return problem
    return None
