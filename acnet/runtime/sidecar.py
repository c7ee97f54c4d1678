"""The JSON sidecar that travels with a TensorRT engine.

A serialized engine only runs with the TensorRT version and on the GPU it
was built with, and it does not say what its inputs mean. ``acnet export
trt`` therefore writes ``model.engine.json`` beside ``model.engine``: the
TensorRT version, GPU name and compute capability, precision, the
optimisation profile, the hash of the source ONNX and its :class:`ModelInfo`.
The runtime reads it before deserializing the engine and refuses a mismatch
with a message that says what to rebuild. Plain JSON: no torch, no TensorRT.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from acnet._io import atomic_write_text
from acnet.errors import ModelFileError
from acnet.runtime.metadata import SCHEMA, ModelInfo, check_document, parse_json

#: Bumped when the meaning of a field changes; a newer one is refused (metadata.schema.json).
SIDECAR_SCHEMA = SCHEMA["$defs"]["sidecar"]["properties"]["schema_version"]["x-acnet-newer-than"]
SIDECAR_SUFFIX = ".json"


@dataclass(frozen=True)
class TensorShape:
    """An engine input's optimisation profile, or an output's shape (-1 = dynamic)."""

    dtype: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"dtype": self.dtype, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorShape":
        """From a record checked against the schema's tensor_shape."""
        return cls(d["dtype"], *(tuple(d[k]) for k in ("min", "opt", "max")))


@dataclass(frozen=True)
class EngineSidecar:
    """Where and how an engine was built, and what model it holds."""

    tensorrt_version: str
    gpu_name: str
    #: "major.minor", e.g. "8.7" for Jetson Orin.
    compute_capability: str
    #: "int8" (Q/DQ, explicit quantization), "fp16" or "fp32": the precision the engine computes in.
    precision: str
    #: Input name -> profile, output name -> shape (min = opt = max).
    inputs: dict[str, TensorShape]
    outputs: dict[str, TensorShape]
    source_onnx: str
    source_onnx_sha256: str
    info: ModelInfo
    engine_size: int = 0
    engine_sha256: str = ""
    acnet_version: str = ""
    #: How FP16 was obtained and other builder facts, for people reading the file.
    build: dict = field(default_factory=dict)

    @property
    def batch_range(self) -> tuple[int, int, int]:
        """(min, opt, max) batch of the engine's profile."""
        first = next(iter(self.inputs.values()))
        return first.min[0], first.opt[0], first.max[0]

    def to_dict(self) -> dict:
        return {
            "schema_version": SIDECAR_SCHEMA,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "precision": self.precision,
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "source_onnx": self.source_onnx,
            "source_onnx_sha256": self.source_onnx_sha256,
            "engine_size": self.engine_size,
            "engine_sha256": self.engine_sha256,
            "acnet_version": self.acnet_version,
            "build": self.build,
            "model_info": self.info.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: object, source: str = "sidecar") -> "EngineSidecar":
        """Read a sidecar's JSON: the shared schema's rules, then the model's metadata (ModelInfo.from_dict)."""
        if not isinstance(d, dict):
            raise ModelFileError(f"{source} is not an acnet engine sidecar (expected a JSON object)")
        v = check_document(d, "sidecar", source)
        return cls(
            tensorrt_version=v["tensorrt_version"],
            gpu_name=v["gpu_name"],
            compute_capability=v["compute_capability"],
            precision=v["precision"],
            inputs={k: TensorShape.from_dict(s) for k, s in v["inputs"].items()},
            outputs={k: TensorShape.from_dict(s) for k, s in v["outputs"].items()},
            source_onnx=v["source_onnx"],
            source_onnx_sha256=v["source_onnx_sha256"],
            info=ModelInfo.from_dict(v["model_info"], source=source),
            engine_size=v["engine_size"],
            engine_sha256=v["engine_sha256"],
            acnet_version=v["acnet_version"],
            build=v["build"],
        )


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    path = Path(engine_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | os.PathLike, sidecar: EngineSidecar) -> Path:
    """Write the sidecar beside ``engine_path`` atomically; returns its path."""
    path = sidecar_path(engine_path)
    atomic_write_text(path, json.dumps(sidecar.to_dict(), indent=2) + "\n")
    return path


def read_sidecar(engine_path: str | os.PathLike) -> EngineSidecar:
    """Read the sidecar of ``engine_path``; raise :class:`ModelFileError` naming the problem.

    Also checks that the engine file is there and has the size the sidecar
    recorded, so a sidecar left beside another engine is not trusted.
    """
    engine = Path(engine_path)
    path = sidecar_path(engine)
    if not engine.is_file():
        raise ModelFileError(f"engine {engine} not found")
    if not path.is_file():
        raise ModelFileError(
            f"engine {engine} has no sidecar {path.name}; build engines with `acnet export trt` "
            "(it records the TensorRT version, GPU and model metadata the runtime needs)"
        )
    limit = SCHEMA["x-acnet-limits"]["max_bytes"]
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # no more than the limit, however large the file is
        size = engine.stat().st_size
    except OSError as exc:
        raise ModelFileError(f"sidecar {path} is unreadable: {exc.strerror or exc}") from None
    try:
        record = parse_json(data)
    except ModelFileError as exc:
        raise ModelFileError(f"sidecar {path} is unreadable: {exc}") from None
    sidecar = EngineSidecar.from_dict(record, source=f"sidecar {path}")
    if sidecar.engine_size and sidecar.engine_size != size:
        raise ModelFileError(
            f"sidecar {path.name} describes a {sidecar.engine_size}-byte engine but {engine.name} has {size} bytes; "
            "the engine was replaced: rebuild both with `acnet export trt`"
        )
    return sidecar


# --------------------------------------------------------------------------- compatibility


def parse_version(text: str) -> tuple[int, ...]:
    """``"10.3.0.26"`` -> ``(10, 3, 0, 26)``: the runs of digits before any "+" (the C library's version_numbers).

    Raises ModelFileError if there is no number, or one of more than 9
    digits (which no real version has, and int() could not read past 4300).
    """
    numbers = re.findall(r"[0-9]+", str(text).split("+")[0])
    if not numbers or any(len(n) > 9 for n in numbers):
        raise ModelFileError(f"cannot read a version number from {str(text)[:60]!r}")
    return tuple(int(n) for n in numbers)


_SPACE = re.compile(r"[ \t\n\v\f\r]+")


def _gpu_key(name: str) -> str:
    """A GPU name without case or spacing, in ASCII terms as the C library compares them."""
    lowered = name.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})
    return " ".join(word for word in _SPACE.split(lowered) if word)


def _same_gpu(a: str, b: str) -> bool:
    return _gpu_key(a) == _gpu_key(b)


def check_engine_compatible(
    sidecar: EngineSidecar,
    trt_version: str,
    gpu_name: str | None = None,
    compute_capability: str | tuple[int, int] | None = None,
    engine: str | os.PathLike | None = None,
) -> None:
    """Refuse an engine built with another TensorRT or for another GPU.

    TensorRT engines are tied to the TensorRT release (major.minor.patch) and
    to the GPU they were tuned on. ``gpu_name`` and ``compute_capability``
    are checked when given. Raises :class:`ModelFileError` saying what
    differs and how to rebuild.
    """
    where = f"engine {Path(engine).name}" if engine else "this engine"
    problems = []
    built, here = parse_version(sidecar.tensorrt_version), parse_version(trt_version)
    if built[:3] != here[:3]:
        problems.append(f"TensorRT {sidecar.tensorrt_version} (this machine has {trt_version})")
    if compute_capability is not None:
        if isinstance(compute_capability, (tuple, list)):
            compute_capability = ".".join(str(int(v)) for v in compute_capability)
        if str(compute_capability) != sidecar.compute_capability:
            problems.append(
                f"compute capability {sidecar.compute_capability} (this GPU has {compute_capability})"
            )
    if gpu_name is not None and not _same_gpu(gpu_name, sidecar.gpu_name):
        problems.append(f"the GPU {sidecar.gpu_name!r} (this one is {gpu_name!r})")
    if problems:
        raise ModelFileError(
            f"{where} was built for {'; '.join(problems)}; TensorRT engines run only with the TensorRT version "
            f"and GPU they were built on: rebuild it here with `acnet export trt {sidecar.source_onnx or 'MODEL.onnx'} -o ENGINE`"
        )
