"""Reading RGB images and depth maps, writing PNGs atomically (pillow only).

Depth files: 16-bit PNG/TIFF (raw sensor units, millimetres by default),
32-bit float TIFF (metres) or ``.npy`` (uint16 units or float metres).
An 8-bit "depth" image is refused: its unit cannot be known.
"""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

import numpy as np

from acnet._io import atomic_path, file_problem
from acnet.errors import InputError, first_line

RGB_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


def _as_path(path: object, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{what} path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise InputError(f"{what} {path} {problem}")
    return path


def _open(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError  # loaded on the first file read: array-only users never pay for it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large but allowed
            image = Image.open(path)
            image.load()
    except Image.DecompressionBombError as exc:  # "Image size (N pixels) exceeds limit of M pixels, ..."
        size = str(exc).split(",")[0].replace("Image size", "its size")
        raise InputError(f"{what} {path} is too large to decode safely ({size}: PIL's guard against decompression bombs)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError, EOFError) as exc:
        raise InputError(f"{what} {path} is not a readable image ({first_line(exc)})") from None
    return image


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """HxWx3 uint8. Alpha is dropped; grey and palette images are expanded."""
    path = _as_path(path, "RGB image")
    image = _open(path, "RGB image")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise InputError(f"RGB image {path} is a {image.mode} single-channel image (a depth map? check --rgb/--depth)")
    return np.asarray(image.convert("RGB"))


def read_depth(path: str | os.PathLike) -> np.ndarray:
    """HxW depth: uint16 raw units (e.g. millimetres) or float32 metres."""
    path = _as_path(path, "depth")
    if path.suffix.lower() == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except EOFError:
            raise InputError(f"depth {path} is not a readable .npy array (the file is empty or truncated)") from None
        except (ValueError, OSError, MemoryError) as exc:
            raise InputError(f"depth {path} is not a readable .npy array ({first_line(exc)})") from None
        if not isinstance(depth, np.ndarray):
            raise InputError(f"depth {path} holds several arrays (.npz?), expected one HxW array")
        if depth.dtype.kind in "iu" and depth.dtype != np.uint16:
            if depth.size and (depth.min() < 0 or depth.max() > 65535):
                raise InputError(f"depth {path} holds values {depth.min()}..{depth.max()}, outside 16 bits")
            depth = depth.astype(np.uint16)
        elif depth.dtype.kind != "f" and depth.dtype != np.uint16:
            raise InputError(f"depth {path} holds {depth.dtype} values; depth must be unsigned 16-bit units or float metres")
    else:
        image = _open(path, "depth")
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            depth = np.asarray(image).astype(np.uint16, copy=False)
        elif image.mode == "I":
            depth = np.asarray(image)
            if depth.size and (depth.min() < 0 or depth.max() > 65535):
                raise InputError(f"depth {path} holds values {depth.min()}..{depth.max()}, outside 16 bits")
            depth = depth.astype(np.uint16)
        elif image.mode == "F":
            depth = np.asarray(image, dtype=np.float32)
        else:
            raise InputError(
                f"depth {path} is an 8-bit {image.mode} image; depth must be a 16-bit PNG (millimetres by default) "
                "or float TIFF/.npy (metres)"
            )
    if depth.ndim != 2:
        raise InputError(f"depth {path} must be a single-channel HxW map, got shape {depth.shape}")
    if depth.dtype.kind == "f" and depth.dtype != np.float32:
        depth = depth.astype(np.float32)
    return depth


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write HxW (uint8/uint16) or HxWx3 uint8 as PNG: a temporary file, then rename.

    Other arrays are refused, naming their shape, before anything is
    written: PIL fails on them with a TypeError or OSError, or clips int32.
    """
    from PIL import Image  # loaded on the first file written

    path = Path(path)
    if not isinstance(array, np.ndarray):
        raise InputError(f"cannot write {path} as PNG: expected a numpy array, got {type(array).__name__}")
    two_d = array.ndim == 2 and array.dtype in (np.uint8, np.uint16, np.bool_)
    colour = array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8
    if not (two_d or colour) or array.size == 0:
        raise InputError(f"cannot write {path} as PNG: expected an HxW uint8/uint16 or HxWx3 uint8 array, "
                         f"got shape {array.shape} {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return path


# --------------------------------------------------------------------------- finding inputs


def _is_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def list_inputs(spec: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """The files a ``--rgb``/``--depth`` value names: a file, a folder or a glob."""
    text = str(spec)
    if _is_glob(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not files:
            raise InputError(f"{what} pattern {text!r} matches no files")
        return files
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise InputError(f"{what} folder {path} holds no {'/'.join(suffixes)} files")
        return files
    problem = file_problem(path)
    if problem is not None:
        raise InputError(f"{what} {path} {problem}")
    return [path]


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for f in files:
        if f.stem in found:
            raise InputError(f"two {what} files share the name {f.stem!r}: {found[f.stem].name} and {f.name}")
        found[f.stem] = f
    return found


def _some(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def pair_inputs(rgb: str | os.PathLike, depth: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """(name, rgb file, depth file) for one pair of files, or two folders/globs matched by stem."""
    rgb_files = list_inputs(rgb, RGB_SUFFIXES, "RGB")
    depth_files = list_inputs(depth, DEPTH_SUFFIXES, "depth")
    single = not _is_glob(str(rgb)) and Path(rgb).is_file(), not _is_glob(str(depth)) and Path(depth).is_file()
    if all(single):
        return [(rgb_files[0].stem, rgb_files[0], depth_files[0])]
    if any(single):
        raise InputError("give --rgb and --depth as two files, or as two folders or globs")
    rgbs, depths = _by_stem(rgb_files, "RGB"), _by_stem(depth_files, "depth")
    no_depth = sorted(set(rgbs) - set(depths))
    no_rgb = sorted(set(depths) - set(rgbs))
    if no_depth or no_rgb:
        problems = []
        if no_depth:
            problems.append(f"{len(no_depth)} RGB file(s) without a depth of the same name: {_some(no_depth)}")
        if no_rgb:
            problems.append(f"{len(no_rgb)} depth file(s) without an RGB of the same name: {_some(no_rgb)}")
        raise InputError("; ".join(problems))
    return [(stem, rgbs[stem], depths[stem]) for stem in sorted(rgbs)]
