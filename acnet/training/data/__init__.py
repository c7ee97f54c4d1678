"""RGB-D datasets behind one interface, chosen by a spec string.

``open_dataset("synthetic")``, ``open_dataset("folder:data/nyuv2?split=test")``
or ``open_dataset("nyuv2-mat:nyu_depth_v2_labeled.mat", split="train")``
return an :class:`RGBDDataset` of :class:`Frame` objects. This package needs
numpy and Pillow only (h5py for the ``.mat`` file), not torch.
"""

from acnet.training.data.base import Frame, RGBDDataset, validate_frame
from acnet.training.data.spec import DatasetSpec, open_dataset
from acnet.training.data.synthetic import SYNTHETIC_CLASSES, SyntheticScenes, render_scene

__all__ = [
    "DatasetSpec",
    "Frame",
    "RGBDDataset",
    "SYNTHETIC_CLASSES",
    "SyntheticScenes",
    "open_dataset",
    "render_scene",
    "validate_frame",
]
