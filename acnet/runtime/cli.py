"""``acnet infer``: segment RGB-D images with an exported model (no torch needed)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click
from tqdm import tqdm

from acnet._io import check_writable
from acnet._options import DEPTH_SCALE, POSITIVE, FiniteFloat
from acnet.errors import InputError
from acnet.runtime.backends import BACKENDS
from acnet.runtime.backends.openvino import PRECISIONS
from acnet.runtime.colorize import colorize, legend, overlay
from acnet.runtime.images import pair_inputs, read_depth, read_rgb, write_png
from acnet.runtime.preprocess import check_depth, check_depth_range, check_rgb, default_depth_scale, depth_to_metres
from acnet.runtime.segmenter import Segmenter

#: --device and --precision of the commands that run a model (infer, stream).
DEVICE_HELP = "cpu, cuda or cuda:N; gpu or gpu:N (an Intel GPU) for OpenVINO [default: cpu, cuda:0 for engines]"
OPENVINO_PRECISIONS = tuple(PRECISIONS)
PRECISION_HELP = ("OpenVINO: precision of floating-point layers, fp32 (default) or bf16 on CPUs with AVX512-BF16 "
                  "or AMX (refused elsewhere).")

log = logging.getLogger(__name__)

OUTPUTS = ("labels", "color", "overlay")


@click.command("infer")
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--rgb", "rgb", required=True, help="RGB image, folder of images, or quoted glob.")
@click.option("--depth", "depth", required=True, help="Depth map, folder or quoted glob, matched to RGB by file name.")
@click.option(
    "--depth-scale",
    type=DEPTH_SCALE,
    default=None,
    help="Metres per depth unit (default: 0.001 for 16-bit files, i.e. millimetres; 1 for float files).",
)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder for the PNGs.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="auto: by suffix (.onnx ONNX Runtime, .engine/.plan TensorRT, .xml OpenVINO); openvino runs .onnx too.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--threads", type=POSITIVE, default=None, help="ONNX Runtime intra-op threads, OpenVINO inference threads.")
@click.option("--precision", type=click.Choice(OPENVINO_PRECISIONS), default=None, help=PRECISION_HELP)
@click.option("--batch-size", type=POSITIVE, default=None, help="Frames per run for dynamic-batch models.")
@click.option("--alpha", type=FiniteFloat(0.0, 1.0), default=0.5, show_default=True, help="Colour weight in the overlay, 0..1.")
def infer(model, rgb, depth, depth_scale, out_dir, backend, device, threads, precision, batch_size, alpha):
    """Segment RGB-D images with MODEL (.onnx, a TensorRT .engine/.plan, or OpenVINO IR .xml).

    For each input NAME it writes NAME_labels.png (uint8 class ids: 0 void,
    k = class k), NAME_color.png (colours) and NAME_overlay.png (colours over
    the image, class borders outlined), plus legend.png naming the colours.
    """
    pairs = pair_inputs(rgb, depth)
    check_writable(out_dir / "legend.png")
    with Segmenter(model, backend=backend, device=device, threads=threads, batch_size=batch_size, precision=precision) as seg:
        log.info("%d frame(s) -> %s", len(pairs), out_dir)
        write_png(out_dir / "legend.png", legend(seg.class_names))
        start = time.perf_counter()
        bar = tqdm(total=len(pairs), unit="frame", disable=True if len(pairs) < 2 else None, desc="infer")
        for first in range(0, len(pairs), seg.batch_size):
            chunk = pairs[first : first + seg.batch_size]
            frames = [_load(name, r, d, depth_scale) for name, r, d in chunk]
            labels = seg.segment_batch(frames, depth_scale)
            for (name, _, _), (image, _), ids in zip(chunk, frames, labels):
                write_png(out_dir / f"{name}_labels.png", ids)
                write_png(out_dir / f"{name}_color.png", colorize(ids))
                write_png(out_dir / f"{name}_overlay.png", overlay(image, ids, alpha))
            bar.update(len(chunk))
        bar.close()
        seconds = time.perf_counter() - start
    click.echo(f"wrote {3 * len(pairs)} images for {len(pairs)} frame(s) to {out_dir} in {seconds:.1f} s")


def _load(name: str, rgb_path: Path, depth_path: Path, depth_scale: float | None):
    """Read and check one pair, naming it in any error."""
    rgb, depth = read_rgb(rgb_path), read_depth(depth_path)
    try:
        depth = check_depth(depth, check_rgb(rgb).shape)
        scale = default_depth_scale(depth) if depth_scale is None else depth_scale
        check_depth_range(depth_to_metres(depth, scale), scale)
    except InputError as exc:
        raise InputError(f"frame {name} ({depth_path.name}): {exc}") from None
    return rgb, depth
