"""Training: the paper's recipe by default, resumable at any checkpoint, one or many processes.

``train(TrainConfig(...))`` runs SGD (lr 0.002, momentum 0.9, weight decay
0.004, lr x0.8 every 100 epochs, every 20 on SUN RGB-D, batch 4) with the
focal loss (gamma 2) averaged over the five deep-supervision outputs;
``recipe="authors-code"`` trains as the authors' released code does (see
:mod:`acnet.training.recipes`). It validates by mIoU after
each epoch, and writes checkpoints that hold everything needed to continue
exactly (optimiser, scheduler, grad scaler, epoch, step, RNG states, history)
and to deploy (model config, class names, normalisation, input size).

Under ``torchrun`` every process runs :func:`train`; each gets its share of
every global batch (:class:`~acnet.training.distributed.GlobalBatchSampler`),
gradients are averaged by DistributedDataParallel, validation confusion
matrices are summed over ranks, and rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from acnet._io import atomic_write_text, make_dir
from acnet._typed import from_mapping, int_in_range, is_finite_number
from acnet.errors import CheckpointError, ConfigError, TrainingError, first_line, unwrap_worker_errors
from acnet.runtime.preprocess import Normalization, PreprocessConfig
from acnet.training.checkpoint import load_checkpoint, load_model_state, make_record, save_checkpoint
from acnet.training.config import STRIDE, ModelConfig, check_input_size
from acnet.training.data import RGBDDataset, resources
from acnet.training.data.spec import DatasetSpec
from acnet.training.data.stats import compute_stats, load_normalization
from acnet.training.data.workers import init_worker
from acnet.training.device import resolve_device
from acnet.training.distributed import DistContext, GlobalBatchSampler
from acnet.training.evaluate import evaluate
from acnet.training.losses import LOSSES, REDUCTIONS, DeepSupervisionLoss, SegmentationLoss
from acnet.training.metrics import ConfusionMatrix
from acnet.training.model import build_model, load_imagenet_weights
from acnet.training.recipes import RECIPES, recipe_values
from acnet.training.transforms import AUX_STRIDES, Augmentation, TrainTransform

log = logging.getLogger(__name__)

#: Below this many values per channel in the encoder's last BatchNorms, ``acnet train`` warns.
MIN_BATCHNORM_VALUES = 8

AMP_MODES = ("auto", "off", "bf16", "fp16")
CHECKPOINT_DIR = "checkpoints"
BEST = "best.pt"
LOG_FILE = "log.jsonl"
_CKPT_NAME = re.compile(r"^epoch(\d+)_step(\d+)\.pt$")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults follow the ACNet paper.

    Fields left ``None`` marked "recipe" take the value of :attr:`recipe`
    (see :mod:`acnet.training.recipes`) when the run starts, given the
    training data's class count; :meth:`resolve` does it. Values set
    explicitly win over the recipe.
    """

    #: ``"paper"`` (the ACNet paper) or ``"authors-code"`` (the authors' released training code).
    recipe: str = "paper"

    #: Training data spec (see :mod:`acnet.training.data.spec`); its ``train`` split is used.
    data: str = "synthetic"
    #: Validation data spec; by default the ``test`` split of ``data``. ``"none"`` disables validation.
    val_data: str | None = None
    #: The network; by default ResNet-50 ACNet with the training data's class count.
    model: ModelConfig | None = None
    input_height: int = 480
    input_width: int = 640
    epochs: int = 1500
    batch_size: int = 4
    #: Micro-batches per optimiser step (effective batch = batch_size x grad_accum x processes).
    grad_accum: int = 1
    lr: float = 0.002
    momentum: float = 0.9
    #: Recipe: 0.004 (paper) or 1e-4 (the authors' code).
    weight_decay: float | None = None
    lr_decay: float = 0.8
    #: Recipe: 100 epochs, 20 on SUN RGB-D (paper); 100 (the authors' code).
    lr_decay_epochs: int | None = None
    #: Recipe: ``"focal"`` (paper) or ``"ce"`` (weighted cross-entropy, the authors' code).
    loss: str | None = None
    focal_gamma: float = 2.0
    #: Recipe: ``"none"`` (unweighted; paper) or the published weights (the authors' code).
    #: Or ``"nyuv2"`` / ``"sunrgbd"`` (the published weights), ``"median-frequency"``
    #: (computed from the training data) or a JSON file with a list.
    class_weights: str | None = None
    deep_supervision: bool = True
    #: Recipe: how the five deep-supervision losses combine, ``"mean"`` (paper) or ``"sum"`` (the authors' code).
    deep_supervision_reduction: str | None = None
    #: Recipe: drop the last partial batch of each epoch (paper) or train on it (the authors' code).
    drop_last: bool | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)
    #: JSON file with normalisation statistics (e.g. from ``acnet data stats``); default: the dataset's.
    normalization: str | None = None
    #: ImageNet ResNet ``.pth`` for the encoders; None trains from random initialisation.
    pretrained: str | None = None
    #: Recipe: ``"auto"`` (bf16, or fp16 with a grad scaler, on CUDA; off on CPU) or ``"off"`` (the authors' code).
    amp: str | None = None
    #: None: on for CUDA.
    channels_last: bool | None = None
    #: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    device: str = "auto"
    out_dir: str = "runs/acnet"
    #: Epoch checkpoints kept in ``out_dir/checkpoints`` (the newest K); ``best.pt`` is kept apart.
    keep_last: int = 3
    #: Checkpoint every N epochs (and after the last one).
    save_every: int = 1
    #: Also checkpoint every N optimiser steps inside an epoch (0: only at epoch ends).
    save_every_steps: int = 0
    #: Validate every N epochs (and after the last).
    val_every: int = 1
    val_batch_size: int = 4
    #: Stop after this many optimiser steps in total (None: run all epochs).
    max_steps: int | None = None
    seed: int = 0
    num_workers: int = 2
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = True
    #: Continue from the newest checkpoint in ``out_dir`` (True) or from the given checkpoint path.
    resume: bool | str = False

    def __post_init__(self) -> None:
        check_input_size(self.input_height, self.input_width)
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "lr_decay_epochs": self.lr_decay_epochs, "val_every": self.val_every, "save_every": self.save_every,
                    "val_batch_size": self.val_batch_size, "log_every": self.log_every}
        for name, value in positive.items():
            if name == "lr_decay_epochs" and value is None:
                continue
            object.__setattr__(self, name, int_in_range(value, name))
        for name in ("keep_last", "save_every_steps", "num_workers", "seed"):
            object.__setattr__(self, name, int_in_range(getattr(self, name), name, minimum=0))
        if self.max_steps is not None:
            object.__setattr__(self, "max_steps", int_in_range(self.max_steps, "max_steps"))
        # Built directly (not through from_dict) a value may be text, a bool or NaN: NaN passes every `< 0` test.
        for name in ("lr", "momentum", "weight_decay", "lr_decay", "focal_gamma"):
            value = getattr(self, name)
            if name == "weight_decay" and value is None:
                continue
            if not is_finite_number(value):
                extra = " >= 0" if name == "focal_gamma" else ""
                raise ConfigError(f"{name} must be a finite number{extra}, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.focal_gamma < 0:  # (1 - p)^gamma < 0 would weight the easy pixels most: refused before any run
            raise ConfigError(f"focal_gamma must be a finite number >= 0, got {self.focal_gamma!r}")
        for name in ("momentum", "weight_decay"):
            if (getattr(self, name) or 0) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.deep_supervision_reduction is not None and self.deep_supervision_reduction not in REDUCTIONS:
            raise ConfigError(f"deep_supervision_reduction must be one of {', '.join(REDUCTIONS)}, "
                              f"got {self.deep_supervision_reduction!r}")
        if self.drop_last is not None and not isinstance(self.drop_last, bool):
            raise ConfigError(f"drop_last must be true or false, got {self.drop_last!r}")
        if not isinstance(self.data, str):
            raise ConfigError(f"data must be a dataset spec string, got {self.data!r}")
        if self.val_data is not None and not isinstance(self.val_data, str):
            raise ConfigError(f"val_data must be a dataset spec string or null, got {self.val_data!r}")
        DatasetSpec.parse(self.data)
        if self.val_data not in (None, "none"):
            DatasetSpec.parse(self.val_data)

    def resolve(self, num_classes: int) -> "TrainConfig":
        """This config with every recipe field left ``None`` set from :attr:`recipe` for ``num_classes``."""
        missing = {k: v for k, v in recipe_values(self.recipe, num_classes).items() if getattr(self, k) is None}
        return dataclasses.replace(self, **missing) if missing else self

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = None if self.model is None else self.model.to_dict()
        d["augmentation"] = dataclasses.asdict(self.augmentation)
        for k in ("scale", "hue", "saturation"):
            d["augmentation"][k] = list(d["augmentation"][k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Build from a plain dict (a YAML/JSON config file), each value checked against its field's type."""
        return from_mapping(cls, d, what="a training config: a mapping of option names to values")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON training config file into a dict (validated by :meth:`TrainConfig.from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} is a folder" if path.is_dir() else f"config file {path} not found")
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        text = path.read_text("utf-8")
        if kind == "JSON":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:  # yaml and json raise their own error types
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"{path} is not valid {kind}: {reason}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of training options")
    return data


@dataclass
class TrainResult:
    """What a run produced."""

    out_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_miou: float | None
    #: Validation metrics after the last epoch (``EvalResult.summary()``), None without validation.
    final_metrics: dict | None
    #: One dict per completed epoch: epoch, train_loss, lr, seconds, val metrics.
    history: list[dict]
    epochs_completed: int
    global_step: int
    seconds: float


# ---------------------------------------------------------------------------- pieces


class AugmentedFrames(torch.utils.data.Dataset):
    """Training samples keyed by ``(epoch, index)``: augmentation is a pure function of them.

    The random generator of a sample is seeded with ``(seed, epoch, index)``,
    so a resumed run, any number of workers and any number of processes all
    see exactly the same augmented frames.
    """

    def __init__(self, dataset: RGBDDataset, transform: TrainTransform, seed: int) -> None:
        self.dataset, self.transform, self.seed = dataset, transform, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, np.ndarray]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        return self.transform(self.dataset[index], rng)


def torch_device(name: str, dist_ctx: DistContext | None = None) -> torch.device:
    """The device ``name`` resolves to (:func:`acnet.training.device.resolve_device`), as torch's.

    Under torchrun each process trains on its own GPU, its local rank.
    """
    device = resolve_device(name)
    if device.is_cuda and dist_ctx is not None and dist_ctx.enabled:
        return torch.device("cuda", dist_ctx.local_rank)
    return torch.device(str(device))


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


def class_weight_tensor(spec: str | None, dataset: RGBDDataset) -> torch.Tensor | None:
    """Per-class loss weights (length C) from a :attr:`TrainConfig.class_weights` value."""
    if spec in (None, "", "none"):
        return None
    if spec in ("nyuv2", "sunrgbd"):
        weights = resources.published_class_weights(spec)
    elif spec == "median-frequency":
        weights = list(compute_stats(dataset).median_frequency_weights)
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"class weights {spec!r}: not nyuv2, sunrgbd, median-frequency or an existing JSON file")
        try:
            weights = json.loads(path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a Latin-1 file: not a traceback
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(weights, list) or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
        raise ConfigError(f"class weights {spec!r} must be a list of numbers")
    if len(weights) != dataset.num_classes:
        raise ConfigError(f"class weights {spec!r} have {len(weights)} values but the data has {dataset.num_classes} classes")
    # A negative weight rewards mistakes, NaN (JSON's common extension) makes every loss NaN, all 0 trains nothing.
    for i, w in enumerate(weights):
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"class weights {spec!r} must be finite and >= 0, got {w!r} for class {i + 1}")
    if not any(weights):
        raise ConfigError(f"class weights {spec!r} are all 0: no pixel would contribute to the loss")
    return torch.tensor(weights, dtype=torch.float32)


def build_criterion(config: TrainConfig, weights: torch.Tensor | None) -> DeepSupervisionLoss:
    """The loss of a resolved config (see :meth:`TrainConfig.resolve`)."""
    return DeepSupervisionLoss(SegmentationLoss(config.loss, config.focal_gamma, weights),
                               config.deep_supervision_reduction)


def _rng_state() -> dict[str, Any]:
    """Torch, CUDA, numpy and Python RNG states as tensors and plain values (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64), "gauss": gauss},
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def checkpoint_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR


def list_checkpoints(out_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints in ``out_dir/checkpoints``, oldest first (by global step)."""
    folder = checkpoint_dir(out_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(2)), p) for p in folder.iterdir() if (m := _CKPT_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


class _RunLog:
    """JSONL lines (and TensorBoard scalars when installed) written by rank 0."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.enabled = enabled
        self.file = open(out_dir / LOG_FILE, "a", encoding="utf-8") if enabled else None
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional: without it the log is JSONL only

                self.writer = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                log.info("tensorboard is not installed; logging to %s only", out_dir / LOG_FILE)

    def write(self, event: str, step: int, **values) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps({"event": event, "time": round(time.time(), 3), "step": step, **values}) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in _flatten(values):
                self.writer.add_scalar(f"{event}/{key}", value, step)

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.writer is not None:
            self.writer.close()


def _flatten(values: dict, prefix: str = ""):
    for k, v in values.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            yield prefix + k, v


# ---------------------------------------------------------------------------- the run


class Trainer:
    """One training run; :func:`train` is the usual entry point."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir)
        self.dist = DistContext()
        # run() opens the run's log; a step taken without it (benchmarks/throughput.py) logs nothing.
        self.runlog = _RunLog(self.out_dir, enabled=False, tensorboard=False)

    def _start(self) -> None:
        """Join the process group (under torchrun) and pick the device and precision."""
        c = self.config
        wants_cuda = c.device.startswith("cuda") or (c.device == "auto" and torch.cuda.is_available())
        self.dist = DistContext.from_env("cuda" if wants_cuda else "cpu")
        self.device = torch_device(c.device, self.dist)
        self.amp_dtype = resolve_amp(c.amp, self.device)
        self.channels_last = c.channels_last if c.channels_last is not None else self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # ------------------------------------------------------------------ setup

    def _open_data(self) -> None:
        c = self.config
        spec = DatasetSpec.parse(c.data)
        self.train_set = spec.open("train")
        if len(self.train_set) == 0:
            raise ConfigError(f"training data {c.data} has no frames")
        self.val_set = None
        if c.val_data != "none":
            val_spec = DatasetSpec.parse(c.val_data) if c.val_data else spec.with_split("test")
            self.val_set = val_spec.open("test")
            if self.val_set.num_classes != self.train_set.num_classes:
                raise ConfigError(
                    f"validation data has {self.val_set.num_classes} classes, training data {self.train_set.num_classes}"
                )

    def _normalization(self) -> Normalization:
        if self.config.normalization is None:
            return self.train_set.normalization
        return load_normalization(self.config.normalization)

    def _model_config(self) -> ModelConfig:
        n = self.train_set.num_classes
        if self.config.model is None:
            return ModelConfig(num_classes=n)
        if self.config.model.num_classes != n:
            raise ConfigError(
                f"the model has {self.config.model.num_classes} classes but {self.train_set.source} has {n}; "
                f"set the class count to {n}"
            )
        return self.config.model

    def _find_resume(self) -> tuple[Path | None, dict | None]:
        """The checkpoint to continue from and its record: with ``resume=True``, the newest one that loads.

        A newest checkpoint that is truncated or damaged (a run killed while
        the disk filled, a copy cut short) is skipped with a warning naming it
        and why, and the one before is tried.
        """
        r = self.config.resume
        if r is False or r is None or r == "":
            return None, None
        if r is True:
            found = list_checkpoints(self.out_dir)
            if not found:
                log.info("--resume: no checkpoint in %s yet; starting a new run", checkpoint_dir(self.out_dir))  # normal on a first run
                return None, None
            for path in reversed(found):
                try:
                    return path, load_checkpoint(path)
                except CheckpointError as exc:
                    log.warning("--resume: skipping %s: %s", path.name, exc)
            raise CheckpointError(f"--resume: none of the {len(found)} checkpoints in {checkpoint_dir(self.out_dir)} loads")
        path = Path(r)
        if not path.is_file():
            what = "is a folder, not a checkpoint" if path.is_dir() else "not found"
            raise CheckpointError(f"checkpoint to resume from, {path}, {what}")
        return path, load_checkpoint(path)

    def setup(self) -> None:
        _seed_everything(self.config.seed)
        self._open_data()
        self.config = c = self.config.resolve(self.train_set.num_classes)
        self._start()
        self.model_config = self._model_config()
        self.normalization = self._normalization()
        self.class_names = tuple(self.train_set.class_names)
        self.input_size = (c.input_height, c.input_width)
        model = build_model(self.model_config)

        self.resume_path, record = self._find_resume()
        if record is not None:
            saved = ModelConfig.from_dict(dict(record["model_config"]))
            if saved != self.model_config:
                raise ConfigError(f"{self.resume_path} holds {saved}, but this run builds {self.model_config}")
            load_model_state(model, record["model_state"], source=str(self.resume_path))
            self.normalization = Normalization.from_dict(record["normalization"])
            init = f"resumed from {self.resume_path}"
        elif c.pretrained:
            load_imagenet_weights(model, c.pretrained)
            init = f"ImageNet weights from {c.pretrained}"
        else:
            init = "random init (no --pretrained ImageNet weights)"
        self.init_message = init

        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=c.lr_decay_epochs, gamma=c.lr_decay)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        weights = class_weight_tensor(c.class_weights, self.train_set)
        self.criterion = build_criterion(c, weights).to(self.device)

        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_miou: float | None = None
        self.history: list[dict] = []
        self.last_metrics: dict | None = None
        if record is not None:
            self._restore(record)

        self.ddp_model = model
        if self.dist.enabled:
            self.dist.broadcast_buffers(model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

        self.sampler = GlobalBatchSampler(len(self.train_set), c.batch_size, c.grad_accum,
                                          self.dist.world_size, self.dist.rank, seed=c.seed, drop_last=c.drop_last)
        self._check_batchnorm_values()
        transform = TrainTransform(c.input_height, c.input_width, self.normalization, c.augmentation,
                                   AUX_STRIDES if c.deep_supervision else ())
        self.loader = torch.utils.data.DataLoader(
            AugmentedFrames(self.train_set, transform, c.seed),
            batch_sampler=self.sampler,
            num_workers=c.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=c.num_workers > 0,
            worker_init_fn=init_worker,
        )

    def _restore(self, record: dict) -> None:
        try:
            self.optimizer.load_state_dict(record["optimizer"])
            self.scheduler.load_state_dict(record["scheduler"])
            if "scaler" in record and self.scaler.is_enabled():
                self.scaler.load_state_dict(record["scaler"])
            self.epoch = int(record["epoch"])
            self.step_in_epoch = int(record.get("step_in_epoch", 0))
            self.global_step = int(record["global_step"])
            best = record.get("best_miou")
            self.best_miou = None if best is None else float(best)
            self.history = list(record.get("history", []))
            self.last_metrics = record.get("metrics")
            _set_rng_state(record["rng"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{self.resume_path} cannot resume training: {exc}") from None

    # ------------------------------------------------------------------ checkpoints

    def _record(self) -> dict:
        return make_record(
            self.model, self.model_config, self.class_names, self.normalization, self.input_size,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
            global_step=self.global_step,
            best_miou=self.best_miou,
            metrics=self.last_metrics,
            history=self.history,
            rng=_rng_state(),
            train_config={**self.config.to_dict(), "resume": False},
        )

    def save(self, best: bool = False) -> Path | None:
        """Write a checkpoint (rank 0), prune to the newest ``keep_last``, and ``best.pt`` if asked."""
        self.dist.broadcast_buffers(self.model)
        path = None
        if self.dist.is_main:
            record = self._record()
            folder = checkpoint_dir(self.out_dir)
            path = folder / f"epoch{self.epoch:04d}_step{self.global_step:08d}.pt"
            save_checkpoint(path, record)
            if best:
                save_checkpoint(self.out_dir / BEST, record)
            keep = max(self.config.keep_last, 1)
            for old in list_checkpoints(self.out_dir)[:-keep]:
                old.unlink(missing_ok=True)
        self.dist.barrier()
        self.last_path = path or (list_checkpoints(self.out_dir) or [None])[-1]
        return path

    # ------------------------------------------------------------------ loop

    def validate(self) -> dict | None:
        if self.val_set is None:
            return None
        self.dist.broadcast_buffers(self.model)
        cfg = PreprocessConfig(self.config.input_height, self.config.input_width, self.normalization)
        shard = range(self.dist.rank, len(self.val_set), self.dist.world_size)
        result = evaluate(self.model, self.val_set, cfg, device=self.device, batch_size=self.config.val_batch_size,
                          indices=shard)
        matrix = torch.from_numpy(result.confusion.matrix).to(self.device)
        self.dist.all_reduce_sum(matrix)
        result.confusion = ConfusionMatrix(self.val_set.num_classes, matrix.cpu().numpy())
        return result.summary()

    def _validate_and_track(self) -> tuple[dict | None, bool]:
        """Validate; remember the metrics and whether they beat the best mIoU so far."""
        metrics = self.validate()
        if metrics is None:
            return None, False
        self.last_metrics = metrics
        miou = metrics["miou"]
        if miou is not None and (self.best_miou is None or miou > self.best_miou):
            self.best_miou = miou
            return metrics, True
        return metrics, False

    def _check_batchnorm_values(self) -> None:
        """Refuse, or warn about, batches whose deepest BatchNorms see too few values per channel.

        The encoder's last stage runs at 1/32 of the input, so each of its
        BatchNorms normalises over batch x (H/32) x (W/32) values per channel.
        One value cannot be normalised at all; a handful divides by a
        near-zero variance, and the gradients grow a thousandfold per stage
        (measured: 32x32 inputs in batches of 2 gave gradient norms of 1e5-1e9
        on the first step and a network whose logits overflowed to NaN; 64x64
        gave 50-90).
        """
        c = self.config
        cells = (c.input_height // STRIDE) * (c.input_width // STRIDE)
        values = c.batch_size * cells
        where = (f"batch size {c.batch_size} at {c.input_height}x{c.input_width} gives the deepest BatchNorms "
                 f"{values} value{'s' if values != 1 else ''} per channel")
        if values < 2:
            raise ConfigError(f"{where}; BatchNorm needs at least 2 to train: raise --batch-size or the input size")
        smallest = self.sampler.smallest_batch
        if smallest * cells < 2:
            raise ConfigError(
                f"the last batch of each epoch holds {smallest} frame (drop_last is off: {len(self.train_set)} frames "
                f"in batches of {self.sampler.global_batch}), which at {c.input_height}x{c.input_width} gives the "
                "deepest BatchNorms 1 value per channel; BatchNorm needs at least 2 to train: use --drop-last, "
                "another batch size or a larger input"
            )
        if values < MIN_BATCHNORM_VALUES and self.dist.is_main:
            log.warning("%s: training will be unstable below %d (raise --batch-size or the input size)",
                        where, MIN_BATCHNORM_VALUES)

    def _check_finite(self, loss: torch.Tensor) -> None:
        bad = not bool(torch.isfinite(loss).item())
        if self.dist.any(bad, self.device):
            last = getattr(self, "last_path", None) or (list_checkpoints(self.out_dir) or [None])[-1]
            self.runlog.write("nan", self.global_step, epoch=self.epoch + 1, loss=str(loss.item()))
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            raise TrainingError(
                f"loss became {loss.item()} at epoch {self.epoch + 1}, step {self.global_step + 1}; stopped, "
                f"{kept}. Try a lower --lr, --amp off, or check the data"
            )

    def _train_step(self, batches: list[dict]) -> float:
        """One optimiser step over ``grad_accum`` micro-batches; returns the mean loss."""
        c = self.config
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i, batch in enumerate(batches):
            fmt = torch.channels_last if self.channels_last else torch.contiguous_format
            rgb = batch["rgb"].to(self.device, non_blocking=True).contiguous(memory_format=fmt)
            depth = batch["depth"].to(self.device, non_blocking=True).contiguous(memory_format=fmt)
            labels = [batch["label"].to(self.device, non_blocking=True)]
            if c.deep_supervision:
                labels += [batch[f"label{s}"].to(self.device, non_blocking=True) for s in AUX_STRIDES]
            sync = i == len(batches) - 1 or not self.dist.enabled
            ctx = self.ddp_model.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                    enabled=self.amp_dtype is not None):
                    outputs = self.ddp_model(rgb, depth)
                if not c.deep_supervision:
                    outputs = outputs[:1]
                loss = self.criterion(outputs, labels) / len(batches)
                self._check_finite(loss)
                self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return self.dist.mean(total, self.device)

    def run(self) -> TrainResult:
        c = self.config
        start_time = time.perf_counter()
        if self.dist.is_main:
            make_dir(self.out_dir)
            atomic_write_text(self.out_dir / "config.json", json.dumps(self.config.to_dict(), indent=2))
        self.runlog = _RunLog(self.out_dir, self.dist.is_main, c.tensorboard)
        self.last_path = self.resume_path
        say = tqdm.write  # the run's narrative is output (stdout), with or without bars
        if self.dist.is_main:
            say(f"acnet train: {self.model_config.backbone} x{self.model_config.width:g} "
                f"({self.model_config.num_classes} classes, {c.input_height}x{c.input_width}), {c.recipe} recipe, "
                f"{self.init_message}; "
                f"{len(self.train_set)} training frames, {self.sampler.steps_per_epoch} steps/epoch "
                f"of {self.sampler.global_batch} frames on {self.device}"
                + (f" x{self.dist.world_size} processes" if self.dist.enabled else ""))
        self.runlog.write("start", self.global_step, epoch=self.epoch, config=c.to_dict(), world_size=self.dist.world_size,
                          init=self.init_message)
        stopped = False
        try:
            while self.epoch < c.epochs and not stopped:
                stopped = self._run_epoch(tqdm)
        finally:
            self.runlog.close()
        if stopped and self.step_in_epoch:
            _, improved = self._validate_and_track()
            self.save(best=improved)
        best_path = self.out_dir / BEST
        return TrainResult(
            out_dir=self.out_dir,
            last_checkpoint=getattr(self, "last_path", None),
            best_checkpoint=best_path if best_path.is_file() else None,
            best_miou=self.best_miou,
            final_metrics=self.last_metrics,
            history=list(self.history),
            epochs_completed=self.epoch,
            global_step=self.global_step,
            seconds=time.perf_counter() - start_time,
        )

    def _run_epoch(self, tqdm) -> bool:
        """Train one epoch (or its remainder); returns True if ``max_steps`` stopped the run."""
        c = self.config
        epoch_start = time.perf_counter()
        self.sampler.set_epoch(self.epoch, self.step_in_epoch)
        self.model.train()
        steps = self.sampler.steps_per_epoch
        bar = tqdm(total=steps, initial=self.step_in_epoch, desc=f"epoch {self.epoch + 1}/{c.epochs}",
                   unit="step", disable=None if c.progress and self.dist.is_main else True, leave=False)
        losses: list[float] = []
        pending: list[dict] = []
        tick, frames = time.perf_counter(), 0
        stopped = False
        for batch in unwrap_worker_errors(self.loader):
            pending.append(batch)
            if len(pending) < c.grad_accum:
                continue
            loss = self._train_step(pending)
            frames += sum(len(b["label"]) for b in pending) * self.dist.world_size
            pending = []
            losses.append(loss)
            self.global_step += 1
            self.step_in_epoch += 1
            bar.update(1)
            lr = self.optimizer.param_groups[0]["lr"]
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
            if self.global_step % c.log_every == 0 or self.step_in_epoch == steps:
                now = time.perf_counter()
                self.runlog.write("step", self.global_step, epoch=self.epoch + 1, loss=loss, lr=lr,
                                  images_per_s=frames / max(now - tick, 1e-9))
                tick, frames = now, 0
            if c.max_steps is not None and self.global_step >= c.max_steps and self.step_in_epoch < steps:
                stopped = True
                break
            if c.save_every_steps and self.global_step % c.save_every_steps == 0 and self.step_in_epoch < steps:
                self.save()
        bar.close()
        if stopped:
            return True

        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.epoch += 1
        self.step_in_epoch = 0
        final = self.epoch == c.epochs or (c.max_steps is not None and self.global_step >= c.max_steps)
        metrics, improved = self._validate_and_track() if final or self.epoch % c.val_every == 0 else (None, False)
        entry = {"epoch": self.epoch, "global_step": self.global_step,
                 "train_loss": float(np.mean(losses)) if losses else None, "lr": lr,
                 "seconds": time.perf_counter() - epoch_start, "val": metrics}
        self.history.append(entry)
        self.runlog.write("epoch", self.global_step, **{k: v for k, v in entry.items() if k != "global_step"})
        if final or improved or self.epoch % c.save_every == 0:
            self.save(best=improved)
        if self.dist.is_main:
            val = "" if metrics is None else (
                f", val mIoU {_pct(metrics['miou'])}, pixel acc {_pct(metrics['pixel_accuracy'])}"
                + (" (best)" if improved else ""))
            message = (f"epoch {self.epoch}/{c.epochs}: loss {entry['train_loss']:.4f}{val}, "
                       f"{entry['seconds']:.1f} s")
            tqdm.write(message)
        return final and self.epoch < c.epochs


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) training as ``config`` says; see :class:`TrainConfig`.

    Raises :class:`~acnet.errors.TrainingError` if the loss becomes NaN or
    infinite (the last good checkpoint stays on disk), and
    :class:`~acnet.errors.ConfigError` / :class:`~acnet.errors.DataError` /
    :class:`~acnet.errors.CheckpointError` for bad inputs.
    """
    trainer = Trainer(config)
    try:
        trainer.setup()
        return trainer.run()
    finally:
        trainer.dist.close()
