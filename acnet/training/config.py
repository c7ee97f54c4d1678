"""Typed configuration of the network."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from acnet._typed import from_mapping, int_in_range, is_integer
from acnet.errors import ConfigError


def scaled(channels: int, width: float) -> int:
    """Channel count scaled by ``width``: a multiple of 8, at least 8."""
    if width == 1.0:
        return channels
    return max(8, int(round(channels * width / 8)) * 8)

#: Channels of the five encoder stage outputs (1/2, 1/4, 1/8, 1/16, 1/32).
STAGE_CHANNELS = {
    "resnet18": (64, 64, 128, 256, 512),
    "resnet34": (64, 64, 128, 256, 512),
    "resnet50": (64, 256, 512, 1024, 2048),
    "resnet101": (64, 256, 512, 1024, 2048),
}

#: How RGB and depth features are merged; see the paper's ablation.
FUSIONS = ("acm", "add", "early")

#: The network downsamples by 32, so input sides must be multiples of it.
STRIDE = 32


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an ACNet.

    ``fusion`` selects the paper's variants: ``"acm"`` is ACNet, ``"add"`` is
    Model-2 (branches merged by plain addition, no attention) and ``"early"``
    is Model-1 (RGB and depth stems added once, then the fusion branch only).
    """

    backbone: str = "resnet50"
    num_classes: int = 40
    fusion: str = "acm"
    #: Channel multiplier for the whole network; 1.0 is the paper's ACNet.
    #: Smaller values make fast models for tests, demos and tiny devices.
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.backbone not in STAGE_CHANNELS:
            raise ConfigError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(STAGE_CHANNELS)}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}")
        # bool is an int to isinstance: True would pass as width 1.0 or one class
        if not isinstance(self.width, (int, float)) or isinstance(self.width, bool) or not 0.0 < self.width <= 1.0:
            raise ConfigError(f"width must be in (0, 1], got {self.width!r}")
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "num_classes", int_in_range(self.num_classes, "num_classes", 1, 255))

    @property
    def stage_channels(self) -> tuple[int, int, int, int, int]:
        """Encoder output channels at 1/2 .. 1/32 for this backbone and width."""
        expansion = STAGE_CHANNELS[self.backbone][-1] // 512
        stem = scaled(64, self.width)
        return (stem, *(scaled(c, self.width) * expansion for c in (64, 128, 256, 512)))

    @property
    def decoder_channels(self) -> tuple[int, int, int, int, int]:
        """Decoder widths at 1/2 .. 1/32 (64, 64, 128, 256, 512 at width 1)."""
        return tuple(scaled(c, self.width) for c in (64, 64, 128, 256, 512))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return from_mapping(cls, d)


def check_input_size(height: int, width: int) -> None:
    """Refuse sizes the network cannot take, instead of cropping silently."""
    for name, v in (("height", height), ("width", width)):
        if not is_integer(v) or v <= 0 or v % STRIDE:
            raise ConfigError(f"input {name} must be a positive multiple of {STRIDE}, got {v}")
