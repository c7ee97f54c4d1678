"""click parameter types that refuse values a command would accept but could not mean.

``--depth-scale inf``, ``--max-frames 0`` or ``--workers -1`` parse as numbers
yet mean nothing; these types stop them at the command line as one usage
error (``acnet: error: ...``, exit 2) naming the option.
"""

from __future__ import annotations

import math

import click

from acnet.errors import ConfigError
from acnet.runtime.backends.base import Device

#: 1, 2, ...: counts of things that must exist (frames, iterations, threads, batch sizes).
POSITIVE = click.IntRange(min=1)
#: 0, 1, ...: counts that may be zero (worker processes).
COUNT = click.IntRange(min=0)


class FiniteFloat(click.ParamType):
    """A finite float, optionally bounded; NaN and infinities are refused."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False) -> None:
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number", param, ctx)
        low_bad = self.min is not None and (number <= self.min if self.min_open else number < self.min)
        if low_bad or (self.max is not None and number > self.max):
            self.fail(f"{value!r} is not in {self._range()}", param, ctx)
        return number

    def _range(self) -> str:
        low = "(-inf" if self.min is None else ("(" if self.min_open else "[") + f"{self.min:g}"
        high = "inf)" if self.max is None else f"{self.max:g}]"
        return f"{low}, {high}"

    def get_metavar(self, param, ctx=None) -> str:
        return "FLOAT"


#: Metres per depth unit: finite and above zero.
DEPTH_SCALE = FiniteFloat(min=0.0, min_open=True)


class InputSide(click.ParamType):
    """An input height or width: a positive multiple of the network's stride (it halves the input five times)."""

    name = "integer"

    def __init__(self, stride: int) -> None:
        self.stride = stride

    def convert(self, value, param, ctx):
        number = click.INT.convert(value, param, ctx)
        if number <= 0 or number % self.stride:
            self.fail(f"{value!r} is not a positive multiple of {self.stride}", param, ctx)
        return number


class CameraSize(click.ParamType):
    """A camera frame size ``HxW`` (e.g. 720x1280): two positive integers up to 16384."""

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().replace(" ", "").split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            self.fail(f"{value!r} is not a size HxW (e.g. 480x640)", param, ctx)
        h, w = (int(p) for p in parts)
        if not (1 <= h <= 16384 and 1 <= w <= 16384):
            self.fail(f"{value!r}: height and width must be 1..16384", param, ctx)
        return h, w

    def get_metavar(self, param, ctx=None) -> str:
        return "HxW"


class DeviceName(click.ParamType):
    """``cpu``, ``cuda`` or ``cuda:N``, returned in its canonical spelling."""

    name = "device"

    def convert(self, value, param, ctx):
        try:
            return str(Device.parse(value))
        except ConfigError:
            self.fail(f"{value!r} is not a device; use cpu, cuda or cuda:N", param, ctx)
