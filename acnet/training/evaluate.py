"""Evaluation: confusion matrix over a dataset at the frames' original resolution.

Each frame goes through :func:`acnet.runtime.preprocess.preprocess` (the
runtime's preprocessing) to the model's input size; the logits are resized
bilinearly back to the label's size before the argmax
(:func:`acnet.runtime.postprocess.postprocess_logits`), and void pixels are
ignored. Metrics are defined in :mod:`acnet.training.metrics`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from acnet._io import make_dir
from acnet.errors import ConfigError, TrainingError, unwrap_worker_errors
from acnet.runtime.postprocess import postprocess_logits
from acnet.runtime.preprocess import PreprocessConfig, preprocess, resize_bilinear_chw
from acnet.training.checkpoint import _unwrap
from acnet.training.data.base import RGBDDataset
from acnet.training.data.workers import init_worker
from acnet.training.metrics import ConfusionMatrix
from acnet.training.transforms import EvalTransform
from acnet.training.visualize import save_comparison


@dataclass
class EvalResult:
    """What :func:`evaluate` measured."""

    confusion: ConfusionMatrix
    class_names: tuple[str, ...]
    frames: int
    seconds: float
    source: str = ""

    @property
    def miou(self) -> float:
        return self.confusion.miou()

    @property
    def pixel_accuracy(self) -> float:
        return self.confusion.pixel_accuracy()

    @property
    def mean_class_accuracy(self) -> float:
        return self.confusion.mean_class_accuracy()

    def summary(self) -> dict:
        """The three headline metrics (None for NaN) and the number of labelled pixels."""
        d = self.confusion.to_dict(self.class_names)
        return {k: d[k] for k in ("miou", "pixel_accuracy", "mean_class_accuracy", "labelled_pixels")}

    def to_dict(self) -> dict:
        return {"data": self.source, "frames": self.frames, "seconds": self.seconds,
                **self.confusion.to_dict(self.class_names)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        head = f"{self.source}: {self.frames} frames in {self.seconds:.1f} s"
        return head + "\n" + self.confusion.table(self.class_names)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Put ``model`` in eval mode (no grad) and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def model_classes(model: torch.nn.Module) -> int | None:
    config = getattr(_unwrap(model), "config", None)
    return getattr(config, "num_classes", None)


def predict_logits(
    model: torch.nn.Module,
    rgb: np.ndarray,
    depth_m: np.ndarray,
    preprocess_config: PreprocessConfig,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """C x H x W float32 logits for one frame, resized bilinearly to the frame's H x W.

    ``rgb`` is H x W x 3 uint8 and ``depth_m`` H x W float metres (0 = hole).
    """
    x_rgb, x_depth = preprocess(rgb, depth_m, preprocess_config, depth_scale=1.0)
    device = torch.device(device) if device is not None else _device_of(model)
    with eval_mode(model):
        logits = model(torch.from_numpy(x_rgb)[None].to(device), torch.from_numpy(x_depth)[None].to(device))
    return resize_bilinear_chw(logits[0].float().cpu().numpy(), rgb.shape[0], rgb.shape[1])


class _EvalFrames(torch.utils.data.Dataset):
    """Frames preprocessed for the network, with their full-size labels (for a DataLoader)."""

    def __init__(self, dataset: RGBDDataset, indices: Sequence[int], config: PreprocessConfig, keep_images: bool) -> None:
        self.dataset, self.indices, self.keep_images = dataset, list(indices), keep_images
        self.transform = EvalTransform(config)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        frame = self.dataset[self.indices[i]]
        rgb, depth = self.transform(frame)
        item = {"rgb": torch.from_numpy(rgb), "depth": torch.from_numpy(depth), "label": frame.label, "name": frame.name}
        if self.keep_images:
            item["image"], item["depth_m"] = frame.rgb, frame.depth
        return item


def _collate(items: list[dict]) -> dict:
    out = {k: [it[k] for it in items] for k in items[0]}
    out["rgb"], out["depth"] = torch.stack(out["rgb"]), torch.stack(out["depth"])
    return out


def evaluate(
    model: torch.nn.Module,
    dataset: RGBDDataset,
    preprocess_config: PreprocessConfig,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    indices: Sequence[int] | None = None,
    max_frames: int | None = None,
    save_vis: str | os.PathLike | None = None,
    progress: bool = False,
) -> EvalResult:
    """Accumulate one confusion matrix over ``dataset`` (or the frames in ``indices``).

    ``save_vis`` names a folder that receives one PNG per frame: RGB, depth,
    ground truth and prediction side by side.
    """
    n_model = model_classes(model)
    if n_model is not None and n_model != dataset.num_classes:
        raise ConfigError(
            f"the model predicts {n_model} classes but {dataset.source or 'the dataset'} has {dataset.num_classes}"
        )
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be at least 1, got {max_frames}")
    if num_workers < 0:
        raise ConfigError(f"num_workers must be 0 or more, got {num_workers}")
    if indices is None:
        indices = range(len(dataset) if max_frames is None else min(max_frames, len(dataset)))
    device = torch.device(device) if device is not None else _device_of(model)
    vis_dir = Path(save_vis) if save_vis is not None else None
    if vis_dir is not None:
        make_dir(vis_dir)
    loader = torch.utils.data.DataLoader(
        _EvalFrames(dataset, indices, preprocess_config, keep_images=vis_dir is not None),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate,
        worker_init_fn=init_worker,
    )
    confusion = ConfusionMatrix(dataset.num_classes)
    start = time.perf_counter()
    frames = 0
    with eval_mode(model):
        for batch in tqdm(unwrap_worker_errors(loader), total=len(loader), desc="eval", unit="batch", disable=None if progress else True, leave=False):
            logits = model(batch["rgb"].to(device), batch["depth"].to(device)).float().cpu().numpy()
            for i, label in enumerate(batch["label"]):
                if not np.isfinite(logits[i]).all():
                    raise TrainingError(
                        f"the model's logits are not finite (NaN or inf) on frame {batch['name'][i]}: its weights "
                        "or BatchNorm statistics have diverged (a lower lr, a larger batch or input size, or an "
                        "earlier checkpoint)"
                    )
                pred = postprocess_logits(logits[i], *label.shape)
                confusion.update(pred, label)
                if vis_dir is not None:
                    save_comparison(vis_dir / f"{batch['name'][i]}.png", batch["image"][i], batch["depth_m"][i], label, pred)
            frames += len(batch["label"])
    return EvalResult(confusion, tuple(dataset.class_names), frames, time.perf_counter() - start, dataset.source)
