"""Segmentation metrics from one confusion matrix (numpy only, no torch).

Parity checks and benchmarks reuse this module without importing torch.

Conventions:

- Arrays hold class ids as in the label files: 0 is void, 1..C are classes.
  Pixels whose *label* is 0 are ignored; a *prediction* must be in 1..C.
- ``matrix[g - 1, p - 1]`` counts pixels of ground-truth class ``g``
  predicted as class ``p``, accumulated over the whole dataset.
- IoU of class c = TP / (TP + FP + FN) summed over the dataset (not averaged
  per image); mIoU is the mean over classes.
- A class that never occurs in the ground truth and is never predicted has
  no IoU (its union is 0): it is NaN in :meth:`ConfusionMatrix.per_class_iou`
  and left out of the mean. A class predicted but absent from the ground
  truth has IoU 0 and counts. Mean class accuracy averages over the classes
  present in the ground truth. With no labelled pixels at all every metric
  is NaN (``None`` in JSON).
"""

from __future__ import annotations

import math

import numpy as np

from acnet.errors import InputError


class ConfusionMatrix:
    """A C x C pixel-count matrix; rows are ground truth, columns predictions."""

    def __init__(self, num_classes: int, matrix: np.ndarray | None = None) -> None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        if matrix is None:
            matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        matrix = np.asarray(matrix)
        if matrix.shape != (self.num_classes, self.num_classes):
            raise InputError(f"confusion matrix must be {num_classes}x{num_classes}, got {matrix.shape}")
        self.matrix = matrix.astype(np.int64)

    def update(self, pred: np.ndarray, label: np.ndarray) -> "ConfusionMatrix":
        """Add one prediction/label pair of equal shape (class ids); returns self."""
        pred, label = np.asarray(pred), np.asarray(label)
        if pred.shape != label.shape:
            raise InputError(f"prediction {pred.shape} and label {label.shape} differ in shape")
        c = self.num_classes
        label = label.ravel()
        valid = label != 0
        g = label[valid].astype(np.int64)
        p = pred.ravel()[valid].astype(np.int64)
        if g.size:
            if g.min() < 0 or g.max() > c:
                raise InputError(f"label ids must be in 0..{c}, got {g.min()}..{g.max()}")
            if p.min() < 1 or p.max() > c:
                raise InputError(f"predicted ids must be in 1..{c}, got {p.min()}..{p.max()}")
            self.matrix += np.bincount((g - 1) * c + (p - 1), minlength=c * c).reshape(c, c)
        return self

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """A new matrix with both counts (e.g. from several workers or ranks)."""
        if not isinstance(other, ConfusionMatrix) or other.num_classes != self.num_classes:
            raise InputError("can only merge confusion matrices with the same number of classes")
        return ConfusionMatrix(self.num_classes, self.matrix + other.matrix)

    __add__ = merge

    def copy(self) -> "ConfusionMatrix":
        return ConfusionMatrix(self.num_classes, self.matrix.copy())

    # ------------------------------------------------------------------ metrics

    @property
    def total(self) -> int:
        """Labelled (non-void) pixels counted."""
        return int(self.matrix.sum())

    def per_class_iou(self) -> np.ndarray:
        """IoU per class (float64, length C); NaN where the class's union is 0."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def per_class_accuracy(self) -> np.ndarray:
        """Recall per class; NaN for classes absent from the ground truth."""
        tp = np.diag(self.matrix).astype(np.float64)
        gt = self.matrix.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(gt > 0, tp / gt, np.nan)

    def miou(self) -> float:
        return _nanmean(self.per_class_iou())

    def pixel_accuracy(self) -> float:
        total = self.total
        return float(np.trace(self.matrix) / total) if total else math.nan

    def mean_class_accuracy(self) -> float:
        return _nanmean(self.per_class_accuracy())

    # ------------------------------------------------------------------ reporting

    def to_dict(self, class_names: list[str] | tuple[str, ...] | None = None) -> dict:
        """Metrics as JSON-ready values (NaN becomes ``None``)."""
        names = self._names(class_names)
        iou, acc = self.per_class_iou(), self.per_class_accuracy()
        gt = self.matrix.sum(1)
        return {
            "miou": _json(self.miou()),
            "pixel_accuracy": _json(self.pixel_accuracy()),
            "mean_class_accuracy": _json(self.mean_class_accuracy()),
            "num_classes": self.num_classes,
            "labelled_pixels": self.total,
            "per_class": [
                {"id": k + 1, "name": names[k], "iou": _json(iou[k]), "accuracy": _json(acc[k]), "pixels": int(gt[k])}
                for k in range(self.num_classes)
            ],
            "confusion_matrix": self.matrix.tolist(),
        }

    def table(self, class_names: list[str] | tuple[str, ...] | None = None) -> str:
        """A readable per-class IoU table with the summary metrics."""
        names = self._names(class_names)
        iou, acc = self.per_class_iou(), self.per_class_accuracy()
        gt = self.matrix.sum(1)
        width = max(12, *(len(n) for n in names))
        lines = [f"{'id':>3}  {'class':<{width}}  {'IoU':>7}  {'acc':>7}  {'pixels':>10}"]
        for k in range(self.num_classes):
            lines.append(f"{k + 1:>3}  {names[k]:<{width}}  {_pct(iou[k])}  {_pct(acc[k])}  {int(gt[k]):>10}")
        lines.append("")
        lines.append(f"mIoU                 {_pct(self.miou())}")
        lines.append(f"pixel accuracy       {_pct(self.pixel_accuracy())}")
        lines.append(f"mean class accuracy  {_pct(self.mean_class_accuracy())}")
        lines.append("(classes with no pixels and no predictions are left out of the means, shown as -)")
        return "\n".join(lines)

    def _names(self, class_names) -> list[str]:
        if class_names is None:
            return [f"class{k + 1}" for k in range(self.num_classes)]
        if len(class_names) != self.num_classes:
            raise InputError(f"{len(class_names)} class names given for {self.num_classes} classes")
        return list(class_names)

    def __repr__(self) -> str:
        return f"ConfusionMatrix({self.num_classes} classes, {self.total} pixels, mIoU {self.miou():.4f})"


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _json(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _pct(value: float) -> str:
    return "      -" if math.isnan(value) else f"{100 * value:6.2f}%"
