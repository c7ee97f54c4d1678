"""`acnet parity` and `acnet bench` on their other paths: a checkpoint alone, the reference device, argmax models."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from acnet.cli import main
from acnet.training.config import ModelConfig
from support.trained import trained_looking_checkpoint

H, W = 64, 96
DATA = "synthetic:2?size=72x100&seed=4"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("modes") / "tiny.pt"
    return trained_looking_checkpoint(path, ModelConfig("resnet18", 9, width=0.25), (H, W), seed=3)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One --cache-dir for parity and bench: the ONNX export parity makes is the one bench reuses."""
    return tmp_path_factory.mktemp("cache")


def _sha(path):
    from acnet._io import sha256_file

    return sha256_file(path)


@pytest.mark.slow
def test_parity_of_a_checkpoint_alone_exports_and_checks_onnx_on_the_cpu_reference(checkpoint, cache, tmp_path):
    from acnet.runtime import Segmenter

    out = tmp_path / "parity.json"
    result = CliRunner().invoke(main, ["parity", str(checkpoint), "--data", DATA, "--reference-device", "cpu",
                                       "--cache-dir", str(cache), "--json", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    (exported,) = cache.glob("*.onnx")  # exported because no model was given, kept in --cache-dir
    with Segmenter(exported) as seg:
        assert seg.info.source_sha256 == _sha(checkpoint)
    d = json.loads(out.read_text())
    assert d["config"]["reference_device"] == "cpu" and d["reference"]["device"] == "cpu"
    (r,) = d["results"]
    assert r["label"] == "onnx" and r["passed"] is True and r["precision"] == "fp32"
    assert r["agreement_pct"] >= 99.9 and 0 < r["max_abs_logits"] < 1e-2
    assert d["data"]["frames"] == 2 and d["data"]["labelled_pixels"] == 2 * 72 * 100


def _perturb_head(src, dst):
    import numpy as np
    import onnx
    import onnx.numpy_helper as nh

    model = onnx.load(str(src))
    conv = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")][-1]
    init = next(i for i in model.graph.initializer if i.name == conv.input[1])
    w = nh.to_array(init)
    noisy = w + 0.5 * np.abs(w).mean() * np.random.default_rng(0).standard_normal(w.shape).astype(w.dtype)
    init.CopyFrom(nh.from_array(noisy.astype(w.dtype), init.name))
    onnx.save(model, str(dst))
    return dst


@pytest.mark.slow
def test_parity_of_argmax_models_compares_labels(checkpoint, tmp_path):
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    good = tmp_path / "labels.onnx"
    export_onnx(checkpoint, good, OnnxExportOptions(argmax=True, verify=False))
    bad = _perturb_head(good, tmp_path / "bad_labels.onnx")
    out = tmp_path / "p.json"
    result = CliRunner().invoke(main, ["parity", str(checkpoint), "--onnx", str(good), "--onnx", str(bad),
                                       "--data", DATA, "--json", str(out), "--no-progress"])
    assert result.exit_code == 1, result.output  # the perturbed one fails its gate
    by_label = {r["label"]: r for r in json.loads(out.read_text())["results"]}
    ok, wrong = by_label["onnx:labels.onnx"], by_label["onnx:bad_labels.onnx"]
    # Label models have no logits to compare; agreement and mIoU are still measured.
    assert ok["max_abs_logits"] is None and ok["mean_abs_logits"] is None
    # Frames (72x100) are not the model's size (64x96): the reference is PyTorch's argmax resized as the
    # runtime resizes class ids (nearest), so a faithful export agrees exactly.
    assert ok["passed"] is True and ok["agreement_pct"] == 100.0 and ok["delta_miou_points"] == 0.0
    assert "nearest neighbour" in ok["note"]
    assert wrong["passed"] is False and wrong["agreement_pct"] < 99.0


def test_bench_of_a_checkpoint_alone_times_torch_and_its_onnx_export(checkpoint, cache, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", str(checkpoint), "-b", "torch", "-b", "onnxruntime", "--iters", "2",
                                       "--warmup", "1", "--device", "cpu", "--cache-dir", str(cache),
                                       "--json", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    (exported,) = cache.glob("*.onnx")
    d = json.loads(out.read_text())
    status = {r["backend"]: r["status"] for r in d["results"]}
    assert status == {"torch": "ok", "onnxruntime": "ok"}
    assert all(r["latency_ms"]["median"] > 0 for r in d["results"])
    assert d["model"]["height"] == H and d["model"]["width"] == W
    assert str(exported) in json.dumps(d)  # the report names the model it timed
