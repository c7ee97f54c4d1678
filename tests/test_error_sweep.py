"""The error sweep: bad input to every ``acnet`` command, one row each, run as users meet it.

Each CLI case is a real process of the installed command (tests/support/installed.py),
default logging and workers, the whole of stderr: it must end in exactly one
``acnet: error: ...`` line holding every fragment, exit code 2, and (where the
row says) keep a previous file, leave no new file in a folder, or write
nothing at a path. API cases call the library in-process and must raise the
row's :mod:`acnet.errors` class with every fragment in its message.

Adding cases: a command's rows are one function below (``_train``, ``_stream``,
...) listed in ``COMMANDS``; a new command (``acnet ros2``, ``export onnx --io
camera``) adds its function there. ``argv`` is split like a shell line, then
each word is formatted with ``{W}`` (the work folder, see
tests/support/error_sweep_files.py for what is in it), ``{ck}``, ``{onnx}``, ``{NYU}`` and
``{SUN}``. Rows that check a file (``keep``, ``no_new_files``, ``absent``) or
need the tmpfs mounts run one at a time; the rest run ``ACNET_SWEEP_JOBS``
(default 3, with the one-at-a-time rows) at a time, since most of a case is the
process starting.

History. The sweep began as benchmarks/results/error_sweep.py: 574 cases (461
CLI, 113 API), 632 s by hand (benchmarks/results/error-sweep.jsonl holds that
run; the script is in the history at a53d0ce). Here it keeps one case per
distinct code path. Left out, and why:

- ``acnet ros2``: its bad input at start (model, parameters, topic names,
  ``--ros-args``, no rclpy) is tests/test_ros2.py's
  test_bad_model_parameter_or_topic_at_start_is_one_error_line and
  test_without_rclpy_the_error_names_both_ways, the same installed-command
  check, because every process that may start DDS runs in a private network
  namespace there; bad messages never stop the node and are counted instead.

- Exact repeats of tests/test_error_promise.py (same command, same failure):
  acnet/misspelt-command; train/config-model-not-mapping-yaml,
  config-lr-list-yaml, focal-gamma-negative, label-above-class-count-workers,
  out-under-a-file, dump-config-under-a-file, out-full-disk,
  class-weights-negative, class-weights-nan, class-weights-not-json,
  resume-from-truncated; eval/class-count-mismatch,
  label-above-class-count(-2-workers), save-vis-under-a-file, checkpoint-is-onnx;
  parity/reference-device-tpu9, reference-device-cuda;
  export-onnx/output-full-disk-keeps-previous; export-trt's option checks
  (test_export_trt_refuses_meaningless_options...); infer/rgb-empty-file,
  rgb-decompression-bomb, depth-empty-npy, depth-1e38, depth-scale-zero,
  depth-scale-inf, output-read-only; the read_rgb/read_depth API rows.
- Same code path as a row kept: the 28 train config files and 37 train flags
  all reach TrainConfig's checks: 4 files (YAML, JSON, binary, missing) and 2
  flags stay CLI rows; the values are in-process ``TrainConfig`` rows below.
  The 17 eval checkpoint files all go through load_checkpoint/load_model: 4 stay
  CLI rows (missing, pickled code, weights that do not fit, a folder); each
  file's message is an in-process ``load_checkpoint`` row. Checkpoint files
  given to export onnx/aoti, bench, parity and train --pretrained/--resume-from:
  the same loader and sniffing (dropped there, except the pretrained loader's
  "not a ResNet state dict" and resume's "other architecture"). Dataset
  problems in eval, parity and train: the same readers as data stats' rows
  (kept there; train keeps one in a data-loader worker). Devices: one unknown
  and/or one missing-GPU row per resolver (train, eval, infer, bench, parity,
  aoti). Unwritable outputs: one row per helper (check_writable, make_dir, an
  atomic write) per family of command, not one per option (model summary's and
  eval's --json/--save-vis, bench/parity --cache-dir, capi/quickstart
  read-only dirs but one). Readers in infer: one row per reader branch the API
  rows do not reach (object, complex, bool, int32, 3-channel .npy, empty png,
  text png: test_read_depth_raises_input_error). Repeated value rows of one
  click type (stream --queue-size -3, --alpha 2, --fps -5/nan, --threads -2,
  bench --duration inf, --cpu-clock-ghz nan, parity --fp32-agreement nan).
  parity --fp16-onnx given an FP32 model: the same check as --int8-onnx
  (both in tests/test_parity.py).

Added for issue 21: camera-native models (``--io camera``): export options that do not
go together, a checkpoint without normalisation, and frames of another size,
depth type or depth scale than the model's camera (hand-built models with a
camera-native model's I/O, tests/support/error_sweep_files.py).

Added for issue 25: damaged bags and RealSense recordings, the labels bag's
topic, a symlink loop and a device as --rgb, parity and bench given another
network or a model of another precision, and the Python API's untyped errors.
The streaming cases' richer checks (the frames before the damage are whole, a
full disk leaves nothing behind) are in tests/test_stream_errors.py.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.installed import run_acnet

from acnet import errors
from acnet.benchmarks.environment import cpu_info

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PREFIX = "acnet: error: "


@dataclass(frozen=True)
class Case:
    """One bad input to the installed command."""

    name: str
    argv: tuple[str, ...]
    fragments: tuple[str, ...]
    #: Files whose content before the run must be there, unchanged, afterwards.
    keep: tuple[str, ...] = ()
    #: Folders that must hold no new file afterwards.
    no_new_files: tuple[str, ...] = ()
    #: Paths that must not exist afterwards.
    absent: tuple[str, ...] = ()
    #: "mount" (the read-only and full tmpfs), "rosbags", "pyrealsense2" or "shared" (../shared/data).
    needs: str = ""
    timeout: float = 300.0

    @property
    def serial(self) -> bool:
        return bool(self.keep or self.no_new_files or self.absent or self.needs == "mount")


def _cli(cases: list[Case], command: str, name: str, argv: str, *fragments: str, **kw) -> None:
    cases.append(Case(f"{command.replace(' ', '-')}/{name}", tuple(shlex.split(argv)), fragments,
                      **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in kw.items()}))


# ----------------------------------------------------------------------------- the table, per command


def _usage(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "acnet", *a, **k)  # noqa: E731
    cli("unknown-command", "frobnicate", "no such command 'frobnicate'")
    cli("unknown-global-option", "--bogus eval", "--bogus")
    cli("unknown-option", "eval {ck} --bogus-flag", "--bogus-flag")
    cli("export-unknown-target", "export tflite {ck}", "tflite")
    cli("data-unknown-subcommand", "data statz synthetic", "statz")
    cli("model-unknown-subcommand", "model sumary", "sumary")
    cli("capi-unknown-subcommand", "capi biuld", "biuld")
    cli("missing-option-value", "eval {ck} --data", "--data")
    cli("extra-argument", "eval {ck} {ck}", "{ck}")


def _model_summary(c: list[Case]) -> None:
    ms = "model summary --backbone resnet18 --width-mult 0.25 --height 64 --width 64 --classes 9"
    cli = lambda *a, **k: _cli(c, "model summary", *a, **k)  # noqa: E731
    cli("backbone-unknown", "model summary --backbone resnet7", "--backbone", "resnet7")
    cli("classes-zero", f"{ms} --classes 0", "--classes")
    cli("classes-256", f"{ms} --classes 256", "--classes")
    cli("width-mult-zero", f"{ms} --width-mult 0", "--width-mult")
    cli("width-mult-1.5", f"{ms} --width-mult 1.5", "--width-mult")
    cli("width-mult-nan", f"{ms} --width-mult nan", "--width-mult")
    cli("height-zero", f"{ms} --height 0", "--height")
    cli("width-negative", f"{ms} --width -64", "--width")
    cli("fusion-unknown", f"{ms} --fusion late", "--fusion", "late")
    cli("json-is-a-folder", f"{ms} --json {{W}}/img", "--json", "{W}/img")


def _data_stats(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "data stats", *a, **k)  # noqa: E731
    ds = "data stats"
    good = "folder:{W}/ds/good"
    cli("unknown-spec", f"{ds} bogus:thing", "bogus:thing")
    cli("empty-spec", f"{ds} ''", "empty dataset spec")
    cli("bare-missing-path", f"{ds} {{W}}/nope", "{W}/nope")
    cli("folder-missing", f"{ds} folder:{{W}}/nope", "{W}/nope")
    cli("folder-is-a-file", f"{ds} folder:{{W}}/afile", "{W}/afile")
    cli("folder-no-path", f"{ds} folder:", "folder")
    cli("folder-unknown-option", f"{ds} '{good}?colour=1'", "colour")
    cli("folder-split-missing", f"{ds} {good} --split val", "'val'")
    for value in ("nan", "0", "-1", "inf"):
        cli(f"folder-depth-scale-{value}", f"{ds} '{good}?depth_scale={value}'", "depth_scale")
    cli("folder-depth-scale-text", f"{ds} '{good}?depth_scale=mm'", "depth_scale", "'mm'")
    cli("folder-depth-format-unknown", f"{ds} '{good}?depth_format=kinect'", "kinect")
    cli("folder-labels-dir-missing", f"{ds} '{good}?labels=semantic_99'", "semantic_99")
    cli("label-above-class-count", f"{ds} folder:{{W}}/ds/badlabel", "f3.png", "label 20")
    cli("negative-label-npy", f"{ds} folder:{{W}}/ds/neglabel", "f1.npy", "-1")
    cli("label-image-is-rgb", f"{ds} folder:{{W}}/ds/rgblabel", "f0.png")
    cli("label-path-is-a-folder", f"{ds} folder:{{W}}/ds/labelfolder", "f0.png", "folder")
    cli("missing-depth-file", f"{ds} folder:{{W}}/ds/missingdepth", "f2.png", "depth")
    cli("depth-size-mismatch", f"{ds} folder:{{W}}/ds/sizemismatch", "f1")
    cli("corrupt-rgb", f"{ds} folder:{{W}}/ds/corruptrgb", "f1.png", "not a readable image")
    cli("nan-depth-npy", f"{ds} folder:{{W}}/ds/nandepth", "f1.npy", "NaN")
    cli("empty-split", f"{ds} folder:{{W}}/ds/emptysplit", "contains no images")
    cli("no-label-folder", f"{ds} folder:{{W}}/ds/nolabels", "label folder")
    cli("class-names-not-utf8", f"{ds} folder:{{W}}/ds/badnames", "class_names.txt")
    cli("class-names-json-garbage", f"{ds} folder:{{W}}/ds/badnamesjson", "class_names.json")
    cli("normalization-json-garbage", f"{ds} folder:{{W}}/ds/badnorm", "normalization.json")
    cli("normalization-json-zero-std", f"{ds} folder:{{W}}/ds/zeronorm", "normalization.json")
    cli("real-nyuv2-samples-no-train-split", f"{ds} folder:{{NYU}}", "'train'", needs="shared")
    cli("sunrgbd-sample-not-prepared", f"{ds} folder:{{SUN}}", "{SUN}", needs="shared")
    cli("synthetic-zero-frames", f"{ds} synthetic:0", "frame count", "0")
    cli("synthetic-negative-frames", f"{ds} synthetic:-3", "-3")
    cli("synthetic-frames-text", f"{ds} synthetic:many", "many")
    cli("synthetic-size-zero", f"{ds} 'synthetic:2?size=0x0'", "0x0")
    cli("synthetic-size-garbage", f"{ds} 'synthetic:2?size=big'", "size", "'big'")
    cli("synthetic-seed-text", f"{ds} 'synthetic:2?seed=abc'", "seed", "'abc'")
    cli("synthetic-unknown-option", f"{ds} 'synthetic:2?colour=red'", "colour")
    cli("synthetic-split-unknown", f"{ds} 'synthetic:2?size=64x64' --split dev", "'dev'")
    cli("nyuv2-mat-missing", f"{ds} nyuv2-mat:{{W}}/nope.mat", "nope.mat")
    cli("nyuv2-mat-text-file", f"{ds} nyuv2-mat:{{W}}/bad/text.mat", "text.mat")
    cli("nyuv2-mat-empty-hdf5", f"{ds} nyuv2-mat:{{W}}/bad/empty.mat", "empty.mat")
    cli("nyuv2-mat-split-unknown", f"{ds} 'nyuv2-mat:{{W}}/bad/empty.mat?split=val'", "val")
    cli("max-frames-zero", f"{ds} 'synthetic:2?size=64x64' --max-frames 0", "--max-frames")
    cli("json-under-a-file", f"{ds} 'synthetic:2?size=64x64' --json {{W}}/afile/n.json", "{W}/afile")
    cli("json-is-a-folder", f"{ds} 'synthetic:2?size=64x64' --json {{W}}/img", "{W}/img")
    cli("json-read-only", f"{ds} 'synthetic:2?size=64x64' --json {{W}}/ro/n.json", "{W}/ro", "read-only", needs="mount")
    cli("json-full-disk-keeps-previous", f"{ds} 'synthetic:2?size=64x64' --json {{W}}/full/prev.json", "no space left",
        keep=["{W}/full/prev.json"], no_new_files=["{W}/full"], needs="mount")


def _train(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "train", *a, **k)  # noqa: E731
    tiny = "--backbone resnet18 --width-mult 0.25 --height 64 --width 64"
    run = f"train {tiny} --epochs 1 --batch-size 2 --max-steps 1 --val-data none --no-progress"
    dump = f"train {tiny} --dump-config {{W}}/dumped.yaml"
    syn = "'synthetic:4?size=64x64'"
    for name, frags in [("not-yaml.yaml", ("not-yaml.yaml", "not valid YAML")),
                        ("binary.yaml", ("binary.yaml",)),
                        ("bad.json", ("bad.json", "not valid JSON"))]:
        cli(f"config-{name.replace('.', '-')}", f"train --config {{W}}/cfg/{name} --dump-config {{W}}/dumped.yaml",
            *frags, absent=["{W}/dumped.yaml"])
    cli("config-missing", "train --config {W}/cfg/nope.yaml", "nope.yaml")
    cli("flag--height=33", f"{dump} --height 33", "height", "33", absent=["{W}/dumped.yaml"])
    cli("flag--data=bogus", f"{dump} --data bogus:thing", "bogus:thing", absent=["{W}/dumped.yaml"])
    cli("device-tpu9", f"{run} --data {syn} --device tpu9 --out {{W}}/runs/tpu", "tpu9")
    cli("data-folder-missing", f"{run} --data folder:{{W}}/nope --out {{W}}/runs/x", "{W}/nope")
    cli("corrupt-rgb-in-worker", f"{run} --data folder:{{W}}/ds/corruptrgb --batch-size 4 --out {{W}}/runs/corrupt",
        "f1.png")
    cli("val-data-other-class-count", f"{run} --data folder:{{W}}/ds/good --val-data folder:{{W}}/ds/twelve "
        f"--out {{W}}/runs/val12", "12", "9")
    cli("classes-below-labels", f"{run} --data folder:{{W}}/ds/good --classes 3 --out {{W}}/runs/few", "3")
    cli("class-weights-wrong-length", f"{run} --data {syn} --class-weights {{W}}/bad/cw_short.json --out {{W}}/runs/cw3",
        "cw_short.json", "2")
    cli("normalization-zero-std", f"{run} --data {syn} --normalization {{W}}/bad/norm_zero_std.json "
        f"--out {{W}}/runs/n3", "norm_zero_std.json")
    cli("pretrained-is-an-acnet-checkpoint", f"{run} --data {syn} --pretrained {{ck}} --out {{W}}/runs/p3", "{ck}")
    cli("resume-from-other-architecture", f"train --backbone resnet34 --width-mult 0.25 --height 64 --width 64 "
        f"--epochs 2 --batch-size 2 --val-data none --no-progress --data {syn} --resume-from {{ck}} "
        f"--out {{W}}/runs/r4", "{ck}")
    cli("out-is-a-file", f"{run} --data {syn} --out {{W}}/afile", "{W}/afile")


def _eval(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "eval", *a, **k)  # noqa: E731
    cli("checkpoint-missing", "eval {W}/nope.pt", "nope.pt", "not found")
    cli("checkpoint-pickled-code", "eval {W}/bad/pickle.pt", "pickle.pt", "arbitrary Python objects")
    cli("checkpoint-weights-do-not-fit", "eval {W}/bad/wrongarch.pt", "wrongarch.pt", "does not fit")
    cli("checkpoint-is-a-folder", "eval {W}/img", "{W}/img")
    cli("device-tpu9", "eval {ck} --device tpu9", "tpu9")
    cli("device-cuda-without-gpu", "eval {ck} --device cuda", "cuda")
    cli("batch-size-zero", "eval {ck} --batch-size 0", "--batch-size")


def _export(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "export onnx", *a, **k)  # noqa: E731
    out = "{W}/exp/m.onnx"
    syn = "'synthetic:4?size=64x64'"
    eo = f"export onnx {{ck}} -o {out}"
    cli("checkpoint-nan-weights", f"export onnx {{W}}/bad/nanweights.pt -o {out}", "nanweights.pt", absent=[out])
    cli("height-not-multiple-of-32", f"{eo} --height 33", "--height", "33", absent=[out])
    cli("width-zero", f"{eo} --width 0", "--width", absent=[out])
    cli("batch-zero", f"{eo} --batch 0", "--batch", absent=[out])
    cli("batch-and-dynamic-batch", f"{eo} --batch 2 --dynamic-batch", "--batch", "--dynamic-batch", absent=[out])
    cli("opset-5", f"{eo} --opset 5", "opset", "5", absent=[out])
    cli("opset-99", f"{eo} --opset 99", "opset", "99", absent=[out])
    cli("fp16-and-int8", f"{eo} --fp16 --int8 --calib-data {syn}", "--int8", "--fp16", absent=[out])
    cli("int8-without-calib-data", f"{eo} --int8", "--calib-data", absent=[out])
    cli("calib-data-without-int8", f"{eo} --calib-data {syn}", "--int8", absent=[out])
    cli("int8-calib-frames-zero", f"{eo} --int8 --calib-data {syn} --calib-frames 0", "--calib-frames", absent=[out])
    cli("int8-calib-method-unknown", f"{eo} --int8 --calib-data {syn} --calib-method mse", "--calib-method", "mse",
        absent=[out])
    cli("int8-target-unknown", f"{eo} --int8 --calib-data {syn} --int8-target gpu", "--int8-target", "gpu", absent=[out])
    cli("int8-calib-method-for-nncf", f"{eo} --int8 --calib-data {syn} --int8-target nncf --calib-method entropy",
        "--calib-method entropy is ONNX Runtime's", "NNCF", absent=[out])
    cli("int8-agreement-150", f"{eo} --int8 --calib-data {syn} --int8-agreement 150", "--int8-agreement", absent=[out])
    cli("int8-agreement-nan", f"{eo} --int8 --calib-data {syn} --int8-agreement nan", "--int8-agreement", absent=[out])
    cli("int8-exclude-unknown-module", f"{eo} --int8 --calib-data {syn} --int8-exclude decoder.deconv9",
        "decoder.deconv9", absent=[out])
    cli("int8-calib-all-blank-frames", f"{eo} --int8 --calib-data folder:{{W}}/ds/blank --calib-frames 4", "blank",
        absent=[out])
    cli("output-under-a-file", "export onnx {ck} -o {W}/afile/m.onnx", "{W}/afile")
    cli("output-is-a-folder", "export onnx {ck} -o {W}/img", "{W}/img")
    cli("output-is-the-checkpoint", "export onnx {W}/ckpt_copy.pt -o {W}/ckpt_copy.pt", "ckpt_copy.pt",
        keep=["{W}/ckpt_copy.pt"])
    cli("output-name-too-long", f"export onnx {{ck}} -o {{W}}/{'x' * 300}/m.onnx", "too long")
    cli("output-read-only", "export onnx {ck} -o {W}/ro/m.onnx", "{W}/ro", "read-only", needs="mount")
    cli("failed-int8-keeps-previous", "export onnx {ck} -o {W}/exp/prev.onnx --int8 --calib-data folder:{W}/nope",
        "{W}/nope", keep=["{W}/exp/prev.onnx"], no_new_files=["{W}/exp"])
    cam = f"{eo} --io camera"
    cli("camera-checkpoint-without-normalisation", f"export onnx {{W}}/bad/missingkeys.pt -o {out} --io camera",
        "normalization", "--io camera puts the checkpoint's normalisation into the graph", absent=[out])
    cli("camera-size-without-io-camera", f"{eo} --camera-size 480x640", "--camera-size", "--io camera", absent=[out])
    cli("camera-depth-scale-without-io-camera", f"{eo} --depth-scale 0.001", "--depth-scale", absent=[out])
    cli("camera-size-garbage", f"{cam} --camera-size 480by640", "--camera-size", "480by640", absent=[out])
    cli("camera-size-zero", f"{cam} --camera-size 0x640", "--camera-size", absent=[out])
    cli("camera-and-argmax", f"{cam} --argmax", "--argmax and --io camera", absent=[out])
    cli("camera-and-dynamic-hw", f"{cam} --dynamic-hw", "--dynamic-hw and --io camera", absent=[out])
    cli("camera-float32-depth-with-scale", f"{cam} --camera-depth float32 --depth-scale 0.001", "float32 camera depth is metres",
        absent=[out])
    cli("camera-depth-scale-beyond-any-sensor", f"{cam} --depth-scale 1", "beyond any sensor", absent=[out])

    trt = lambda *a, **k: _cli(c, "export trt", *a, **k)  # noqa: E731
    eng = "{W}/exp/m.engine"
    trt("onnx-missing", f"export trt {{W}}/nope.onnx -o {eng}", "nope.onnx")
    trt("onnx-empty", f"export trt {{W}}/bad/empty.onnx -o {eng}", "empty.onnx")
    trt("onnx-truncated", f"export trt {{W}}/bad/trunc.onnx -o {eng}", "trunc.onnx")
    trt("onnx-is-a-checkpoint", f"export trt {{ck}} -o {eng}", "{ck}")
    trt("output-under-a-file", "export trt {onnx} -o {W}/afile/m.engine", "{W}/afile")
    trt("sidecar-only-engine-missing", "export trt {onnx} -o {W}/exp/nope.engine --sidecar-only", "nope.engine")
    trt("no-tensorrt-installed", f"export trt {{onnx}} -o {eng}", "tensorrt", absent=[eng])

    aoti = lambda *a, **k: _cli(c, "export aoti", *a, **k)  # noqa: E731
    pt2 = "{W}/exp/m.pt2"
    aoti("device-tpu9", f"export aoti {{ck}} -o {pt2} --device tpu9", "--device", "tpu9")
    aoti("device-cuda-without-gpu", f"export aoti {{ck}} -o {pt2} --device cuda", "cuda")
    aoti("fp16-on-cpu", f"export aoti {{ck}} -o {pt2} --fp16", "--fp16")
    aoti("output-not-pt2", "export aoti {ck} -o {W}/exp/m.onnx", "m.onnx", ".pt2")
    aoti("batch-zero", f"export aoti {{ck}} -o {pt2} --batch 0", "--batch")
    aoti("batch-2000", f"export aoti {{ck}} -o {pt2} --batch 2000", "--batch")
    aoti("batch-and-dynamic-batch", f"export aoti {{ck}} -o {pt2} --batch 2 --dynamic-batch", "--dynamic-batch")
    aoti("height-not-multiple-of-32", f"export aoti {{ck}} -o {pt2} --height 40", "--height", "40")
    aoti("output-under-a-file", "export aoti {ck} -o {W}/afile/m.pt2", "{W}/afile")
    aoti("camera-size-without-io-camera", f"export aoti {{ck}} -o {pt2} --camera-size 480x640", "--camera-size")


def _infer(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "infer", *a, **k)  # noqa: E731
    pair = "--rgb {W}/img/rgb.png --depth {W}/img/depth.png -o {W}/infer-out"
    inf = lambda model, rest="": f"infer {model} {rest or pair}"  # noqa: E731
    with_depth = lambda d: f"--rgb {{W}}/img/rgb.png --depth {d} -o {{W}}/infer-out"  # noqa: E731
    with_rgb = lambda r: f"--rgb {r} --depth {{W}}/img/depth.png -o {{W}}/infer-out"  # noqa: E731
    cli("model-missing", inf("{W}/nope.onnx"), "nope.onnx")
    cli("model-is-a-folder", inf("{W}/img"), "{W}/img")
    cli("model-empty", inf("{W}/bad/empty.onnx"), "empty.onnx")
    cli("model-truncated", inf("{W}/bad/trunc.onnx"), "trunc.onnx")
    cli("model-text", inf("{W}/bad/text.onnx"), "text.onnx")
    cli("model-is-a-checkpoint", inf("{ck}"), "{ck}")
    cli("model-foreign-onnx", inf("{W}/foreign.onnx"), "foreign.onnx", "metadata")
    cli("model-malformed-metadata", inf("{W}/badmeta.onnx"), "badmeta.onnx")
    cli("model-classes-differ-from-metadata", inf("{W}/mismatch.onnx"), "mismatch.onnx")
    cli("model-symlink-loop", inf("{W}/bad/loop.onnx"), "loop.onnx", "symlink loop")
    cli("engine-without-sidecar", inf("{W}/bad/fake.engine"), "tensorrt")
    cli("rgb-missing", inf("{onnx}", with_rgb("{W}/nope.png")), "nope.png")
    cli("rgb-symlink-loop", inf("{onnx}", with_rgb("{W}/bad/loop.png")), "loop.png", "a symlink loop")
    cli("rgb-is-a-device", inf("{onnx}", with_rgb("/dev/null")), "RGB /dev/null is a character device")
    cli("rgb-text-file", inf("{onnx}", with_rgb("{W}/bad/text.png")), "text.png")
    cli("rgb-truncated-png", inf("{onnx}", with_rgb("{W}/bad/trunc.png")), "trunc.png")
    cli("rgb-is-16-bit-depth", inf("{onnx}", with_rgb("{W}/img/depth.png")), "depth.png")
    cli("rgb-is-a-folder-named-png", inf("{onnx}", with_rgb("{W}/bad/folder.png")), "folder.png")
    cli("depth-missing", inf("{onnx}", with_depth("{W}/nope.png")), "nope.png")
    cli("depth-8-bit", inf("{onnx}", with_depth("{W}/bad/grey8.png")), "grey8.png", "8-bit")
    cli("depth-is-rgb-image", inf("{onnx}", with_depth("{W}/img/rgb.png")), "rgb.png")
    cli("depth-nan", inf("{onnx}", with_depth("{W}/bad/nan.npy")), "nan.npy", "NaN")
    cli("depth-npz", inf("{onnx}", with_depth("{W}/bad/arrays.npy")), "arrays.npy")
    cli("depth-zero-size", inf("{onnx}", with_depth("{W}/bad/zerosize.npy")), "zerosize.npy")
    cli("depth-size-mismatch", inf("{onnx}", with_depth("{W}/img/depth_small.png")), "depth_small.png")
    cli("real-nyuv2-rgb-with-small-depth", inf("{onnx}", "--rgb {NYU}/test/rgb/0001.png --depth "
                                               "{W}/img/depth_small.png -o {W}/infer-out"), "depth_small.png", needs="shared")
    cli("rgb-folder-depth-folder-no-match", inf("{onnx}", "--rgb {W}/in/rgb --depth {W}/in/depth_other -o {W}/io"), "f0")
    cli("rgb-folder-empty", inf("{onnx}", "--rgb {W}/in/empty --depth {W}/in/depth -o {W}/io"), "{W}/in/empty")
    cli("rgb-glob-no-match", inf("{onnx}", "--rgb '{W}/in/rgb/*.jpg' --depth {W}/in/depth -o {W}/io"), "*.jpg")
    cli("depth-folder-two-files-per-frame", inf("{onnx}", "--rgb {W}/in/rgb --depth {W}/in/depth_dupe -o {W}/io"), "f0")
    cli("output-name-too-long", inf("{onnx}", f"--rgb {{W}}/img/rgb.png --depth {{W}}/img/depth.png -o {{W}}/{'x' * 300}"),
        "too long")
    cli("second-frame-corrupt", inf("{onnx}", "--rgb {W}/in/rgb_bad --depth {W}/in/depth -o {W}/io"), "f1.png")
    cli("depth-scale-negative", inf("{onnx}", f"{pair} --depth-scale -0.001"), "--depth-scale")
    cli("depth-scale-text", inf("{onnx}", f"{pair} --depth-scale mm"), "--depth-scale")
    cli("depth-scale-1-on-mm-depth", inf("{onnx}", f"{pair} --depth-scale 1"), "beyond any sensor")
    cli("alpha-2", inf("{onnx}", f"{pair} --alpha 2"), "--alpha")
    cli("alpha-nan", inf("{onnx}", f"{pair} --alpha nan"), "--alpha")
    cli("threads-zero", inf("{onnx}", f"{pair} --threads 0"), "--threads")
    cli("batch-size-zero", inf("{onnx}", f"{pair} --batch-size 0"), "--batch-size")
    cli("backend-tensorrt-for-onnx", inf("{onnx}", f"{pair} --backend tensorrt"), "model.onnx", "TensorRT backend")
    cli("device-tpu9", inf("{onnx}", f"{pair} --device tpu9"), "tpu9")
    cli("device-cuda-without-gpu", inf("{onnx}", f"{pair} --device cuda"), "cuda")
    # Camera-native models (64x64 camera): frames the model was not exported for.
    cli("camera-frame-of-another-size", inf("{W}/camera.onnx", "--rgb {W}/big/rgb.png --depth {W}/big/depth.png -o {W}/io"),
        "takes 64x64 frames, got a 96x128 frame", "--camera-size 96x128")
    cli("camera-uint16-depth-where-metres-are-expected", inf("{W}/camera_metres.onnx"),
        "depth is uint16 but this camera-native model takes float32 metres")
    cli("camera-metres-where-uint16-is-expected", inf("{W}/camera.onnx", with_depth("{W}/bad/metres.npy")),
        "depth is float32 but this camera-native model takes uint16 depth")
    cli("camera-depth-scale-of-another-sensor", inf("{W}/camera.onnx", f"{pair} --depth-scale 0.0001"),
        "exported for 0.001 m per unit", "--depth-scale 0.0001")
    cli("device-cuda-x", inf("{onnx}", f"{pair} --device cuda:x"), "cuda:x")
    cli("output-under-a-file", inf("{onnx}", "--rgb {W}/img/rgb.png --depth {W}/img/depth.png -o {W}/afile/sub"),
        "{W}/afile")
    cli("output-is-a-file", inf("{onnx}", "--rgb {W}/img/rgb.png --depth {W}/img/depth.png -o {W}/afile"), "{W}/afile")
    cli("output-full-disk", inf("{onnx}", "--rgb {W}/img/rgb.png --depth {W}/img/depth.png -o {W}/full/out"),
        "no space left", no_new_files=["{W}/full"], needs="mount")
    ov = f"{pair} --backend openvino"
    cli("openvino-model-empty", inf("{W}/bad/empty.onnx", ov), "empty.onnx", "the file is empty")
    cli("openvino-model-truncated", inf("{W}/bad/trunc.onnx", ov), "trunc.onnx", "not a usable ONNX model")
    cli("openvino-model-text", inf("{W}/bad/text.onnx", ov), "text.onnx", "not a usable ONNX model")
    cli("openvino-ir-without-bin", inf("{W}/bad/nobin.xml"), "nobin.xml", "nobin.bin are not beside it")
    cli("openvino-ir-text", inf("{W}/bad/text.xml"), "text.xml", "not a usable OpenVINO IR model")
    cli("openvino-ir-to-onnxruntime", inf("{W}/bad/text.xml", f"{pair} --backend onnxruntime"), "is OpenVINO IR")
    cli("openvino-foreign-onnx", inf("{W}/foreign.onnx", ov), "foreign.onnx", "no acnet metadata")
    cli("openvino-classes-differ-from-metadata", inf("{W}/mismatch.onnx", ov), "7 classes but its metadata lists 5")
    cli("openvino-input-size-differs-from-metadata", inf("{W}/wrongsize.onnx", ov), "wrongsize.onnx",
        "but its metadata says")
    cli("openvino-device-cuda", inf("{onnx}", f"{ov} --device cuda"), "unknown device 'cuda'; use cpu, gpu or gpu:N")
    cli("openvino-device-gpu-absent", inf("{onnx}", f"{ov} --device gpu:7"), "OpenVINO sees no GPU.7")
    cli("openvino-precision-fp16", inf("{onnx}", f"{ov} --precision fp16"), "--precision", "fp16")
    cli("precision-on-onnxruntime", inf("{onnx}", f"{pair} --precision bf16"), "precision only applies to the OpenVINO")
    if not {"avx512_bf16", "amx_bf16"} & set(cpu_info().flags):  # this CPU computes no bf16 (the Zen 3 CI machine)
        cli("openvino-bf16-on-a-cpu-without-it", inf("{onnx}", f"{ov} --precision bf16"), "bf16 needs a CPU with "
            "AVX512-BF16 or AMX; OpenVINO reports that this CPU", "FP32")


def _stream(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "stream", *a, **k)  # noqa: E731
    src = "--source folder:{W}/st/good --no-progress"
    st = lambda rest: f"stream {{onnx}} {rest} --no-progress"  # noqa: E731
    cli("model-missing", f"stream {{W}}/nope.onnx {src} -o {{W}}/so", "nope.onnx")
    cli("model-is-a-checkpoint", f"stream {{ck}} {src} -o {{W}}/so", "{ck}")
    cli("source-missing-option", "stream {onnx}", "--source")
    cli("source-unknown-kind", st("--source webcam:0"), "webcam:0")
    cli("source-empty", st("--source ''"), "source")
    cli("source-folder-missing", st("--source folder:{W}/nope"), "{W}/nope")
    cli("source-folder-empty", st("--source folder:{W}/st/empty"), "{W}/st/empty")
    cli("source-folder-split-missing", st("--source 'folder:{W}/st/good?split=val'"), "val")
    cli("source-folder-unknown-option", st("--source 'folder:{W}/st/good?fps=5'"), "fps")
    cli("source-folder-depth-scale-nan", st("--source 'folder:{W}/st/good?depth_scale=nan'"), "depth_scale")
    cli("source-glob-without-depth", st("--source 'glob:{W}/st/good/rgb/*.png'"), "depth")
    cli("source-glob-no-match", st("--source 'glob:{W}/st/good/rgb/*.jpg?depth={W}/st/good/depth/*.png'"), "*.jpg")
    cli("source-rosbag-missing", st("--source 'rosbag:{W}/nope.bag?rgb=/c&depth=/d'"), "nope.bag")
    cli("source-rosbag-text-file", st("--source 'rosbag:{W}/bad/text.bag?rgb=/c&depth=/d'"), "text.bag")
    cli("source-rosbag-without-topics", st("--source rosbag:{W}/bad/text.bag"), "topic")
    cli("source-rosbag-cut-message", st("--source 'rosbag:{W}/bags/cut?rgb=/rgb&depth=/depth'"),
        "{W}/bags/cut is damaged", "frame 2 cannot be read", needs="rosbags")
    cli("source-rosbag-garbled-page", st("--source 'rosbag:{W}/bags/garbled?rgb=/rgb&depth=/depth'"),
        "{W}/bags/garbled is damaged", "frame 4 cannot be read", needs="rosbags")
    cli("source-realsense-recording-missing", st("--source realsense:{W}/nope.db3"), "nope.db3")
    cli("source-realsense-recording-text", st("--source realsense:{W}/bad/text.bag"), "text.bag")
    cli("source-realsense-recording-cut", st("--source realsense:{W}/bags/walk.db3"),
        "{W}/bags/walk.db3 is damaged", "frame 1 cannot be read", needs="pyrealsense2")
    cli("source-realsense-no-camera", st("--source realsense"), "RealSense")
    cli("source-realsense-width-text", st("--source 'realsense?width=wide'"), "width", "'wide'")
    cli("second-frame-corrupt", st("--source folder:{W}/st/badframe -o {W}/stream-bad"), "f1.png")
    cli("nan-depth-frame", st("--source folder:{W}/st/nandepth -o {W}/stream-nan"), "f1", "NaN")
    cli("queue-size-zero", st(f"{src} --queue-size 0"), "queue")
    cli("max-frames-zero", st(f"{src} --max-frames 0"), "--max-frames")
    cli("alpha-nan", st(f"{src} --alpha nan"), "--alpha")
    cli("fps-zero", st(f"{src} -o {{W}}/stream-fps0 --fps 0"), "--fps")
    cli("threads-zero", st(f"{src} --threads 0"), "threads", "0")
    cli("drop-unknown", st(f"{src} --drop random"), "--drop")
    cli("device-tpu9", st(f"{src} --device tpu9"), "tpu9")
    cli("output-under-a-file", st(f"{src} -o {{W}}/afile/sub"), "{W}/afile")
    cli("output-read-only", st(f"{src} -o {{W}}/ro/stream"), "{W}/ro", needs="mount")
    cli("json-under-a-file", st(f"{src} --json {{W}}/afile/s.json"), "{W}/afile")
    cli("labels-bag-under-a-file", st(f"{src} --labels-bag {{W}}/afile/labels"), "{W}/afile", needs="rosbags")
    cli("labels-bag-exists", st(f"{src} --labels-bag {{W}}/img"), "{W}/img", needs="rosbags")
    cli("labels-topic-empty", st(f"{src} --labels-bag {{W}}/lb --labels-topic ''"), "--labels-topic ''",
        "must not be empty", absent=["{W}/lb"])
    cli("labels-topic-relative", st(f"{src} --labels-bag {{W}}/lb --labels-topic acnet/labels"), "must be absolute",
        absent=["{W}/lb"])


def _bench(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "bench", *a, **k)  # noqa: E731
    quick = "--iters 1 --warmup 1 --no-progress --cache-dir {W}/cache"
    be = lambda rest: f"bench {rest} {quick}"  # noqa: E731
    cli("model-missing", be("{W}/nope.pt"), "nope.pt")
    cli("model-text-onnx", be("{W}/bad/text.onnx"), "text.onnx")
    cli("model-foreign-onnx", be("{W}/foreign.onnx"), "foreign.onnx")
    cli("batch-zero", be("{onnx} --batch 0"), "--batch")
    cli("batch-text", be("{onnx} --batch one"), "--batch", "'one'")
    cli("batch-empty", be("{onnx} --batch ''"), "--batch")
    cli("batch-list-with-negative", be("{onnx} --batch 1,-2"), "--batch")
    cli("iters-zero", "bench {onnx} --iters 0", "--iters")
    cli("warmup-negative", "bench {onnx} --warmup -1", "--warmup")
    cli("warmup-zero", "bench {onnx} --warmup 0", "--warmup")
    cli("duration-negative", be("{onnx} --duration -1"), "--duration")
    cli("threads-zero", be("{onnx} --threads 0"), "--threads")
    cli("device-tpu9", be("{onnx} --device tpu9"), "tpu9")
    cli("device-cuda-without-gpu", be("{onnx} --device cuda"), "cuda")
    cli("backend-unknown", be("{onnx} --backend tflite"), "tflite")
    cli("backend-torch-without-checkpoint", be("{onnx} --backend torch"), "torch", "--checkpoint")
    cli("onnx-other-network", be("{ck} --onnx {W}/tiny5.onnx"), "tiny5.onnx", "5 classes, the checkpoint 9")
    cli("checkpoint-of-another-backbone", be("{onnx} --checkpoint {W}/ckpt34.pt"),
        "{onnx} has backbone resnet18, the checkpoint resnet34", "another network")
    cli("int8-onnx-missing", be("{onnx} --int8-onnx {W}/nope.onnx"), "nope.onnx")
    cli("int8-onnx-is-fp32", be("{onnx} --int8-onnx {onnx}"), "--int8-onnx {onnx} is an FP32 model", "not INT8")
    cli("aoti-text-file", be("{ck} --aoti {W}/bad/text.pt2 --backend aoti"), "text.pt2")
    cli("cpu-clock-zero", be("{onnx} --cpu-clock-ghz 0"), "--cpu-clock-ghz")
    cli("fma-units-zero", be("{onnx} --fma-units 0"), "--fma-units")
    cli("json-under-a-file", be("{onnx} --json {W}/afile/b.json"), "{W}/afile")
    cli("markdown-is-a-folder", be("{onnx} --markdown {W}/img"), "{W}/img")
    cli("plot-under-a-file", be("{onnx} --plot {W}/afile/b.png"), "{W}/afile")


def _parity(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "parity", *a, **k)  # noqa: E731
    tail = "--no-progress --cache-dir {W}/cache"
    pa = lambda rest, data="'synthetic:2?size=64x64'": f"parity {rest} --data {data} {tail}"  # noqa: E731
    cli("data-missing-option", "parity {ck} --onnx {onnx}", "--data")
    cli("data-class-count-mismatch", pa("{ck} --onnx {onnx}", "folder:{W}/ds/twelve"), "12")
    cli("onnx-other-network", pa("{ck} --onnx {W}/tiny5.onnx"), "tiny5.onnx", "5 classes, the checkpoint 9")
    cli("checkpoint-of-another-backbone", pa("{W}/ckpt34.pt --onnx {onnx}"),
        "{onnx} has backbone resnet18, the checkpoint resnet34", "another network")
    cli("int8-onnx-is-fp32", pa("{ck} --int8-onnx {onnx}"), "--int8-onnx {onnx} is an FP32 model", "not INT8")
    cli("torch-variant-unknown", pa("{ck} --torch torch-int4"), "--torch")
    cli("limit-zero", pa("{ck} --onnx {onnx} --limit 0"), "--limit")
    cli("threads-zero", pa("{ck} --onnx {onnx} --threads 0"), "--threads")
    cli("device-tpu9", pa("{ck} --onnx {onnx} --device tpu9"), "tpu9")
    cli("fp32-agreement-150", pa("{ck} --onnx {onnx} --fp32-agreement 150"), "--fp32-agreement")
    cli("fp16-dmiou-negative", pa("{ck} --onnx {onnx} --fp16-dmiou -1"), "--fp16-dmiou")
    cli("json-under-a-file", pa("{ck} --onnx {onnx} --json {W}/afile/p.json"), "{W}/afile")
    cli("report-is-a-folder", pa("{ck} --onnx {onnx} --report {W}/img"), "{W}/img")


def _capi_quickstart(c: list[Case]) -> None:
    cli = lambda *a, **k: _cli(c, "capi", *a, **k)  # noqa: E731
    cli("build-dir-is-a-file", "capi build --build-dir {W}/afile", "{W}/afile")
    cli("build-jobs-zero", "capi build --build-dir {W}/capi-build -j 0", "--jobs")
    cli("build-aoti-unknown", "capi build --build-dir {W}/capi-build --aoti maybe", "--aoti")
    cli("build-tensorrt-on-without-tensorrt", "capi build --build-dir {W}/capi-trt --tensorrt on", "TensorRT")
    cli("paths-build-dir-is-a-file", "capi paths --build-dir {W}/afile", "{W}/afile")
    qs = lambda *a, **k: _cli(c, "quickstart", *a, **k)  # noqa: E731
    for flag, value in (("--epochs", "0"), ("--train-frames", "0"), ("--test-frames", "-1"), ("--threads", "0"),
                        ("--epochs", "ten")):
        qs(f"{flag[2:]}-{value}", f"quickstart --out {{W}}/qs {flag} {value}", flag, absent=["{W}/qs"])
    qs("out-is-a-file", "quickstart --out {W}/afile", "{W}/afile")
    qs("out-read-only", "quickstart --out {W}/ro/qs", "{W}/ro", needs="mount")
    qs("unknown-option", "quickstart --steps 10", "--steps")


#: One function per command; a new command adds its own.
COMMANDS = (_usage, _model_summary, _data_stats, _train, _eval, _export, _infer, _stream, _bench, _parity,
            _capi_quickstart)


def cli_cases() -> list[Case]:
    cases: list[Case] = []
    for add in COMMANDS:
        add(cases)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    return cases


CASES = cli_cases()


# ----------------------------------------------------------------------------- the files, the mounts, the runs


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


def _make_mounts(W: Path) -> str:
    """A read-only tmpfs at W/ro and a full 1 MiB one at W/full (with a previous file); '' or why not."""
    if not _mount(W / "ro", "size=1m"):
        return "cannot mount a tmpfs here (needs root)"
    subprocess.run(["mount", "-o", "remount,ro", str(W / "ro")], check=True)
    if not _mount(W / "full", "size=1m"):
        return "cannot mount a tmpfs here"
    (W / "full" / "prev.json").write_bytes(b"the previous file\n")
    with open(W / "full" / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * (2 << 20))  # to the last byte
    return ""


def _make_recordings(W: Path) -> dict[str, str]:
    """Damaged bags and a damaged RealSense recording (what tests/test_stream_errors.py checks in depth)."""
    missing = {}
    from support.stream_recordings import garble_bag_message, image_msg, record_realsense, synthetic_frames, to_units

    try:
        from support.stream_recordings import ros2_typestore, write_ros2_bag

        ts = ros2_typestore()
        frames = synthetic_frames(6, 48, 64)
        messages = []
        for i, (_, rgb, metres) in enumerate(frames):
            messages += [("/rgb", image_msg(ts, rgb, "rgb8", 1 + i / 10)),
                         ("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", 1 + i / 10))]
        garble_bag_message(write_ros2_bag(W / "bags" / "garbled", messages, ts), "/rgb", 4)
        cut = write_ros2_bag(W / "bags" / "cut", messages, ts)
        _cut_message(next(cut.glob("*.db3")), "/rgb", 2)
    except pytest.skip.Exception as exc:
        missing["rosbags"] = str(exc)
    try:
        small = [(rgb, to_units(metres, 0.001)) for _, rgb, metres in synthetic_frames(3, 32, 64)]
        rec = record_realsense(W / "bags" / "walk.db3", small, depth_scale=0.001)
        _cut_message(rec, "/Color_0/image/data/compressed", 1)
    except pytest.skip.Exception as exc:
        missing["pyrealsense2"] = str(exc)
    return missing


def _cut_message(db3: Path, topic: str, index: int) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db3)) as db, db:
        ids = [row for (row,) in db.execute("SELECT m.id FROM messages m JOIN topics t ON t.id = m.topic_id "
                                            "WHERE t.name LIKE ? ORDER BY m.id", (f"%{topic}",))]
        db.execute("UPDATE messages SET data = substr(data, 1, 40) WHERE id = ?", (ids[index],))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The files every case reads, the mounts, and why a kind of case cannot run here."""
    from support.error_sweep_files import build_files

    W = tmp_path_factory.mktemp("sweep")
    build_files(W)
    os.symlink("loop.png", W / "bad" / "loop.png")
    cannot = _make_recordings(W)
    mount_problem = _make_mounts(W)
    if mount_problem:
        cannot["mount"] = mount_problem
    if not (SHARED / "nyuv2-samples").is_dir():
        cannot["shared"] = f"real RGB-D frames not found at {SHARED}"
    try:
        yield W, cannot
    finally:
        for name in ("ro", "full"):
            if os.path.ismount(W / name):
                subprocess.run(["umount", str(W / name)], check=False)


def _fill(text: str, W: Path) -> str:
    return text.format(W=W, ck=W / "ckpt.pt", onnx=W / "model.onnx", NYU=SHARED / "nyuv2-samples",
                       SUN=SHARED / "sunrgbd-samples")


def _files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()} if folder.is_dir() else set()


def _run(case: Case, W: Path) -> tuple[subprocess.CompletedProcess | None, list[str], float]:
    keep = {Path(_fill(p, W)): Path(_fill(p, W)).read_bytes() for p in case.keep}
    before = {Path(_fill(d, W)): _files_under(Path(_fill(d, W))) for d in case.no_new_files}
    absent = [Path(_fill(p, W)) for p in case.absent]
    for path in absent:
        if path.is_file():
            path.unlink()  # an earlier case's output must not count against this one
    start = time.perf_counter()
    try:
        proc = run_acnet(*(_fill(a, W) for a in case.argv), cwd=W, timeout=case.timeout)
    except subprocess.TimeoutExpired:
        return None, [f"timed out after {case.timeout:.0f} s"], case.timeout
    problems = [f"the previous file {p} was changed or removed" for p, data in keep.items()
                if not p.is_file() or p.read_bytes() != data]
    problems += [f"left new file(s) in {d}: {sorted(_files_under(d) - names)}" for d, names in before.items()
                 if _files_under(d) - names]
    problems += [f"{p} was written" for p in absent if p.exists()]
    return proc, problems, time.perf_counter() - start


@pytest.fixture(scope="module")
def results(request, work):
    """A future per selected case, started at once: ACNET_SWEEP_JOBS rows at a time, and beside them the rows
    that check files or use the mounts, one at a time. Each test waits for its own row only."""
    W, cannot = work
    selected = {item.callspec.params["case"].name for item in request.session.items
                if item.module is request.module and item.originalname == "test_cli_case"}
    todo = [c for c in CASES if c.name in selected and c.needs not in cannot]
    jobs = max(1, int(os.environ.get("ACNET_SWEEP_JOBS", "3")) - 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool, ThreadPoolExecutor(max_workers=1) as alone:
        futures = {c.name: (alone if c.serial else pool).submit(_run, c, W) for c in todo}
        try:
            yield W, cannot, futures
        finally:
            for future in futures.values():
                future.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_case(case, results):
    W, cannot, futures = results
    if case.needs in cannot:
        pytest.skip(cannot[case.needs])
    proc, problems, seconds = futures[case.name].result()
    print(f"{case.name}: {seconds:.2f} s (with {os.environ.get('ACNET_SWEEP_JOBS', '3')} cases at a time)")
    assert proc is not None, problems
    shown = f"$ acnet {shlex.join(_fill(a, W) for a in case.argv)}\nexit {proc.returncode}\nstderr:\n{proc.stderr}"
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and proc.stderr.endswith("\n"), shown
    assert lines[0].startswith(PREFIX), shown
    missing = [f for f in (_fill(f, W) for f in case.fragments) if f not in lines[0]]
    assert not missing, f"missing {missing}\n{shown}"
    assert not problems, f"{problems}\n{shown}"


# ----------------------------------------------------------------------------- the Python API, in-process


@dataclass(frozen=True)
class ApiCase:
    name: str
    code: str
    error: type
    fragments: tuple[str, ...] = ()


def _api(cases: list, name: str, code: str, error: type, *fragments: str) -> None:
    cases.append(ApiCase(name, textwrap.dedent(code).strip(), error, fragments))


def api_cases() -> list[ApiCase]:
    E = errors
    c: list[ApiCase] = []
    api = lambda *a: _api(c, *a)  # noqa: E731
    # runtime
    api("Segmenter-missing-file", "Segmenter(W / 'nope.onnx')", E.ModelFileError, "nope.onnx")
    api("Segmenter-folder", "Segmenter(W / 'img')", E.ModelFileError, "img")
    api("Segmenter-empty-file", "Segmenter(W / 'bad' / 'empty.onnx')", E.ModelFileError, "empty.onnx")
    api("Segmenter-truncated", "Segmenter(W / 'bad' / 'trunc.onnx')", E.ModelFileError, "trunc.onnx")
    api("Segmenter-text", "Segmenter(W / 'bad' / 'text.onnx')", E.ModelFileError, "text.onnx")
    api("Segmenter-checkpoint", "Segmenter(W / 'ckpt.pt')", E.ModelFileError, "ckpt.pt")
    api("Segmenter-foreign-onnx", "Segmenter(W / 'foreign.onnx')", E.ModelFileError, "foreign.onnx")
    api("Segmenter-malformed-metadata", "Segmenter(W / 'badmeta.onnx')", E.ModelFileError, "badmeta.onnx")
    api("Segmenter-path-None", "Segmenter(None)", E.ModelFileError, "NoneType")
    api("Segmenter-symlink-loop", "Segmenter(W / 'bad' / 'loop.onnx')", E.ModelFileError, "symlink loop")
    api("Segmenter-backend-unknown", "Segmenter(MODEL, backend='tflite')", E.ConfigError, "tflite")
    api("Segmenter-backend-not-a-string", "Segmenter(MODEL, backend=3)", E.ConfigError, "backend", "got 3")
    api("Segmenter-device-tpu9", "Segmenter(MODEL, device='tpu9')", E.ConfigError, "tpu9")
    api("Segmenter-device-cuda", "Segmenter(MODEL, device='cuda')", E.BackendUnavailableError, "cuda")
    api("Segmenter-threads-zero", "Segmenter(MODEL, threads=0)", E.ConfigError, "threads")
    api("Segmenter-threads-text", "Segmenter(MODEL, threads='four')", E.ConfigError, "threads")
    api("Segmenter-batch-size-text", "Segmenter(MODEL, batch_size='x')", E.ConfigError, "batch_size")
    api("Segmenter-input-size-fixed-model", "Segmenter(MODEL, input_size=(128, 128))", E.ConfigError, "64x64")
    api("segment-after-close", "s = Segmenter(MODEL); s.close(); s.segment(RGB, DEPTH)", E.ClosedError,
        "model.onnx is closed")
    api("segment-rgb-2d", "SEG.segment(RGB[..., 0], DEPTH)", E.InputError, "rgb")
    api("segment-rgb-float", "SEG.segment(RGB.astype(np.float64), DEPTH)", E.InputError, "rgb")
    api("segment-rgb-4-channels", "SEG.segment(np.dstack([RGB, RGB[..., :1]]), DEPTH)", E.InputError, "rgb")
    api("segment-rgb-None", "SEG.segment(None, DEPTH)", E.InputError, "rgb")
    api("segment-rgb-list", "SEG.segment(RGB.tolist(), DEPTH)", E.InputError, "rgb")
    api("segment-depth-None", "SEG.segment(RGB, None)", E.InputError, "depth")
    api("segment-depth-size-mismatch", "SEG.segment(RGB, DEPTH[:32, :32])", E.InputError, "depth")
    api("segment-depth-nan", "SEG.segment(RGB, np.full((64, 64), np.nan, np.float32))", E.InputError, "NaN")
    api("segment-depth-inf", "SEG.segment(RGB, np.full((64, 64), np.inf, np.float32))", E.InputError, "depth")
    api("segment-depth-negative", "SEG.segment(RGB, np.full((64, 64), -1.0, np.float32))", E.InputError, "depth")
    api("segment-depth-int64", "SEG.segment(RGB, DEPTH.astype(np.int64))", E.InputError, "depth")
    api("segment-depth-object", "SEG.segment(RGB, DEPTH.astype(object))", E.InputError, "depth")
    api("segment-depth-complex", "SEG.segment(RGB, DEPTH.astype(np.complex64))", E.InputError, "depth")
    api("segment-empty-frame", "SEG.segment(RGB[:0, :0], DEPTH[:0, :0])", E.InputError, "empty")
    api("segment-depth-scale-text", "SEG.segment(RGB, DEPTH, depth_scale='mm')", E.InputError, "depth_scale")
    api("segment_batch-dict", "SEG.segment_batch({'a': (RGB, DEPTH)})", E.InputError, "frame 0")
    api("segment_batch-second-frame-nan",
        "SEG.segment_batch([(RGB, DEPTH), (RGB, np.full((64, 64), np.nan, np.float32))])", E.InputError, "frame 1")
    api("logits-argmax-model", "Segmenter(W / 'argmax.onnx').logits(RGB, DEPTH)", E.ConfigError, "--argmax")
    api("read_rgb-truncated", "read_rgb(W / 'bad' / 'trunc.png')", E.InputError, "trunc.png")
    api("read_rgb-bomb", "read_rgb(W / 'bad' / 'bomb.png')", E.InputError, "bomb.png")
    api("read_rgb-symlink-loop", "read_rgb(W / 'bad' / 'loop.png')", E.InputError, "symlink loop")
    api("read_rgb-device", "read_rgb('/dev/null')", E.InputError, "character device")
    api("read_depth-npz", "read_depth(W / 'bad' / 'arrays.npy')", E.InputError, "arrays.npy")
    api("read_depth-rgb-png", "read_depth(W / 'img' / 'rgb.png')", E.InputError, "rgb.png")
    api("write_png-under-a-file", "write_png(W / 'afile' / 'x.png', np.zeros((4, 4), np.uint8))", E.OutputError, "afile")
    api("write_png-float64", "write_png(W / 'api-out' / 'f.png', np.zeros((4, 4), np.float64))", E.InputError, "f.png")
    api("write_png-4d", "write_png(W / 'api-out' / 'g.png', np.zeros((2, 2, 2, 2), np.uint8))", E.InputError, "shape")
    api("colorize-float-labels", "colorize(np.zeros((4, 4), np.float32) + 0.5)", E.InputError, "labels")
    api("overlay-shape-mismatch", "overlay(RGB, np.zeros((8, 8), np.uint8))", E.InputError, "labels")
    api("overlay-alpha-2", "overlay(RGB, np.zeros((64, 64), np.uint8), alpha=2.0)", E.InputError, "alpha")
    api("overlay-alpha-text", "overlay(RGB, np.zeros((64, 64), np.uint8), alpha='0.5')", E.InputError, "alpha", "'0.5'")
    api("open_source-unknown", "open_source('webcam:0')", E.ConfigError, "webcam:0")
    api("open_source-folder-missing", "open_source(f'folder:{W}/nope')", E.InputError, "nope")
    api("Pipeline-queue-size-zero", "Pipeline(SEG, open_source(f'folder:{W}/st/good'), queue_size=0)", E.ConfigError,
        "queue_size")
    api("Pipeline-queue-size-text", "Pipeline(SEG, open_source(f'folder:{W}/st/good'), queue_size='x')", E.ConfigError,
        "queue_size", "'x'")
    api("Pipeline-source-None", "Pipeline(SEG, None)", E.ConfigError, "source", "None")
    api("Pipeline-segmenter-None", "Pipeline(None, open_source(f'folder:{W}/st/good'))", E.ConfigError, "segmenter")
    api("Pipeline-drop-unknown", "Pipeline(SEG, open_source(f'folder:{W}/st/good'), drop='random')", E.ConfigError,
        "random")
    api("rosbag-cut-message", "list(open_source(f'rosbag:{W}/bags/cut?rgb=/rgb&depth=/depth'))", E.InputError,
        "frame 2 cannot be read")
    api("rosbag-garbled-page", "list(open_source(f'rosbag:{W}/bags/garbled?rgb=/rgb&depth=/depth'))", E.InputError,
        "frame 4 cannot be read")
    api("LabelBagWriter-empty-topic", "LabelBagWriter(W / 'api-out' / 'lb', '')", E.ConfigError, "must not be empty")
    api("ModelInfo-from-props-empty", "ModelInfo.from_props({})", E.ModelFileError, "metadata")
    api("ModelInfo-from-props-garbage", "ModelInfo.from_props({'acnet.num_classes': '{'})", E.ModelFileError, "metadata")
    # training side (torch): one row per message of the checkpoint loader, the config checks the CLI rows left out
    for name, frag in (("empty.pt", "empty file"), ("text.pt", "text file"), ("foreign.pt", "not an acnet checkpoint"),
                       ("statedict.pt", "not an acnet checkpoint"), ("fake.pt2", "AOTInductor"),
                       ("missingkeys.pt", "normalization"), ("newer.pt", "newer acnet"),
                       ("badsize.pt", "33"), ("badnames.pt", "class_names"), ("zerostd.pt", "standard deviations")):
        api(f"load_checkpoint-{name}", f"load_model(W / 'bad' / {name!r})", E.CheckpointError, name, frag)
    api("load_checkpoint-onnx", "load_checkpoint(W / 'model.onnx')", E.CheckpointError, "ONNX model")
    api("load_checkpoint-png", "load_checkpoint(W / 'img' / 'rgb.png')", E.CheckpointError, "PNG image")
    api("load_checkpoint-folder", "load_checkpoint(W / 'img')", E.CheckpointError, "img")
    api("load_model-weights-not-tensors", "load_model(W / 'bad' / 'listweights.pt')", E.CheckpointError, "listweights.pt")
    for values, frag in (({"augmentation": {"scale": [1.4, 1.0]}}, "scale"), ({"model": {"num_classes": 0}}, "num_classes"),
                         ({"input_height": 33}, "33"), ({"batch_size": 0}, "batch_size"), ({"recipe": "fast"}, "'fast'"),
                         ({"loss": "l2"}, "'l2'"), ({"amp": "fp8"}, "'fp8'"), ({"resume": 5}, "resume"),
                         ({"val_data": "bogus:thing"}, "bogus:thing"), ({"num_workers": -1}, "num_workers"),
                         ({"lr": 0}, "lr"), ({"grad_accum": 0}, "grad_accum"),
                         ({"lr_decay_epochs": 0}, "lr_decay_epochs"), ({"keep_last": -1}, "keep_last"),
                         ({"save_every_steps": -1}, "save_every_steps"), ({"val_every": 0}, "val_every"),
                         ({"val_batch_size": 0}, "val_batch_size"), ({"seed": -1}, "seed"), ({"log_every": 0}, "log_every"),
                         ({"model": {"width": 2.0}}, "width"), ({"data": ""}, "empty dataset spec")):
        key = next(iter(values))
        api(f"TrainConfig-{key}-{values[key]!r}", f"TrainConfig.from_dict({values!r})", E.ConfigError, frag)
    api("TrainConfig-lr-nan", "TrainConfig.from_dict({'lr': float('nan')})", E.ConfigError, "lr", "nan")
    api("ModelConfig-backbone-unknown", "ModelConfig(backbone='resnet7')", E.ConfigError, "resnet7")
    api("open_dataset-label-above", "open_dataset(f'folder:{W}/ds/badlabel', 'test')[3]", E.DataError, "label 20")
    api("open_dataset-synthetic-negative", "open_dataset('synthetic:-3')", E.ConfigError, "-3")
    api("export_onnx-missing-checkpoint", "export_onnx(W / 'nope.pt', W / 'api-out' / 'x.onnx')", E.CheckpointError,
        "nope.pt")
    api("OnnxExportOptions-opset-1", "OnnxExportOptions(opset=1)", E.ConfigError, "opset")
    api("OnnxExportOptions-batch-0", "OnnxExportOptions(batch=0)", E.ConfigError, "batch")
    api("PreprocessConfig-size-33x0", "preprocess(RGB, DEPTH, PreprocessConfig(33, 0))", E.ConfigError, "33")
    api("Normalization-zero-std", "Normalization(rgb_std=(0.0, 0.0, 0.0))", E.InputError, "standard deviations")
    return c


API_CASES = api_cases()


@pytest.fixture(scope="module")
def api_namespace(work):
    from PIL import Image

    from acnet.export.onnx import OnnxExportOptions, export_onnx
    from acnet.runtime import ModelInfo, Pipeline, Segmenter, colorize, open_source, overlay, read_depth, read_rgb, write_png
    from acnet.runtime.preprocess import Normalization, PreprocessConfig, preprocess
    from acnet.training.checkpoint import load_checkpoint, load_model
    from acnet.training.config import ModelConfig
    from acnet.training.data import open_dataset
    from acnet.training.train import TrainConfig

    W, cannot = work
    namespace = dict(locals())
    with contextlib.suppress(ImportError):
        from acnet.runtime.sources.rosbag import LabelBagWriter

        namespace["LabelBagWriter"] = LabelBagWriter
    with Segmenter(W / "model.onnx", threads=1) as seg:
        namespace.update(np=np, MODEL=W / "model.onnx", SEG=seg,
                         RGB=np.asarray(Image.open(W / "img" / "rgb.png").convert("RGB")),
                         DEPTH=np.asarray(Image.open(W / "img" / "depth.png")).astype(np.uint16))
        yield namespace, cannot


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
def test_api_case(case, api_namespace):
    namespace, cannot = api_namespace
    if ("rosbag" in case.code or "LabelBagWriter" in case.code) and "rosbags" in cannot:
        pytest.skip(cannot["rosbags"])
    with pytest.raises(errors.AcnetError) as info:
        exec(compile(case.code, case.name, "exec"), dict(namespace))
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    missing = [f for f in case.fragments if f not in str(info.value)]
    assert not missing, f"missing {missing} in {info.value}"
