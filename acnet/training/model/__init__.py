"""The ACNet network: the single source of truth, also used by export."""

from acnet.training.model.acm import ACM
from acnet.training.model.acnet import ACNet, build_model
from acnet.training.model.pretrained import load_imagenet_weights

__all__ = ["ACM", "ACNet", "build_model", "load_imagenet_weights"]
