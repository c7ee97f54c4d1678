"""What an exported artefact says about itself.

Every artefact acnet writes (ONNX ``metadata_props``, the JSON sidecar of a
TensorRT engine, the metadata of an AOTInductor package) carries one
:class:`ModelInfo`. The runtime builds its preprocessing from it, so the
constants used at training time can never drift from those used at inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from acnet import _json
from acnet._typed import SchemaViolation, check_schema, check_schema_rules
from acnet.errors import InputError, ModelFileError
from acnet.runtime.preprocess import MAX_DEPTH_M, Normalization, PreprocessConfig

#: Prefix of every key acnet writes into ``metadata_props``.
PREFIX = "acnet."
#: The rules for metadata and engine sidecars, shared with the C library (which compiles them in).
SCHEMA_PATH = Path(__file__).with_name("metadata.schema.json")
SCHEMA: dict = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
check_schema_rules(SCHEMA)
#: Bumped when the meaning of a key changes; a newer one is refused (the schema's x-acnet-newer-than).
#: Schema 2 adds camera-native I/O (``io``, ``camera``); models without it are still written as schema 1,
#: so older readers keep reading them, and refuse what they cannot run.
SCHEMA_VERSION = SCHEMA["$defs"]["model_info"]["properties"]["schema_version"]["x-acnet-newer-than"]
#: The schema of a model without camera-native I/O.
TENSOR_SCHEMA_VERSION = 1


def check_document(d: dict, definition: str, source: str) -> dict:
    """``d`` checked against the schema's ``definition`` ("model_info" or "sidecar"), defaults filled in.

    A violation is one :class:`ModelFileError` in the words of that
    document's readers, the C library's too (schema.cpp check_document).
    """
    sidecar = definition == "sidecar"
    try:
        return check_schema(d, SCHEMA, definition)
    except SchemaViolation as exc:
        if exc.kind == "missing":
            message = (f"{source} is incomplete: no {exc.path!r} field" if sidecar else
                       f"{source} has no acnet metadata field {exc.path!r}; was it exported by acnet?")
        elif exc.kind == "newer":
            message = (f"{source} was written by a newer acnet ({'sidecar' if sidecar else 'metadata'} schema "
                       f"{exc.version}); upgrade acnet")
        else:
            message = f"{source}{' is malformed' if sidecar else ' has malformed acnet metadata'}: {exc}"
        raise ModelFileError(message) from None


def parse_json(data: bytes | str) -> object:
    """A metadata or sidecar document, read strictly under the schema's size and nesting limits.

    Raises :class:`ModelFileError` ("invalid JSON at byte N: ...") as the C
    library's reader does; the caller adds which file it was.
    """
    limits = SCHEMA["x-acnet-limits"]
    return _json.loads(data, max_bytes=limits["max_bytes"], max_depth=limits["max_depth"])


#: Depth a camera-native model takes: uint16 sensor units (x ``depth_scale`` = metres) or float32 metres.
CAMERA_DEPTH_TYPES = ("uint16", "float32")
#: Largest camera side a camera-native model is exported for (the schema's, the C library's limit).
MAX_CAMERA_SIDE = SCHEMA["$defs"]["camera"]["properties"]["height"]["maximum"]


@dataclass(frozen=True)
class CameraIO:
    """The camera buffers a camera-native model takes, with every step to the network inside it.

    Inputs: ``rgb`` uint8 (N, height, width, 3), interleaved R, G, B as
    cameras give it; ``depth`` (N, height, width) of ``depth_dtype``:
    uint16 in units of ``depth_scale`` metres (millimetres: 0.001), or
    float32 metres (``depth_scale`` 1). Outputs at the same size: ``labels``
    uint8 class ids (0 void) and ``confidence`` uint8 (the top class's
    softmax probability x 255). Resizing to the network's input size and
    back, normalisation and the depth scale are in the graph
    (``acnet.export.camera``), computed as :mod:`acnet.runtime.preprocess` does.
    """

    height: int
    width: int
    depth_dtype: str = "uint16"
    depth_scale: float = 0.001

    def __post_init__(self) -> None:
        """Types and ranges from the schema's ``camera``, then the rules between the fields (model_info.cpp's too)."""
        try:
            v = check_schema(self.to_dict(), SCHEMA, "camera", "camera")
        except SchemaViolation as exc:
            raise ModelFileError(str(exc)) from None
        object.__setattr__(self, "height", v["height"])
        object.__setattr__(self, "width", v["width"])
        object.__setattr__(self, "depth_scale", v["depth_scale"])
        if self.depth_dtype == "float32" and self.depth_scale != 1.0:
            raise ModelFileError(f"float32 camera depth is metres: its depth_scale is 1, got {self.depth_scale:g}")
        if self.depth_dtype == "uint16" and 65535 * self.depth_scale > MAX_DEPTH_M:
            raise ModelFileError(f"a depth_scale of {self.depth_scale:g} m per unit puts uint16 depth up to "
                                 f"{65535 * self.depth_scale:.3g} m, beyond any sensor ({MAX_DEPTH_M:g} m)")

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "depth_dtype": self.depth_dtype, "depth_scale": self.depth_scale}

    @classmethod
    def from_dict(cls, d: dict) -> "CameraIO":
        """From metadata already checked against the schema (ModelInfo.from_dict)."""
        return cls(d["height"], d["width"], d["depth_dtype"], d["depth_scale"])

    def describe(self) -> str:
        depth = "uint16 depth" + (" (mm)" if self.depth_scale == 0.001 else f" (x {self.depth_scale:g} m)") \
            if self.depth_dtype == "uint16" else "float32 depth (m)"
        return f"camera {self.height}x{self.width}: uint8 RGB (N,H,W,3) and {depth} in; uint8 labels and confidence out"


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
    #: Camera-native models (``acnet export onnx --io camera``): the buffers they take and
    #: return; None for models of normalised float tensors and logits or class ids.
    camera: CameraIO | None = None

    def __post_init__(self) -> None:
        """Each field's type and range (the schema), then the rules between fields, as the C library checks them."""
        try:
            check_schema(self.to_dict(), SCHEMA, "model_info")
        except SchemaViolation as exc:
            raise ModelFileError(f"metadata: {exc}") from None
        if len(self.class_names) != self.num_classes:
            raise ModelFileError(
                f"metadata lists {len(self.class_names)} class names for {self.num_classes} classes"
            )
        last = self.class_id_offset + self.num_classes - 1
        if not 0 <= self.class_id_offset <= last <= 255:
            raise ModelFileError(
                f"class ids {self.class_id_offset}..{last} (class_id_offset + channel) do not fit in 0..255"
            )
        if self.camera is not None:
            if self.output != "labels":
                raise ModelFileError(f"a camera-native model outputs labels, but its metadata says {self.output!r}")
            if self.dynamic_hw:
                raise ModelFileError("a camera-native model has a fixed camera size, but its metadata says dynamic_hw")

    @property
    def camera_native(self) -> bool:
        """Whether the model takes camera buffers and returns uint8 labels and confidence."""
        return self.camera is not None

    def io_bytes(self) -> dict[str, int]:
        """Bytes of one frame's inputs and outputs, from the I/O shapes: what crosses between host and device.

        A float model: normalised float32 RGB and depth and its output (float32
        logits, or int32 class ids) at the input size; the rest happens on the
        host. A camera-native model: uint8 RGB, uint16 (or float32) depth,
        uint8 labels and confidence at its camera's size.
        """
        if self.camera is not None:
            pixels = self.camera.height * self.camera.width
            depth = 2 if self.camera.depth_dtype == "uint16" else 4
            return {"rgb": 3 * pixels, "depth": depth * pixels, "labels": pixels, "confidence": pixels,
                    "total": (3 + depth + 2) * pixels}
        pixels = self.input_height * self.input_width
        out = 4 * pixels * (self.num_classes if self.output == "logits" else 1)
        return {"rgb": 12 * pixels, "depth": 4 * pixels, self.output: out, "total": 16 * pixels + out}

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig(self.input_height, self.input_width, self.normalization)

    def with_(self, **changes) -> "ModelInfo":
        return replace(self, **changes)

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        d = {
            "schema_version": SCHEMA_VERSION if self.camera is not None else TENSOR_SCHEMA_VERSION,
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
        if self.camera is not None:
            d["io"] = "camera"
            d["camera"] = self.camera.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: object, source: str = "model") -> "ModelInfo":
        """Read metadata from a file's JSON; refuse what the C library refuses, in its words.

        Each field is checked against the shared schema (types strictly: no
        "2" for 2, no "false" for False), then the rules between fields;
        anything wrong is one :class:`ModelFileError` naming ``source`` and
        the field.
        """
        malformed = f"{source} has malformed acnet metadata: "
        if not isinstance(d, dict):
            raise ModelFileError(malformed + "not a JSON object")
        v = check_document(d, "model_info", source)
        try:
            norm = v["normalization"]
            if (v["io"] == "camera") != ("camera" in v):
                raise ModelFileError(f"'io' is {v['io']!r} but 'camera' is {'missing' if v['io'] == 'camera' else 'present'}")
            return cls(
                acnet_version=v["acnet_version"],
                backbone=v["backbone"],
                fusion=v["fusion"],
                num_classes=v["num_classes"],
                class_names=tuple(v["class_names"]),
                input_height=v["input_height"],
                input_width=v["input_width"],
                normalization=Normalization(tuple(norm["rgb_mean"]), tuple(norm["rgb_std"]), norm["depth_mean"],
                                            norm["depth_std"]),
                depth_unit=v["depth_unit"],
                output=v["output"],
                precision=v["precision"],
                batch=v["batch"],
                dynamic_hw=v["dynamic_hw"],
                source_sha256=v["source_sha256"],
                class_id_offset=v["class_id_offset"],
                quantization=v["quantization"],
                width=v["width"],
                camera=CameraIO.from_dict(v["camera"]) if "camera" in v else None,
            )
        except (ModelFileError, InputError) as exc:
            raise ModelFileError(malformed + str(exc)) from None

    def to_props(self) -> dict[str, str]:
        """Flat string map for ONNX ``metadata_props`` (values JSON-encoded)."""
        return {PREFIX + k: json.dumps(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> "ModelInfo":
        """Read metadata from ONNX ``metadata_props``: one JSON value per ``acnet.`` key."""
        ours = {k[len(PREFIX):]: v for k, v in props.items() if isinstance(k, str) and k.startswith(PREFIX)}
        if not ours:
            raise ModelFileError(f"{source} carries no acnet metadata; export it with `acnet export onnx`")
        decoded = {}
        for key, text in ours.items():
            if not isinstance(text, (str, bytes)):
                raise ModelFileError(f"{source} has malformed acnet metadata: {PREFIX}{_json.display_name(key)} is not text")
            try:
                decoded[key] = parse_json(text)
            except ModelFileError as exc:
                raise ModelFileError(
                    f"{source} has unreadable acnet metadata in {PREFIX}{_json.display_name(key)} ({exc})"
                ) from None
        return cls.from_dict(decoded, source=source)
