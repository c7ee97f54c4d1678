"""``acnet export onnx|trt|aoti``; each target is imported only when used."""

from __future__ import annotations

import click

from acnet.cli import LazyGroup

TARGETS = {
    "onnx": ("acnet.export.onnx:onnx_command", "checkpoint -> ONNX (FP32 or FP16), verified against PyTorch"),
    "trt": ("acnet.export.tensorrt:trt_command", "ONNX -> FP16 TensorRT engine with a JSON sidecar"),
    "aoti": ("acnet.export.aoti:aoti_command", "checkpoint -> AOTInductor package for the C ABI"),
}


@click.group(cls=LazyGroup, commands=TARGETS)
def export() -> None:
    """Export a checkpoint to deployable artefacts."""
