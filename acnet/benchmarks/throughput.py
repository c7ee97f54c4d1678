"""Training throughput: images per second of the real training step, per precision.

Runs :class:`~acnet.training.train.Trainer`'s own optimiser step (autocast,
grad scaler, channels_last, cudnn.benchmark as ``acnet train`` sets them) on
one fixed synthetic batch, so data loading is not measured, and compares
bf16/fp16 mixed precision with plain FP32 in the same run::

    python -m acnet.benchmarks.throughput --backbone resnet50 --height 480 --width 640 \\
        --precisions fp32,bf16,fp16 --json benchmarks/results/train_throughput_<gpu>.json

"fp32" is training as ``acnet train --amp off`` runs it: on CUDA PyTorch's
default lets cuDNN use TF32 for convolutions, which the report records.
It lives with the benchmarks (it reports with their statistics and
environment); training itself never imports it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import click
import torch

from acnet._io import atomic_write_text
from acnet.benchmarks.environment import collect_environment, load_average
from acnet.benchmarks.stats import summarize, throughput
from acnet.errors import AcnetError, ConfigError
from acnet.training.config import ModelConfig
from acnet.training.data.synthetic import SYNTHETIC_CLASSES
from acnet.training.device import resolve_device
from acnet.training.train import TrainConfig, Trainer

PRECISIONS = {"fp32": "off", "bf16": "bf16", "fp16": "fp16"}


@dataclass(frozen=True)
class ThroughputConfig:
    backbone: str = "resnet50"
    width: float = 1.0
    height: int = 480
    width_px: int = 640
    batch_size: int = 4
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")
    warmup: int = 3
    steps: int = 10
    device: str = "auto"


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: ThroughputConfig, out_dir: str = "runs/throughput") -> dict:
    """Median seconds per optimiser step and images/s for each precision, with the environment."""
    unknown = [p for p in config.precisions if p not in PRECISIONS]
    if unknown:
        raise ConfigError(f"unknown precision {unknown[0]!r}; choose from {', '.join(PRECISIONS)}")
    load = load_average()
    results = {}
    for precision in config.precisions:
        if precision == "fp16" and not resolve_device(config.device).is_cuda:
            results[precision] = {"status": "skipped", "reason": "fp16 training (with a grad scaler) needs CUDA"}
            continue
        train_config = TrainConfig(
            data=f"synthetic:{config.batch_size}?size={config.height}x{config.width_px}",
            val_data="none",
            model=ModelConfig(config.backbone, len(SYNTHETIC_CLASSES), width=config.width),
            input_height=config.height, input_width=config.width_px, batch_size=config.batch_size,
            amp=PRECISIONS[precision], device=config.device, num_workers=0, progress=False,
            tensorboard=False, out_dir=out_dir,
        )
        trainer = Trainer(train_config)
        trainer.setup()
        batch = next(iter(trainer.loader))
        for _ in range(config.warmup):
            trainer._train_step([batch])
        _sync(trainer.device)
        seconds, losses = [], []
        for _ in range(config.steps):
            start = time.perf_counter()
            losses.append(trainer._train_step([batch]))  # a float: the step has synchronised on its loss
            _sync(trainer.device)
            seconds.append(time.perf_counter() - start)
        cuda = trainer.device.type == "cuda"
        results[precision] = {
            "status": "ok",
            "device": str(trainer.device),
            "autocast": None if trainer.amp_dtype is None else str(trainer.amp_dtype).replace("torch.", ""),
            "grad_scaler": trainer.scaler.is_enabled(),
            "channels_last": trainer.channels_last,
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if cuda else None,
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32) if cuda else None,
            #: The loss of each timed step on the same batch (they differ: the weights move).
            "losses": losses,
            "step_seconds": summarize(seconds).to_dict(),
            "images_per_s": throughput(config.batch_size, seconds).to_dict(),
        }
        del trainer
        if cuda:
            torch.cuda.empty_cache()
    base = results.get("fp32", {}).get("images_per_s", {}).get("median")
    for r in results.values():
        if base and r.get("status") == "ok":
            r["speedup_vs_fp32"] = r["images_per_s"]["median"] / base
    return {"benchmark": "train_throughput", "config": asdict(config), "results": results,
            "environment": collect_environment(load)}


@click.command()
@click.option("--backbone", default="resnet50", show_default=True)
@click.option("--width-mult", type=float, default=1.0, show_default=True)
@click.option("--height", type=int, default=480, show_default=True)
@click.option("--width", type=int, default=640, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--precisions", default="fp32,bf16,fp16", show_default=True)
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--steps", type=int, default=10, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the results as JSON.")
def main(backbone, width_mult, height, width, batch_size, precisions, warmup, steps, device, json_out) -> None:
    """Images/s of training steps per precision (mixed precision against FP32)."""
    config = ThroughputConfig(backbone, width_mult, height, width, batch_size,
                              tuple(p.strip() for p in precisions.split(",") if p.strip()), warmup, steps, device)
    try:
        report = measure(config)
    except AcnetError as exc:
        click.echo(f"acnet: error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None
    for name, r in report["results"].items():
        if r["status"] != "ok":
            click.echo(f"{name:>5}: {r['status']} ({r['reason']})")
            continue
        click.echo(f"{name:>5}: {r['images_per_s']['median']:8.2f} images/s, "
                   f"{1000 * r['step_seconds']['median']:8.1f} ms/step (median of {steps})"
                   + (f", x{r['speedup_vs_fp32']:.2f} vs fp32" if "speedup_vs_fp32" in r else ""))
    if json_out:
        atomic_write_text(json_out, json.dumps(report, indent=2))
        click.echo(f"wrote {json_out}")


if __name__ == "__main__":  # pragma: no cover
    main()
