"""Typed dataclasses from plain mappings (YAML/JSON config files), checked against their annotations.

A config file's ``lr: [0.1, 0.2]`` or ``model: resnet18`` must stop at the
door with a line naming the key, the value and what was expected, not as a
``TypeError`` deep inside training. :func:`from_mapping` builds a dataclass
from a dict, converting nested dicts to nested dataclasses and lists to
tuples, and raises :class:`acnet.errors.ConfigError` for anything else.
"""

from __future__ import annotations

import copy
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


# --------------------------------------------------------------------------- JSON Schema rules for untrusted files


class SchemaViolation(ConfigError):
    """A document breaks a rule of acnet/runtime/metadata.schema.json.

    ``kind`` is "invalid" (``str(exc)``: "'path' must be ..."), "missing" (a
    required member ``path`` is absent) or "newer" (``version`` is a schema
    version above what this acnet reads). Readers turn it into a
    :class:`~acnet.errors.ModelFileError` naming their file.
    """

    def __init__(self, kind: str, path: str, message: str, version: int = 0) -> None:
        super().__init__(message)
        self.kind, self.path, self.version = kind, path, version


#: The keywords :func:`check_schema` understands (the C library's schema.cpp kKeywords).
SCHEMA_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "minProperties", "items", "minItems", "maxItems",
    "minimum", "maximum", "exclusiveMinimum", "enum", "format", "default", "$ref", "$comment", "description",
    "x-acnet-newer-than",
})
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "minItems", "maxItems", "minProperties", "x-acnet-newer-than")
_DIGITS = frozenset("0123456789")


def check_schema_rules(schema: Mapping) -> None:
    """Refuse a schema using anything :func:`check_schema` would not enforce (a rule must never be ignored)."""
    def walk(rule: object, depth: int) -> None:
        if depth > 16 or not isinstance(rule, Mapping):
            raise ValueError("metadata schema: a rule is not an object")
        for key, value in rule.items():
            if key not in SCHEMA_KEYWORDS:
                raise ValueError(f"metadata schema: unknown keyword {key!r}")
            if key in _BOUNDS and not (is_integer(value) and abs(value) <= 2**53 - 1):
                raise ValueError(f"metadata schema: {key!r} must be an integer")
            if key == "properties":
                for sub in value.values():
                    walk(sub, depth + 1)
            elif key in ("items", "additionalProperties"):
                walk(value, depth + 1)
        if "$ref" in rule and len(rule) != 1:
            raise ValueError("metadata schema: $ref beside other keywords")
        for name in rule.get("required", ()):
            if name not in rule.get("properties", {}):
                raise ValueError(f"metadata schema: required {name!r} is no property")

    for rule in schema["$defs"].values():
        walk(rule, 0)


def _types(rule: Mapping) -> list[str]:
    kind = rule.get("type")
    return [] if kind is None else [kind] if isinstance(kind, str) else list(kind)


def _bounds(lo, hi, both: str, low: str, high: str) -> str:
    """The words for a range with either end optional (the templates take ``{lo}`` and ``{hi}``)."""
    if lo is not None and hi is not None:
        return both.format(lo=lo, hi=hi)
    if lo is not None:
        return low.format(lo=lo)
    return "" if hi is None else high.format(hi=hi)


def _describe(rule: Mapping) -> str:
    """What a value of ``rule`` must be: "an integer in 1..255", "a list of 3 items", ... (schema.cpp describe)."""
    kinds = []
    for kind in _types(rule):
        if kind in ("integer", "number"):
            text = "an integer" if kind == "integer" else "a number"
            text += _bounds(rule.get("minimum"), rule.get("maximum"), " in {lo}..{hi}", " >= {lo}", " <= {hi}")
            if "exclusiveMinimum" in rule:
                text += f" greater than {rule['exclusiveMinimum']}"
        elif kind == "string":
            text = "a string"
            if "enum" in rule:
                text = "one of " + ", ".join(f"'{option}'" for option in rule["enum"])
            elif "format" in rule:
                text = {"version": "a version like 10.3.0.26", "compute-capability": "a compute capability like 8.7"}[
                    rule["format"]]
        elif kind == "boolean":
            text = "true or false"
        elif kind == "array":
            text = "a list"
            lo, hi = rule.get("minItems"), rule.get("maxItems")
            both = " of {lo} items" if lo is not None and lo == hi else " of {lo} to {hi} items"
            text += _bounds(lo, hi, both, " of at least {lo} items", " of at most {hi} items")
        elif kind == "object":
            text = "an object"
            if "minProperties" in rule:
                text += f" with at least {rule['minProperties']} members"
        elif kind == "null":
            text = "null"
        else:
            raise ValueError(f"metadata schema: unknown type {kind!r}")
        kinds.append(text)
    return " or ".join(kinds)


def _digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and set(text) <= _DIGITS


def _is_version(text: str) -> bool:
    """3 or 4 dot-separated numbers of 1..9 digits, then optionally "+" and 1..64 of [A-Za-z0-9._-]."""
    text, plus, local = text.partition("+")
    if plus and not (0 < len(local) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in local)):
        return False
    parts = text.split(".")
    return len(parts) in (3, 4) and all(_digits(p, 9) for p in parts)


def _is_compute_capability(text: str) -> bool:
    major, dot, minor = text.partition(".")
    return bool(dot) and _digits(major, 3) and _digits(minor, 3)


def _is_json_number(value: object) -> bool:
    """A finite int or float, not a bool: what a JSON number can be (an int beyond a double's range is not)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_schema(value: object, schema: Mapping, definition: str, path: str = "") -> object:
    """``value`` checked against ``schema["$defs"][definition]``, with the schema's defaults filled in.

    The subset of JSON Schema 2020-12 that metadata.schema.json uses, with
    the C library's meaning (runtime/c/src/schema.cpp, tested on the same
    cases): an integer is a number without a fraction (2 and 2.0, never
    true); a number is finite; no string contains U+0000; members the schema
    does not name are kept as they are; rules are checked in the schema's
    order and the first broken one raises :class:`SchemaViolation`.
    Integers come back as ``int``, numbers as ``float``.
    """
    return _check(value, schema["$defs"][definition], schema, path)


def _invalid(path: str, what: str) -> SchemaViolation:
    return SchemaViolation("invalid", path, f"'{path}' must be {what}")


def _child(path: str, key: str) -> str:
    from acnet._json import display_name

    shown = display_name(key)
    return f"{path}.{shown}" if path else shown


def _check(value: object, rule: Mapping, schema: Mapping, path: str) -> object:
    if "$ref" in rule:
        ref = rule["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"metadata schema: unsupported $ref {ref}")
        rule = schema["$defs"][ref[len("#/$defs/"):]]
    kinds = _types(rule)
    number = _is_json_number(value)
    matches = {
        "integer": number, "number": number, "string": isinstance(value, str), "boolean": isinstance(value, bool),
        "array": isinstance(value, (list, tuple)), "object": isinstance(value, Mapping), "null": value is None,
    }
    if kinds and not any(matches[k] for k in kinds):
        raise _invalid(path, _describe(rule))

    if number:
        ok = "integer" not in kinds or "number" in kinds or float(value).is_integer()
        ok = ok and rule.get("minimum", value) <= value <= rule.get("maximum", value)
        if "exclusiveMinimum" in rule:
            ok = ok and value > rule["exclusiveMinimum"]
        if not ok:
            raise _invalid(path, _describe(rule))
        if "x-acnet-newer-than" in rule and value > rule["x-acnet-newer-than"]:
            raise SchemaViolation("newer", path, f"'{path}' is newer than this acnet", int(value))
        return int(value) if "integer" in kinds and "number" not in kinds else float(value)
    if isinstance(value, str):
        if "\0" in value:
            raise SchemaViolation("invalid", path, f"'{path}' must not contain NUL characters")
        if "enum" in rule and value not in rule["enum"]:
            raise _invalid(path, _describe(rule))
        if "format" in rule:
            ok = _is_version(value) if rule["format"] == "version" else _is_compute_capability(value)
            if not ok:
                raise _invalid(path, _describe(rule))
        return value
    if isinstance(value, (list, tuple)):
        if not rule.get("minItems", 0) <= len(value) <= rule.get("maxItems", len(value)):
            raise _invalid(path, _describe(rule))
        if "items" not in rule:
            return list(value)
        return [_check(item, rule["items"], schema, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        if len(value) < rule.get("minProperties", 0):
            raise _invalid(path, _describe(rule))
        properties = rule.get("properties", {})
        required = rule.get("required", ())
        out = dict(value)
        for key, sub in properties.items():
            if key in value:
                out[key] = _check(value[key], sub, schema, _child(path, key))
            elif key in required:
                raise SchemaViolation("missing", _child(path, key), f"no field '{_child(path, key)}'")
            elif "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        if "additionalProperties" in rule:
            for key, item in value.items():
                if key not in properties:
                    if not isinstance(key, str):
                        raise _invalid(path, _describe(rule))
                    out[key] = _check(item, rule["additionalProperties"], schema, _child(path, key))
        return out
    return value
