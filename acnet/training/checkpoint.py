"""Self-describing checkpoints, written atomically and read without unpickling code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts,
so ``torch.load(weights_only=True)`` can read it. Besides the weights it
carries everything needed to rebuild and use the model: the model config,
class names, normalisation and training input size. Training adds its own
state (optimiser, scheduler, epoch, RNG, ...) under further keys.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import acnet
from acnet._io import atomic_path, sha256_file, sniff_artefact, unpickling_error
from acnet.errors import AcnetError, CheckpointError, first_line
from acnet.runtime.preprocess import Normalization
from acnet.training.config import ModelConfig, check_input_size
from acnet.training.model import build_model

FORMAT = "acnet.checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_config", "class_names", "normalization", "input_size", "model_state")


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about the model it holds."""

    path: Path | None
    model_config: ModelConfig
    class_names: tuple[str, ...]
    normalization: Normalization
    input_height: int
    input_width: int
    acnet_version: str
    sha256: str


def make_record(
    model: torch.nn.Module,
    config: ModelConfig,
    class_names: list[str] | tuple[str, ...],
    normalization: Normalization,
    input_size: tuple[int, int],
    **training_state: Any,
) -> dict[str, Any]:
    """The dict that :func:`save_checkpoint` writes; extra keys are kept as given."""
    if len(class_names) != config.num_classes:
        raise CheckpointError(f"{len(class_names)} class names given for a {config.num_classes}-class model")
    check_input_size(*input_size)
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "acnet_version": acnet.__version__,
        "model_config": config.to_dict(),
        "class_names": list(class_names),
        "normalization": normalization.to_dict(),
        "input_size": [int(input_size[0]), int(input_size[1])],
        "model_state": state,
        **training_state,
    }


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module behind DistributedDataParallel or torch.compile."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def save_checkpoint(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a Python file: a full disk is an OSError
        torch.save(record, fh)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint; raise :class:`CheckpointError` naming the problem."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    kind = sniff_artefact(path)
    if kind is not None and kind != "a PyTorch checkpoint":
        raise CheckpointError(f"{path} is {kind}, not a checkpoint; give the .pt file that `acnet train` wrote")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notes on foreign pickles
            record = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise unpickling_error(exc, path, "an acnet checkpoint") from None
    except Exception as exc:  # a damaged file can fail anywhere in the unpickler
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint ({first_line(exc)})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an acnet checkpoint (no '{FORMAT}' format marker)")
    if int(record.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer acnet (format {record['format_version']}); upgrade acnet")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise CheckpointError(f"{path} is an incomplete acnet checkpoint: missing {', '.join(missing)}")
    return record


def checkpoint_info(record: dict[str, Any], path: str | os.PathLike | None = None) -> CheckpointInfo:
    """Typed view of a loaded checkpoint record."""
    where = path or "checkpoint"
    try:
        config = ModelConfig.from_dict(dict(record["model_config"]))
        norm = Normalization.from_dict(record["normalization"])
        h, w = (int(v) for v in record["input_size"])
        check_input_size(h, w)  # the size it was trained at: every command's default
        names = record["class_names"]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"class_names must be a list of strings, got {type(names).__name__}")
    except AcnetError as exc:
        raise CheckpointError(f"{where} has an invalid description: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} has an invalid description: {exc}") from None
    names = tuple(names)
    if len(names) != config.num_classes:
        raise CheckpointError(f"{where} lists {len(names)} class names for a {config.num_classes}-class model")
    return CheckpointInfo(
        path=Path(path) if path else None,
        model_config=config,
        class_names=names,
        normalization=norm,
        input_height=h,
        input_width=w,
        acnet_version=str(record.get("acnet_version", "unknown")),
        sha256=sha256_file(path) if path else "",
    )


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load weights strictly, naming the first key that does not fit."""
    own = model.state_dict()
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} does not fit the model: its weights are a {type(state).__name__}, not a dict of tensors")
    for key, tensor in own.items():
        if key not in state:
            raise CheckpointError(f"{source} does not fit the model: key {key!r} is missing")
        if not isinstance(state[key], torch.Tensor):
            raise CheckpointError(f"{source} does not fit the model: key {key!r} is a {type(state[key]).__name__}, not a tensor")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source} does not fit the model: key {key!r} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise CheckpointError(f"{source} does not fit the model: unexpected key {extra[0]!r}")
    model.load_state_dict(state, strict=True)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Rebuild the network described by a checkpoint, in eval mode.

    Returns ``(model, info)``.
    """
    record = load_checkpoint(path)
    info = checkpoint_info(record, path)
    model = build_model(info.model_config)
    load_model_state(model, record["model_state"], source=str(path))
    check_finite_weights(model, str(path))
    return model.to(device).eval(), info


def check_finite_weights(model: torch.nn.Module, source: str = "checkpoint") -> None:
    """Refuse NaN or infinite weights or BatchNorm statistics, naming the first: every answer would be NaN."""
    bad = [name for name, t in (*model.named_parameters(), *model.named_buffers())
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise CheckpointError(f"{source} holds NaN or infinite values in {bad[0]!r}{more}: the training run that wrote "
                              f"it diverged (try a lower --lr, or an earlier checkpoint)")
