"""ONNX export: graph shape, fused ACM, metadata, verification, refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from acnet._io import sha256_file
from acnet.export.graph import find_acm_fusions, io_signature, producers
from acnet.export.onnx import ExportReport, OnnxExportOptions, export_onnx
from acnet.export.verify import check_inputs
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.preprocess import Normalization
from acnet.training.checkpoint import load_model, make_record, save_checkpoint
from acnet.training.model import build_model

NAMES = [f"class{i}" for i in range(13)]
NORM = Normalization(rgb_mean=(0.5, 0.4, 0.3), rgb_std=(0.25, 0.26, 0.27), depth_mean=2.5, depth_std=1.1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config):
    torch.manual_seed(0)
    model = build_model(tiny_config)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_checkpoint(path, make_record(model, tiny_config, NAMES, NORM, (64, 96)))


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory) -> ExportReport:
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return export_onnx(checkpoint, out, OnnxExportOptions())


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_inputs_outputs_and_file(exported):
    sig = io_signature(onnx.load(exported.output))
    assert sig["inputs"] == {"rgb": ("float", (1, 3, 64, 96)), "depth": ("float", (1, 1, 64, 96))}
    assert sig["outputs"] == {"logits": ("float", (1, 13, 64, 96))}
    assert sorted(p.name for p in exported.output.parent.iterdir()) == ["model.onnx", "model.verify.json"]


def test_metadata_read_by_onnxruntime(exported, checkpoint):
    props = _session(exported.output).get_modelmeta().custom_metadata_map
    info = ModelInfo.from_props(props)
    assert info == exported.info
    assert info.class_names == tuple(NAMES)
    assert info.normalization == NORM
    assert (info.input_height, info.input_width, info.batch) == (64, 96, 1)
    assert (info.output, info.precision, info.dynamic_hw, info.backbone) == ("logits", "fp32", False, "resnet18")
    assert info.source_sha256 == sha256_file(checkpoint)


def test_five_fused_acm_points(exported):
    model = onnx.load(exported.output)
    fusions = find_acm_fusions(model)
    assert len(fusions) == 5
    assert [f.residual is None for f in fusions] == [True, False, False, False, False]
    made_by = producers(model.graph)
    nodes = {n.name: n for n in model.graph.node}
    for f in fusions:
        for branch in (f.rgb, f.depth):
            # the multiply reads the sigmoid's output itself: nothing in between
            assert nodes[branch.sigmoid].output[0] in nodes[branch.mul].input
            assert made_by[nodes[branch.conv].output[0]].op_type == "Conv"
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"Expand", "Reshape", "Tile", "BatchNormalization", "Identity", "Dropout", "GlobalAveragePool"}


def test_onnxruntime_matches_pytorch_on_another_frame(exported, checkpoint):
    model, _ = load_model(checkpoint)
    rgb, depth = check_inputs(exported.info, 64, 96, seed=7)
    (logits,) = _session(exported.output).run(None, {"rgb": rgb, "depth": depth})
    with torch.inference_mode():
        ref = model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()
    np.testing.assert_allclose(logits, ref, atol=1e-3, rtol=1e-3)
    assert len(np.unique(ref.argmax(1))) > 3  # a meaningful, not one-class, prediction


def test_verification_report(exported):
    assert exported.passed is True
    assert exported.agreement >= 0.999
    assert 0 <= exported.max_abs_err < 1e-3
    record = json.loads(exported.report_path.read_text())
    assert exported.report_path.name == "model.verify.json"
    assert record["verification"]["agreement"] == exported.agreement
    assert record["verification"]["reference_classes"] > 3
    assert ModelInfo.from_dict(record["model_info"]) == exported.info
