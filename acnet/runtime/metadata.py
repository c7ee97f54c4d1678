"""What an exported artefact says about itself.

Every artefact acnet writes (ONNX ``metadata_props``, the JSON sidecar of a
TensorRT engine, the metadata of an AOTInductor package) carries one
:class:`ModelInfo`. The runtime builds its preprocessing from it, so the
constants used at training time can never drift from those used at inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from acnet.errors import ModelFileError
from acnet.runtime.preprocess import Normalization, PreprocessConfig

#: Prefix of every key acnet writes into ``metadata_props``.
PREFIX = "acnet."
#: Bumped when the meaning of a key changes.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    """Self-description of an exported ACNet model."""

    acnet_version: str
    backbone: str
    num_classes: int
    class_names: tuple[str, ...]
    input_height: int
    input_width: int
    normalization: Normalization = field(default_factory=Normalization)
    fusion: str = "acm"
    #: Unit of the depth the network was trained on, before normalisation.
    depth_unit: str = "m"
    #: "logits" (N,C,H,W float32) or "labels" (N,H,W int32 class ids).
    output: str = "logits"
    #: "fp32", "fp16" or "int8" (weights and compute; inputs/outputs stay float32).
    precision: str = "fp32"
    #: Fixed batch size, or 0 when the batch dimension is dynamic.
    batch: int = 1
    dynamic_hw: bool = False
    #: sha256 of the checkpoint the artefact was made from.
    source_sha256: str = ""
    #: Class id of logits channel 0 (label files use 0 for void).
    class_id_offset: int = 1
    #: Channel width multiplier of the network (ModelConfig.width); None in models exported before it was recorded.
    width: float | None = None
    #: INT8 models: target, calibration data, frame count and method, parts
    #: kept in floating point (``acnet.export.int8.quantization_record``).
    quantization: dict | None = None

    def __post_init__(self) -> None:
        if len(self.class_names) != self.num_classes:
            raise ModelFileError(
                f"metadata lists {len(self.class_names)} class names for {self.num_classes} classes"
            )

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig(self.input_height, self.input_width, self.normalization)

    def with_(self, **changes) -> "ModelInfo":
        return replace(self, **changes)

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        d = {
            "schema_version": SCHEMA_VERSION,
            "acnet_version": self.acnet_version,
            "backbone": self.backbone,
            "fusion": self.fusion,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "input_height": self.input_height,
            "input_width": self.input_width,
            "normalization": self.normalization.to_dict(),
            "depth_unit": self.depth_unit,
            "output": self.output,
            "precision": self.precision,
            "batch": self.batch,
            "dynamic_hw": self.dynamic_hw,
            "source_sha256": self.source_sha256,
            "class_id_offset": self.class_id_offset,
        }
        if self.width is not None:
            d["width"] = self.width
        if self.quantization is not None:
            d["quantization"] = dict(self.quantization)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "model") -> "ModelInfo":
        try:
            version = int(d.get("schema_version", 1))
            if version > SCHEMA_VERSION:
                raise ModelFileError(
                    f"{source} was written by a newer acnet (metadata schema {version}); upgrade acnet"
                )
            return cls(
                acnet_version=str(d["acnet_version"]),
                backbone=str(d["backbone"]),
                fusion=str(d.get("fusion", "acm")),
                num_classes=int(d["num_classes"]),
                class_names=tuple(str(n) for n in d["class_names"]),
                input_height=int(d["input_height"]),
                input_width=int(d["input_width"]),
                normalization=Normalization.from_dict(d["normalization"]),
                depth_unit=str(d.get("depth_unit", "m")),
                output=str(d.get("output", "logits")),
                precision=str(d.get("precision", "fp32")),
                batch=int(d.get("batch", 1)),
                dynamic_hw=bool(d.get("dynamic_hw", False)),
                source_sha256=str(d.get("source_sha256", "")),
                class_id_offset=int(d.get("class_id_offset", 1)),
                quantization=None if d.get("quantization") is None else dict(d["quantization"]),
                width=None if d.get("width") is None else float(d["width"]),
            )
        except KeyError as exc:
            raise ModelFileError(f"{source} has no acnet metadata field {exc.args[0]!r}; was it exported by acnet?") from None
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{source} has malformed acnet metadata: {exc}") from None

    def to_props(self) -> dict[str, str]:
        """Flat string map for ONNX ``metadata_props`` (values JSON-encoded)."""
        return {PREFIX + k: json.dumps(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> "ModelInfo":
        ours = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not ours:
            raise ModelFileError(f"{source} carries no acnet metadata; export it with `acnet export onnx`")
        try:
            decoded = {k: json.loads(v) for k, v in ours.items()}
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{source} has malformed acnet metadata: {exc}") from None
        return cls.from_dict(decoded, source=source)
