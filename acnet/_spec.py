"""Spec strings shared by datasets and stream sources: ``KIND[:TARGET][?KEY=VALUE&KEY=VALUE...]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from acnet.errors import ConfigError


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``kind``, ``target`` (path, count or empty) and options."""

    kind: str
    target: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = self.kind + (f":{self.target}" if self.target else "")
        if self.options:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.options.items())
        return text


def parse_options(text: str, query: str, kind: str, allowed: tuple[str, ...], what: str) -> dict[str, str]:
    """The ``?key=value&...`` part of ``text``, refusing keys ``kind`` does not take."""
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigError(f"{what} spec {text!r}: options must look like ?key=value&key=value") from None
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{what} spec {text!r}: unknown option {unknown[0]!r} for {kind} (allowed: {', '.join(allowed)})")
    return options
