"""Summary statistics of timing samples, as trtexec prints them.

Percentiles use linear interpolation between closest ranks (numpy's default,
"type 7"): the p-th percentile of sorted samples ``x[0..n-1]`` is
``x[i] + (x[i+1] - x[i]) * f`` with ``i + f = p / 100 * (n - 1)``. With few
samples p99 is close to the maximum; quote it with ``n``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

from acnet.errors import ConfigError

#: Field order of a :class:`Stats` record, as in tables and JSON.
FIELDS = ("min", "mean", "median", "p90", "p99", "max")


@dataclass(frozen=True)
class Stats:
    """min / mean / median / p90 / p99 / max of ``n`` samples, in their unit."""

    n: int
    min: float
    mean: float
    median: float
    p90: float
    p99: float
    max: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        return cls(n=int(d["n"]), **{k: float(d[k]) for k in FIELDS})

    def scaled(self, factor: float) -> "Stats":
        """The same statistics in another unit (``factor`` > 0)."""
        return Stats(self.n, *(getattr(self, k) * factor for k in FIELDS))


def percentile(sorted_samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of already sorted samples, interpolated linearly."""
    if not sorted_samples:
        raise ConfigError("percentile of no samples")
    if not 0.0 <= p <= 100.0:
        raise ConfigError(f"percentile must be in [0, 100], got {p}")
    pos = p / 100.0 * (len(sorted_samples) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_samples) - 1)
    frac = pos - lo
    return float(sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * frac)


def summarize(samples: Sequence[float]) -> Stats:
    """Statistics of a non-empty sequence of finite samples."""
    values = sorted(float(v) for v in samples)
    if not values:
        raise ConfigError("no timing samples to summarise")
    if not all(math.isfinite(v) for v in values):
        raise ConfigError("timing samples contain NaN or infinite values")
    return Stats(
        n=len(values),
        min=values[0],
        mean=math.fsum(values) / len(values),
        median=percentile(values, 50.0),
        p90=percentile(values, 90.0),
        p99=percentile(values, 99.0),
        max=values[-1],
    )


def throughput(batch: int, seconds: Sequence[float]) -> Stats:
    """Images per second of each timed call of ``batch`` images.

    Computed per call, so ``min`` is the slowest call's rate; for an odd
    number of calls ``median`` equals ``batch / median(seconds)``.
    """
    if batch < 1:
        raise ConfigError(f"batch must be at least 1, got {batch}")
    if any(s <= 0 for s in seconds):
        raise ConfigError("timing samples must be positive to compute throughput")
    return summarize([batch / s for s in seconds])
