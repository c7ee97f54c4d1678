"""ONNX export: graph shape, fused ACM, metadata, verification, refusals."""

from __future__ import annotations

import copy
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
from acnet.training.checkpoint import load_model
from support.installed import assert_one_line_error, run_acnet
from support.trained import NORM, break_on_purpose, trained_looking_checkpoint

NAMES = [f"class{i}" for i in range(13)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config):
    """Trained-looking (BatchNorm statistics and ACM weights away from initialisation): a wrong fold shows."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return trained_looking_checkpoint(path, tiny_config, (64, 96), class_names=NAMES, normalization=NORM)


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


@pytest.mark.parametrize("part", ["batchnorm", "acm"])
def test_verification_catches_a_wrong_batchnorm_or_acm(part, checkpoint, tmp_path, monkeypatch):
    """Break one BatchNorm or ACM in the exported copy only: the export must refuse to write it."""
    import acnet.export.onnx as export_module
    from acnet.errors import ParityError

    trace = export_module.trace_to_onnx
    monkeypatch.setattr(export_module, "trace_to_onnx", lambda model, *a: trace(break_on_purpose(copy.deepcopy(model), part), *a))
    out = tmp_path / "m.onnx"
    with pytest.raises(ParityError, match="FAILED") as caught:
        export_onnx(checkpoint, out, OnnxExportOptions())
    print(caught.value)
    assert not out.exists() and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- options and the CLI


def _cli(*args):
    from click.testing import CliRunner

    from acnet.cli import main

    return CliRunner().invoke(main, ["export", "onnx", *map(str, args)])


def _one_line_error(args: tuple, *fragments: str) -> str:
    """``acnet export onnx ARGS`` as a user runs it; the whole of stderr is one error line with the fragments, exit 2."""
    return assert_one_line_error(run_acnet("export", "onnx", *args), *fragments)


def test_option_validation():
    from acnet.errors import ConfigError

    with pytest.raises(ConfigError, match="multiple of 32"):
        OnnxExportOptions(height=100)
    with pytest.raises(ConfigError, match="not both"):
        OnnxExportOptions(batch=2, dynamic_batch=True)
    with pytest.raises(ConfigError, match="opset"):
        OnnxExportOptions(opset=11)
    with pytest.raises(ConfigError, match="batch"):
        OnnxExportOptions(batch=0)


def test_bad_checkpoints_give_one_line_errors(tmp_path, checkpoint):
    """Each of these loads torch (seconds a process), so the command line sees three; the library sees the rest."""
    from acnet.errors import CheckpointError
    from acnet.training.checkpoint import load_checkpoint

    out = tmp_path / "m.onnx"
    _one_line_error((tmp_path / "missing.pt", "-o", out), f"checkpoint {tmp_path / 'missing.pt'} not found")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:4096])
    _one_line_error((truncated, "-o", out), "truncated.pt", "truncated")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    _one_line_error((foreign, "-o", out), "foreign.pt", "not an acnet checkpoint")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(CheckpointError, match="garbage.pt is a PNG image, not a checkpoint"):
        load_checkpoint(garbage)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["foreign.pt", "garbage.pt", "truncated.pt"]


def test_bad_sizes_and_outputs_give_one_line_errors(tmp_path, checkpoint):
    """These fail before torch is imported: cheap processes."""
    out = tmp_path / "m.onnx"
    _one_line_error((checkpoint, "-o", out, "--height", 100), "Invalid value for '--height'", "'100' is not a positive multiple of 32")
    _one_line_error((checkpoint, "-o", out, "--width", 0), "Invalid value for '--width'", "'0' is not a positive multiple of 32")
    _one_line_error((checkpoint, "-o", out, "--batch", 0), "Invalid value for '--batch'", "0 is not in the range x>=1")
    _one_line_error((checkpoint, "-o", out, "--batch", 2, "--dynamic-batch"), "give either --batch or --dynamic-batch, not both")
    _one_line_error((checkpoint, "-o", out, "--int8-agreement", 101), "Invalid value for '--int8-agreement'")
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    _one_line_error((checkpoint, "-o", blocker / "m.onnx"), f"cannot create output directory {blocker}")
    _one_line_error((checkpoint, "-o", tmp_path), f"cannot write {tmp_path}: it is a directory")
    assert not out.exists()
    # An output that is the checkpoint itself (or a link to it) would destroy the input.
    before = checkpoint.read_bytes()
    link = tmp_path / "link.pt"
    link.symlink_to(checkpoint)
    for target in (checkpoint, link):
        _one_line_error((checkpoint, "-o", target), f"cannot write {target}: it is {checkpoint}, which this command reads")
    assert checkpoint.read_bytes() == before


def test_failed_verification_is_an_error_unless_no_verify(tmp_path, checkpoint, exported, monkeypatch):
    import acnet.export.onnx as export_module
    import acnet.export.verify as verify

    traced = onnx.load(exported.output)  # the tracing itself is tested above; reuse it
    monkeypatch.setattr(export_module, "trace_to_onnx", lambda *args: traced)
    out = tmp_path / "m.onnx"
    out.with_name("m.verify.json").write_text("{}")  # a stale report from an earlier export
    monkeypatch.setitem(verify.MIN_AGREEMENT, "fp32", 1.01)  # no model can pass this
    from acnet.errors import ParityError  # the command line prints its message as any AcnetError's: one line, exit 2

    with pytest.raises(ParityError, match="FAILED") as info:  # patched in this process, so not through a subprocess
        export_onnx(checkpoint, out, OnnxExportOptions())
    assert "--no-verify" in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()
    result = _cli(checkpoint, "-o", out, "--no-verify")
    assert result.exit_code == 0, result.output
    assert "not verified" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # the stale report is gone


def test_dynamic_fp16_argmax_export_through_the_cli(tmp_path, checkpoint):
    out = tmp_path / "labels.onnx"
    result = _cli(checkpoint, "-o", out, "--dynamic-batch", "--dynamic-hw", "--argmax", "--fp16")
    assert result.exit_code == 0, result.output
    assert "agreement" in result.output and "passed" in result.output
    model = onnx.load(out)
    assert io_signature(model) == {
        "inputs": {"rgb": ("float", ("batch", 3, "height", "width")), "depth": ("float", ("batch", 1, "height", "width"))},
        "outputs": {"labels": ("int32", ("batch", "height", "width"))},
    }
    assert len(find_acm_fusions(model)) == 5
    session = _session(out)
    info = ModelInfo.from_props(session.get_modelmeta().custom_metadata_map)
    assert (info.output, info.precision, info.batch, info.dynamic_hw) == ("labels", "fp16", 0, True)
    report = json.loads(out.with_name("labels.verify.json").read_text())
    assert report["verification"]["min_agreement"] == 0.995 and report["verification"]["input_shape"][0] == 2

    torch_model, _ = load_model(checkpoint)
    rgb, depth = check_inputs(info, 96, 128, batch=3, seed=3)  # another batch and size than verified
    (labels,) = session.run(None, {"rgb": rgb, "depth": depth})
    assert labels.dtype == np.int32 and labels.shape == (3, 96, 128)
    with torch.inference_mode():
        ref = torch_model(torch.from_numpy(rgb), torch.from_numpy(depth)).argmax(1).numpy() + 1
    assert labels.min() >= 1 and labels.max() <= 13  # class ids: channel + 1, never void
    assert (labels == ref).mean() >= 0.995
    assert len(np.unique(ref)) > 3
