"""Strict JSON for files that come from elsewhere: the same reader as the C library's.

Model metadata and engine sidecars are untrusted input. :func:`loads` reads
them as the C library's reader does (acnet/runtime/c/src/json.cpp), so a
document one side accepts the other accepts too, with the same values:

- UTF-8 only, checked before parsing (Python's strict codec: no overlong
  forms, no encoded surrogates); no lone ``\\u`` surrogates in strings;
- RFC 8259 numbers only (no ``NaN``, ``Infinity``, leading zeros); a number
  beyond a double's range is refused, one too small reads as 0.0;
- no duplicate member names, no nesting deeper than ``max_depth``, no more
  than ``max_bytes`` bytes.

Every failure is a :class:`~acnet.errors.ModelFileError` whose message reads
like the C library's ("invalid JSON at byte N: ...", "invalid UTF-8 at byte N"),
never a ``RecursionError``, ``OverflowError`` or ``ValueError``.
"""

from __future__ import annotations

import json
import math

from acnet.errors import ModelFileError


class _Refused(Exception):
    """A rule of ours broken inside json.loads' hooks."""


def display_name(text: str) -> str:
    """``text`` for a message: itself when at most 40 printable ASCII characters, else "?"."""
    return text if len(text) <= 40 and all(" " <= c <= "~" for c in text) else "?"


def _number(text: str) -> float:
    value = float(text)  # correctly rounded, like the C reader's from_chars; tiny values give 0.0
    if not math.isfinite(value):
        raise _Refused("number out of range")
    return value


def _integer(text: str) -> int | float:
    _number(text)  # out of a double's range: refused as in C
    return int(text)  # at most 309 digits here, far below int()'s 4300-digit limit


def _constant(text: str):
    raise _Refused(f"{text} is not JSON")


def _members(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            shown = display_name(key)
            raise _Refused("duplicate member name" + ("" if shown == "?" else f" '{shown}'"))
        out[key] = value
    return out


def _check_nesting_and_strings(value: object, max_depth: int) -> None:
    """Nesting depth and lone surrogates, iteratively (a deep document must not exhaust the stack)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= c <= "\udfff" for c in item):
                raise _Refused("lone surrogate")
        elif isinstance(item, (dict, list)):
            if depth + 1 > max_depth:
                raise _Refused(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                stack.extend((k, depth + 1) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def loads(data: bytes | str, *, max_bytes: int, max_depth: int) -> object:
    """Parse one JSON document strictly; raise ModelFileError naming the first problem."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise ModelFileError(f"larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=_constant,
                           object_pairs_hook=_members)
        _check_nesting_and_strings(value, max_depth)
    except json.JSONDecodeError as exc:
        at = len(text[: exc.pos].encode("utf-8"))
        raise ModelFileError(f"invalid JSON at byte {at}: {exc.msg}") from None
    except RecursionError:
        raise ModelFileError(f"invalid JSON: nested deeper than {max_depth} levels") from None
    except _Refused as exc:
        raise ModelFileError(f"invalid JSON: {exc}") from None
    return value
