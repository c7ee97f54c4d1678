"""``acnet model``, ``acnet data``, ``acnet train`` and ``acnet eval``."""

from __future__ import annotations

import json
import logging

import click

from acnet._options import COUNT, POSITIVE, FiniteFloat

from acnet._io import atomic_write_text, check_writable, make_dir
from acnet.runtime.preprocess import PreprocessConfig
from acnet.training.config import FUSIONS, STAGE_CHANNELS, ModelConfig
from acnet.training.data import open_dataset
from acnet.training.data.stats import compute_stats

log = logging.getLogger(__name__)


@click.group()
def model() -> None:
    """Inspect the network."""


@model.command("summary")
@click.option("--backbone", type=click.Choice(sorted(STAGE_CHANNELS)), default="resnet50", show_default=True)
@click.option("--classes", "num_classes", type=click.IntRange(1, 255), default=40, show_default=True)
@click.option("--fusion", type=click.Choice(FUSIONS), default="acm", show_default=True)
@click.option("--width-mult", "width_mult", type=FiniteFloat(0.0, 1.0, min_open=True), default=1.0, show_default=True,
              help="Channel multiplier; 1.0 is the paper's network.")
@click.option("--height", type=POSITIVE, default=480, show_default=True)
@click.option("--width", type=POSITIVE, default=640, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the counts as JSON.")
def summary(
    backbone: str, num_classes: int, fusion: str, width_mult: float, height: int, width: int, json_out: str | None
) -> None:
    """Print parameters and GMACs per part: each encoder branch, the ACMs, the decoder."""
    from acnet.training.summary import summarize  # imports torch: `acnet data` runs without it

    if json_out:
        check_writable(json_out)
    result = summarize(ModelConfig(backbone, num_classes, fusion, width_mult), height, width)
    click.echo(result.table())
    if json_out:
        atomic_write_text(json_out, json.dumps(result.to_dict(), indent=2))


# ---------------------------------------------------------------------------- acnet data


@click.group()
def data() -> None:
    """Inspect datasets.

    \b
    Dataset specs:
      synthetic[:N][?size=HxW&seed=S&split=train|test]   built-in procedural scenes
      folder:ROOT[?split=..&labels=DIR&depth_scale=0.001&depth_format=mm|sunrgbd]
      nyuv2-mat:FILE[?split=train|test|all&depth=filled|raw]
    """


@data.command("stats")
@click.argument("spec", default="synthetic")
@click.option("--split", default="train", show_default=True, help="Split to measure (a split in SPEC wins).")
@click.option("--max-frames", type=POSITIVE, help="Measure only the first N frames.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="Write the statistics as JSON (a folder dataset reads ROOT/normalization.json).")
def stats(spec: str, split: str, max_frames: int | None, json_out: str | None) -> None:
    """Normalisation constants, class frequencies and median-frequency weights of SPEC."""
    if json_out:
        check_writable(json_out)
    result = compute_stats(open_dataset(spec, split), max_frames=max_frames, progress=True)
    click.echo(result.table())
    if json_out:
        atomic_write_text(json_out, result.to_json())
        click.echo(f"wrote {json_out}")


# ---------------------------------------------------------------------------- acnet train

#: CLI option name -> TrainConfig field (model options are handled apart).
_TRAIN_FIELDS = {
    "recipe": "recipe", "data": "data", "val_data": "val_data", "height": "input_height", "width": "input_width",
    "epochs": "epochs", "batch_size": "batch_size", "grad_accum": "grad_accum", "lr": "lr",
    "momentum": "momentum", "weight_decay": "weight_decay", "lr_decay": "lr_decay",
    "lr_decay_epochs": "lr_decay_epochs", "loss": "loss", "focal_gamma": "focal_gamma",
    "class_weights": "class_weights", "deep_supervision": "deep_supervision",
    "deep_supervision_reduction": "deep_supervision_reduction", "drop_last": "drop_last", "normalization": "normalization",
    "pretrained": "pretrained", "amp": "amp", "channels_last": "channels_last", "device": "device",
    "out": "out_dir", "keep_last": "keep_last", "save_every_steps": "save_every_steps", "val_every": "val_every",
    "val_batch_size": "val_batch_size", "max_steps": "max_steps", "seed": "seed", "workers": "num_workers",
    "log_every": "log_every", "progress": "progress",
}
_MODEL_FIELDS = {"backbone": "backbone", "classes": "num_classes", "fusion": "fusion", "width_mult": "width"}


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML or JSON file with training options (TrainConfig field names); flags given here win.")
@click.option("--recipe", type=click.Choice(["paper", "authors-code"]),
              help="paper (the ACNet paper) or authors-code (the authors' released training code) [default: paper]; "
                   "options marked 'recipe' take its value unless given.")
@click.option("--data", default="synthetic", show_default=True, help="Training data spec (its train split).")
@click.option("--val-data", help="Validation data spec [default: the test split of --data; 'none' to skip].")
@click.option("--backbone", type=click.Choice(sorted(STAGE_CHANNELS)), default="resnet50", show_default=True)
@click.option("--classes", type=int, help="Class count [default: the training data's].")
@click.option("--fusion", type=click.Choice(FUSIONS), default="acm", show_default=True)
@click.option("--width-mult", type=float, default=1.0, show_default=True, help="Channel multiplier (1.0 = the paper).")
@click.option("--height", type=int, default=480, show_default=True, help="Training input height (multiple of 32).")
@click.option("--width", type=int, default=640, show_default=True, help="Training input width (multiple of 32).")
@click.option("--epochs", type=int, default=1500, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True, help="Frames per process per micro-batch.")
@click.option("--grad-accum", type=int, default=1, show_default=True, help="Micro-batches per optimiser step.")
@click.option("--lr", type=float, default=0.002, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, help="[recipe: 0.004 paper, 1e-4 authors-code]")
@click.option("--lr-decay", type=float, default=0.8, show_default=True, help="lr factor every --lr-decay-epochs.")
@click.option("--lr-decay-epochs", type=int,
              help="[recipe: 100, 20 on 37-class SUN RGB-D (paper); 100 (authors-code)]")
@click.option("--loss", type=click.Choice(["focal", "ce"]),
              help="focal (gamma 2) or weighted cross-entropy [recipe: focal paper, ce authors-code].")
@click.option("--focal-gamma", type=float, default=2.0, show_default=True)
@click.option("--class-weights", help="none | nyuv2 | sunrgbd (published weights) | median-frequency | FILE.json "
                                     "[recipe: none paper, the dataset's published weights authors-code].")
@click.option("--deep-supervision/--no-deep-supervision", default=True, show_default=True,
              help="Train on the 5 decoder outputs (else the full-size one only).")
@click.option("--deep-supervision-reduction", type=click.Choice(["mean", "sum"]),
              help="Combine the 5 losses by [recipe: mean paper, sum authors-code].")
@click.option("--drop-last/--no-drop-last", default=None,
              help="Drop each epoch's last partial batch [recipe: yes paper, no authors-code].")
@click.option("--normalization", type=click.Path(dir_okay=False),
              help="Statistics JSON (from `acnet data stats --json`) [default: the dataset's].")
@click.option("--pretrained", type=click.Path(dir_okay=False),
              help="ImageNet ResNet .pth for the encoders [default: random init].")
@click.option("--amp", type=click.Choice(["auto", "off", "bf16", "fp16"]),
              help="Mixed precision; auto = bf16 (or fp16 + grad scaler) on CUDA, off on CPU "
                   "[recipe: auto paper, off authors-code].")
@click.option("--channels-last/--no-channels-last", default=None, help="[default: on for CUDA]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--out", default="runs/acnet", show_default=True, help="Output folder: checkpoints, best.pt, log.jsonl.")
@click.option("--keep-last", type=int, default=3, show_default=True, help="Epoch checkpoints to keep.")
@click.option("--save-every-steps", type=int, default=0, show_default=True,
              help="Also checkpoint every N steps inside an epoch (0 = epoch ends only).")
@click.option("--val-every", type=int, default=1, show_default=True, help="Validate every N epochs.")
@click.option("--val-batch-size", type=int, default=4, show_default=True)
@click.option("--max-steps", type=int, help="Stop after N optimiser steps in total.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=COUNT, default=2, show_default=True, help="DataLoader worker processes.")
@click.option("--log-every", type=int, default=10, show_default=True, help="Steps between log lines.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
@click.option("--resume-from", type=click.Path(dir_okay=False), help="Continue from this checkpoint.")
@click.option("--dump-config", type=click.Path(dir_okay=False), help="Write the resolved config as YAML and exit.")
@click.pass_context
def train(ctx: click.Context, config_file: str | None, resume: bool, resume_from: str | None,
          dump_config: str | None, **options) -> None:
    """Train ACNet (the paper's recipe by default, --recipe authors-code for the released code's) to --out.

    Multi-GPU / multi-node: launch with torchrun, e.g.
    `torchrun --nproc_per_node 4 -m acnet.cli train --config run.yaml`.
    """
    from acnet.training.train import TrainConfig, load_config_file  # imports torch: `acnet data` runs without it
    from acnet.training.train import train as run_training

    values = load_config_file(config_file) if config_file else {}
    if values:
        TrainConfig.from_dict(values)  # the file's own values, checked before flags are merged into them
    given = {name for name in options if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    for name, field in _TRAIN_FIELDS.items():
        if name in given or (field not in values and options[name] is not None):
            values[field] = options[name]
    model = dict(values.get("model") or {})
    for name, field in _MODEL_FIELDS.items():
        if name in given or (field not in model and options[name] is not None):
            model[field] = options[name]
    if "num_classes" not in model:
        model["num_classes"] = open_dataset(values.get("data", "synthetic"), "train").num_classes
    values["model"] = model
    if resume_from:
        values["resume"] = resume_from
    elif resume:
        values["resume"] = True
    config = TrainConfig.from_dict(values)
    if dump_config:
        config = config.resolve(config.model.num_classes)
        import yaml  # pyyaml comes with acnet[train]; `acnet data` runs without it


        check_writable(dump_config)

        atomic_write_text(dump_config, yaml.safe_dump(config.to_dict(), sort_keys=False))
        click.echo(f"wrote {dump_config}")
        return
    result = run_training(config)
    click.echo(f"trained {result.epochs_completed} epochs ({result.global_step} steps) in {result.seconds:.0f} s")
    if result.final_metrics is not None:
        m = result.final_metrics
        click.echo(f"final val mIoU {_pct(m['miou'])}, pixel accuracy {_pct(m['pixel_accuracy'])}, "
                   f"mean class accuracy {_pct(m['mean_class_accuracy'])}")
    click.echo(f"last checkpoint: {result.last_checkpoint}")
    if result.best_checkpoint:
        click.echo(f"best checkpoint: {result.best_checkpoint} (val mIoU {_pct(result.best_miou)})")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


# ---------------------------------------------------------------------------- acnet eval


@click.command("eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--data", "data_spec", default="synthetic", show_default=True, help="Dataset spec to evaluate on.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate (a split in --data wins).")
@click.option("--batch-size", type=POSITIVE, default=4, show_default=True)
@click.option("--workers", type=COUNT, default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--max-frames", type=POSITIVE, help="Evaluate only the first N frames.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write metrics, per-class IoU and the confusion matrix as JSON ('-' for stdout, no table).")
@click.option("--save-vis", type=click.Path(file_okay=False),
              help="Folder for PNGs of RGB | depth | ground truth | prediction per frame.")
def evaluate(checkpoint: str, data_spec: str, split: str, batch_size: int, workers: int, device: str,
             max_frames: int | None, json_out: str | None, save_vis: str | None) -> None:
    """Evaluate CHECKPOINT: mIoU, pixel accuracy, mean class accuracy, per-class IoU.

    Logits are computed at the checkpoint's input size and resized bilinearly
    to each label's original size before the argmax; void pixels are ignored.
    """
    from acnet.training.checkpoint import load_model  # imports torch: `acnet data` runs without it
    from acnet.training.evaluate import evaluate as run_eval
    from acnet.training.train import torch_device

    if json_out and json_out != "-":
        check_writable(json_out, checkpoint)
    if save_vis:
        make_dir(save_vis)
    dev = torch_device(device)
    model, info = load_model(checkpoint, dev)
    dataset = open_dataset(data_spec, split)
    if tuple(dataset.class_names) != info.class_names and dataset.num_classes == len(info.class_names):
        # A note on the table (the command line holds it until the table is out); a count mismatch fails in run_eval.
        log.warning("class names of %s differ from the checkpoint's", dataset.source)
    config = PreprocessConfig(info.input_height, info.input_width, info.normalization)
    result = run_eval(model, dataset, config, device=dev, batch_size=batch_size, num_workers=workers,
                      max_frames=max_frames, save_vis=save_vis, progress=json_out != "-")
    if json_out == "-":
        click.echo(result.to_json())
        return
    click.echo(result.table())
    if json_out:
        atomic_write_text(json_out, result.to_json())
        click.echo(f"wrote {json_out}")
    if save_vis:
        click.echo(f"wrote {result.frames} images to {save_vis}")
