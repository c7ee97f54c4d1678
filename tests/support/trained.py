"""Trained-looking networks for tests of every export and runtime path.

At initialisation every BatchNorm is the identity (mean 0, variance 1,
weight 1, bias 0) and the ACM convolutions are near their initial scale, so
a wrong BatchNorm fold, a dropped ACM or a miscompile hides. These helpers
move the statistics, affine parameters and ACM weights far from their
initial values, as training does, while keeping activations of a sane
size. Export and runtime tests build their models here; a test that uses
plain initialisation does so on purpose and says why.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from acnet.training.checkpoint import make_record, save_checkpoint
from acnet.training.config import ModelConfig
from acnet.runtime.preprocess import Normalization
from acnet.training.model import build_model
from acnet.training.model.acm import ACM

#: Normalisation that is not the NYUDv2 default, so a runtime that ignores the metadata is caught.
NORM = Normalization(rgb_mean=(0.5, 0.4, 0.3), rgb_std=(0.25, 0.26, 0.27), depth_mean=2.5, depth_std=1.1)


@torch.no_grad()
def make_trained_looking(model: nn.Module, seed: int = 0) -> nn.Module:
    """Randomise BatchNorm statistics/affine and ACM weights in place; returns ``model``.

    BatchNorm: running mean ~ N(0, 0.3²) times the channel scale, running var
    in U(0.3, 3), weight in U(0.4, 1.6) with random sign on a fifth of the
    channels, bias ~ N(0, 0.2²). ACM: the 1x1 convolution's bias spreads the
    sigmoid over most of (0, 1) (bias ~ U(-3, 3)), and its weight is rescaled
    so the pooled input moves the sigmoid too. The model is left in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
            module.running_var.copy_(uniform(c, 0.3, 3.0))
            sign = torch.where(torch.rand(c, generator=gen) < 0.2, -1.0, 1.0)
            module.weight.copy_(uniform(c, 0.4, 1.6) * sign)
            module.bias.copy_(0.2 * torch.randn(c, generator=gen))
        elif isinstance(module, ACM):
            conv = module.conv
            c = conv.in_channels
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (1.5 / c**0.5))
            conv.bias.copy_(uniform(conv.out_channels, -3.0, 3.0))
    return model.eval()


def trained_looking_model(config: ModelConfig, seed: int = 0) -> nn.Module:
    """A fresh network of ``config`` with trained-looking BatchNorm and ACM weights (eval mode)."""
    torch.manual_seed(seed)
    return make_trained_looking(build_model(config), seed=seed)


def trained_looking_checkpoint(
    path: str | Path,
    config: ModelConfig,
    size: tuple[int, int] = (64, 96),
    *,
    seed: int = 0,
    class_names: list[str] | None = None,
    normalization: Normalization = NORM,
) -> Path:
    """Save a self-describing checkpoint of a trained-looking network at ``path``."""
    model = trained_looking_model(config, seed=seed)
    names = class_names or [f"class{i}" for i in range(1, config.num_classes + 1)]
    return save_checkpoint(path, make_record(model, config, names, normalization, size))


def acm_weights(model: nn.Module) -> torch.Tensor:
    """Every ACM's channel weights for one random input: to check they spread over (0, 1)."""
    weights = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: weights.append(torch.sigmoid(mod.conv(inp[0].mean((2, 3), keepdim=True))).flatten()))
             for m in model.modules() if isinstance(m, ACM)]
    try:
        h, w = 64, 96
        with torch.no_grad():
            model(torch.randn(1, 3, h, w), torch.randn(1, 1, h, w))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat(weights)


# --------------------------------------------------------------------------- wrong on purpose


class _ACMWithoutSigmoid(ACM):
    """An ACM whose sigmoid was dropped: what a broken export of it computes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(x.mean(dim=(2, 3), keepdim=True))


@torch.no_grad()
def break_on_purpose(model: nn.Module, part: str) -> nn.Module:
    """Make ``model`` (in place) compute what a wrong export would; returns it.

    ``"batchnorm"``: one decoder BatchNorm loses its running statistics (mean
    0, variance 1, as a fold that ignores them; invisible at initialisation).
    ``"acm"``: the depth ACM of stage 2 skips its sigmoid. Tests apply this to
    the exported copy only, to show that their check catches the fault.
    """
    if part == "batchnorm":
        bn = model.decoder.deconv3[0].bn1
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
    elif part == "acm":
        model.acm_depth[2].__class__ = _ACMWithoutSigmoid
    else:
        raise ValueError(f"part must be 'batchnorm' or 'acm', got {part!r}")
    return model


def break_exported_on_purpose(model, part: str):
    """The fault ``break_on_purpose(..., part)`` makes, made in an exported ONNX graph (in place); returns it.

    For paths that start from an ONNX file, where exporting a broken copy
    again would only repeat the slow trace. ``"acm"``: the depth ACM of
    stage 2 loses its sigmoid (its multiply reads the 1x1 convolution).
    """
    from acnet.export.graph import find_acm_fusions

    if part != "acm":
        raise ValueError(f"only the 'acm' fault is made in the graph, got {part!r}; export a break_on_purpose copy")
    branch = next(f.depth for f in find_acm_fusions(model) if f.stage == 2)
    nodes = {n.name: n for n in model.graph.node}
    sigmoid, mul = nodes[branch.sigmoid], nodes[branch.mul]
    mul.input[list(mul.input).index(sigmoid.output[0])] = sigmoid.input[0]
    model.graph.node.remove(sigmoid)
    return model


#: Faults of a camera-native model's input head (break_camera_head_on_purpose).
CAMERA_FAULTS = ("mean", "depth-scale", "bgr")


def break_camera_head_on_purpose(network, info, fault: str):
    """A camera-native ONNX model of ``network`` whose input head is wrong, with ``info``'s (right) metadata.

    ``"mean"``: the RGB means shifted by 0.05 (of the 0..1 range); ``"depth-scale"``:
    depth read in centimetres where the metadata says millimetres; ``"bgr"``:
    the camera's channels taken in B, G, R order. What a hand-written
    preprocessing gets wrong; parity must refuse each.
    """
    import dataclasses

    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from acnet.export.camera import attach_heads
    from acnet.export.graph import set_metadata

    if fault not in CAMERA_FAULTS:
        raise ValueError(f"fault must be one of {CAMERA_FAULTS}, got {fault!r}")
    built = info
    if fault == "mean":
        norm = info.normalization
        built = info.with_(normalization=dataclasses.replace(norm, rgb_mean=tuple(m + 0.05 for m in norm.rgb_mean)))
    elif fault == "depth-scale":
        built = info.with_(camera=dataclasses.replace(info.camera, depth_scale=10 * info.camera.depth_scale))
    model = attach_heads(network, built, 18)
    if fault == "bgr":
        graph = model.graph
        for node in graph.node:
            node.input[:] = ["rgb_swapped" if n == "rgb" else n for n in node.input]
        graph.initializer.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), "bgr_order"))
        graph.node.insert(0, helper.make_node("Gather", ["rgb", "bgr_order"], ["rgb_swapped"], name="bgr", axis=3))
    set_metadata(model, info)
    onnx.checker.check_model(model)
    return model
