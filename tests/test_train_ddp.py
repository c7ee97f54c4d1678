"""DistributedDataParallel on CPU (gloo, 2 processes via torchrun) against one process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from acnet.training.checkpoint import load_checkpoint
from acnet.training.config import ModelConfig
from acnet.training.train import TrainConfig, list_checkpoints, train

pytestmark = pytest.mark.slow

COMMON = {
    "data": "synthetic:8?size=64x64",
    "val_data": "synthetic:5?size=48x64",
    "model": {"backbone": "resnet18", "num_classes": 9, "fusion": "acm", "width": 0.25},
    "input_height": 64,  # at 32x32 the 1/32 maps are 1x1 and batch norm over 2 values amplifies rounding
    "input_width": 64,
    "epochs": 2,
    "batch_size": 2,
    "lr": 0.01,
    "num_workers": 0,
    "tensorboard": False,
    "progress": False,
}


def _weights(path):
    state = load_checkpoint(path)["model_state"]
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(yaml.safe_dump({**COMMON, "out_dir": str(tmp_path / "ddp")}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "acnet.cli", "train", "--config", str(cfg)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # One process, batch 2 accumulated twice: the same 4 frames per optimiser step. One thread like each
    # rank, so reductions run in the same order (a few steps of training amplify rounding differences).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(TrainConfig.from_dict({**COMMON, "grad_accum": 2, "out_dir": str(tmp_path / "single")}))
    finally:
        torch.set_num_threads(threads)

    ddp_ckpts = list_checkpoints(tmp_path / "ddp")
    assert [p.name for p in ddp_ckpts] == [p.name for p in list_checkpoints(tmp_path / "single")]
    ddp = load_checkpoint(ddp_ckpts[-1])
    assert ddp["global_step"] == single.global_step == 4  # 8 frames / global batch 4, 2 epochs
    ddp_losses = [h["train_loss"] for h in ddp["history"]]
    assert ddp_losses == pytest.approx([h["train_loss"] for h in single.history], rel=1e-5)
    a, b = _weights(ddp_ckpts[-1]), _weights(single.last_checkpoint)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    # Validation is sharded over the ranks and the confusion matrices summed: every pixel counted once.
    assert ddp["metrics"]["labelled_pixels"] == single.final_metrics["labelled_pixels"] == 5 * 48 * 64

    log = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[0]["world_size"] == 2
    assert sum(1 for line in log if line["event"] == "start") == 1  # only rank 0 writes
