"""The one preprocessing implementation, in numpy, shared by training and runtime.

Training's eval transform, the ONNX Runtime and TensorRT backends and the
parity harness all call these functions, so a frame becomes exactly the same
input tensor everywhere. The C ABI re-implements the same formulas in C++ and
is tested against this module.

Conventions (documented because the C++ side must match them bit for bit):

- RGB is resized bilinearly with half-pixel centres and no antialiasing
  (``align_corners=False``, as ``torch.nn.functional.interpolate``), computed
  in float32 from the uint8 image.
- Depth and labels are resized with "nearest-exact": source index
  ``floor((dst + 0.5) * src_size / dst_size)``. Depth holes stay holes.
- RGB is scaled to [0, 1], then ``(x - mean) / std`` per channel.
- Depth is converted to metres (``raw * depth_scale``), then
  ``(d - depth_mean) / depth_std``. Holes (0) are valid data.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from acnet._typed import is_integer
from acnet.errors import ConfigError, InputError

#: NYUDv2 statistics used by the ACNet authors.
NYUV2_RGB_MEAN = (0.48500, 0.41628, 0.39818)
NYUV2_RGB_STD = (0.26416, 0.27284, 0.28312)
NYUV2_DEPTH_MEAN = 2.84245
NYUV2_DEPTH_STD = 0.99328


@dataclass(frozen=True)
class Normalization:
    """Per-dataset input statistics; stored in checkpoints and model metadata."""

    rgb_mean: tuple[float, float, float] = NYUV2_RGB_MEAN
    rgb_std: tuple[float, float, float] = NYUV2_RGB_STD
    depth_mean: float = NYUV2_DEPTH_MEAN  # metres
    depth_std: float = NYUV2_DEPTH_STD  # metres

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "rgb_mean", tuple(float(v) for v in self.rgb_mean))
            object.__setattr__(self, "rgb_std", tuple(float(v) for v in self.rgb_std))
            object.__setattr__(self, "depth_mean", float(self.depth_mean))
            object.__setattr__(self, "depth_std", float(self.depth_std))
        except (TypeError, ValueError, OverflowError):
            raise InputError("normalisation values must be numbers") from None
        if len(self.rgb_mean) != 3 or len(self.rgb_std) != 3:
            raise InputError("normalisation needs three RGB means and three RGB stds")
        if not all(s > 0 for s in (*self.rgb_std, self.depth_std)):  # NaN > 0 is False too
            raise InputError("normalisation standard deviations must be positive")
        # Positive as a double is not enough: preprocessing computes in float32, where a std of
        # 1e-320 is 0 and one of 1e39 infinite (the C library checks the same constants).
        mean, inv_std, depth_mean, depth_inv_std = normalization_constants(self)
        for name, values, reciprocal in (("rgb_mean", mean, False), ("rgb_std", inv_std, True),
                                         ("depth_mean", [depth_mean], False), ("depth_std", [depth_inv_std], True)):
            for i, v in enumerate(values):
                if not np.isfinite(v) or (reciprocal and v == 0):
                    where = f"[{i}]" if name.startswith("rgb") else ""
                    raise InputError(f"'normalization.{name}{where}' is out of range for the float32 preprocessing")

    def to_dict(self) -> dict:
        return {
            "rgb_mean": list(self.rgb_mean),
            "rgb_std": list(self.rgb_std),
            "depth_mean": self.depth_mean,
            "depth_std": self.depth_std,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        try:
            return cls(
                rgb_mean=tuple(d["rgb_mean"]),
                rgb_std=tuple(d["rgb_std"]),
                depth_mean=d["depth_mean"],
                depth_std=d["depth_std"],
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"normalisation record is incomplete: missing {exc}") from None


@dataclass(frozen=True)
class PreprocessConfig:
    """What the network expects: its input size, statistics and depth unit."""

    height: int
    width: int
    normalization: Normalization = field(default_factory=Normalization)

    def __post_init__(self) -> None:
        """Refuse sizes no frame can be resized to: a zero or fractional size fails deep in the resizing."""
        if not all(is_integer(v) and v > 0 for v in (self.height, self.width)):
            raise ConfigError(f"input height and width must be positive integers, got {self.height!r}x{self.width!r}")
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))



# --------------------------------------------------------------------------- checks


def check_rgb(rgb: object) -> np.ndarray:
    """Validate an H x W x 3 uint8 image and return it as a C-contiguous array."""
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"rgb must be a numpy array, got {type(rgb).__name__}")
    if rgb.size == 0:
        raise InputError("rgb is empty")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"rgb must have shape HxWx3, got {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise InputError(f"rgb must be uint8 (0-255), got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def check_depth(depth: object, rgb_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Validate an H x W depth map: uint16 (scaled units) or float (already scaled).

    NaN, infinite and negative values are rejected; 0 means "no reading".
    """
    if not isinstance(depth, np.ndarray):
        raise InputError(f"depth must be a numpy array, got {type(depth).__name__}")
    if depth.size == 0:
        raise InputError("depth is empty")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise InputError(f"depth must have shape HxW, got {depth.shape}")
    if depth.dtype not in (np.uint16, np.float32, np.float64):
        raise InputError(f"depth must be uint16 (e.g. millimetres) or float32 (metres), got {depth.dtype}")
    if rgb_shape is not None and tuple(depth.shape) != tuple(rgb_shape[:2]):
        raise InputError(f"rgb is {rgb_shape[0]}x{rgb_shape[1]} but depth is {depth.shape[0]}x{depth.shape[1]}")
    if depth.dtype != np.uint16:
        if not np.isfinite(depth).all():
            raise InputError("depth contains NaN or infinite values; use 0 for missing readings")
        if (depth < 0).any():
            raise InputError("depth contains negative values; use 0 for missing readings")
    return np.ascontiguousarray(depth)


# --------------------------------------------------------------------------- resizing


def linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of bilinear interpolation with half-pixel centres: ``(i0, i1, w1)``.

    Destination ``j`` is ``x[i0] + (x[i1] - x[i0]) * w1`` (float32), the one
    formula of every bilinear resize here and of camera-native exports' heads.
    """
    scale = src / dst
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    pos = np.clip(pos, 0.0, None)
    i0 = np.floor(pos).astype(np.int64)
    i0 = np.minimum(i0, src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    w1 = (pos - i0).astype(np.float32)
    return i0, i1, w1


def resize_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxW or HxWxC array to float32 (align_corners=False).

    Matches ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False, antialias=False)``.
    """
    h, w = img.shape[:2]
    x = img.astype(np.float32, copy=False)
    if (h, w) == (height, width):
        return x.copy() if x is img else x
    y0, y1, wy = linear_taps(h, height)
    x0, x1, wx = linear_taps(w, width)
    extra = (1,) * (img.ndim - 2)
    wy = wy.reshape((-1, 1) + extra)
    wx = wx.reshape((1, -1) + extra)
    top = x[y0]
    bottom = x[y1]
    rows = top + (bottom - top) * wy
    left = rows[:, x0]
    right = rows[:, x1]
    return left + (right - left) * wx


def resize_bilinear_chw(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a C x H x W (or N x C x H x W) float array, e.g. logits."""
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    lead = x.shape[:-2]
    planes = x.reshape(-1, h, w).astype(np.float32, copy=False)
    out = np.empty((planes.shape[0], height, width), np.float32)
    for rows, cols, values, keep in _bilinear_blocks(planes, height, width):
        out[(slice(None), *_block_index(rows, cols))] = values[..., keep]
    return out.reshape(*lead, height, width)


@dataclass(frozen=True)
class _TapRuns:
    """Bilinear taps along one axis, grouped for strided access instead of gathers.

    Where ``src / dst`` reduces to ``a / b`` with a small ``b``, every b-th
    destination position has the same weight and a source position that
    steps by ``a``: such a run reads the source through a strided view. The
    grouping is checked against :func:`linear_taps` itself, so each
    position keeps exactly its own index and weight; positions that fit no
    run (the clamped edges, sizes without a short period) are gathered.
    """

    runs: tuple[tuple[slice, slice, np.float32], ...]  # (destination, source, weight)
    rest: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # destination, source indices, weights

    def groups(self, chunk: int):
        """(destination, source, weight) groups of at most ``chunk`` positions each."""
        for dst, src, w in self.runs:
            n = len(range(dst.start, dst.stop, dst.step))
            for k in range(0, n, chunk):
                m = min(chunk, n - k)
                yield (slice(dst.start + k * dst.step, dst.start + (k + m - 1) * dst.step + 1, dst.step),
                       slice(src.start + k * src.step, src.start + (k + m - 1) * src.step + 1, src.step), w)
        if self.rest is not None:
            dst, src, w = self.rest
            for k in range(0, len(dst), chunk):
                yield dst[k : k + chunk], src[k : k + chunk], w[k : k + chunk]


#: Longest period (b of src / dst = a / b) split into strided runs, and the shortest run kept.
_MAX_PERIOD = 64
_MIN_RUN = 4


@lru_cache(maxsize=64)
def _tap_runs(src: int, dst: int) -> _TapRuns:
    i0, _, w1 = linear_taps(src, dst)
    g = math.gcd(src, dst)
    a, b = src // g, dst // g
    runs = []
    covered = np.zeros(dst, bool)
    if b <= _MAX_PERIOD:
        for p in range(min(b, dst)):
            js = np.arange(p, dst, b)
            base = i0[js] - a * np.arange(len(js))
            w = w1[js]
            # maximal runs of one (base, weight): there index = base + a * k exactly
            cut = np.flatnonzero((base[1:] != base[:-1]) | (w[1:] != w[:-1])) + 1
            for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(js)]):
                if hi - lo >= _MIN_RUN:
                    first, last = js[lo], js[hi - 1]
                    runs.append((slice(int(first), int(last) + 1, b),
                                 slice(int(i0[first]), int(i0[last]) + 1, a), np.float32(w[lo])))
                    covered[js[lo:hi]] = True
    left = np.flatnonzero(~covered)
    rest = (left, i0[left], w1[left]) if left.size else None
    return _TapRuns(tuple(runs), rest)


def _next_difference(x: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray:
    """``out[i] = x[min(i + 1, n - 1)] - x[i]`` along ``axis``: ``x[i1] - x[i0]`` of every tap."""
    n = x.shape[axis]
    head = [slice(None)] * x.ndim
    tail = list(head)
    nxt = list(head)
    head[axis], nxt[axis], tail[axis] = slice(0, n - 1), slice(1, n), slice(n - 1, n)
    if axis == x.ndim - 1 and x.flags.c_contiguous and out.flags.c_contiguous:
        # One pass over the flat buffer (short rows make numpy loop per row); the rows' last
        # elements, which this gets wrong, are set below.
        flat, flat_out = x.reshape(-1), out.reshape(-1)
        np.subtract(flat[1:], flat[:-1], out=flat_out[:-1])
    else:
        np.subtract(x[tuple(nxt)], x[tuple(head)], out=out[tuple(head)])
    np.subtract(x[tuple(tail)], x[tuple(tail)], out=out[tuple(tail)])  # 0 (NaN for inf/NaN), as x[i1] - x[i0] there
    return out


def _take(x: np.ndarray, index, axis: int) -> np.ndarray:
    if isinstance(index, slice):
        return x[(slice(None),) * (axis % x.ndim) + (index,)]
    return np.take(x, index, axis=axis)


def _block_index(rows, cols) -> tuple:
    """Index of a block's destination: slices as they are, two index arrays as their outer product."""
    if isinstance(rows, slice) or isinstance(cols, slice):
        return rows, cols
    return np.ix_(rows, cols)


#: Values per block of :func:`_bilinear_blocks` (float32: 512 KiB), sized to stay in a core's L2 cache.
BLOCK_VALUES = 1 << 17


def _bilinear_blocks(x: np.ndarray, height: int, width: int, max_values: int = BLOCK_VALUES):
    """Bilinear resize (half-pixel centres) of C x h x w float32 ``x``, block by block.

    Yields ``(rows, cols, values, keep)``: ``values[..., keep]`` (C x rows x
    cols) is the resized map at those destination rows and columns (slices
    or index arrays); the blocks cover it once. Each value is ``top +
    (bottom - top) * wy`` then ``left + (right - left) * wx`` in float32,
    the formula the C ABI shares, with the taps of :func:`linear_taps`;
    runs of taps are read through strided views instead of gathers, and a
    block stays in cache. ``values`` is a reused buffer: consume it before
    the next block.

    A run of columns whose sources step by one (upscaling by a whole
    factor) is computed for every source column, in one pass over
    contiguous memory, and ``keep`` selects its own: numpy loops once per
    row over strided views, and rows of ~100 values make that loop cost
    more than the arithmetic.
    """
    c, h, w = x.shape
    rows, cols = _tap_runs(h, height), _tap_runs(w, width)
    down = _next_difference(x, 1, np.empty_like(x))  # bottom - top at every source row
    row_chunk = max(1, max_values // (c * w))
    buf_r = np.empty(c * row_chunk * w, np.float32)
    buf_d = np.empty_like(buf_r)
    buf_v = np.empty(max(max_values, c * row_chunk * w), np.float32)
    every = slice(None)
    for dst_r, src_r, wy in rows.groups(row_chunk):
        top = _take(x, src_r, 1)
        nr = top.shape[1]
        r = buf_r[: c * nr * w].reshape(c, nr, w)
        np.multiply(_take(down, src_r, 1), wy if np.ndim(wy) == 0 else wy[:, None], out=r)
        np.add(top, r, out=r)
        d = _next_difference(r, 2, buf_d[: c * nr * w].reshape(c, nr, w))  # right - left at every column
        for dst_c, src_c, wx in cols.groups(max(1, max_values // (c * nr))):
            if isinstance(src_c, slice) and src_c.step == 1 and 2 * (src_c.stop - src_c.start) >= w:
                v = buf_v[: r.size].reshape(r.shape)
                np.multiply(d, wx, out=v)
                np.add(r, v, out=v)
                yield dst_r, dst_c, v, src_c
                continue
            left = _take(r, src_c, 2)
            v = buf_v[: left.size].reshape(left.shape)
            np.multiply(_take(d, src_c, 2), wx, out=v)
            np.add(left, v, out=v)
            yield dst_r, dst_c, v, every


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source indices of "nearest-exact" resizing: floor((dst + 0.5) * src / dst)."""
    idx = np.floor((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst)).astype(np.int64)
    return np.minimum(idx, src - 1)


def resize_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-exact resize of an HxW(xC) array; keeps dtype (labels, depth)."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img
    return img[nearest_indices(h, height)][:, nearest_indices(w, width)]


# --------------------------------------------------------------------------- normalising


def normalize_rgb(rgb: np.ndarray, norm: Normalization) -> np.ndarray:
    """HxWx3 (uint8 or float 0-255) -> 3xHxW float32, normalised."""
    if rgb.dtype == np.uint8:
        # Same values as the formula below (the table is made by it), ~6x faster.
        table = _rgb_table(norm)
        out = np.empty((3, *rgb.shape[:2]), np.float32)
        for c in range(3):
            np.take(table[c], rgb[..., c], out=out[c])
        return out
    return np.ascontiguousarray(_scale_rgb(rgb.astype(np.float32, copy=False), norm).transpose(2, 0, 1))


def normalization_constants(norm: Normalization) -> tuple[np.ndarray, np.ndarray, np.float32, np.float32]:
    """The float32 constants normalising computes with: RGB mean * 255 and 1 / (std * 255), depth mean and 1 / std.

    One place for them, so the check that they are finite (Normalization) is
    made on exactly what the arithmetic uses; the C library's
    normalization_constants (model_info.cpp) computes the same.
    """
    with np.errstate(over="ignore", divide="ignore", under="ignore", invalid="ignore"):
        mean = np.asarray(norm.rgb_mean, dtype=np.float32) * 255.0
        inv_std = 1.0 / (np.asarray(norm.rgb_std, dtype=np.float32) * 255.0)
        return mean, inv_std, np.float32(norm.depth_mean), np.float32(1.0 / norm.depth_std)


def _scale_rgb(x: np.ndarray, norm: Normalization) -> np.ndarray:
    mean, inv_std, _, _ = normalization_constants(norm)
    return (x - mean) * inv_std


@lru_cache(maxsize=8)
def _rgb_table(norm: Normalization) -> np.ndarray:
    """3 x 256 lookup table of normalised values for every uint8 level."""
    levels = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)
    return np.ascontiguousarray(_scale_rgb(levels, norm).T)


def depth_to_metres(depth: np.ndarray, depth_scale: float) -> np.ndarray:
    """Raw depth (uint16 units or float) -> float32 metres."""
    return depth.astype(np.float32) * np.float32(depth_scale)


def normalize_depth(depth_m: np.ndarray, norm: Normalization) -> np.ndarray:
    """HxW metres -> 1xHxW float32, normalised."""
    _, _, mean, inv_std = normalization_constants(norm)
    out = (depth_m.astype(np.float32, copy=False) - mean) * inv_std
    return out[None]


#: Farther than any RGB-D sensor reads; a larger value means a wrong depth unit.
MAX_DEPTH_M = 1000.0


def check_depth_scale(depth_scale: object) -> float:
    """A depth scale (metres per raw unit) must be a finite positive number."""
    try:
        scale = float(depth_scale)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"depth_scale must be a number (metres per depth unit), got {depth_scale!r}") from None
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"depth_scale must be a finite positive number (metres per depth unit), got {depth_scale}")
    return scale


def check_depth_range(depth_m: np.ndarray, depth_scale: float) -> None:
    """Refuse depth in metres beyond :data:`MAX_DEPTH_M`: the unit or ``depth_scale`` is wrong."""
    top = float(depth_m.max()) if depth_m.size else 0.0
    if not top <= MAX_DEPTH_M:
        raise InputError(
            f"depth reaches {top:.3g} m (raw values x depth_scale {depth_scale:g}), beyond any sensor's range "
            f"({MAX_DEPTH_M:g} m); check the depth unit and the depth scale"
        )


def default_depth_scale(depth: np.ndarray) -> float:
    """uint16 depth is millimetres unless told otherwise; float depth is metres."""
    return 0.001 if depth.dtype == np.uint16 else 1.0


def preprocess(
    rgb: np.ndarray,
    depth: np.ndarray,
    config: PreprocessConfig,
    depth_scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, resize and normalise one frame for the network.

    Returns ``(rgb, depth)`` as float32 arrays of shape 3xHxW and 1xHxW at the
    network's input size. ``depth_scale`` converts raw depth to metres; by
    default uint16 is millimetres and float is metres.
    """
    rgb = check_rgb(rgb)
    depth = check_depth(depth, rgb.shape)
    scale = default_depth_scale(depth) if depth_scale is None else check_depth_scale(depth_scale)
    h, w = config.height, config.width
    rgb_r = resize_bilinear(rgb, h, w) if rgb.shape[:2] != (h, w) else rgb
    depth_m = depth_to_metres(resize_nearest(depth, h, w), scale)
    check_depth_range(depth_m, scale)
    return normalize_rgb(rgb_r, config.normalization), normalize_depth(depth_m, config.normalization)
