"""The runtime against the training code: same input tensors, same labels, no torch needed.

Uses a real exported ACNet (tiny config) and real NYUv2 frames from ../shared/data.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from acnet.runtime import Segmenter, read_depth, read_rgb, write_png
from acnet.runtime.postprocess import CLASS_ID_OFFSET
from acnet.runtime.preprocess import Normalization

INPUT_SIZE = (96, 128)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config) -> Path:
    """Trained-looking (tests/support/trained.py), with the data set's normalisation, which the runtime must read."""
    from support.trained import trained_looking_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return trained_looking_checkpoint(path, tiny_config, INPUT_SIZE, normalization=Normalization())


@pytest.fixture(scope="module")
def exported(checkpoint) -> Path:
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    torch.set_num_threads(2)
    report = export_onnx(checkpoint, checkpoint.with_suffix(".onnx"), OnnxExportOptions(verify=False))
    return report.output


@pytest.fixture(scope="module")
def seg(exported) -> Segmenter:
    return Segmenter(exported)


def _real_frame(shared_data: Path, name: str):
    root = shared_data / "nyuv2-samples" / "test"
    return read_rgb(root / "rgb" / f"{name}.png"), read_depth(root / "depth" / f"{name}.png")


@pytest.mark.parametrize("name", ["0001", "0433"])  # 0433: raw depth with holes
def test_training_eval_transform_and_runtime_make_identical_tensors(shared_data, seg, name):
    from acnet.training.data.folder import FolderDataset
    from acnet.training.transforms import EvalTransform

    dataset = FolderDataset(shared_data / "nyuv2-samples", split="test")
    frame = next(dataset[i] for i in range(len(dataset)) if dataset[i].name == name)
    assert dataset.normalization == seg.info.normalization
    train_rgb, train_depth = EvalTransform(seg.config)(frame)

    rgb, depth = _real_frame(shared_data, name)  # uint16 millimetres, as a robot reads them
    run_rgb, run_depth = seg.preprocess(rgb, depth)
    assert run_rgb.shape == (3, *INPUT_SIZE) and run_depth.shape == (1, *INPUT_SIZE)
    np.testing.assert_array_equal(run_rgb, train_rgb)
    np.testing.assert_array_equal(run_depth, train_depth)


def test_pytorch_and_runtime_agree_on_a_real_frame(shared_data, checkpoint, seg):
    from acnet.training.checkpoint import load_model

    model, _ = load_model(checkpoint)
    rgb, depth = _real_frame(shared_data, "0001")
    r, d = seg.preprocess(rgb, depth)
    with torch.no_grad():
        logits = model(torch.from_numpy(r)[None], torch.from_numpy(d)[None])
        full = F.interpolate(logits, size=rgb.shape[:2], mode="bilinear", align_corners=False)
    reference = (full[0].argmax(0) + CLASS_ID_OFFSET).numpy().astype(np.uint8)
    assert len(np.unique(reference)) >= 3  # a prediction with some structure, so agreement means something

    np.testing.assert_allclose(seg.logits(rgb, depth), logits[0].numpy(), rtol=1e-3, atol=1e-3 * float(logits.abs().max()))
    labels = seg.segment(rgb, depth)
    agreement = float((labels == reference).mean())
    assert agreement >= 0.999, f"runtime agrees with PyTorch on {100 * agreement:.3f}% of pixels"


def test_runtime_runs_where_torch_cannot_be_imported(tmp_path, exported, seg):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    depth = rng.integers(0, 6000, (120, 160), dtype=np.uint16)
    rgb_path, depth_path = write_png(tmp_path / "rgb.png", rgb), write_png(tmp_path / "depth.png", depth)
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys

        BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "h5py", "yaml", "matplotlib")

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is not installed here (blocked by the test)")

        sys.meta_path.insert(0, Blocker())
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not work")

        import numpy as np
        from click.testing import CliRunner
        from acnet.cli import main
        from acnet.runtime import Segmenter, read_depth, read_rgb

        seg = Segmenter({str(exported)!r})
        np.save({str(tmp_path / "api.npy")!r}, seg.segment(read_rgb({str(rgb_path)!r}), read_depth({str(depth_path)!r})))
        result = CliRunner().invoke(main, ["infer", {str(exported)!r}, "--rgb", {str(rgb_path)!r},
                                           "--depth", {str(depth_path)!r}, "-o", {str(tmp_path / "out")!r}])
        assert result.exit_code == 0, result.output
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("torch-free run ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "torch-free run ok" in proc.stdout
    expected = seg.segment(rgb, depth)
    np.testing.assert_array_equal(np.load(tmp_path / "api.npy"), expected)
    from PIL import Image

    with Image.open(tmp_path / "out" / "rgb_labels.png") as im:
        np.testing.assert_array_equal(np.asarray(im), expected)
