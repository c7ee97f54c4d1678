"""The error promise as users meet it: the installed ``acnet``, default logging and workers, the whole of stderr.

Every bad input here is one invocation of the real command; each class of
failure (data-loader workers, logs and progress bars, writes, config files,
click's usage errors, meaningless values, readers, misleading messages,
devices, resume, Ctrl-C, missing dependencies) has a representative case.
The library side (typed exceptions from the Python API) is tested in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acnet.errors import CheckpointError, ConfigError, DataError, InputError, OutputError
from support.installed import acnet_command, assert_one_line_error, run_acnet

TINY = ["--backbone", "resnet18", "--width-mult", "0.25", "--height", "64", "--width", "96"]
TRAIN = ["train", *TINY, "--epochs", "1", "--batch-size", "2", "--val-data", "none"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_config):
    """A tiny checkpoint and ONNX model, one RGB-D pair, and folder datasets (good, label above the class count)."""
    from support.runtime_models import make_onnx, tiny_info
    from support.trained import trained_looking_checkpoint

    root = tmp_path_factory.mktemp("promise")
    trained_looking_checkpoint(root / "ckpt.pt", tiny_config, (64, 96))
    make_onnx(root / "model.onnx", tiny_info(input_height=64, input_width=96))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(root / "rgb.png")
    Image.fromarray(np.full((64, 96), 1500, np.uint16)).save(root / "depth.png")
    names = "\n".join(f"class{i}" for i in range(1, tiny_config.num_classes + 1))  # the checkpoint's
    for name, top in (("good", 3), ("badlabel", 20)):
        for split in ("train", "test"):
            for sub in ("rgb", "depth", "semantic_40"):
                (root / name / split / sub).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(root / name / split / "rgb" / f"f{i}.png")
                Image.fromarray(np.full((64, 96), 1500, np.uint16)).save(root / name / split / "depth" / f"f{i}.png")
                label = np.full((64, 96), top if i == 3 else 2, np.uint8)
                Image.fromarray(label).save(root / name / split / "semantic_40" / f"f{i}.png")
        (root / name / "class_names.txt").write_text(names)
    (root / "afile").write_text("a regular file")
    return root


@contextlib.contextmanager
def _mounted(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs, filled to the last byte."""
    with _mounted(tmp_path / "full", "size=1m") as mount:
        with open(mount / "filler", "wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * (2 << 20))
        yield mount


@pytest.fixture
def read_only(tmp_path):
    with _mounted(tmp_path / "ro", "ro,size=1m") as mount:
        yield mount


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- data-loader workers, logs, bars


@pytest.mark.slow
def test_train_with_default_workers_reports_a_label_above_the_class_count_in_one_line(files, tmp_path):
    proc = run_acnet(*TRAIN, "--data", f"folder:{files / 'badlabel'}", "--out", tmp_path / "run")
    assert_one_line_error(proc, "f3.png", "label 20 is above the class count 13")


def test_eval_and_data_stats_label_errors_are_one_line(files):
    bad = f"folder:{files / 'badlabel'}"
    assert_one_line_error(run_acnet("eval", files / "ckpt.pt", "--data", bad, "--workers", "2"), "label 20 is above")
    assert_one_line_error(run_acnet("data", "stats", bad), "label 20 is above")


def _renamed(files: Path, tmp_path: Path, name: str, count: int = 13) -> str:
    """A copy of dataset ``name`` whose class names are not the checkpoint's (``count`` of them)."""
    import shutil

    root = shutil.copytree(files / name, tmp_path / f"{name}-renamed-{count}")
    (root / "class_names.txt").write_text("\n".join(f"other{i}" for i in range(1, count + 1)))
    return f"folder:{root}"


def test_a_warning_is_held_until_the_result_and_left_out_of_a_failure(files, tmp_path):
    """Class names that differ from the checkpoint's are a warning on the table, never a line above an error."""
    ok = subprocess.run([*acnet_command(), "eval", files / "ckpt.pt", "--data", _renamed(files, tmp_path, "good")],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)  # one stream: the order
    assert ok.returncode == 0, ok.stdout
    table, _, warning = ok.stdout.rstrip("\n").rpartition("\n")
    assert "mIoU" in table and "acnet: warning" not in table, ok.stdout
    assert warning.startswith("acnet: warning: class names of folder:") and \
        warning.endswith("differ from the checkpoint's"), warning
    failed = run_acnet("eval", files / "ckpt.pt", "--data", _renamed(files, tmp_path, "badlabel"))
    assert_one_line_error(failed, "label 20 is above", "(1 earlier warning not shown; -v shows it)")
    fewer = run_acnet("eval", files / "ckpt.pt", "--data", _renamed(files, tmp_path, "good", count=12))
    line = assert_one_line_error(fewer, "the model predicts 13 classes but", "has 12")
    assert "not shown" not in line  # the count is the error; the names were not compared


def test_infer_image_error_after_the_model_opened_is_one_line(files, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    proc = run_acnet("infer", files / "model.onnx", "--rgb", tmp_path / "empty.png", "--depth", files / "depth.png",
                     "-o", tmp_path / "out")
    assert_one_line_error(proc, "empty.png", "not a readable image")


def test_progress_bar_is_cleared_before_the_error_on_a_terminal(files):
    """On a terminal the bar is drawn, then erased, and the error starts a line of its own."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws nothing at 0 columns
    proc = subprocess.Popen([*acnet_command(), "data", "stats", f"folder:{files / 'badlabel'}"],
                            stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    seen = b""
    with contextlib.suppress(OSError):  # EIO once the command has exited
        while chunk := os.read(controller, 4096):
            seen += chunk
    assert proc.wait(timeout=120) == 2
    text = seen.decode()
    assert "stats:" in text  # the bar was shown on the terminal...
    before, _, line = text.rpartition("acnet: error: ")
    assert "stats:" in before and before.endswith("\n"), repr(text[-300:])  # ...and closed: the error starts a line
    assert "label 20 is above" in line and line.count("\n") == 1


def test_verbose_levels():
    from click.testing import CliRunner

    from acnet.cli import main

    assert "-vv also debug" in " ".join(CliRunner().invoke(main, ["--help"]).output.split())


# ----------------------------------------------------------------------------- writes


def test_unwritable_outputs_are_one_line_naming_the_path(files, tmp_path):
    under_file = files / "afile" / "sub"
    summary = ["model", "summary", "--backbone", "resnet18", "--classes", "13", "--width-mult", "0.25",
               "--height", "64", "--width", "96"]
    assert_one_line_error(run_acnet(*summary, "--json", under_file / "s.json"), str(files / "afile"), "a file")
    assert_one_line_error(run_acnet(*TRAIN, "--out", under_file, "--dump-config", under_file / "c.yaml"),
                          str(files / "afile"))
    assert_one_line_error(run_acnet("eval", files / "ckpt.pt", "--data", "synthetic:2?size=64x96", "--save-vis", under_file),
                          str(files / "afile"))


def test_read_only_folder_is_one_line(files, read_only):
    proc = run_acnet("infer", files / "model.onnx", "--rgb", files / "rgb.png", "--depth", files / "depth.png",
                     "-o", read_only / "out")
    assert_one_line_error(proc, str(read_only), "read-only file system")


@pytest.mark.slow
def test_full_disk_during_training_is_one_line_and_leaves_no_partial_file(files, full_disk):
    out = full_disk / "run"
    (full_disk / "filler").unlink()
    with open(full_disk / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * ((1 << 20) - 200_000))  # room for config.json and the log, not a checkpoint
    proc = run_acnet(*TRAIN, "--data", "synthetic:4?size=64x96", "--max-steps", "1", "--out", out)
    assert_one_line_error(proc, "no space left on device", str(out / "checkpoints"))
    assert not [p for p in (out / "checkpoints").glob("*")]  # no half-written checkpoint, no temporary file


def test_export_onto_a_full_disk_is_one_line_and_keeps_the_previous_file(files, full_disk):
    """ONNX's writer on a full disk: the line names the path and the reason; the earlier model is untouched."""
    target = full_disk / "m.onnx"
    (full_disk / "filler").unlink()
    target.write_bytes(b"the previous export")
    with open(full_disk / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * (2 << 20))  # full again, to the last byte
    proc = run_acnet("export", "onnx", files / "ckpt.pt", "-o", target)
    assert_one_line_error(proc, f"cannot write {target}: no space left on device")
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "m.onnx"]  # no temporary file, no report


@pytest.mark.slow
def test_aoti_export_onto_a_full_disk_is_one_line_and_keeps_the_previous_file(files, full_disk):
    """The package is compiled in the temporary folder and copied in: torch's zip writer, filling the disk itself,
    aborted the process (c10::Error thrown from its destructor) after a misleading "compilation failed" line."""
    target = full_disk / "m.pt2"
    (full_disk / "filler").unlink()
    target.write_bytes(b"the previous package")
    with open(full_disk / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * (2 << 20))
    proc = run_acnet("export", "aoti", files / "ckpt.pt", "-o", target)
    assert_one_line_error(proc, f"cannot write {target}: no space left on device")
    assert target.read_bytes() == b"the previous package"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "m.pt2"]


def test_writes_on_a_full_disk_name_the_path(full_disk, tmp_path):
    from acnet._io import atomic_write_text

    with pytest.raises(OutputError, match=f"cannot write {full_disk / 'a.json'}: no space left on device"):
        atomic_write_text(full_disk / "a.json", "x" * 100_000)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_written_files_get_the_mode_open_would_give(tmp_path, tiny_config):
    from acnet._io import atomic_write_text
    from acnet.runtime.images import write_png
    from support.trained import trained_looking_checkpoint

    with _umask(0o027):
        atomic_write_text(tmp_path / "a.json", "{}")
        write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
        trained_looking_checkpoint(tmp_path / "c.pt", tiny_config, (32, 32))
        proc = run_acnet("model", "summary", "--backbone", "resnet18", "--width-mult", "0.25", "--height", "32",
                         "--width", "32", "--json", tmp_path / "s.json")
        written = ["a.json", "a.png", "c.pt", "s.json"]
        with contextlib.suppress(ImportError):  # PyAV is the stream extra's
            import av  # noqa: F401

            from acnet.runtime.video import VideoWriter

            video = VideoWriter(tmp_path / "v.mp4", fps=5)
            for _ in range(2):
                video.write(np.zeros((16, 16, 3), np.uint8))
            video.close()
            written.append("v.mp4")
    assert proc.returncode == 0, proc.stderr
    for name in written:
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    with _umask(0o002):
        atomic_write_text(tmp_path / "b.json", "{}")
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664


# ----------------------------------------------------------------------------- config files


@pytest.mark.parametrize("text, fragments", [
    ("model: resnet18\n", ("model: expected a mapping of ModelConfig options", "'resnet18'")),
    ("lr: [0.1, 0.2]\n", ("lr: expected a finite number, got [0.1, 0.2]",)),
])
def test_config_file_values_of_the_wrong_type_name_key_value_and_expectation(tmp_path, text, fragments):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    assert_one_line_error(run_acnet("train", "--config", config, "--dump-config", tmp_path / "out.yaml"), *fragments)


@pytest.mark.parametrize("values, message", [
    ({"model": "resnet18"}, "model: expected a mapping of ModelConfig options (backbone, num_classes, fusion, width) or null, got 'resnet18'"),
    ({"augmentation": {"scale": 1.2}}, "augmentation.scale: expected a list of 2 finite numbers, got 1.2"),
    ({"data": 5}, "data: expected a string, got 5"),
    ({"lr": [0.1, 0.2]}, "lr: expected a finite number, got [0.1, 0.2]"),
    ({"lrr": 0.1}, "unknown key 'lrr' (did you mean 'lr'?)"),
    ({"model": {"backbone": "resnet7"}}, "model: unknown backbone 'resnet7'"),
    ({"model": {"width": "big"}}, "model.width: expected a finite number, got 'big'"),
    ({"augmentation": {"zoom": 2}}, "unknown key 'augmentation.zoom'"),
    ({"epochs": 1.5}, "epochs: expected an integer, got 1.5"),
    ({"momentum": float("nan")}, "momentum: expected a finite number, got nan"),
    ({"deep_supervision": "maybe"}, "deep_supervision: expected true or false, got 'maybe'"),
    ({"max_steps": "x"}, "max_steps: expected an integer or null, got 'x'"),
    ({"focal_gamma": -1.0}, "focal_gamma must be a finite number >= 0, got -1.0"),
])
def test_train_config_validation(values, message):
    from acnet.training.train import TrainConfig

    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(values)
    assert message in str(info.value)


def test_config_round_trip_still_loads():
    from acnet.training.config import ModelConfig
    from acnet.training.train import TrainConfig

    config = TrainConfig(model=ModelConfig("resnet18", 13, "acm", 0.25), resume=True, max_steps=3)
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("build, values, message", [
    ("TrainConfig", {"momentum": float("nan")}, "momentum must be a finite number, got nan"),
    ("TrainConfig", {"weight_decay": float("nan")}, "weight_decay must be a finite number, got nan"),
    ("TrainConfig", {"focal_gamma": float("nan")}, "focal_gamma must be a finite number >= 0, got nan"),
    ("TrainConfig", {"focal_gamma": -1.0}, "focal_gamma must be a finite number >= 0, got -1.0"),
    ("TrainConfig", {"lr": "fast"}, "lr must be a finite number, got 'fast'"),
    ("TrainConfig", {"lr": True}, "lr must be a finite number, got True"),
    ("TrainConfig", {"momentum": -0.5}, "momentum must be >= 0, got -0.5"),
    ("TrainConfig", {"lr_decay": 1.5}, "lr_decay must be in (0, 1], got 1.5"),
    ("TrainConfig", {"data": 5}, "data must be a dataset spec string, got 5"),
    ("TrainConfig", {"val_data": ["a"]}, "val_data must be a dataset spec string or null, got ['a']"),
    ("TrainConfig", {"max_steps": True}, "max_steps must be a positive integer, got True"),
    ("ModelConfig", {"num_classes": True}, "num_classes must be an integer in 1..255, got True"),
    ("ModelConfig", {"width": True}, "width must be in (0, 1], got True"),
])
def test_configs_built_directly_name_the_bad_field(build, values, message):
    """The Python API's dataclasses check what from_dict's annotations would: no bare TypeError, no NaN, no bools."""
    from acnet.training.config import ModelConfig
    from acnet.training.train import TrainConfig

    with pytest.raises(ConfigError) as info:
        {"TrainConfig": TrainConfig, "ModelConfig": ModelConfig}[build](**values)
    assert message in str(info.value)


def test_dataset_spec_that_is_not_a_string_is_a_config_error():
    from acnet.training.data import open_dataset

    with pytest.raises(ConfigError, match="dataset spec must be a string"):
        open_dataset(5)


#: Per-class loss weights a run cannot mean: the loss would reward errors, be NaN, or be zero everywhere.
BAD_CLASS_WEIGHTS = {"negative": ([-1.0] * 9, "must be finite and >= 0, got -1.0 for class 1"),
                     "nan": ([1.0] * 8 + [float("nan")], "must be finite and >= 0, got nan for class 9"),
                     "bool": ([True] * 9, "must be a list of numbers"),
                     "zero": ([0.0] * 9, "are all 0")}


@pytest.mark.parametrize("args, fragments", [
    (["--focal-gamma", "-1", "--dump-config", "{tmp}/out.yaml"], ("focal_gamma must be a finite number >= 0, got -1.0",)),
    *[(["--class-weights", f"{{tmp}}/{name}.json"], (f"class weights '{{tmp}}/{name}.json' {message}",))
      for name, (_, message) in BAD_CLASS_WEIGHTS.items()],
    (["--class-weights", "{tmp}/latin1.json"], ("{tmp}/latin1.json is not valid JSON", "can't decode byte 0xf6")),
])
def test_train_refuses_meaningless_loss_settings_before_training(tmp_path, args, fragments):
    """A negative gamma or negative/NaN/zero class weights would train (or write a config) that means nothing."""
    import json

    for name, (weights, _) in BAD_CLASS_WEIGHTS.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(weights))  # NaN as JSON's common extension
    (tmp_path / "latin1.json").write_bytes(b'[1.0, "\xf6"]')
    given = [a.format(tmp=tmp_path) for a in args]
    proc = run_acnet(*TRAIN, "--data", "synthetic:4?size=64x96", "--workers", "0", "--out", tmp_path / "run", *given)
    assert_one_line_error(proc, *(f.format(tmp=tmp_path) for f in fragments))
    assert not (tmp_path / "out.yaml").exists() and not list((tmp_path / "run").glob("checkpoints/*"))


# ----------------------------------------------------------------------------- click usage errors, values


@pytest.mark.parametrize("args, fragments", [
    (["infer", "m.onnx", "--rgb", "a", "--depth", "b", "-o", "o", "--backend", "foo"], ("infer: Invalid value for '--backend'", "'foo'")),
    (["eval", "."], ("eval: Invalid value for 'CHECKPOINT'", "is a directory")),
    (["trian"], ("no such command 'trian'; did you mean 'train'?",)),
    (["eval"], ("eval: Missing argument 'CHECKPOINT'",)),
    (["infer", "m.onnx", "--rgb", "a", "--depth", "b", "-o", "o", "--depth-scale", "inf"], ("'--depth-scale'", "not a finite number")),
    (["infer", "m.onnx", "--rgb", "a", "--depth", "b", "-o", "o", "--depth-scale", "0"], ("'--depth-scale'",)),
    (["eval", "c.pt", "--max-frames", "0"], ("'--max-frames'",)),
    (["eval", "c.pt", "--workers", "-1"], ("'--workers'",)),
    (["bench", "c.pt", "--duration", "nan"], ("'--duration'",)),
])
def test_usage_errors_and_meaningless_values_are_one_line(tmp_path, args, fragments):
    assert_one_line_error(run_acnet(*args, cwd=tmp_path), *fragments)


@pytest.fixture(scope="module")
def qdq_onnx(files):
    """The test ONNX with a QuantizeLinear/DequantizeLinear pair: what TensorRT reads as a quantized model."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(files / "model.onnx"))
    proto.graph.initializer.extend([numpy_helper.from_array(np.array(0.1, np.float32), "q_scale"),
                                    numpy_helper.from_array(np.array(0, np.int8), "q_zero")])
    proto.graph.node.extend([helper.make_node("QuantizeLinear", ["rgb", "q_scale", "q_zero"], ["rgb_q"]),
                             helper.make_node("DequantizeLinear", ["rgb_q", "q_scale", "q_zero"], ["rgb_dq"])])
    path = files / "qdq.onnx"
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("args, fragments", [
    (["--workspace-gb", "0"], ("Invalid value for '--workspace-gb'", "not in [0.001, 65536]")),
    (["--workspace-gb", "-2"], ("Invalid value for '--workspace-gb'", "not in [0.001, 65536]")),
    (["--workspace-gb", "0.0001"], ("Invalid value for '--workspace-gb'",)),
    (["--workspace-gb", "1e30"], ("Invalid value for '--workspace-gb'",)),
    (["--workspace-gb", "inf"], ("Invalid value for '--workspace-gb'", "not a finite number")),
    (["--workspace-gb", "nan"], ("Invalid value for '--workspace-gb'", "not a finite number")),
    (["--workspace-gb", "big"], ("Invalid value for '--workspace-gb'", "not a number")),
    (["--min-batch", "0"], ("Invalid value for '--min-batch'", "x>=1")),
    (["--opt-batch", "-1"], ("Invalid value for '--opt-batch'", "x>=1")),
    (["--max-batch", "0"], ("Invalid value for '--max-batch'", "x>=1")),
    (["--max-batch", "2.5"], ("Invalid value for '--max-batch'",)),
    (["--min-batch", "4", "--max-batch", "2"], ("--min-batch 4 is above --max-batch 2",)),
    (["--opt-batch", "9", "--max-batch", "8"], ("--opt-batch 9 is above --max-batch 8",)),
    (["--min-batch", "3", "--opt-batch", "2", "--max-batch", "8"], ("--min-batch 3 is above --opt-batch 2",)),
    (["--timing-cache", "{onnx}"], ("--timing-cache", "is the ONNX model")),
    (["--timing-cache", "{engine}"], ("--timing-cache", "is the engine (-o)")),
    (["--timing-cache", "{tmp}"], ("Invalid value for '--timing-cache'", "is a directory")),
    (["-o", "{onnx}"], ("-o/--output", "is the ONNX model itself")),
    (["--sidecar-only", "--max-batch", "4"], ("--max-batch has no effect with --sidecar-only",)),
    (["--sidecar-only", "--workspace-gb", "4"], ("--workspace-gb has no effect with --sidecar-only",)),
    (["--sidecar-only", "--timing-cache", "{tmp}/t.cache"], ("--timing-cache has no effect with --sidecar-only",)),
    (["--fp16", "--qdq"], ("quantized (Q/DQ nodes)", "drop --fp16")),
])
def test_export_trt_refuses_meaningless_options_before_it_needs_tensorrt(files, qdq_onnx, tmp_path, args, fragments):
    """Each option's bad values are one line naming it, here where TensorRT cannot even be imported."""
    onnx_model = qdq_onnx if "--qdq" in args else files / "model.onnx"
    before = onnx_model.read_bytes()
    engine = tmp_path / "m.engine"
    values = {"onnx": onnx_model, "engine": engine, "tmp": tmp_path}
    given = [a.format(**values) for a in args if a != "--qdq"]
    out = [] if "-o" in given else ["-o", engine]
    proc = run_acnet("export", "trt", onnx_model, *out, *given, cwd=tmp_path)
    line = assert_one_line_error(proc, *(f.format(**values) for f in fragments))
    assert "tensorrt package" not in line
    assert onnx_model.read_bytes() == before and not engine.exists()


def test_export_trt_with_meaningful_options_gets_as_far_as_tensorrt(files, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here: the command would build")
    proc = run_acnet("export", "trt", files / "model.onnx", "-o", tmp_path / "m.engine", "--workspace-gb", "0.001",
                     "--max-batch", "1", "--timing-cache", tmp_path / "t.cache")
    assert_one_line_error(proc, "needs the tensorrt package")


def test_trt_build_options_check_their_values():
    from acnet.export.tensorrt import TrtBuildOptions

    for workspace in (0, -1.0, float("nan"), float("inf"), 1e6, True, "2"):
        with pytest.raises(ConfigError, match="--workspace-gb must be from 0.001 to 65536 GB"):
            TrtBuildOptions(workspace_gb=workspace)
    for batch in (0, -3, True, 2.0, "2"):
        with pytest.raises(ConfigError, match="--opt-batch must be a positive integer"):
            TrtBuildOptions(opt_batch=batch)
    with pytest.raises(ConfigError, match="--min-batch 5 is above --max-batch 4"):
        TrtBuildOptions(min_batch=5, max_batch=4)
    assert TrtBuildOptions(min_batch=2, opt_batch=2, max_batch=2, workspace_gb=1).max_batch == 2


def test_help_is_unchanged():
    proc = run_acnet("eval", "--help")
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout.startswith("Usage: acnet eval [OPTIONS] CHECKPOINT")


def test_depth_beyond_any_sensor_is_refused(files, tmp_path):
    np.save(tmp_path / "far.npy", np.full((64, 96), 1e38, np.float32))
    proc = run_acnet("infer", files / "model.onnx", "--rgb", files / "rgb.png", "--depth", tmp_path / "far.npy",
                     "-o", tmp_path / "out")
    assert_one_line_error(proc, "far.npy", "1e+38 m", "beyond any sensor's range")


def test_depth_scale_is_checked_by_the_library():
    from support.runtime_models import frame, tiny_info
    from acnet.runtime.preprocess import PreprocessConfig, preprocess

    rgb, depth = frame(32, 64)
    config = PreprocessConfig(32, 64)
    for scale in (float("inf"), float("nan"), 0.0, -1.0, "x"):
        with pytest.raises(InputError, match="depth_scale"):
            preprocess(rgb, depth, config, depth_scale=scale)
    with pytest.raises(InputError, match="beyond any sensor"):
        preprocess(rgb, depth, config, depth_scale=1.0)  # millimetres read as metres: kilometres away
    assert tiny_info().num_classes  # the helper module imports


# ----------------------------------------------------------------------------- readers


def test_decompression_bomb_is_one_line(files, tmp_path):
    Image.new("L", (14000, 14000)).save(tmp_path / "bomb.png")
    proc = run_acnet("infer", files / "model.onnx", "--rgb", tmp_path / "bomb.png", "--depth", files / "depth.png",
                     "-o", tmp_path / "out")
    assert_one_line_error(proc, "bomb.png", "too large to decode safely")


def test_empty_npy_depth_is_one_line_not_aborted(files, tmp_path):
    (tmp_path / "d.npy").write_bytes(b"")
    proc = run_acnet("infer", files / "model.onnx", "--rgb", files / "rgb.png", "--depth", tmp_path / "d.npy",
                     "-o", tmp_path / "out")
    assert_one_line_error(proc, "d.npy", "empty or truncated")


def _bad_files(root: Path) -> dict[str, Path]:
    files = {}
    for name, data in [("empty.png", b""), ("text.png", b"hello"), ("empty.npy", b""), ("corrupt.npy", b"\x93NUMPY junk")]:
        (root / name).write_bytes(data)
        files[name] = root / name
    np.save(root / "object.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.save(root / "complex.npy", np.zeros((4, 4), complex))
    np.save(root / "bool.npy", np.zeros((4, 4), bool))
    np.save(root / "int32.npy", np.full((4, 4), 70000, np.int32))
    np.save(root / "cube.npy", np.zeros((4, 4, 3), np.float32))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "grey8.png")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(root / "depth16.png")
    (root / "folder.png").mkdir()
    for name in ("object.npy", "complex.npy", "bool.npy", "int32.npy", "cube.npy", "grey8.png", "depth16.png", "folder.png"):
        files[name] = root / name
    files["missing.png"] = root / "missing.png"
    return files


@pytest.mark.parametrize("name", ["empty.png", "text.png", "depth16.png", "folder.png", "missing.png", None, 3])
def test_read_rgb_raises_input_error(tmp_path, name):
    from acnet.runtime.images import read_rgb

    path = _bad_files(tmp_path)[name] if isinstance(name, str) else name
    with pytest.raises(InputError):
        read_rgb(path)


@pytest.mark.parametrize("name", ["empty.png", "text.png", "empty.npy", "corrupt.npy", "object.npy", "complex.npy",
                                  "bool.npy", "int32.npy", "cube.npy", "grey8.png", "folder.png", "missing.png"])
def test_read_depth_raises_input_error(tmp_path, name):
    from acnet.runtime.images import read_depth

    with pytest.raises(InputError):
        read_depth(_bad_files(tmp_path)[name])


def test_segment_batch_refuses_malformed_batches(tmp_path):
    from support.runtime_models import frame, make_onnx
    from acnet.runtime import Segmenter

    rgb, depth = frame(32, 64)
    with Segmenter(make_onnx(tmp_path / "m.onnx")) as seg:
        with pytest.raises(InputError, match="got one pair of arrays; use segment"):
            seg.segment_batch((rgb, depth))
        with pytest.raises(InputError, match=r"frame 1: expected an \(rgb, depth\) pair, got a tuple of 3 items"):
            seg.segment_batch([(rgb, depth), (rgb, depth, depth)])
        with pytest.raises(InputError, match="list of"):
            seg.segment_batch(None)
        with pytest.raises(InputError, match="frame 0"):
            seg.segment_batch([rgb])
        assert len(seg.segment_batch([(rgb, depth)] * 2)) == 2


# ----------------------------------------------------------------------------- misleading messages, devices


def test_an_onnx_model_given_as_checkpoint_says_what_it_is(files):
    assert_one_line_error(run_acnet("eval", files / "model.onnx"), "model.onnx is an ONNX model, not a checkpoint")


def test_an_aoti_package_given_as_checkpoint_says_what_it_is(tmp_path):
    from acnet.training.checkpoint import load_checkpoint

    with zipfile.ZipFile(tmp_path / "m.pt2", "w") as archive:  # the layout torch._inductor packages write
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/data/aotinductor/model/model.so", b"\x7fELF")
    with pytest.raises(CheckpointError, match="is an AOTInductor package"):
        load_checkpoint(tmp_path / "m.pt2")


def test_a_label_path_that_is_a_folder_is_not_reported_missing(files, tmp_path):
    import shutil

    from acnet.training.data import open_dataset

    root = tmp_path / "data"
    shutil.copytree(files / "good", root)
    (root / "test" / "semantic_40" / "f0.png").unlink()
    (root / "test" / "semantic_40" / "f0.png").mkdir()
    with pytest.raises(DataError, match="is a folder, not a label file"):
        open_dataset(f"folder:{root}", "test")[0]


def _broken_folder(files: Path, tmp_path: Path, problem: str) -> Path:
    """A copy of the good dataset with one problem, or the regular file ``afile``."""
    import shutil

    if problem == "is-a-file":
        return files / "afile"
    root = shutil.copytree(files / "good", tmp_path / problem)
    if problem == "names-not-utf8":
        (root / "class_names.txt").write_bytes(b"wall\nfl\xf6or\n")  # Latin-1
    elif problem == "names-json-not-utf8":
        (root / "class_names.txt").unlink()
        (root / "class_names.json").write_bytes(b'["wall", "fl\xf6or"]')
    elif problem == "negative-label":
        for split in ("train", "test"):
            (root / split / "semantic_40" / "f1.png").unlink()
            np.save(root / split / "semantic_40" / "f1.npy", np.full((64, 96), -1, np.int16))
    return root


@pytest.mark.parametrize("problem, fragments", [
    ("names-not-utf8", ("{root}/class_names.txt is not UTF-8 text",)),
    ("names-json-not-utf8", ("{root}/class_names.json is not UTF-8 text",)),
    ("negative-label", ("{root}/train/semantic_40/f1.npy: label -1 is negative (0 is void, 1..13 classes)",)),
    ("is-a-file", ("dataset folder {root} is a file, not a folder",)),
])
def test_data_stats_on_a_broken_folder_says_what_is_wrong(files, tmp_path, problem, fragments):
    root = _broken_folder(files, tmp_path, problem)
    line = assert_one_line_error(run_acnet("data", "stats", f"folder:{root}"), *(f.format(root=root) for f in fragments))
    assert "above the class count" not in line and "not found" not in line


@pytest.mark.parametrize("device, fragment", [("cuda", "no CUDA device"), ("tpu9", "unknown device 'tpu9'")])
def test_parity_reference_device_is_one_line(files, device, fragment):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run_acnet("parity", files / "ckpt.pt", "--data", "synthetic:2?size=64x96", "--reference-device", device)
    assert_one_line_error(proc, "--reference-device", fragment)


# ----------------------------------------------------------------------------- resume, Ctrl-C, dependencies


@pytest.mark.slow
def test_resume_skips_a_truncated_newest_checkpoint(tmp_path):
    from acnet.training.train import list_checkpoints

    out = tmp_path / "run"
    first = run_acnet(*TRAIN, "--data", "synthetic:4?size=64x96", "--epochs", "2", "--workers", "0", "--out", out)
    assert first.returncode == 0, first.stderr
    older, newest = list_checkpoints(out)
    newest.write_bytes(newest.read_bytes()[:1000])
    reason = _truncation_reason(newest)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(newest.read_bytes())
    proc = run_acnet(*TRAIN, "--data", "synthetic:4?size=64x96", "--epochs", "3", "--workers", "0", "--out", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"acnet: warning: --resume: skipping {newest.name}: {newest} is "
                                        f"truncated or not a PyTorch checkpoint ({reason})"]
    assert f"resumed from {older}" in proc.stdout and "trained 3 epochs" in proc.stdout
    resume_from = run_acnet(*TRAIN, "--data", "synthetic:4?size=64x96", "--out", out, "--resume-from", truncated)
    assert_one_line_error(resume_from, str(truncated), "truncated")


def _truncation_reason(path: Path) -> str:
    from acnet.training.checkpoint import load_checkpoint

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    return str(info.value).rpartition("(")[2].rstrip(")")


@pytest.mark.slow
def test_ctrl_c_is_exit_130_and_one_line(tmp_path):
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([*acnet_command(), *TRAIN, "--data", "synthetic:64?size=64x96", "--epochs", "1000",
                             "--log-every", "1", "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while '"event": "step"' not in _text(out / "log.jsonl"):  # training steps are running, workers are up
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == "acnet: interrupted\n", err


def _text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


#: A command whose KeyboardInterrupt a library swallows (as a destructor or callback does), in acnet's CLI guard.
SWALLOWS_CTRL_C = """
import sys, time
import acnet.cli as cli
cli.INTERRUPT_GRACE_S = 3.0
with cli._Interrupts():
    ready = False
    while True:
        try:
            if not ready:  # inside the try: a Ctrl-C right after "ready" is swallowed too
                print("ready", flush=True)
                ready = True
            time.sleep(0.02)
        except KeyboardInterrupt:
            pass
"""


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_ends_the_command_even_when_the_interrupt_is_swallowed(presses):
    import time

    proc = subprocess.Popen([sys.executable, "-c", SWALLOWS_CTRL_C], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        start = time.monotonic()
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.1)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - start
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == "acnet: interrupted\n", err
    # one press: after the grace period (3 s here); a second press: at once
    assert (2.9 < took < 20) if presses == 1 else took < 2.5, took


def test_data_loader_workers_drop_only_the_resource_sharers_hand_over_errors(capsys):
    from acnet.training.data.workers import init_worker

    def traceback_from(filename: str, error: str):
        try:
            exec(compile(f"raise {error}", filename, "exec"))
        except BaseException as exc:  # noqa: BLE001 - the traceback is what the test needs
            return type(exc), exc, exc.__traceback__

    before = sys.excepthook
    try:
        init_worker(0)
        sys.excepthook(*traceback_from("/usr/lib/python3/multiprocessing/resource_sharer.py", "ConnectionResetError(104, 'reset')"))
        sys.excepthook(*traceback_from("/usr/lib/python3/multiprocessing/resource_sharer.py", "BrokenPipeError(32, 'pipe')"))
        assert capsys.readouterr().err == ""
        sys.excepthook(*traceback_from("/somewhere/else.py", "ConnectionResetError(104, 'reset')"))
        sys.excepthook(*traceback_from("/usr/lib/python3/multiprocessing/resource_sharer.py", "ValueError('other')"))
        err = capsys.readouterr().err
        assert "ConnectionResetError" in err and "ValueError: other" in err
    finally:
        sys.excepthook = before


def test_missing_dependency_is_one_line(tmp_path):
    """The installed command where torch cannot be imported (the runtime's torch-free technique)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent("""
        import importlib.abc, sys

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "torchvision"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, Blocker())
    """))
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = run_acnet("train", "--epochs", "1", env=env)
    assert_one_line_error(proc, "`acnet train` needs torch, which is not installed; pip install 'acnet[train]'")
    version = run_acnet("--version", env=env)
    assert version.returncode == 0 and version.stderr == "" and version.stdout.startswith("acnet, version ")
