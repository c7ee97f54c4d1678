"""Engine sidecar: round trip, refusals of missing/malformed files and mismatched machines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from acnet.errors import ModelFileError
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import (
    EngineSidecar,
    TensorShape,
    check_engine_compatible,
    parse_version,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)

INFO = ModelInfo(
    acnet_version="0.1.0", backbone="resnet50", num_classes=3, class_names=("wall", "floor", "chair"),
    input_height=480, input_width=640, precision="fp16", batch=0,
)


def _sidecar(engine_size: int = 6, **changes) -> EngineSidecar:
    fields = dict(
        tensorrt_version="10.3.0.26",
        gpu_name="Orin",
        compute_capability="8.7",
        precision="fp16",
        inputs={
            "rgb": TensorShape("float32", (1, 3, 480, 640), (1, 3, 480, 640), (4, 3, 480, 640)),
            "depth": TensorShape("float32", (1, 1, 480, 640), (1, 1, 480, 640), (4, 1, 480, 640)),
        },
        outputs={"logits": TensorShape("float32", (1, 3, 480, 640), (1, 3, 480, 640), (4, 3, 480, 640))},
        source_onnx="model.onnx",
        source_onnx_sha256="ab" * 32,
        info=INFO,
        engine_size=engine_size,
        build={"fp16_source": "BuilderFlag.FP16"},
    )
    fields.update(changes)
    return EngineSidecar(**fields)


@pytest.fixture()
def engine(tmp_path):
    path = tmp_path / "model.engine"
    path.write_bytes(b"ENGINE")
    return path


def test_round_trip(engine):
    written = write_sidecar(engine, _sidecar())
    assert written == sidecar_path(engine) == engine.with_name("model.engine.json")
    back = read_sidecar(engine)
    assert back == _sidecar()
    assert back.info == INFO and back.batch_range == (1, 1, 4)
    record = json.loads(written.read_text())
    assert record["tensorrt_version"] == "10.3.0.26" and record["model_info"]["num_classes"] == 3


def test_missing_engine_or_sidecar(tmp_path, engine):
    with pytest.raises(ModelFileError, match="not found"):
        read_sidecar(tmp_path / "other.engine")
    with pytest.raises(ModelFileError, match="no sidecar model.engine.json.*acnet export trt"):
        read_sidecar(engine)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "unreadable"),
        ("[1, 2]", "not an acnet engine sidecar"),
        ('{"schema_version": 99}', "newer acnet"),
        ('{"schema_version": 1, "gpu_name": "x"}', "incomplete"),
    ],
)
def test_malformed_sidecars(engine, text, message):
    sidecar_path(engine).write_text(text)
    with pytest.raises(ModelFileError, match=message):
        read_sidecar(engine)


def test_sidecar_values_that_never_were_json_are_refused():
    """from_dict on Python values: infinite shapes and sizes were an OverflowError before."""
    record = _sidecar().to_dict()
    record["inputs"]["rgb"]["min"] = [float("inf"), 3, 480, 640]
    with pytest.raises(ModelFileError, match=r"'inputs.rgb.min\[0\]' must be an integer in -1..2147483647"):
        EngineSidecar.from_dict(record)
    record = {**_sidecar().to_dict(), "engine_size": float("inf")}
    with pytest.raises(ModelFileError, match="'engine_size' must be an integer in 0..9007199254740991"):
        EngineSidecar.from_dict(record)


def test_sidecar_of_another_engine_is_refused(engine):
    write_sidecar(engine, _sidecar(engine_size=1234))
    with pytest.raises(ModelFileError, match="1234-byte engine.*6 bytes"):
        read_sidecar(engine)


def test_compatible_machine_passes():
    sidecar = _sidecar()
    check_engine_compatible(sidecar, "10.3.0.26", "Orin", "8.7")
    check_engine_compatible(sidecar, "10.3.0", " orin ", (8, 7))  # build number, case and spacing aside
    check_engine_compatible(sidecar, "10.3.0.26")  # GPU unknown: only the version is checked


@pytest.mark.parametrize(
    "version, gpu, cc, expected",
    [
        ("10.4.0.1", "Orin", "8.7", r"TensorRT 10\.3\.0\.26 \(this machine has 10\.4\.0\.1\)"),
        ("11.0.0", "Orin", "8.7", "TensorRT 10.3.0.26"),
        ("10.3.0.26", "NVIDIA GeForce RTX 4090", "8.9", r"compute capability 8\.7 \(this GPU has 8\.9\).*'Orin'"),
        ("10.3.0.26", "Orin", (8, 6), "compute capability 8.7"),
    ],
)
def test_mismatch_is_refused_with_a_clear_message(version, gpu, cc, expected):
    with pytest.raises(ModelFileError, match=expected) as info:
        check_engine_compatible(_sidecar(), version, gpu, cc, engine="model.engine")
    text = str(info.value)
    assert "model.engine" in text and "acnet export trt model.onnx" in text and "\n" not in text


def test_parse_version():
    assert parse_version("10.3.0.26") == (10, 3, 0, 26)
    assert parse_version("11.0.0+cuda13") == (11, 0, 0)
    with pytest.raises(ModelFileError):
        parse_version("unknown")
    # Numbers no version has (int() refuses more than 4300 digits with a ValueError): a ModelFileError.
    for text in ("10.3.0." + "9" * 5000, "10.3.0.99999999999"):
        with pytest.raises(ModelFileError, match="cannot read a version number"):
            parse_version(text)


def test_sidecar_module_imports_neither_torch_nor_tensorrt():
    code = "import sys, acnet.runtime.sidecar; print(sorted(m for m in ('torch', 'tensorrt', 'onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
