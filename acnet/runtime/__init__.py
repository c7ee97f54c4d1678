"""Thin runtime: numpy in, labels out. Never imports torch.

Needs only numpy, pillow and onnxruntime (``pip install acnet``), plus
tensorrt and cuda-python for ``.engine`` files (``acnet[tensorrt-cu12]`` or ``acnet[tensorrt-cu13]``)::

    from acnet.runtime import Segmenter, overlay, read_rgb, read_depth

    seg = Segmenter("acnet.onnx")                # or "acnet.engine"; device="cuda"
    labels = seg.segment(read_rgb("rgb.png"), read_depth("depth.png"))  # HxW uint8
    picture = overlay(read_rgb("rgb.png"), labels)

    for result in Pipeline(seg, open_source("realsense:walk.db3")):   # streams, pipelined
        result.labels

Note: ``acnet.runtime.colorize`` is the function; its module is
``acnet.runtime.colorize`` for ``from ... import`` (``make_palette``, ``legend``).
"""

from acnet.errors import AcnetError, BackendUnavailableError, ConfigError, InputError, ModelFileError
from acnet.runtime.colorize import PALETTE, colorize, legend, make_palette, overlay
from acnet.runtime.images import read_depth, read_rgb, write_png
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.pipeline import Pipeline, PipelineStats, Result
from acnet.runtime.segmenter import Segmenter
from acnet.runtime.sources import Frame, Source, open_source

__all__ = [
    "PALETTE",
    "AcnetError",
    "BackendUnavailableError",
    "ConfigError",
    "InputError",
    "ModelFileError",
    "ModelInfo",
    "Frame",
    "Pipeline",
    "PipelineStats",
    "Result",
    "Segmenter",
    "Source",
    "colorize",
    "legend",
    "make_palette",
    "open_source",
    "overlay",
    "read_depth",
    "read_rgb",
    "write_png",
]
