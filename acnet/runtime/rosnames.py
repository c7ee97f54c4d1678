"""ROS 2 topic names, checked once by ROS 2's own rules.

Every place acnet takes a topic name (``acnet stream --labels-topic``, the
label-bag writer, the ROS 2 node's parameters) checks it here, so a bad name
is one clear error before anything is opened or written. The rules are those
of rcl's ``rcl_validate_topic_name`` (what a user may type: relative names,
``~`` and ``{substitutions}``) and rmw's ``rmw_validate_full_topic_name``
(what a name must be once expanded: absolute, no ``//``, at most 247
characters). No ROS installation is needed.
"""

from __future__ import annotations

from acnet.errors import ConfigError

#: rmw's RMW_TOPIC_MAX_NAME_LENGTH: 255 less the 8 characters DDS prefixes take.
MAX_FULL_NAME_LENGTH = 255 - 8

__all__ = ["MAX_FULL_NAME_LENGTH", "check_topic_name", "topic_name_problem"]


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def topic_name_problem(name: str, *, absolute: bool = False) -> str | None:
    """Why ``name`` is not a valid ROS 2 topic name, or None when it is.

    ``absolute=True`` asks for a fully qualified name as stored in a bag:
    it must start with ``/`` and may hold no ``~`` or ``{}`` substitution.
    """
    if not isinstance(name, str):
        return f"it must be a string, not {type(name).__name__}"
    if not name:
        return "it must not be empty"
    if absolute and not name.startswith("/"):
        return "it must be absolute (start with '/')"
    if _is_digit(name[0]):
        return "it must not start with a number"
    if name.endswith("/"):
        return "it must not end with '/'"
    opened = None  # index of the open '{', if any
    for i, char in enumerate(name):
        if _is_alnum(char):
            if _is_digit(char) and opened is not None and i == opened + 1:
                return f"a substitution must not start with a number (at {i})"
        elif char == "_":
            pass
        elif char == "/":
            if opened is not None:
                return f"a substitution may hold only letters, digits and '_' (at {i})"
        elif char == "~":
            if i != 0:
                return f"'~' may only be the first character (at {i})"
        elif char == "{":
            if opened is not None:
                return f"substitutions must not nest (at {i})"
            opened = i
        elif char == "}":
            if opened is None:
                return f"unmatched '}}' (at {i})"
            opened = None
        else:
            return f"it must hold only letters, digits, '_', '/', '~', '{{' and '}}', not {char!r} (at {i})"
    if opened is not None:
        return f"unmatched '{{' (at {opened})"
    if name.startswith("~") and len(name) > 1 and name[1] != "/":
        return "'~' must be followed by '/'"
    for i in range(len(name) - 1):
        if name[i] == "/" and _is_digit(name[i + 1]):
            return f"a name token must not start with a number (at {i + 1})"
    if absolute:
        if "~" in name or "{" in name:
            return "it must be fully expanded (no '~' or '{substitution}')"
        if "//" in name:
            return "it must not hold '//'"
        if len(name) > MAX_FULL_NAME_LENGTH:
            return f"it must be at most {MAX_FULL_NAME_LENGTH} characters, not {len(name)}"
    return None


def check_topic_name(name: str, what: str = "topic", *, absolute: bool = False) -> str:
    """``name`` if it is a valid ROS 2 topic name, else a ConfigError naming ``what`` and the rule."""
    problem = topic_name_problem(name, absolute=absolute)
    if problem is not None:
        raise ConfigError(f"{what} {name!r} is not a valid ROS 2 topic name: {problem}")
    return name
