"""acnet.runtime.Segmenter on ONNX Runtime, with tiny hand-built models (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from support.runtime_models import NUM_CLASSES, frame, make_onnx, reference_labels, reference_logits, tiny_info

from acnet.errors import BackendUnavailableError, ConfigError, InputError, ModelFileError
from acnet.runtime import Segmenter
from acnet.runtime.backends import BatchLimits, Device, choose_backend
from acnet.runtime.backends.ort import CPU, CUDA, TENSORRT, choose_providers
from acnet.runtime.preprocess import resize_nearest


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "fixed": make_onnx(root / "fixed.onnx"),
        "dynamic": make_onnx(root / "dynamic.onnx", batch="N"),
        "batch3": make_onnx(root / "batch3.onnx", batch=3),
        "labels": make_onnx(root / "labels.onnx", output="labels"),
        "fp16": make_onnx(root / "fp16.onnx", fp16=True),
        "dynamic_hw": make_onnx(root / "dynamic_hw.onnx", batch="N", dynamic_hw=True),
    }


@pytest.fixture(scope="module")
def seg(models) -> Segmenter:
    return Segmenter(models["fixed"], threads=1)


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("size", [(32, 64), (48, 80), (17, 29)])
def test_segment_returns_class_ids_at_the_frame_size(seg, size):
    rgb, depth = frame(*size)
    labels = seg.segment(rgb, depth)
    assert labels.shape == size and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, reference_labels(rgb, depth, seg.info))
    assert labels.min() >= 1 and labels.max() <= NUM_CLASSES  # 0 is void, never predicted


def test_logits_are_at_model_size_and_match_the_network(seg):
    rgb, depth = frame(48, 80, seed=3)
    logits = seg.logits(rgb, depth)
    assert logits.shape == (NUM_CLASSES, 32, 64) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, reference_logits(rgb, depth, seg.info), rtol=1e-5, atol=1e-5)


def test_metadata_drives_the_runtime(seg):
    assert seg.class_names == tiny_info().class_names
    assert seg.num_classes == NUM_CLASSES and seg.input_size == (32, 64)
    assert seg.info.normalization == tiny_info().normalization
    assert "onnxruntime" in repr(seg) and "5 classes" in repr(seg)


def test_float_metres_and_depth_scale_give_the_same_labels(seg):
    rgb, depth_mm = frame(32, 64, seed=5)
    metres = depth_mm.astype(np.float32) * np.float32(0.001)
    expected = seg.segment(rgb, depth_mm)
    np.testing.assert_array_equal(seg.segment(rgb, metres), expected)
    # raw units of 0.1 mm with their scale given: the same metres, so the same answer
    tenth_mm = depth_mm.astype(np.uint16) * np.uint16(10)
    assert tenth_mm.dtype == np.uint16 and int(tenth_mm.max()) == 10 * int(depth_mm.max())
    np.testing.assert_allclose(seg.logits(rgb, tenth_mm, depth_scale=0.0001), seg.logits(rgb, depth_mm),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(seg.segment(rgb, tenth_mm, depth_scale=0.0001), expected)
    # ... and read with the default millimetre scale they are ten times too far: another answer
    assert not np.allclose(seg.logits(rgb, tenth_mm), seg.logits(rgb, depth_mm), atol=1e-3)


def test_depth_holes_are_valid(seg):
    rgb, depth = frame(32, 64, seed=6)
    depth[::3] = 0
    np.testing.assert_array_equal(seg.segment(rgb, depth), reference_labels(rgb, depth, seg.info))


def test_session_is_created_once_and_reused(seg):
    session = seg.backend.session
    for seed in range(3):
        seg.segment(*frame(32, 64, seed))
    assert seg.backend.session is session
    options = session.get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.intra_op_num_threads == 1
    assert session.get_providers() == [CPU]


def test_io_binding_gives_the_same_result_and_binds_once_per_shape(models, seg):
    bound = Segmenter(models["dynamic"], io_binding=True, batch_size=2)
    assert bound.backend.io_binding
    frames = [frame(40, 70, seed) for seed in range(5)]
    expected = [seg.segment(*f) for f in frames]
    for _ in range(2):
        got = bound.segment_batch(frames)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    # batches of 2, 2 and 1: two shapes, each bound once across both passes
    assert sorted(k[0] for k in bound.backend._bindings) == [1, 2]


# --------------------------------------------------------------------------- batches


def _count_runs(segmenter, monkeypatch) -> list[int]:
    sizes: list[int] = []
    original = segmenter.backend.run

    def run(rgb, depth):
        sizes.append(rgb.shape[0])
        return original(rgb, depth)

    monkeypatch.setattr(segmenter.backend, "run", run)
    return sizes


@pytest.mark.parametrize(("model", "batch_size", "runs"), [("dynamic", 2, [2, 2, 1]), ("batch3", None, [3, 3]), ("fixed", 4, [1] * 5)])
def test_segment_batch_chunks_to_the_models_batch(models, seg, monkeypatch, model, batch_size, runs):
    segmenter = Segmenter(models[model], batch_size=batch_size)
    sizes = _count_runs(segmenter, monkeypatch)
    frames = [frame(24 + 8 * i, 48 + 4 * i, seed=i) for i in range(5)]  # different sizes
    labels = segmenter.segment_batch(frames)
    assert sizes == runs
    assert [lab.shape for lab in labels] == [f[0].shape[:2] for f in frames]
    for lab, f in zip(labels, frames):
        np.testing.assert_array_equal(lab, seg.segment(*f))


def test_fixed_batch_model_pads_a_single_frame(models, seg):
    rgb, depth = frame(32, 64, seed=9)
    segmenter = Segmenter(models["batch3"])
    np.testing.assert_array_equal(segmenter.segment(rgb, depth), seg.segment(rgb, depth))
    np.testing.assert_allclose(segmenter.logits(rgb, depth), seg.logits(rgb, depth), atol=1e-6)


def test_argmax_model_segments_but_has_no_logits(models, seg):
    segmenter = Segmenter(models["labels"])
    assert segmenter.outputs_labels
    rgb, depth = frame(32, 64, seed=2)
    np.testing.assert_array_equal(segmenter.segment(rgb, depth), seg.segment(rgb, depth))  # same size: exact
    big_rgb, big_depth = frame(64, 128, seed=2)
    small = np.argmax(reference_logits(big_rgb, big_depth, seg.info), axis=0).astype(np.uint8) + 1
    np.testing.assert_array_equal(segmenter.segment(big_rgb, big_depth), resize_nearest(small, 64, 128))
    with pytest.raises(ConfigError, match="--argmax"):
        segmenter.logits(rgb, depth)


def test_fp16_model_takes_and_gives_float32(models, seg):
    segmenter = Segmenter(models["fp16"])
    rgb, depth = frame(32, 64, seed=4)
    logits = segmenter.logits(rgb, depth)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, seg.logits(rgb, depth), atol=0.05)
    assert (segmenter.segment(rgb, depth) == seg.segment(rgb, depth)).mean() > 0.98


def test_dynamic_hw_model_runs_at_a_chosen_size(models, seg):
    segmenter = Segmenter(models["dynamic_hw"], input_size=(64, 96))
    rgb, depth = frame(64, 96, seed=8)
    assert segmenter.logits(rgb, depth).shape == (NUM_CLASSES, 64, 96)
    np.testing.assert_allclose(
        segmenter.logits(rgb, depth), reference_logits(rgb, depth, seg.info, size=(64, 96)), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ConfigError, match="multiples of 32"):
        Segmenter(models["dynamic_hw"], input_size=(50, 96))
    with pytest.raises(ConfigError, match="--dynamic-hw"):
        Segmenter(models["fixed"], input_size=(64, 96))
    for bad in (("a", "b"), 64, (64, 96, 3), (64.0, 96), (True, 96), (-64, 96)):
        with pytest.raises(ConfigError, match=r"input size must be \(height, width\), positive multiples of 32, got "):
            Segmenter(models["dynamic_hw"], input_size=bad)


# --------------------------------------------------------------------------- bad input


def _bad_inputs():
    rgb, depth = frame(32, 64)
    nan = depth.astype(np.float32)
    nan[3, 4] = np.nan
    neg = depth.astype(np.float32)
    neg[0, 0] = -1.0
    return [
        ("float rgb", rgb.astype(np.float32), depth, "uint8"),
        ("four channels", np.dstack([rgb, rgb[..., :1]]), depth, "HxWx3"),
        ("grey rgb", rgb[..., 0], depth, "HxWx3"),
        ("size mismatch", rgb, depth[:, :60], "32x64 but depth is 32x60"),
        ("nan depth", rgb, nan, "NaN"),
        ("negative depth", rgb, neg, "negative"),
        ("empty rgb", rgb[:0], depth[:0], "empty"),
        ("empty depth", rgb, depth[:0], "empty"),
        ("int32 depth", rgb, depth.astype(np.int32), "uint16"),
        ("list rgb", rgb.tolist(), depth, "numpy array"),
    ]


@pytest.mark.parametrize(("case", "rgb", "depth", "message"), _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_bad_frames_raise_input_error_naming_the_problem(seg, case, rgb, depth, message):
    with pytest.raises(InputError, match=message):
        seg.segment(rgb, depth)


def test_bad_frame_in_a_batch_is_named(seg):
    good = frame(32, 64)
    bad = (good[0], good[1].astype(np.float32) * np.nan)
    with pytest.raises(InputError, match="frame 2: .*NaN"):
        seg.segment_batch([good, good, bad])


def test_bad_depth_scale(seg):
    with pytest.raises(InputError, match="depth_scale"):
        seg.segment(*frame(32, 64), depth_scale=0.0)


# --------------------------------------------------------------------------- bad models


def test_model_without_acnet_metadata_is_refused(tmp_path):
    path = make_onnx(tmp_path / "foreign.onnx", metadata=False)
    with pytest.raises(ModelFileError, match="no acnet metadata"):
        Segmenter(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all\n", "truncated"])
def test_corrupt_onnx_is_one_line_model_file_error(tmp_path, models, content):
    path = tmp_path / "broken.onnx"
    data = models["fixed"].read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "truncated" else content)
    with pytest.raises(ModelFileError) as info:
        Segmenter(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_class_count_mismatch_is_refused(tmp_path):
    path = make_onnx(tmp_path / "mismatch.onnx", classes=NUM_CLASSES + 2)
    with pytest.raises(ModelFileError, match="7 classes but its metadata lists 5"):
        Segmenter(path)


def test_input_size_mismatch_is_refused(tmp_path):
    path = make_onnx(tmp_path / "size.onnx", graph_size=(32, 64), info=tiny_info(input_height=64))
    with pytest.raises(ModelFileError, match="height 32 but its metadata says 64"):
        Segmenter(path)


def test_missing_and_unknown_files(tmp_path, models):
    with pytest.raises(ModelFileError, match="not found"):
        Segmenter(tmp_path / "nope.onnx")
    odd = tmp_path / "model.bin"
    odd.write_bytes(models["fixed"].read_bytes())
    with pytest.raises(ModelFileError, match="suffix"):
        Segmenter(odd)
    assert Segmenter(odd, backend="onnxruntime").num_classes == NUM_CLASSES
    with pytest.raises(ModelFileError, match="TensorRT backend runs engines"):
        Segmenter(models["fixed"], backend="tensorrt")


def test_devices_and_options(models):
    with pytest.raises(ConfigError, match="unknown device"):
        Segmenter(models["fixed"], device="gpu")
    with pytest.raises(ConfigError, match="unknown backend"):
        Segmenter(models["fixed"], backend="tvm")
    with pytest.raises(ConfigError, match="threads"):
        Segmenter(models["fixed"], threads=0)
    with pytest.raises(ConfigError, match="batch_size"):
        Segmenter(models["fixed"], batch_size=0)
    if CUDA not in ort.get_available_providers():
        with pytest.raises(BackendUnavailableError, match="no CUDA provider"):
            Segmenter(models["fixed"], device="cuda")


def test_model_path_that_is_no_path_is_named():
    with pytest.raises(ModelFileError, match="model path must be a str or os.PathLike, got NoneType"):
        Segmenter(None)


def test_model_path_that_is_a_symlink_loop_is_named(tmp_path):
    loop = tmp_path / "loop.onnx"
    loop.symlink_to(loop)
    with pytest.raises(ModelFileError, match="loop.onnx cannot be resolved: a symlink loop"):
        Segmenter(loop)


@pytest.mark.parametrize(("option", "value"), [("threads", "four"), ("threads", True), ("threads", 2.5),
                                               ("batch_size", "x"), ("batch_size", False), ("batch_size", 4.0)])
def test_counts_that_are_not_integers_are_config_errors(models, option, value):
    with pytest.raises(ConfigError, match=f"{option} must be a positive integer, got {value!r}"):
        Segmenter(models["fixed"], **{option: value})


def test_numpy_integers_are_counts(models):
    with Segmenter(models["dynamic"], threads=np.int64(1), batch_size=np.int32(3)) as seg:
        assert seg.batch_size == 3 and type(seg.batch_size) is int


# --------------------------------------------------------------------------- pure logic


def test_device_parsing():
    assert Device.parse("cpu") == Device("cpu", 0)
    assert Device.parse("cuda") == Device("cuda", 0)
    assert Device.parse("CUDA:2") == Device("cuda", 2) and str(Device.parse("cuda:2")) == "cuda:2"
    assert Device.parse(None, default="cuda").is_cuda
    for bad in ("cpu:1", "cuda:", "cuda:x", "mps", ""):
        with pytest.raises(ConfigError):
            Device.parse(bad)


def test_provider_choice():
    assert choose_providers(Device("cpu"), [TENSORRT, CUDA, CPU]) == [CPU]
    chosen = choose_providers(Device("cuda", 1), [TENSORRT, CUDA, CPU], trt_cache_dir="/tmp/c")
    assert [p[0] if isinstance(p, tuple) else p for p in chosen] == [TENSORRT, CUDA, CPU]
    assert chosen[0][1]["device_id"] == 1 and chosen[0][1]["trt_engine_cache_path"] == "/tmp/c"
    assert chosen[1] == (CUDA, {"device_id": 1})
    assert choose_providers(Device("cuda"), [CUDA, CPU]) == [(CUDA, {"device_id": 0}), CPU]
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        choose_providers(Device("cuda"), [CPU])


def test_batch_limits():
    assert BatchLimits(3, 3).chunk_size(8) == 3 and BatchLimits(3, 3).run_size(1) == 3
    assert BatchLimits(1, None).chunk_size(8) == 8 and BatchLimits(1, None).run_size(5) == 5
    assert BatchLimits(2, 4).chunk_size(8) == 4 and BatchLimits(2, 4).chunk_size(1) == 2
    assert BatchLimits(2, 4).run_size(1) == 2
    assert str(BatchLimits(1, 4)) == "dynamic batch 1..4" and str(BatchLimits(2, 2)) == "fixed batch 2"


def test_backend_choice():
    assert choose_backend("m.onnx") == "onnxruntime"
    assert choose_backend("m.ENGINE") == "tensorrt" and choose_backend("m.plan") == "tensorrt"
    assert choose_backend("m.bin", "onnxruntime") == "onnxruntime"
    with pytest.raises(ModelFileError, match="acnet export onnx best.pt"):
        choose_backend("best.pt")


class NumpyBackend:
    """The tiny model in numpy, as a backend from no file (e.g. a benchmark's reference)."""

    name = "numpy"

    def __init__(self, limits: BatchLimits) -> None:
        from support.runtime_models import weights

        self.info = tiny_info()
        self.device = Device()
        self.limits = limits
        self.kernel = weights()[:, :, 0, 0]
        self.batches: list[int] = []

    def run(self, rgb, depth):
        self.batches.append(rgb.shape[0])
        return np.einsum("ck,nkhw->nchw", self.kernel, np.concatenate([rgb, depth], axis=1)).astype(np.float32)

    def describe(self) -> str:
        return "numpy"

    def close(self) -> None:
        pass


def test_segmenter_around_any_backend():
    from acnet.runtime.backends import Backend

    backend = NumpyBackend(BatchLimits(1, 2))
    assert isinstance(backend, Backend)
    seg = Segmenter.from_backend(backend, batch_size=5)
    assert seg.batch_size == 2
    frames = [frame(30, 50, seed) for seed in range(3)]
    for labels, f in zip(seg.segment_batch(frames), frames):
        np.testing.assert_array_equal(labels, reference_labels(*f, seg.info))
    assert backend.batches == [2, 1]
