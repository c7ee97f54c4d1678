"""``acnet stream``: segment a camera, recording, bag or folder with a pipelined runtime (no torch)."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path

import click
from tqdm import tqdm

from acnet._io import atomic_write_text, check_writable
from acnet._options import FiniteFloat
from acnet.errors import ConfigError, DataError, InputError
from acnet.runtime.backends import BACKENDS
from acnet.runtime.cli import DEVICE_HELP, OPENVINO_PRECISIONS, PRECISION_HELP
from acnet.runtime.images import write_png
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.rosnames import check_topic_name
from acnet.runtime.segmenter import Segmenter
from acnet.runtime.sources import open_source
from acnet.runtime.sources.rosbag import LabelBagWriter
from acnet.runtime.video import VideoWriter, Window, check_fps

log = logging.getLogger(__name__)


@click.command("stream")
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--source", "source_spec", required=True,
              help="realsense[?serial=..&width=..&height=..&fps=..], realsense:REC.db3|REC.bag, "
                   "rosbag:BAG?rgb=/topic&depth=/topic[&tolerance=0.02], folder:DIR or glob:'RGB*'?depth='DEPTH*'.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for labels/NAME.png (uint8 class ids) and overlay.mp4.")
@click.option("--video/--no-video", default=True, show_default=True, help="Write overlay.mp4 into the output folder.")
@click.option("--labels/--no-labels", "label_pngs", default=True, show_default=True, help="Write a label PNG per frame into the output folder.")
@click.option("--labels-bag", type=click.Path(path_type=Path), default=None,
              help="Also write the labels as a new ROS 2 bag (mono8 images with each input's header).")
@click.option("--labels-topic", default="/acnet/labels", show_default=True, help="Topic of --labels-bag.")
@click.option("--show", is_flag=True, help="Show the overlay in a window (needs a display).")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the per-stage figures as JSON here.")
@click.option("--drop", type=click.Choice(["auto", "oldest", "newest", "none"]), default="auto", show_default=True,
              help="When a live source outruns the pipeline: drop the oldest waiting frame, the newest, or none "
                   "(auto: oldest for cameras, none for recordings, bags and folders).")
@click.option("--queue-size", type=int, default=2, show_default=True,
              help="Frames that may wait between steps, beyond one in each (live capture queue, results queue).")
@click.option("--max-frames", type=int, default=None, help="Stop after this many frames (for cameras).")
@click.option("--alpha", type=float, default=0.5, show_default=True, help="Colour weight in the overlay, 0..1.")
@click.option("--fps", "video_fps", type=FiniteFloat(min=0.0, min_open=True), default=None, help="Frame rate of overlay.mp4 [default: the source's, else 30].")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="auto: by suffix (.onnx ONNX Runtime, .engine/.plan TensorRT, .xml OpenVINO); openvino runs .onnx too.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--threads", type=int, default=None, help="ONNX Runtime intra-op threads, OpenVINO inference threads.")
@click.option("--precision", type=click.Choice(OPENVINO_PRECISIONS), default=None, help=PRECISION_HELP)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def stream(model, source_spec, out_dir, video, label_pngs, labels_bag, labels_topic, show, json_path, drop, queue_size,
           max_frames, alpha, video_fps, backend, device, threads, precision, no_progress):
    """Segment frames from --source with MODEL, capture to labels in overlapping threads.

    Prints the throughput and per-stage latency (median, p90, p99) at the end.
    Recordings, bags and folders are processed frame by frame, in order;
    a live camera drops stale frames (see --drop).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"--alpha must lie in [0, 1], got {alpha}")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames must be at least 1, got {max_frames}")
    if video_fps is not None:
        check_fps(video_fps, "--fps")  # before the model loads, not at the first frame
    check_topic_name(labels_topic, "--labels-topic", absolute=True)  # a bag stores full names
    if json_path is not None:
        check_writable(json_path)
    if out_dir is not None:
        check_writable(out_dir / "labels" / "x.png" if label_pngs else out_dir / "overlay.mp4")
    window = None
    if show:
        window = Window(f"acnet stream {source_spec}")
    want_overlay = show or (out_dir is not None and video)
    writers = []
    bar = None
    bag = video_writer = None
    # The source and outputs first: a wrong topic or an existing bag is reported before a model loads.
    with open_source(source_spec) as source:
        if labels_bag is not None:
            bag = LabelBagWriter(labels_bag, labels_topic)
            writers.append(bag)
        try:
            seg = Segmenter(model, backend=backend, device=device, threads=threads, precision=precision)
        except BaseException:
            if bag is not None:
                bag.close(keep=False)
            raise
        described, input_size = seg.backend.describe(), list(seg.input_size)
        try:
            pipeline = Pipeline(seg, source, queue_size=queue_size, drop=None if drop == "auto" else drop,
                                overlay=alpha if want_overlay else None)
            bar = tqdm(total=len(source) if hasattr(source, "__len__") else max_frames, unit="frame", desc="stream",
                       disable=True if no_progress else None)  # None: only on a terminal
            count = 0
            for result in pipeline:
                name = result.frame.name
                if out_dir is not None and label_pngs:
                    write_png(out_dir / "labels" / f"{name}.png", result.labels)
                if out_dir is not None and video:
                    if video_writer is None:
                        fps = video_fps if video_fps is not None else getattr(source, "fps", None) or 30.0
                        video_writer = VideoWriter(out_dir / "overlay.mp4", fps=fps)
                        writers.append(video_writer)
                    video_writer.write(result.overlay)
                if bag is not None:
                    bag.write(result.frame, result.labels)
                if window is not None and not window.show(result.overlay):
                    break
                count += 1
                bar.update(1)
                if max_frames is not None and count >= max_frames:
                    break
            bar.close()
            for w in writers:
                w.close()
        except (InputError, DataError) as exc:  # a damaged recording or frame: what came before it is whole
            if bar is not None:
                bar.close()
            raise _kept_frames(exc, count, writers, out_dir if label_pngs else None) from None
        except BaseException:
            if bar is not None:
                bar.close()
            for w in writers:
                w.close(keep=False)
            raise
        finally:
            seg.close()
            if window is not None:
                window.close()
    stats = pipeline.stats()
    click.echo(stats.summary())
    if out_dir is not None:
        click.echo(f"wrote {'label PNGs to ' + str(out_dir / 'labels') if label_pngs else ''}"
                   f"{' and ' if label_pngs and video else ''}{'overlay.mp4' if video else ''} in {out_dir}")
    if bag is not None:
        click.echo(f"wrote {bag.count} label image(s) on {labels_topic} to {labels_bag}")
    if json_path is not None:
        record = {
            "model": str(model),
            "source": source_spec,
            "drop": pipeline.drop,
            "queue_size": queue_size,
            "overlay": want_overlay,
            "input_size": input_size,
            "backend": described,
            **stats.to_dict(),
            "environment": {"load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        }
        atomic_write_text(json_path, json.dumps(record, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


def _kept_frames(exc: BaseException, count: int, writers: list, out_dir: Path | None) -> BaseException:
    """``exc`` (bad input at frame ``count``) after finishing the outputs with the frames before it.

    The label PNGs, the overlay video and the label bag then hold the same
    frames, each whole; the error line says where they are. An output that
    cannot be finished is removed.
    """
    if not count:
        for w in writers:
            w.close(keep=False)
        return exc
    kept = [str(out_dir / "labels")] if out_dir is not None else []
    for w in writers:
        try:
            w.close()
            kept.append(str(w.path))
        except Exception:  # noqa: BLE001 - the input's error is the one to report; this output is gone
            w.close(keep=False)
    if not kept:
        return exc
    return type(exc)(f"{exc}; the {count} frame(s) before it are in {', '.join(kept)}")
