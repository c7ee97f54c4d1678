"""Procedural indoor RGB-D scenes: a built-in dataset that needs no files.

Each frame is ray-cast (vectorised numpy) from a pinhole camera standing in a
box-shaped room with a floor, walls and a ceiling, furnished with boxes,
tables, chairs and cylindrical bins. Depth is the z-depth of the first hit,
so it comes from the geometry, with a little sensor noise and a few holes.

Two classes are told apart only by depth. *Pictures* hang flat on the back
wall; *panels* float 0.25-0.8 m in front of it. Both are rectangles placed
only where the wall is visible, drawn with the same colours, patterns and
shading, and the picture/panel choice comes from its own random stream: the
RGB image is exactly the same whichever class a plaque is
(:func:`render_scene` with ``plaque_class`` shows it), so a model that sees
RGB alone cannot separate them, while depth does.

Every frame is a pure function of ``(seed, split, index)``, so the dataset is
deterministic, random-access and identical in every worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acnet.errors import ConfigError
from acnet.runtime.preprocess import Normalization
from acnet.training.data.base import Frame, RGBDDataset

#: Class k is ``SYNTHETIC_CLASSES[k - 1]``; every pixel is labelled (no void).
SYNTHETIC_CLASSES = ("wall", "floor", "ceiling", "box", "table", "chair", "bin", "picture", "panel")
WALL, FLOOR, CEILING, BOX, TABLE, CHAIR, BIN, PICTURE, PANEL = range(1, 10)

#: Frames per split when the spec gives no count.
DEFAULT_COUNT = {"train": 256, "test": 64}
DEFAULT_SIZE = (120, 160)
SPLIT_CODES = {"train": 0, "test": 1, "val": 1}

#: Statistics of the generator, measured with
#: ``acnet data stats synthetic:1024?split=train`` (RGB/255; depth in metres).
SYNTHETIC_NORMALIZATION = Normalization(
    rgb_mean=(0.4618, 0.4378, 0.4159),
    rgb_std=(0.1354, 0.1485, 0.1702),
    depth_mean=3.532,
    depth_std=1.175,
)

_LIGHT = np.array([0.3, 0.8, -0.5]) / np.linalg.norm([0.3, 0.8, -0.5])


def _hsv_colour(rng: np.random.Generator, h: tuple[float, float], s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    """One RGB colour in [0, 1] from uniform HSV ranges."""
    hue, sat, val = rng.uniform(*h) % 1.0, rng.uniform(*s), rng.uniform(*v)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return val - val * sat * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


_COLOURS = {
    WALL: ((0.0, 1.0), (0.05, 0.25), (0.65, 0.9)),
    FLOOR: ((0.04, 0.12), (0.3, 0.6), (0.3, 0.6)),
    CEILING: ((0.0, 1.0), (0.0, 0.08), (0.8, 0.95)),
    BOX: ((0.0, 1.0), (0.3, 0.7), (0.4, 0.85)),
    TABLE: ((0.04, 0.12), (0.35, 0.7), (0.3, 0.6)),
    CHAIR: ((0.0, 1.0), (0.4, 0.8), (0.3, 0.75)),
    BIN: ((0.0, 1.0), (0.4, 0.9), (0.35, 0.85)),
    PICTURE: ((0.0, 1.0), (0.5, 0.9), (0.45, 0.95)),
}


@dataclass
class _Layout:
    """What :func:`_sample_layout` draws: room, camera and solids."""

    room_min: np.ndarray
    room_max: np.ndarray
    origin: np.ndarray
    rotation: np.ndarray
    focal: float
    room_colours: dict
    boxes: list  # (class, min xyz, max xyz, colour)
    bins: list  # (cx, cz, radius, height, colour)


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
    return ry @ rx


def _furniture(kind: int, x: float, z: float, w: float, d: float, rng: np.random.Generator, colour) -> list:
    """Axis-aligned boxes making up one piece of furniture with footprint centre (x, z)."""
    x0, x1, z0, z1 = x - w / 2, x + w / 2, z - d / 2, z + d / 2
    if kind == BOX:
        h = rng.uniform(0.3, 1.0)
        return [(BOX, (x0, 0.0, z0), (x1, h, z1), colour)]
    legs = []
    if kind == TABLE:
        h, leg = rng.uniform(0.65, 0.8), 0.06
        parts = [(TABLE, (x0, h - 0.05, z0), (x1, h, z1), colour)]
    else:  # chair: seat, legs and a backrest on one side
        h, leg = rng.uniform(0.42, 0.5), 0.05
        parts = [(CHAIR, (x0, h - 0.05, z0), (x1, h, z1), colour)]
        back_h = h + rng.uniform(0.4, 0.55)
        side = rng.integers(4)
        bx0, bx1, bz0, bz1 = x0, x1, z0, z1
        if side == 0:
            bz0 = z1 - 0.05
        elif side == 1:
            bz1 = z0 + 0.05
        elif side == 2:
            bx0 = x1 - 0.05
        else:
            bx1 = x0 + 0.05
        parts.append((CHAIR, (bx0, h, bz0), (bx1, back_h, bz1), colour))
    for lx, lz in ((x0, z0), (x1 - leg, z0), (x0, z1 - leg), (x1 - leg, z1 - leg)):
        legs.append((kind, (lx, 0.0, lz), (lx + leg, h - 0.05, lz + leg), colour))
    return parts + legs


def _sample_layout(rng: np.random.Generator, width: int) -> _Layout:
    xl, xr = -rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0)
    ceiling, back = rng.uniform(2.4, 3.0), rng.uniform(3.5, 6.0)
    origin = np.array([rng.uniform(xl + 0.8, xr - 0.8), rng.uniform(1.0, 1.6), 0.0])
    rotation = _rotation(rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.05))
    focal = width * rng.uniform(0.8, 0.95)
    room_colours = {c: _hsv_colour(rng, *_COLOURS[c]) for c in (WALL, FLOOR, CEILING)}

    boxes, bins, footprints = [], [], []
    for _ in range(rng.integers(3, 8)):
        kind = int(rng.choice([BOX, BOX, TABLE, CHAIR, CHAIR, BIN]))
        if kind == BIN:
            r = rng.uniform(0.15, 0.35)
            w = d = 2 * r
        elif kind == TABLE:
            w, d = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0)
        elif kind == CHAIR:
            w = d = rng.uniform(0.4, 0.5)
        else:
            w, d = rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9)
        for _try in range(8):
            x = rng.uniform(xl + w / 2 + 0.05, xr - w / 2 - 0.05)
            z = rng.uniform(1.0 + d / 2, back - d / 2 - 0.05)
            if all(abs(x - fx) > (w + fw) / 2 + 0.1 or abs(z - fz) > (d + fd) / 2 + 0.1 for fx, fz, fw, fd in footprints):
                break
        else:
            continue
        footprints.append((x, z, w, d))
        colour = _hsv_colour(rng, *_COLOURS[kind])
        if kind == BIN:
            bins.append((x, z, w / 2, rng.uniform(0.3, 1.0), colour))
        else:
            boxes.extend(_furniture(kind, x, z, w, d, rng, colour))
    return _Layout(np.array([xl, 0.0, -1.0]), np.array([xr, ceiling, back]), origin, rotation, focal,
                   room_colours, boxes, bins)


def _rays(height: int, width: int, layout: _Layout) -> np.ndarray:
    """World directions (H x W x 3) whose camera-frame z is 1, so hit distance t is z-depth."""
    v, u = np.mgrid[0:height, 0:width]
    cam = np.stack(
        [(u + 0.5 - width / 2) / layout.focal, -(v + 0.5 - height / 2) / layout.focal, np.ones((height, width))],
        axis=2,
    )
    d = cam @ layout.rotation.T
    d[np.abs(d) < 1e-12] = 1e-12
    return d


def _pixel_box(layout: _Layout, lo, hi, height: int, width: int) -> tuple[slice, slice] | None:
    """Image rows/columns that a world box can cover (all of them if it reaches behind the camera)."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    cam = (corners - layout.origin) @ layout.rotation
    if (cam[:, 2] < 0.05).any():
        return np.s_[0:height], np.s_[0:width]
    u = layout.focal * cam[:, 0] / cam[:, 2] + width / 2
    v = -layout.focal * cam[:, 1] / cam[:, 2] + height / 2
    u0, u1 = max(int(u.min()) - 1, 0), min(int(np.ceil(u.max())) + 1, width)
    v0, v1 = max(int(v.min()) - 1, 0), min(int(np.ceil(v.max())) + 1, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return np.s_[v0:v1], np.s_[u0:u1]


def _render(layout: _Layout, height: int, width: int):
    """First hit per pixel: z-depth, class, colour and normal, plus a back-wall mask.

    The room is intersected everywhere; each solid only inside the pixel
    rectangle its corners project to, z-buffer style.
    """
    o, d = layout.origin, _rays(height, width, layout)
    inv = 1.0 / d
    # Room: the ray leaves the room box through the nearest exit plane.
    exit_t = (np.where(d > 0, layout.room_max, layout.room_min) - o) * inv
    axis = exit_t.argmin(2)
    t = np.take_along_axis(exit_t, axis[..., None], 2)[..., 0]
    label = np.full((height, width), WALL, np.uint8)
    label[(axis == 1) & (d[..., 1] < 0)] = FLOOR
    label[(axis == 1) & (d[..., 1] > 0)] = CEILING
    normal = -np.sign(d) * (np.arange(3) == axis[..., None])
    colour = np.empty((height, width, 3))
    for cls, c in layout.room_colours.items():
        colour[label == cls] = c
    back_wall = (axis == 2) & (d[..., 2] > 0)

    for cls, lo, hi, c in layout.boxes:
        window = _pixel_box(layout, lo, hi, height, width)
        if window is None:
            continue
        dw, iw = d[window], inv[window]
        t1, t2 = (np.asarray(lo) - o) * iw, (np.asarray(hi) - o) * iw
        tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
        near = np.maximum(np.maximum(tmin[..., 0], tmin[..., 1]), tmin[..., 2])
        far = np.minimum(np.minimum(tmax[..., 0], tmax[..., 1]), tmax[..., 2])
        hit = (near <= far) & (near > 1e-6) & (near < t[window])
        if not hit.any():
            continue
        face = tmin.argmax(2)
        t[window] = np.where(hit, near, t[window])
        label[window][hit] = cls
        colour[window][hit] = c
        normal[window][hit] = (-np.sign(dw) * (np.arange(3) == face[..., None]))[hit]
        back_wall[window] &= ~hit

    for cx, cz, r, h, c in layout.bins:
        window = _pixel_box(layout, (cx - r, 0.0, cz - r), (cx + r, h, cz + r), height, width)
        if window is None:
            continue
        dw, iw = d[window], inv[window]
        ox, oz = o[0] - cx, o[2] - cz
        a = dw[..., 0] ** 2 + dw[..., 2] ** 2
        b = 2 * (dw[..., 0] * ox + dw[..., 2] * oz)
        disc = b * b - 4 * a * (ox * ox + oz * oz - r * r)
        ts = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a)
        ys = o[1] + ts * dw[..., 1]
        side = (disc > 0) & (ts > 1e-6) & (ys >= 0) & (ys <= h)
        tc = (h - o[1]) * iw[..., 1]
        xc, zc = ox + tc * dw[..., 0], oz + tc * dw[..., 2]
        cap = (tc > 1e-6) & (xc * xc + zc * zc <= r * r) & ~side
        tt = np.where(side, ts, np.where(cap, tc, np.inf))
        hit = tt < t[window]
        if not hit.any():
            continue
        t[window] = np.where(hit, tt, t[window])
        label[window][hit] = BIN
        colour[window][hit] = c
        radial = np.stack([(ox + ts * dw[..., 0]) / r, np.zeros_like(ts), (oz + ts * dw[..., 2]) / r], 2)
        normal[window][hit] = np.where(side[..., None], radial, np.array([0.0, 1.0, 0.0]))[hit]
        back_wall[window] &= ~hit

    return t, label, colour, normal, back_wall


def _place_plaques(rng: np.random.Generator, free: np.ndarray, count: int) -> list[tuple[int, int, int, int]]:
    """Rectangles (top, left, height, width) lying entirely on free (back-wall) pixels."""
    height, width = free.shape
    placed = []
    free = free.copy()
    for _ in range(count):
        integral = np.pad(free.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        rh = np.maximum(4, (rng.uniform(0.12, 0.3, 24) * height).astype(int))
        rw = np.maximum(4, (rng.uniform(0.12, 0.35, 24) * width).astype(int))
        top = (rng.random(24) * np.maximum(height - rh, 1)).astype(int)
        left = (rng.random(24) * np.maximum(width - rw, 1)).astype(int)
        bottom, right = np.minimum(top + rh, height), np.minimum(left + rw, width)
        inside = integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]
        ok = np.flatnonzero(inside == (bottom - top) * (right - left))
        if ok.size:
            i = ok[0]
            placed.append((top[i], left[i], bottom[i] - top[i], right[i] - left[i]))
            free[top[i]:bottom[i], left[i]:right[i]] = False
    return placed


def render_scene(
    seed: int | tuple[int, ...], height: int, width: int, plaque_class: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one scene: ``(rgb uint8 HxWx3, depth float32 metres HxW, label uint8 HxW)``.

    ``plaque_class`` (``PICTURE`` or ``PANEL``) forces every plaque to one
    class instead of drawing it at random; the RGB image does not change.
    """
    layout_ss, plaque_ss, noise_ss, class_ss = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(layout_ss)
    layout = _sample_layout(rng, width)
    depth, label, colour, normal, back_wall = _render(layout, height, width)

    prng = np.random.default_rng(plaque_ss)
    crng = np.random.default_rng(class_ss)
    wall_distance = layout.room_max[2] - layout.origin[2]
    for top, left, h, w in _place_plaques(prng, back_wall, int(prng.integers(1, 3))):
        c1, c2 = _hsv_colour(prng, *_COLOURS[PICTURE]), _hsv_colour(prng, *_COLOURS[PICTURE])
        yy, xx = np.mgrid[0:h, 0:w]
        angle = prng.uniform(0, np.pi)
        stripe = (np.cos(angle) * xx + np.sin(angle) * yy) / max(h, w) * prng.uniform(1.0, 4.0) + prng.uniform()
        region = np.s_[top:top + h, left:left + w]
        colour[region] = np.where((np.floor(stripe) % 2 == 0)[..., None], c1, c2)
        # The class is drawn from its own stream so the RGB image never depends on it.
        is_panel = crng.random() < 0.5
        offset = crng.uniform(0.25, 0.8)
        cls = plaque_class if plaque_class is not None else (PANEL if is_panel else PICTURE)
        label[region] = cls
        if cls == PANEL:
            depth[region] *= (wall_distance - offset) / wall_distance

    nrng = np.random.default_rng(noise_ss)
    brightness = nrng.uniform(0.8, 1.15)
    shade = (0.6 + 0.4 * np.clip(normal @ _LIGHT, 0.0, 1.0)) * brightness
    rgb = colour * shade[..., None] * 255.0 + nrng.normal(0.0, 3.0, colour.shape)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    depth = depth * (1.0 + nrng.normal(0.0, 0.004, depth.shape))
    depth[nrng.random(depth.shape) < 0.01] = 0.0  # sensor holes
    return rgb, depth.astype(np.float32), label


class SyntheticScenes(RGBDDataset):
    """``count`` procedural scenes of ``height`` x ``width``; see the module docstring.

    Train and test splits use disjoint random streams of the same generator.
    """

    def __init__(
        self,
        count: int | None = None,
        height: int = DEFAULT_SIZE[0],
        width: int = DEFAULT_SIZE[1],
        seed: int = 0,
        split: str = "test",
    ) -> None:
        if split not in SPLIT_CODES:
            raise ConfigError(f"synthetic data has splits train and test, not {split!r}")
        if count is None:
            count = DEFAULT_COUNT["train" if split == "train" else "test"]
        if count < 1:
            raise ConfigError(f"synthetic frame count must be at least 1, got {count}")
        if height < 16 or width < 16:
            raise ConfigError(f"synthetic frames must be at least 16x16, got {height}x{width}")
        self.count, self.height, self.width, self.seed, self.split = count, height, width, seed, split
        self.class_names = SYNTHETIC_CLASSES
        self.normalization = SYNTHETIC_NORMALIZATION
        self.source = f"synthetic:{count}?size={height}x{width}&seed={seed}&split={split}"

    def __len__(self) -> int:
        return self.count

    def name_of(self, index: int) -> str:
        return f"{self.split}_{index:05d}"

    def _load(self, index: int) -> Frame:
        rgb, depth, label = render_scene((self.seed, SPLIT_CODES[self.split], index), self.height, self.width)
        return Frame(self.name_of(index), rgb, depth, label)
