"""Camera-native models in the C library: the AOTInductor package carries the heads, the library none.

One package is compiled with `acnet export aoti --io camera` (tests/support/capi_artifacts.py) for the same
camera as the ONNX export there; the library and its programs are the ones test_capi.py builds.
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from support.capi_artifacts import (CAMERA_HEIGHT, CAMERA_WIDTH, aoti_package, camera_onnx, camera_package, capi_build, checkpoint,
                            read_pgm8, write_pgm16, write_ppm)

from acnet.runtime import Segmenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return capi_build(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def package(tmp_path_factory, tiny_config):
    return camera_package(tmp_path_factory, tiny_config)


def _run(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_package_takes_camera_buffers(package):
    """`acnet export aoti --io camera`: verified against PyTorch through the numpy runtime (ties only) and
    carrying the camera in its metadata, read without torch."""
    from acnet.export.aoti import read_package_info

    path, stdout = package
    info = read_package_info(path)
    assert info.camera is not None and info.camera.size == (CAMERA_HEIGHT, CAMERA_WIDTH) and info.output == "labels"
    report = json.loads(path.with_name("camera.aoti.verify.json").read_text())["verification"]
    assert report["passed"] and report["other_differences"] == 0 and report["max_confidence_diff"] <= 1
    assert "camera-native model vs PyTorch FP32 through the numpy runtime" in stdout


def test_segment_example_hands_the_frame_to_the_package(build, package, tmp_path_factory, tiny_config, tmp_path):
    """build/segment on the camera package: the labels and confidence of PyTorch through the numpy runtime
    (but for ties), as the ONNX export of the same camera gives them, with no library work around the
    model to speak of (its own time is printed apart)."""
    from acnet.export.camera import camera_frame
    from acnet.export.verify import compare_labels
    from acnet.runtime.preprocess import preprocess
    from acnet.training.checkpoint import load_model

    onnx_seg = Segmenter(camera_onnx(tmp_path_factory, tiny_config)[0])
    info = onnx_seg.info
    rgb, depth = camera_frame(info, seed=31)
    _run(build / "segment", "--repeat", 3, "--confidence", tmp_path / "conf.pgm", package[0],
         write_ppm(tmp_path / "f.ppm", rgb), write_pgm16(tmp_path / "f.pgm", depth), tmp_path / "labels.pgm")
    labels, confidence = read_pgm8(tmp_path / "labels.pgm"), read_pgm8(tmp_path / "conf.pgm")
    out = _run(build / "segment", "--repeat", 3, package[0], tmp_path / "f.ppm", tmp_path / "f.pgm", tmp_path / "l2.pgm").stdout
    assert f"camera-native: {CAMERA_HEIGHT}x{CAMERA_WIDTH} frames, uint16 depth" in out
    assert re.search(r"median model [\d.]+ ms, outside the model [\d.]+ ms", out)
    assert np.array_equal(read_pgm8(tmp_path / "l2.pgm"), labels)

    import torch

    model, _ = load_model(checkpoint(tmp_path_factory, tiny_config))
    x, d = preprocess(rgb, depth, info.preprocess_config, info.camera.depth_scale)
    with torch.inference_mode():
        logits = model(torch.from_numpy(x[None]), torch.from_numpy(d[None]))[0].numpy()
    result = compare_labels(logits, labels, confidence)  # the reference at the network's size, as the heads
    assert result.other_differences == 0 and result.max_confidence_diff <= 1, result
    onnx_labels, _ = onnx_seg.segment_with_confidence(rgb, depth)
    assert (onnx_labels == labels).mean() >= 0.999


def test_the_c_calls_of_camera_native_models(build, package, tmp_path_factory, tiny_config):
    """From C: acnet_camera, acnet_segment_camera (confidence optional) and acnet_segment agree; a frame of
    another size or depth type, NULLs and logits are refused with their status; a tensor package refuses
    the camera calls; acnet_last_timing reports the model's share of the call."""
    proc = _run(build / "capi_check", "camera", package[0], aoti_package(tmp_path_factory, tiny_config)[0], check=False)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failed, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") >= 15

