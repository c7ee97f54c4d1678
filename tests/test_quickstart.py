"""`acnet quickstart` end to end, shortened: it must learn, export, infer, pass parity and benchmark."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from acnet.quickstart import QuickstartConfig, run_quickstart
from support.installed import assert_one_line_error, run_acnet


def quickstart_test_config(out, seed: int = 0, threads: int = 2) -> QuickstartConfig:
    """The run the test makes (also run with other seeds by benchmarks/bar_margins.py)."""
    return QuickstartConfig(out_dir=out, train_frames=64, test_frames=8, epochs=40, infer_frames=2,
                            bench_iters=3, progress=False, seed=seed, threads=threads)


def epoch_losses(out) -> np.ndarray:
    log = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    return np.array([e["train_loss"] for e in log if e["event"] == "epoch"])


@pytest.mark.slow
def test_quickstart_learns_and_runs_every_step(tmp_path, deterministic_torch):
    out = tmp_path / "qs"
    # 320 steps (about 0.3 mIoU). Fixed seed and thread count (deterministic_torch: two, or one beside
    # another pytest-xdist worker), so a machine repeats its own run; the bars below are relative (to the
    # first epoch's loss and to the constant-class baseline) with wide margins, for other machines' rounding.
    summary = run_quickstart(quickstart_test_config(out, threads=deterministic_torch))

    # It learned: the training loss fell ...
    losses = epoch_losses(out)
    assert len(losses) == 40
    assert losses[-5:].mean() < 0.7 * losses[0], losses
    # ... and unseen scenes score well above predicting the most common class everywhere.
    chance = summary["eval"]["constant_guess_miou"]
    assert 0 < chance < 0.15
    assert summary["eval"]["miou"] > chance + 0.08, (summary["eval"]["miou"], chance)
    # Both exports were verified against PyTorch and pass the parity gates.
    assert summary["export"]["fp32"]["agreement"] >= 0.999
    assert summary["export"]["fp16"]["agreement"] >= 0.995
    assert summary["parity"]["passed"] is True
    parity = json.loads((out / "parity.json").read_text())
    assert {r["label"] for r in parity["results"]} >= {"onnx", "onnx-fp16"}
    # The runtime wrote labels, colours and overlays for each frame.
    labels = sorted((out / "infer").glob("*_labels.png"))
    assert len(labels) == 2
    assert len(list((out / "infer").glob("*_overlay.png"))) == 2
    from PIL import Image

    ids = np.asarray(Image.open(labels[0]))
    assert ids.min() >= 1 and ids.max() <= 9 and len(np.unique(ids)) >= 3
    # The camera-native model gave the float model's labels on the same files, and passed parity on raw frames.
    camera = summary["camera"]
    assert camera["agreement"] >= 0.999 and camera["parity_passed"] is True, camera
    assert len(list((out / "infer_camera").glob("*_labels.png"))) == 2
    assert camera["bytes"]["camera"] < camera["bytes"]["float"]
    # The benchmark measured both backends in the same run.
    bench = json.loads((out / "bench.json").read_text())
    measured = {r["backend"] for r in bench["results"] if r["status"] == "ok"}
    assert measured == {"torch", "onnxruntime"}
    assert json.loads((out / "quickstart.json").read_text())["eval"]["miou"] == summary["eval"]["miou"]
    # The trained model compiles to a verified AOTInductor package, and the C example agrees with the Python runtime.
    aoti = summary["aoti"]
    assert (out / "acnet.pt2").is_file() and aoti["agreement"] >= 0.999 and aoti["max_abs_err"] < 1e-3
    if shutil.which("cmake") and (shutil.which("c++") or shutil.which("g++")):
        assert aoti["c_example"]["agreement"] >= 0.999 and aoti["c_example"]["frames"] == 2
        assert len(list((out / "c_example").glob("*_labels.pgm"))) == 2
    else:
        assert "not found on PATH" in aoti["c_example"]["skipped"]


def test_quickstart_refuses_bad_options_in_one_line(tmp_path):
    proc = run_acnet("quickstart", "--out", tmp_path / "q", "--epochs", "0")
    assert_one_line_error(proc, "'--epochs': 0 is not in the range x>=1")
    assert not (tmp_path / "q").exists()
