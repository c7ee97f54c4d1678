"""``acnet model``, ``acnet data``, ``acnet train`` and ``acnet eval``."""

from __future__ import annotations

import json

import click

from acnet.training.config import FUSIONS, STAGE_CHANNELS, ModelConfig


@click.group()
def model() -> None:
    """Inspect the network."""


@model.command("summary")
@click.option("--backbone", type=click.Choice(sorted(STAGE_CHANNELS)), default="resnet50", show_default=True)
@click.option("--classes", "num_classes", type=int, default=40, show_default=True)
@click.option("--fusion", type=click.Choice(FUSIONS), default="acm", show_default=True)
@click.option("--width-mult", "width_mult", type=float, default=1.0, show_default=True,
              help="Channel multiplier; 1.0 is the paper's network.")
@click.option("--height", type=int, default=480, show_default=True)
@click.option("--width", type=int, default=640, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the counts as JSON.")
def summary(
    backbone: str, num_classes: int, fusion: str, width_mult: float, height: int, width: int, json_out: str | None
) -> None:
    """Print parameters and GMACs per part: each encoder branch, the ACMs, the decoder."""
    from acnet._io import atomic_write_text
    from acnet.training.summary import summarize

    result = summarize(ModelConfig(backbone, num_classes, fusion, width_mult), height, width)
    click.echo(result.table())
    if json_out:
        atomic_write_text(json_out, json.dumps(result.to_dict(), indent=2))
