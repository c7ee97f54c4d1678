"""`acnet train` from the command line: default data-loader workers, `--resume` and `--resume-from`."""

from __future__ import annotations

import os

import pytest
import torch
from click.testing import CliRunner
from test_train import _assert_same_state, _params, tiny

from acnet.cli import main
from acnet.training.checkpoint import load_checkpoint
from acnet.training.train import list_checkpoints, train
from support.installed import run_acnet

#: The command-line form of test_train.tiny(): 8 synthetic frames, batch 2, 4 steps per epoch.
ARGS = ["--data", "synthetic:8?size=80x80", "--val-data", "none", "--backbone", "resnet18", "--width-mult", "0.25",
        "--height", "64", "--width", "64", "--batch-size", "2", "--lr", "0.01", "--no-progress", "--keep-last", "3"]


@pytest.mark.slow
def test_cli_with_default_workers_then_resume_and_resume_from(tmp_path):
    # 1. The installed command, default workers (2): one epoch of 4 steps.
    first = tmp_path / "run"
    # The same thread count in both processes (earlier tests in this one may have changed torch's):
    # the float sums of 4 steps must come out the same.
    threads = int(os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads())
    proc = run_acnet("train", *ARGS, "--epochs", "1", "--out", first, env={"OMP_NUM_THREADS": str(threads)})
    assert proc.returncode == 0, proc.stderr
    (ckpt1,) = list_checkpoints(first)
    assert ckpt1.name == "epoch0001_step00000004.pt"
    assert load_checkpoint(ckpt1)["train_config"]["num_workers"] == 2
    # Workers see exactly the frames a single process sees: the same weights as num_workers=0.
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        alone = train(tiny(tmp_path / "alone", epochs=1))
    finally:
        torch.set_num_threads(before)
    _assert_same_state(_params(ckpt1), _params(alone.last_checkpoint))

    # 2. --resume continues in the same folder from its newest checkpoint: steps 5..8, not 1..8.
    result = CliRunner().invoke(main, ["train", *ARGS, "--epochs", "2", "--workers", "0", "--out", str(first),
                                       "--resume"])
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs (8 steps)" in result.output
    names = [p.name for p in list_checkpoints(first)]
    assert names == ["epoch0001_step00000004.pt", "epoch0002_step00000008.pt"]
    resumed = load_checkpoint(first / "checkpoints" / names[-1])
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == load_checkpoint(ckpt1)["history"][0]  # epoch 1 was not trained again

    # 3. --resume-from a given checkpoint into another folder reaches the very same weights.
    other = tmp_path / "other"
    result = CliRunner().invoke(main, ["train", *ARGS, "--epochs", "2", "--workers", "0", "--out", str(other),
                                       "--resume-from", str(ckpt1)])
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs (8 steps)" in result.output
    (ckpt2,) = [p for p in list_checkpoints(other) if p.name == "epoch0002_step00000008.pt"]
    _assert_same_state(_params(ckpt2), resumed["model_state"])
    # ... which differs from where it started (it trained), so the equality above says something.
    start, end = _params(ckpt1), _params(ckpt2)
    assert any(not torch.equal(start[k], end[k]) for k in start if start[k].is_floating_point())
