"""Named training recipes: the ACNet paper's, and the authors' released training code.

The two differ in the loss, its class weights, how the five deep-supervision
losses are combined, the weight decay, whether the last partial batch of an
epoch is trained on, and the precision. A :class:`~acnet.training.train.TrainConfig`
leaves those fields ``None`` to take its recipe's value; a value set
explicitly (in Python, a config file or on the command line) always wins.

``authors-code`` is ``ACNet_train_V1_nyuv2.py`` of anheidelonghu/ACNet as its
README runs it (``-b 4``): ``CrossEntropyLoss2d`` (per scale, the weighted
cross-entropy of the non-void pixels summed and divided by their count; the
five scales summed) with ``data/nyuv2_40class_weight.txt``, SGD with weight
decay 1e-4, lr x0.8 every 100 epochs, ``DataLoader(shuffle=True)`` without
``drop_last``, float32, torchvision's ImageNet V1 ResNet-50.

The dataset decides two values: the class weights the authors published
(NYUDv2's 40 or SUN RGB-D's 37) and the paper's schedule (lr x0.8 every 20
epochs on SUN RGB-D, every 100 on NYUDv2). The kind is read from the class
count: 37 classes is SUN RGB-D's benchmark, anything else follows NYUDv2.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Names accepted by ``--recipe`` / ``TrainConfig.recipe``; the first is the default.
RECIPES = ("paper", "authors-code")

#: Class count of SUN RGB-D's 37-class benchmark (NYUDv2's is 40).
SUNRGBD_CLASSES = 37


@dataclass(frozen=True)
class Recipe:
    """The values a recipe gives the recipe-dependent :class:`TrainConfig` fields."""

    name: str
    loss: str
    weight_decay: float
    deep_supervision_reduction: str
    drop_last: bool
    amp: str
    #: lr decay period in epochs on NYUDv2 (and any non-SUN data) and on SUN RGB-D.
    lr_decay_epochs_nyuv2: int
    lr_decay_epochs_sunrgbd: int
    #: Class weights: True for the published weights of NYUDv2 / SUN RGB-D
    #: (median frequency computed from the data for any other class count).
    published_weights: bool

    def lr_decay_epochs(self, num_classes: int) -> int:
        return self.lr_decay_epochs_sunrgbd if num_classes == SUNRGBD_CLASSES else self.lr_decay_epochs_nyuv2

    def class_weights(self, num_classes: int) -> str:
        """A ``TrainConfig.class_weights`` value for data with ``num_classes`` classes."""
        if not self.published_weights:
            return "none"
        return {40: "nyuv2", SUNRGBD_CLASSES: "sunrgbd"}.get(num_classes, "median-frequency")


PAPER = Recipe(
    name="paper", loss="focal", weight_decay=0.004, deep_supervision_reduction="mean", drop_last=True,
    amp="auto", lr_decay_epochs_nyuv2=100, lr_decay_epochs_sunrgbd=20, published_weights=False,
)
AUTHORS_CODE = Recipe(
    name="authors-code", loss="ce", weight_decay=1e-4, deep_supervision_reduction="sum", drop_last=False,
    amp="off", lr_decay_epochs_nyuv2=100, lr_decay_epochs_sunrgbd=100, published_weights=True,
)

_BY_NAME = {r.name: r for r in (PAPER, AUTHORS_CODE)}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (one of :data:`RECIPES`)."""
    return _BY_NAME[name]


def recipe_values(name: str, num_classes: int) -> dict:
    """``TrainConfig`` field -> value that recipe ``name`` gives data with ``num_classes`` classes."""
    r = get_recipe(name)
    return {
        "loss": r.loss,
        "class_weights": r.class_weights(num_classes),
        "weight_decay": r.weight_decay,
        "deep_supervision_reduction": r.deep_supervision_reduction,
        "drop_last": r.drop_last,
        "amp": r.amp,
        "lr_decay_epochs": r.lr_decay_epochs(num_classes),
    }
