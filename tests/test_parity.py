"""acnet parity: numbers on a tiny model, gating logic, exit codes, report schema."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from acnet.benchmarks.parity import (
    DEFAULT_GATES,
    SCHEMA,
    Candidate,
    Gate,
    ParityConfig,
    judge,
    run_parity,
)
from acnet.cli import main
from acnet.errors import ConfigError

H, W = 64, 96
DATA = "synthetic:3?size=72x100&seed=3"  # frames of another size than the model's: resizing is exercised


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config):
    """Trained-looking (tests/support/trained.py): BatchNorm statistics and ACM weights away from initialisation."""
    from support.trained import trained_looking_checkpoint

    from acnet.runtime.preprocess import Normalization
    from acnet.training.data.synthetic import SYNTHETIC_CLASSES

    config = dataclasses.replace(tiny_config, num_classes=len(SYNTHETIC_CLASSES))
    path = tmp_path_factory.mktemp("parity") / "tiny.pt"
    return trained_looking_checkpoint(path, config, (H, W), seed=1, class_names=list(SYNTHETIC_CLASSES),
                                      normalization=Normalization())


@pytest.fixture(scope="module")
def onnx_model(checkpoint):
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    path = checkpoint.with_suffix(".onnx")
    export_onnx(checkpoint, path, OnnxExportOptions(verify=False))
    return path


def _rewrite(src, dst, change):
    """Copy an ONNX model, applying ``change(model_proto)``."""
    import onnx

    model = onnx.load(str(src))
    change(model)
    onnx.save(model, str(dst))
    return dst


def _perturb_head(model, scale=0.3, seed=0):
    """Add noise to the last convolution's weights: a deliberately wrong export."""
    import onnx.numpy_helper as nh

    convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    weight_name = convs[-1].input[1]
    init = next(i for i in model.graph.initializer if i.name == weight_name)
    w = nh.to_array(init)
    noisy = w + scale * np.abs(w).mean() * np.random.default_rng(seed).standard_normal(w.shape).astype(w.dtype)
    init.CopyFrom(nh.from_array(noisy.astype(w.dtype), weight_name))


def _set_precision(model, precision):
    for prop in model.metadata_props:
        if prop.key == "acnet.precision":
            prop.value = json.dumps(precision)


# --------------------------------------------------------------------------- gating logic


def test_judge_thresholds():
    gate = Gate(99.9, 0.05)
    assert judge(99.95, 0.01, gate) == ()
    assert judge(99.9, -0.05, gate) == ()  # bounds are inclusive
    assert len(judge(99.89, 0.0, gate)) == 1
    assert "ΔmIoU" in judge(100.0, -0.051, gate)[0]
    assert len(judge(99.0, 1.0, gate)) == 2
    assert judge(100.0, None, gate) == ()  # no labels: ΔmIoU not gated
    assert "NaN" in judge(100.0, 0.0, gate, finite=False)[0]
    assert judge(float("nan"), 0.0, gate)  # NaN agreement never passes
    assert DEFAULT_GATES["fp32"] == Gate(99.9, 0.05) and DEFAULT_GATES["fp16"] == Gate(99.5, 0.2)
    with pytest.raises(ConfigError):
        Gate(100.5, 0.1)
    with pytest.raises(ConfigError):
        Gate(99.0, -1)


# --------------------------------------------------------------------------- numbers on a tiny model


def test_exported_model_matches_and_reference_equals_eval(checkpoint, onnx_model):
    from acnet.training.checkpoint import load_model
    from acnet.training.data.spec import open_dataset
    from acnet.training.evaluate import evaluate

    report = run_parity(ParityConfig(checkpoint, DATA, (Candidate("onnx", onnx_model, "onnxruntime"),), progress=False))
    (r,) = report.results
    assert r.passed and report.passed
    assert r.precision == "fp32" and r.gate == DEFAULT_GATES["fp32"]
    assert r.frames == 3
    assert r.agreement_pct >= 99.9
    assert 0 < r.max_abs_logits < 1e-2 and r.mean_abs_logits <= r.max_abs_logits
    assert 0 < r.max_rel_logits < 1e-4
    assert abs(r.delta_miou_points) <= 0.05
    # The reference mIoU is what `acnet eval` computes for the checkpoint on the same frames.
    model, info = load_model(checkpoint)
    from acnet.runtime.preprocess import PreprocessConfig

    expected = evaluate(model, open_dataset(DATA, "test"), PreprocessConfig(H, W, info.normalization))
    assert r.miou_reference == pytest.approx(expected.miou, abs=1e-12)
    d = json.loads(report.to_json())
    assert d["schema"] == SCHEMA and d["passed"] is True
    assert d["data"]["frames"] == 3 and d["data"]["labelled_pixels"] == 3 * 72 * 100
    assert set(d["results"][0]) >= {"label", "max_abs_logits", "mean_abs_logits", "agreement_pct", "miou_reference",
                                    "miou", "delta_miou_points", "gate", "passed", "failures"}


def test_perturbed_model_fails_the_gate_exit_1(checkpoint, onnx_model, tmp_path):
    bad = _rewrite(onnx_model, tmp_path / "bad.onnx", _perturb_head)
    out, md = tmp_path / "p.json", tmp_path / "p.md"
    result = CliRunner().invoke(main, ["parity", str(checkpoint), "--onnx", str(onnx_model), "--onnx", str(bad),
                                       "--data", DATA, "--no-progress", "--json", str(out), "--report", str(md)])
    assert result.exit_code == 1, result.output
    d = json.loads(out.read_text())
    good_row, bad_row = d["results"]
    assert good_row["passed"] and not bad_row["passed"]
    assert bad_row["label"] == "onnx:bad.onnx"
    assert bad_row["agreement_pct"] < 99.9 and bad_row["failures"]
    assert bad_row["max_abs_logits"] > good_row["max_abs_logits"]
    assert "FAIL" in result.output and "FAILED" in md.read_text()
    # Loosening the gate far enough lets the same model through.
    loose = CliRunner().invoke(main, ["parity", str(checkpoint), "--onnx", str(bad), "--data", DATA, "--no-progress",
                                      "--fp32-agreement", "0", "--fp32-dmiou", "100"])
    assert loose.exit_code == 0, loose.output


def test_fp16_models_get_the_fp16_gate(checkpoint, onnx_model, tmp_path):
    fp16 = _rewrite(onnx_model, tmp_path / "m16.onnx", lambda m: _set_precision(m, "fp16"))
    gates = {"fp32": Gate(100.0, 0.0), "fp16": Gate(12.5, 7.0)}
    report = run_parity(ParityConfig(checkpoint, "synthetic:1?size=64x96", (Candidate("onnx-fp16", fp16, "onnxruntime"),),
                                     gates=gates, progress=False))
    (r,) = report.results
    assert r.precision == "fp16" and r.gate == Gate(12.5, 7.0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "synthetic:1?size=64x96", "--fp32-agreement", "101"], "'--fp32-agreement': '101' is not in [0, 100]"),
        (["--data", "nonsense-spec"], "dataset spec"),
        (["--data", "synthetic:1", "--limit", "0"], "--limit"),
    ],
)
def test_bad_input_is_one_line_exit_2(checkpoint, onnx_model, extra, message):
    result = CliRunner().invoke(main, ["parity", str(checkpoint), "--onnx", str(onnx_model), "--no-progress", *extra])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acnet: error:") and message in lines[0]


def test_class_count_mismatch_is_refused(tmp_path, tiny_config):
    # Plain initialisation on purpose: only the class count matters here, no number is compared.
    from acnet.runtime.preprocess import Normalization
    from acnet.training.checkpoint import make_record, save_checkpoint
    from acnet.training.model import build_model

    ckpt = tmp_path / "c13.pt"
    save_checkpoint(ckpt, make_record(build_model(tiny_config), tiny_config, [f"c{i}" for i in range(13)],
                                      Normalization(), (H, W)))
    result = CliRunner().invoke(main, ["parity", str(ckpt), "--data", "synthetic:1", "--no-progress"])
    assert result.exit_code == 2
    assert result.output == "acnet: error: the checkpoint predicts 13 classes but synthetic:1 has 9\n"


def test_engine_without_tensorrt_is_one_line_exit_2(checkpoint, tmp_path):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here; this checks the message where it is not")
    except ImportError:
        pass
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not really an engine")
    result = CliRunner().invoke(main, ["parity", str(checkpoint), "--engine", str(engine), "--data", "synthetic:1",
                                       "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "tensorrt" in lines[0].lower()


def test_another_network_is_refused_by_its_description_not_by_the_file_hash():
    """Backbone, width, fusion and class count: a re-export (another file, another checkpoint hash) of the same
    network passes; a ResNet-34 against a ResNet-18 model is refused; what an older export does not record is not compared."""
    from acnet.benchmarks.artefacts import check_same_network
    from acnet.errors import ModelFileError
    from support.runtime_models import tiny_info

    checkpoint = tiny_info(backbone="resnet18", width=0.25, source_sha256="a" * 64)
    check_same_network("m.onnx", tiny_info(backbone="resnet18", width=0.25, source_sha256="b" * 64), checkpoint)
    check_same_network("old.onnx", tiny_info(backbone="resnet18", width=None), checkpoint)  # exported before width was recorded
    for changes, message in (({"backbone": "resnet34"}, "m.onnx has backbone resnet34, the checkpoint resnet18"),
                             ({"width": 0.5}, "m.onnx has width 0.5, the checkpoint 0.25"),
                             ({"fusion": "add"}, "m.onnx has fusion add, the checkpoint acm")):
        with pytest.raises(ModelFileError, match=f"{message}: another network"):
            check_same_network("m.onnx", tiny_info(**{"backbone": "resnet18", "width": 0.25, **changes}), checkpoint)


@pytest.mark.parametrize("option, precision, fragment", [
    ("--int8-onnx", "fp32", "--int8-onnx m.onnx is an FP32 model (its metadata says precision 'fp32'), not INT8; give it with --onnx"),
    ("--int8-onnx", "fp16", "is an FP16 model (its metadata says precision 'fp16'), not INT8; give it with --fp16-onnx"),
    ("--fp16-onnx", "int8", "is an INT8 model (its metadata says precision 'int8'), not FP16; give it with --int8-onnx"),
])
def test_the_precision_an_option_names_must_be_the_models(option, precision, fragment):
    from acnet.benchmarks.artefacts import check_precision
    from acnet.errors import ConfigError
    from support.runtime_models import tiny_info

    with pytest.raises(ConfigError, match=re.escape(fragment)):
        check_precision("m.onnx", tiny_info(precision=precision), option)
    check_precision("m.onnx", tiny_info(precision=precision), "--onnx")  # names no precision
    check_precision("m.onnx", tiny_info(precision="int8"), "--int8-onnx")
    check_precision("m.onnx", tiny_info(precision="fp16"), "--fp16-onnx")
