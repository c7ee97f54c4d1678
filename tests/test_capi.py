"""The C ABI: built with CMake, run from C, compared with the Python runtime.

The library, its example and the test programs (acnet/runtime/c/tests) are
built once with `acnet capi build --tests`; a tiny model is exported once
with `acnet export aoti` (tests/support/capi_artifacts.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support.capi_artifacts import (
    HEIGHT,
    WIDTH,
    aoti_package,
    capi_build,
    checkpoint,
    onnx_model,
    read_pgm8,
    write_pgm16,
    write_ppm,
    wrongly_folded_package,
)
from click.testing import CliRunner

import acnet
from acnet.cli import main
from acnet.errors import ConfigError
from acnet.runtime.capi import rpath_environment, without_torch_lib
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.postprocess import postprocess_logits
from acnet.runtime.preprocess import Normalization, PreprocessConfig, preprocess, resize_nearest

pytestmark = pytest.mark.slow

HEADER = Path(acnet.__file__).parent / "runtime" / "c" / "include" / "acnet.h"


@pytest.fixture(scope="session")
def build(tmp_path_factory) -> Path:
    return capi_build(tmp_path_factory)[0]


@pytest.fixture(scope="session")
def package(tmp_path_factory, tiny_config) -> Path:
    return aoti_package(tmp_path_factory, tiny_config)[0]


@pytest.fixture(scope="session")
def segmenter(tmp_path_factory, tiny_config):
    """The Python runtime on the ONNX export of the same checkpoint."""
    from acnet.runtime import Segmenter

    with Segmenter(onnx_model(tmp_path_factory, tiny_config)) as seg:
        yield seg


def run(*args, check: bool = True) -> subprocess.CompletedProcess:
    env = rpath_environment(os.environ)  # the rpath must be enough to find libtorch
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_the_rpath_check_keeps_the_drivers_folders_on_the_library_path():
    """Only torch's own lib folder leaves LD_LIBRARY_PATH: the GPU machines' driver lives under /usr/local/nvidia."""
    torch_lib = "/opt/torch/.venv/lib/python3.12/site-packages/torch/lib"
    value = os.pathsep.join(["/usr/local/nvidia/lib64", torch_lib, "", "/usr/local/cuda/lib64", torch_lib + "/",
                             "/x/site-packages/torch/lib/../lib", "/opt/torch/.venv/lib", "/opt/mytorch/lib"])
    # /x/site-packages/torch/lib/../lib is /x/site-packages/torch/lib; /opt/torch/.venv/lib and mytorch are not torch's lib
    assert without_torch_lib(value) == os.pathsep.join(["/usr/local/nvidia/lib64", "/usr/local/cuda/lib64",
                                                        "/opt/torch/.venv/lib", "/opt/mytorch/lib"])
    assert without_torch_lib(torch_lib) is None and without_torch_lib("") is None and without_torch_lib(None) is None
    env = rpath_environment({"PATH": "/bin", "LD_LIBRARY_PATH": os.pathsep.join(["/usr/local/nvidia/lib64", torch_lib])})
    assert env == {"PATH": "/bin", "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64"}
    assert rpath_environment({"PATH": "/bin", "LD_LIBRARY_PATH": torch_lib}) == {"PATH": "/bin"}


def segment_example(build: Path, package: Path, rgb: np.ndarray, depth: np.ndarray, tmp: Path, *extra):
    """Run examples/segment.c on one frame: (labels, logits at the model's size, stdout)."""
    rgb_path = write_ppm(tmp / "frame.ppm", rgb)
    depth_path = write_pgm16(tmp / "frame.pgm", depth)
    out, logits = tmp / "labels.pgm", tmp / "logits.f32"
    proc = run(build / "segment", "--logits", logits, *extra, package, rgb_path, depth_path, out)
    return read_pgm8(out), np.fromfile(logits, np.float32), proc.stdout


# --------------------------------------------------------------------------- build and link


def test_build_command_runs_the_documented_cmake_steps(tmp_path_factory):
    build, stdout = capi_build(tmp_path_factory)
    commands = [line for line in stdout.splitlines() if line.startswith("$ cmake")]
    assert len(commands) == 2
    assert f"-S {HEADER.parent.parent}" in commands[0] and f"-B {build}" in commands[0]
    assert commands[1].startswith(f"$ cmake --build {build}")
    assert f"built {build / 'libacnet.so'}" in stdout
    for name in ("libacnet.so", "segment", "capi_check", "kernels_check"):
        assert (build / name).is_file(), name
    # CMake's and the compiler's output is captured, and shown once each step succeeded.
    assert "-- Configuring done" in stdout and "Built target acnet" in stdout
    assert stdout.index("-- Configuring done") < stdout.index("$ cmake --build") < stdout.index("Built target acnet")
    assert not (build / "acnet-build.log").exists()  # a log is left only by a failed build


def test_library_finds_libtorch_through_its_rpath(build):
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    dynamic = run("readelf", "-d", build / "libacnet.so").stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", dynamic)
    assert {"libtorch.so", "libtorch_cpu.so", "libc10.so"} <= set(needed)
    runpath = re.search(r"\((?:RUNPATH|RPATH)\).*\[(.+)\]", dynamic).group(1).split(":")
    assert any(Path(p, "libtorch.so").is_file() for p in runpath)


def test_only_the_header_functions_are_exported(build):
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    declared = set(re.findall(r"ACNET_API [^;]*?\b(acnet_\w+)\(", HEADER.read_text()))
    symbols = run("nm", "-D", "--defined-only", build / "libacnet.so").stdout.split()
    exported = {s for s in symbols if s.startswith("acnet_")}
    assert declared == exported
    assert len(declared) == 16  # 13, and the camera-native calls acnet_segment_camera, acnet_camera, acnet_last_timing


def test_header_is_plain_c99(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    source = tmp_path / "use.c"
    source.write_text(
        '#include "acnet.h"\n'
        "int main(void) { acnet_session* s = 0; return acnet_session_create(\"x\", 0, &s) == ACNET_OK; }\n"
    )
    run(cc, "-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-I", HEADER.parent, "-c", source, "-o", tmp_path / "use.o")


def test_capi_module_does_not_import_torch():
    code = "import sys, acnet.runtime.capi; assert 'torch' not in sys.modules, 'capi imported torch'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_build_without_cmake_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no cmake here
    result = CliRunner().invoke(main, ["capi", "build", "--build-dir", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "acnet: error: cmake was not found on PATH" in result.output


def test_paths_command_says_where_things_are(build, tmp_path):
    from acnet.runtime.capi import include_dir

    built = CliRunner().invoke(main, ["capi", "paths", "--build-dir", str(build)])
    assert built.exit_code == 0 and f"include: {include_dir()}" in built.output
    assert f"library: {build / 'libacnet.so'}" in built.output and "-lacnet" in built.output
    empty = CliRunner().invoke(main, ["capi", "paths", "--build-dir", str(tmp_path)])
    assert "not built yet" in empty.output


def test_library_path_names_the_fix_when_not_built(tmp_path):
    from acnet.runtime.capi import example_path, library_path

    with pytest.raises(ConfigError, match="acnet capi build"):
        library_path(tmp_path)
    with pytest.raises(ConfigError, match="acnet capi build"):
        example_path(tmp_path)


# --------------------------------------------------------------------------- the C++ preprocessing is preprocess.py


def _metadata(tmp: Path, height: int, width: int, norm: Normalization) -> Path:
    info = ModelInfo("0.1.0", "resnet18", 3, ("a", "b", "c"), height, width, normalization=norm)
    path = tmp / "info.json"
    path.write_text(json.dumps(info.to_dict()))
    return path


@pytest.mark.parametrize(
    "frame, model",
    [((480, 640), (64, 96)), ((30, 50), (64, 96)), ((64, 96), (64, 96)), ((1, 1), (32, 32)), ((7, 1000), (96, 64)), ((481, 17), (480, 640))],
)
def test_preprocessing_is_bit_identical_to_numpy(build, tmp_path, frame, model):
    rng = np.random.default_rng(sum(frame))
    rgb = rng.integers(0, 256, (*frame, 3), dtype=np.uint8)
    depth = rng.integers(0, 10000, frame, dtype=np.uint16)
    depth[rng.random(frame) < 0.1] = 0
    norm = Normalization((0.48500, 0.41628, 0.39818), (0.26416, 0.27284, 0.28312), 2.84245, 0.99328)
    info = _metadata(tmp_path, *model, norm)
    rgb.tofile(tmp_path / "rgb.u8")
    depth.tofile(tmp_path / "depth.u16")
    run(build / "kernels_check", "preprocess", info, tmp_path / "rgb.u8", tmp_path / "depth.u16", *frame, tmp_path / "r.f32", tmp_path / "d.f32")

    want_rgb, want_depth = preprocess(rgb, depth, PreprocessConfig(*model, norm))
    got_rgb = np.fromfile(tmp_path / "r.f32", np.float32).reshape(want_rgb.shape)
    got_depth = np.fromfile(tmp_path / "d.f32", np.float32).reshape(want_depth.shape)
    np.testing.assert_array_equal(got_rgb.view(np.uint32), want_rgb.view(np.uint32))
    np.testing.assert_array_equal(got_depth.view(np.uint32), want_depth.view(np.uint32))


@pytest.mark.parametrize("model, frame", [((16, 24), (16, 24)), ((16, 24), (480, 640)), ((64, 96), (33, 47)), ((8, 8), (1, 300))])
def test_label_postprocessing_is_identical_to_numpy(build, tmp_path, model, frame):
    rng = np.random.default_rng(model[0] * frame[1])
    logits = rng.normal(size=(5, *model)).astype(np.float32)
    logits[2, :3, :3] = logits[4, :3, :3] = 9.0  # ties go to the lowest channel
    logits[1, -1, -1] = np.nan  # NaN -> void (0), as logits_to_class_ids
    logits.tofile(tmp_path / "logits.f32")
    run(build / "kernels_check", "labels", tmp_path / "logits.f32", 5, *model, *frame, tmp_path / "labels.u8")
    got = np.fromfile(tmp_path / "labels.u8", np.uint8).reshape(frame)
    np.testing.assert_array_equal(got, postprocess_logits(logits, *frame))


def test_label_maps_of_argmax_models_resize_like_segmenter(build, tmp_path):
    labels = np.random.default_rng(3).integers(1, 41, (24, 32), dtype=np.int32)
    labels.tofile(tmp_path / "labels.i32")
    run(build / "kernels_check", "resize-labels", tmp_path / "labels.i32", 24, 32, 77, 101, tmp_path / "out.u8")
    got = np.fromfile(tmp_path / "out.u8", np.uint8).reshape(77, 101)
    np.testing.assert_array_equal(got, resize_nearest(labels, 77, 101).astype(np.uint8))


# --------------------------------------------------------------------------- metadata checks
# The readers of metadata and sidecars are tested, against Python's, on the shared cases of
# tests/metadata_cases.json (tests/test_metadata_cases.py); here the AOTI session path over them.


# --------------------------------------------------------------------------- sessions from C


def test_every_error_path_from_c(build, package, tmp_path_factory, tiny_config):
    proc = run(build / "capi_check", "errors", package, check=False)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failed, proc.stdout + proc.stderr
    checks = [line for line in proc.stdout.splitlines() if line.startswith("ok ")]
    assert len(checks) >= 50
    assert f"version={acnet.__version__}" in proc.stdout
    names = re.findall(r"^class (\d+)=(.*)$", proc.stdout, re.M)
    assert [n for _, n in names] == [f"class {i} é" for i in range(1, tiny_config.num_classes + 1)]


def test_one_session_shared_by_threads(build, package):
    proc = run(build / "capi_check", "threads", package, check=False)
    assert proc.returncode == 0 and "ok threads_share_one_session" in proc.stdout, proc.stdout + proc.stderr


def _rewrite_metadata(package: Path, out: Path, change) -> Path:
    """A copy of the package whose metadata JSON files went through ``change(dict)``."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("_metadata.json"):
                meta = json.loads(data)
                change(meta)
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    return out


def _model_info_change(**changes):
    def change(meta):
        info = json.loads(meta["acnet.model_info"])
        info.update(changes)
        meta["acnet.model_info"] = json.dumps(info)

    return change


def _foreign_artifacts(tmp: Path, package: Path, checkpoint_path: Path, onnx_path: Path) -> list[tuple[str, Path, str | None, str, str]]:
    """(case, path, device, status, message fragment)."""
    (tmp / "folder.pt2").mkdir()
    (tmp / "noise.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp / "noise.pt2").write_bytes(np.random.default_rng(1).bytes(4096))
    (tmp / "truncated.pt2").write_bytes(package.read_bytes()[: 1 << 20])
    (tmp / "model.engine").write_bytes(b"\x00" * 1024)
    invalid = "ACNET_ERROR_INVALID_ARTIFACT"
    return [
        ("missing", tmp / "missing.pt2", None, "ACNET_ERROR_NOT_FOUND", "not found"),
        ("directory", tmp / "folder.pt2", None, invalid, "is a directory"),
        ("noise", tmp / "noise.bin", None, invalid, "neither an AOTInductor package"),
        ("noise-pt2", tmp / "noise.pt2", None, invalid, "not a zip archive"),
        ("truncated", tmp / "truncated.pt2", None, invalid, "not an AOTInductor package"),
        ("checkpoint", checkpoint_path, None, invalid, "not an AOTInductor package"),
        ("onnx", onnx_path, None, invalid, "is an ONNX model"),
        ("engine-without-tensorrt", tmp / "model.engine", None, "ACNET_ERROR_UNSUPPORTED", "TensorRT"),
        ("no-acnet-metadata", _rewrite_metadata(package, tmp / "plain.pt2", lambda m: m.pop("acnet.model_info")), None, invalid, "without acnet metadata"),
        (
            "class-count-mismatch",
            _rewrite_metadata(package, tmp / "classes.pt2", _model_info_change(num_classes=4, class_names=list("abcd"))),
            None,
            invalid,
            "output has shape",
        ),
        ("newer-schema", _rewrite_metadata(package, tmp / "schema.pt2", _model_info_change(schema_version=7)), None, invalid, "newer acnet"),
        ("class-id-overflow", _rewrite_metadata(package, tmp / "offset.pt2", _model_info_change(class_id_offset=2**31 - 1)),
         None, invalid, "'class_id_offset' must be an integer in 0..255"),
        ("std-zero-in-float32", _rewrite_metadata(package, tmp / "std.pt2", _model_info_change(
            normalization={"rgb_mean": [0, 0, 0], "rgb_std": [1, 1e-320, 1], "depth_mean": 0, "depth_std": 1})),
         None, invalid, "'normalization.rgb_std[1]' is out of range for the float32 preprocessing"),
        ("depth-in-mm", _rewrite_metadata(package, tmp / "mm.pt2", _model_info_change(depth_unit="mm")), None,
         "ACNET_ERROR_UNSUPPORTED", "expects depth in 'mm'"),
        ("batch-4", _rewrite_metadata(package, tmp / "batch.pt2", _model_info_change(batch=4)), None, "ACNET_ERROR_UNSUPPORTED", "one frame at a time"),
        ("other-machine", _rewrite_metadata(package, tmp / "arm.pt2", lambda m: m.update(AOTI_MACHINE="riscv64")), None, "ACNET_ERROR_UNSUPPORTED", "compiled for riscv64"),
        ("cuda-for-cpu-package", package, "cuda", "ACNET_ERROR_UNSUPPORTED", "compiled for the CPU"),
        ("unknown-device", package, "npu:0", "ACNET_ERROR_INVALID_ARGUMENT", "unknown device"),
    ]


def test_missing_foreign_and_mismatched_artifacts_are_refused(build, package, tmp_path, tmp_path_factory, tiny_config):
    cases = _foreign_artifacts(tmp_path, package, checkpoint(tmp_path_factory, tiny_config), onnx_model(tmp_path_factory, tiny_config))
    problems = []
    for case, path, device, status, fragment in cases:
        proc = run(build / "capi_check", "open", path, *([device] if device else []), check=False)
        fields = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        if proc.returncode != 0 or fields.get("status") != status or fragment not in fields.get("message", ""):
            problems.append(f"{case}: rc={proc.returncode} {proc.stdout.strip()} {proc.stderr.strip()[-300:]}")
    assert not problems, "\n".join(problems)


def test_a_valid_package_opens_with_its_facts(build, package, tiny_config):
    out = run(build / "capi_check", "open", package, "cpu").stdout
    assert "status=ACNET_OK" in out and "backend=aoti/cpu" in out
    assert f"classes={tiny_config.num_classes}" in out and f"input={HEIGHT}x{WIDTH}" in out


# --------------------------------------------------------------------------- the example against the Python runtime


def _compare_with_python(build, package, segmenter, rgb, depth, tmp_path):
    labels, logits, stdout = segment_example(build, package, rgb, depth, tmp_path)
    assert labels.shape == rgb.shape[:2]
    # Same logits as the Python runtime on the ONNX export of the same checkpoint ...
    py_logits = segmenter.logits(rgb, depth)
    c_logits = logits.reshape(py_logits.shape)
    assert np.abs(c_logits - py_logits).max() < 1e-3 * max(1.0, np.abs(py_logits).max())
    # ... and its labels at the frame's size.
    agreement = float((labels == segmenter.segment(rgb, depth)).mean())
    assert agreement >= 0.999, f"C vs Python runtime agreement {agreement:.5f}"
    # The C labels are exactly the Python postprocessing of the C logits.
    np.testing.assert_array_equal(labels, postprocess_logits(c_logits, *rgb.shape[:2]))
    assert len(np.unique(labels)) > 1, "a one-class prediction would make agreement meaningless"
    return agreement, stdout


def test_example_matches_python_runtime_on_real_frames(build, package, segmenter, shared_data, tmp_path):
    from acnet.runtime.images import read_depth, read_rgb

    root = shared_data / "nyuv2-samples" / "test"
    for frame in ("0001", "0433"):  # 0433 is raw Kinect depth with holes
        rgb, depth = read_rgb(root / "rgb" / f"{frame}.png"), read_depth(root / "depth" / f"{frame}.png")
        assert depth.dtype == np.uint16
        agreement, stdout = _compare_with_python(build, package, segmenter, rgb, depth, tmp_path)
        print(f"frame {frame}: C vs Python runtime agreement {agreement:.5%}")
        assert "segmented 480x640" in stdout


def test_example_matches_python_runtime_on_a_synthetic_frame(build, package, segmenter, tmp_path):
    from acnet.export.verify import synthetic_frame

    rgb, depth = synthetic_frame(250, 333, seed=4)
    _compare_with_python(build, package, segmenter, rgb, depth, tmp_path)


def test_example_comparison_catches_a_wrongly_folded_batchnorm(build, segmenter, tmp_path_factory, tiny_config, tmp_path):
    """The same comparison fails on a package whose BatchNorms were folded along the wrong axis."""
    from acnet.export.verify import synthetic_frame

    wrong = wrongly_folded_package(tmp_path_factory, tiny_config)
    rgb, depth = synthetic_frame(250, 333, seed=4)
    with pytest.raises(AssertionError) as caught:
        _compare_with_python(build, wrong, segmenter, rgb, depth, tmp_path)
    print(caught.value)


def test_example_refuses_bad_images(build, package, tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    ppm = write_ppm(tmp_path / "a.ppm", rgb)
    depth16 = write_pgm16(tmp_path / "d.pgm", np.ones((10, 12), np.uint16))
    depth8 = tmp_path / "d8.pgm"
    depth8.write_bytes(b"P5\n12 10\n255\n" + bytes(120))
    small = write_pgm16(tmp_path / "small.pgm", np.ones((5, 12), np.uint16))
    truncated = tmp_path / "t.ppm"
    truncated.write_bytes(ppm.read_bytes()[:100])
    files = {  # what issue 27 found the example accepting, and more
        "huge.ppm": b"P6 16384 16384 65535\n" + bytes(3),  # 24 bytes promising 1.6 GB
        "glued.ppm": b"P610 12 255\n" + bytes(360),  # no whitespace after the magic number
        "extra.ppm": ppm.read_bytes() + b"\0",
        "rgb-above-maxval.ppm": b"P6 12 10 100\n" + bytes([101]) * 360,
        "depth-above-maxval.pgm": b"P5 12 10 1000\n" + (5000).to_bytes(2, "big") * 120,
        "comment-after-maxval.ppm": b"P6 12 10 255#c\n" + bytes(360),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "o.pgm"
    for args, message in (
        ((package, ppm, depth8, out), "must be a 16-bit depth map"),
        ((package, ppm, small, out), "rgb is 10x12 but depth is 5x12"),
        ((package, truncated, depth16, out), "is truncated: its header promises a 10x12 image"),
        ((package, depth16, depth16, out), "is not a binary P6 file"),
        ((package, tmp_path / "huge.ppm", depth16, out), "is truncated: its header promises a 16384x16384 image"),
        ((package, tmp_path / "glued.ppm", depth16, out), "is not a binary P6 file"),
        ((package, tmp_path / "comment-after-maxval.ppm", depth16, out), "is not a binary P6 file"),
        ((package, tmp_path / "extra.ppm", depth16, out), "has data after its 10x12 image"),
        ((package, tmp_path / "rgb-above-maxval.ppm", depth16, out), "has a sample of 101 above its maxval 100"),
        ((package, ppm, tmp_path / "depth-above-maxval.pgm", out), "has a sample of 5000 above its maxval 1000"),
        ((tmp_path / "none.pt2", ppm, depth16, out), "ACNET_ERROR_NOT_FOUND"),
        ((package, ppm), "usage: segment"),
        (("--repeat", "3x", package, ppm, depth16, out), "usage: segment"),
    ):
        proc = run(build / "segment", *args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
    assert not out.exists()


def _netpbm(path: Path, kind: str, samples: np.ndarray, maxval: int) -> Path:
    h, w = samples.shape[:2]
    data = samples.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    path.write_bytes(f"P{kind}\n{w} {h}\n{maxval}\n".encode() + data)
    return path


def test_example_scales_rgb_by_its_maxval(build, package, tmp_path):
    """A PPM of maxval 100 or 65535 is the 8-bit frame its samples stand for (Netpbm: sample / maxval)."""
    from acnet.export.verify import synthetic_frame

    rgb, depth = synthetic_frame(30, 40, seed=7)
    depth_path = _netpbm(tmp_path / "d.pgm", "5", depth, 65535)
    low = (rgb.astype(np.int64) * 100 + 127) // 255  # a 0..100 image ...
    as_8_bit = ((low * 255 + 50) // 100).astype(np.uint8)  # ... and the 8-bit image it stands for
    results = {}
    for name, samples, maxval in (("8-bit", as_8_bit, 255), ("maxval-100", low, 100),
                                  ("16-bit", as_8_bit.astype(np.int64) * 257, 65535)):
        rgb_path = _netpbm(tmp_path / f"{name}.ppm", "6", samples, maxval)
        labels, logits = tmp_path / f"{name}.pgm", tmp_path / f"{name}.f32"
        run(build / "segment", "--logits", logits, package, rgb_path, depth_path, labels)
        results[name] = (read_pgm8(labels), np.fromfile(logits, np.float32))
    for name in ("maxval-100", "16-bit"):
        np.testing.assert_array_equal(results[name][0], results["8-bit"][0])
        np.testing.assert_array_equal(results[name][1], results["8-bit"][1])


def test_dynamic_batch_package_at_another_size_runs_in_python_and_c(build, tmp_path_factory, tiny_config, tmp_path):
    """--dynamic-batch and a height/width override; the C library runs it one frame at a time."""
    import torch

    from acnet.export.aoti import AotiExportOptions, export_aoti, read_package_info
    from acnet.training.checkpoint import load_model

    ckpt = checkpoint(tmp_path_factory, tiny_config)
    path = export_aoti(ckpt, tmp_path / "dyn.pt2", AotiExportOptions(height=32, width=64, batch=0))
    info = read_package_info(path)
    assert (info.batch, info.input_height, info.input_width) == (0, 32, 64)

    model, _ = load_model(ckpt)
    runner = torch._inductor.aoti_load_package(str(path))
    for n in (1, 3):
        rgb, depth = torch.randn(n, 3, 32, 64), torch.randn(n, 1, 32, 64)
        with torch.inference_mode():
            assert (runner(rgb, depth) - model(rgb, depth)).abs().max().item() < 1e-3

    out = run(build / "capi_check", "open", path).stdout
    assert "status=ACNET_OK" in out and "input=32x64" in out


def test_installed_library_serves_a_cmake_consumer(build, package, tmp_path, tiny_config):
    """`cmake --install` + find_package(acnet): a C app links acnet::acnet and runs without LD_LIBRARY_PATH."""
    prefix, project = tmp_path / "prefix", tmp_path / "consumer"
    run("cmake", "--install", build, "--prefix", prefix)
    assert (prefix / "include" / "acnet.h").is_file() and (prefix / "bin" / "segment").is_file()
    project.mkdir()
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(consumer C)\nfind_package(acnet REQUIRED)\n"
        "add_executable(app app.c)\ntarget_link_libraries(app PRIVATE acnet::acnet)\n"
    )
    (project / "app.c").write_text(
        "#include <stdio.h>\n#include <acnet.h>\n"
        "int main(int argc, char** argv) {\n"
        "  acnet_session* s = NULL; int c = 0;\n"
        "  if (argc < 2 || acnet_session_create(argv[1], NULL, &s) != ACNET_OK) return 1;\n"
        "  acnet_num_classes(s, &c); printf(\"%s %d\\n\", acnet_version(), c);\n"
        "  acnet_session_destroy(s); return 0;\n}\n"
    )
    run("cmake", "-S", project, "-B", project / "build", f"-DCMAKE_PREFIX_PATH={prefix}")
    run("cmake", "--build", project / "build")
    assert run(project / "build" / "app", package).stdout.split() == [acnet.__version__, str(tiny_config.num_classes)]
