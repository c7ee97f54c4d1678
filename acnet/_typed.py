"""Typed dataclasses from plain mappings (YAML/JSON config files), checked against their annotations.

A config file's ``lr: [0.1, 0.2]`` or ``model: resnet18`` must stop at the
door with a line naming the key, the value and what was expected, not as a
``TypeError`` deep inside training. :func:`from_mapping` builds a dataclass
from a dict, converting nested dicts to nested dataclasses and lists to
tuples, and raises :class:`acnet.errors.ConfigError` for anything else.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

from acnet.errors import ConfigError

_NONE = type(None)


def is_integer(value: object) -> bool:
    """An integer (Python's or numpy's), not a bool: True is no size or count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """An int or float, not a bool, and not NaN or infinite (NaN passes every ``< 0`` check)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value: object, name: str) -> int:
    """``value`` as an int of at least 1, or a ConfigError naming ``name`` and the value."""
    if not is_integer(value):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return int(value)


def int_in_range(value: object, name: str, minimum: int = 1, maximum: int | None = None,
                 expected: str | None = None) -> int:
    """``value`` as an int in ``minimum..maximum``, or a ConfigError ``{name} must be {expected}, got {value!r}``.

    ``expected`` says what was wanted; by default "a positive integer"
    (minimum 1), "a non-negative integer" (minimum 0) or "an integer in A..B".
    """
    if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
        if expected is None:
            expected = (f"an integer in {minimum}..{maximum}" if maximum is not None else
                        "a positive integer" if minimum == 1 else "a non-negative integer" if minimum == 0 else
                        f"an integer of at least {minimum}")
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def from_mapping(cls: type, values: object, where: str = "", what: str | None = None):
    """``cls(**values)`` with every value checked against ``cls``'s field annotations.

    ``where`` is the dotted key of this mapping inside a larger config (for
    messages); ``what`` names the mapping when it is not one ("a training config").
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if not isinstance(values, Mapping):
        expected = what or f"a mapping of {_name(cls)} options ({', '.join(fields)})"
        raise ConfigError(f"{where + ': ' if where else ''}expected {expected}, got {_show(values)}")
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {_join(where, key)!r}{hint}; known keys: {', '.join(sorted(fields))}")
    converted = {key: convert(value, hints[key], _join(where, key)) for key, value in values.items()}
    try:
        return cls(**converted)
    except ConfigError as exc:
        if where and not str(exc).startswith(where):
            raise ConfigError(f"{where}: {exc}") from None
        raise


def convert(value: object, kind: Any, key: str) -> object:
    """``value`` as the annotation ``kind`` wants, or a ConfigError naming ``key``."""
    if kind is Any:
        return value
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        options = [a for a in args if a is not _NONE]
        for option in options:  # a mapping for a dataclass: its own, more precise errors
            if dataclasses.is_dataclass(option) and isinstance(value, Mapping):
                return convert(value, option, key)
        for option in options:
            try:
                return convert(value, option, key)
            except ConfigError:
                continue
        expected = " or ".join(_expected(a) for a in options) + (" or null" if _NONE in args else "")
        raise ConfigError(f"{key}: expected {expected}, got {_show(value)}")
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else from_mapping(kind, value, key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_expected(kind)}, got {_show(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {_expected(kind)}, got {_show(value)}")
            items = [convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_kind = args[0] if args else Any
            items = [convert(v, item_kind, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None and math.isfinite(number):
            return number
    elif kind is str:
        if isinstance(value, str):
            return value
    elif isinstance(kind, type) and isinstance(value, kind):
        return value
    raise ConfigError(f"{key}: expected {_expected(kind)}, got {_show(value)}")


def _expected(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        names = ", ".join(f.name for f in dataclasses.fields(kind) if f.init)
        return f"a mapping of {_name(kind)} options ({names})"
    if origin is tuple and args and args[-1] is not Ellipsis:
        inner = _expected(args[0]) if len(set(args)) == 1 else ", ".join(_expected(a) for a in args)
        return f"a list of {len(args)} {inner.removeprefix('a ').removeprefix('an ')}s" if len(set(args)) == 1 else f"a list of ({inner})"
    if origin in (tuple, list):
        return "a list"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}.get(kind, _name(kind))


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
