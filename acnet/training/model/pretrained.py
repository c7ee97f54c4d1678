"""Load ImageNet ResNet weights from a local torchvision ``.pth`` file."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import torch

from acnet._io import sniff_artefact, unpickling_error
from acnet.errors import CheckpointError, first_line
from acnet.training.model.acnet import ACNet
from acnet.training.model.encoder import ResNetBranch

log = logging.getLogger(__name__)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"pretrained weights file {path} not found")
    kind = sniff_artefact(path)
    if kind is not None and kind != "a PyTorch checkpoint":
        raise CheckpointError(f"pretrained weights file {path} is {kind}, not torchvision's ImageNet .pth file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text would advise weights_only=False: never for a downloaded file
        raise unpickling_error(exc, path, "torchvision's ImageNet .pth file") from None
    except Exception as exc:  # torch raises many types for bad files
        raise CheckpointError(f"{path} is not a readable torchvision weights file: {first_line(exc)}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a ResNet state dict")
    return state


def load_imagenet_weights(model: ACNet, path: str | os.PathLike) -> None:
    """Copy ImageNet ResNet weights into every encoder branch of ``model``.

    The RGB and depth branches and all three ``layer1..4`` copies receive the
    weights; the depth ``conv1`` is the RGB ``conv1`` averaged over its input
    channels. A file that does not fit the model's backbone is refused,
    naming the first key that does not match.
    """
    path = Path(path)
    state = _read_state_dict(path)
    backbone = model.config.backbone
    reference = ResNetBranch(backbone, width=model.config.width).state_dict()
    for key, expected in reference.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key not in state:
            raise CheckpointError(f"{path} does not fit {backbone}: key {key!r} is missing")
        if tuple(state[key].shape) != tuple(expected.shape):
            raise CheckpointError(
                f"{path} does not fit {backbone}: key {key!r} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(expected.shape)}"
            )
    weights = {k: state[k] for k in reference if k in state}
    depth_weights = dict(weights)
    depth_weights["conv1.weight"] = weights["conv1.weight"].mean(dim=1, keepdim=True)

    with torch.no_grad():
        for branch, source in ((model.rgb, weights), (model.depth, depth_weights), (model.fusion, weights)):
            own = branch.state_dict()
            for key in own:
                if key in source:
                    own[key].copy_(source[key])
    log.info("loaded ImageNet %s weights from %s into the RGB, depth and fusion branches", backbone, path)
