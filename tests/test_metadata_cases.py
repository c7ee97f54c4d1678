"""One rule for metadata and engine sidecars, on both sides: tests/metadata_cases.json.

Every case is read by each Python reader of its format and by the C
library's: its internal readers (kernels_check) and the public C API over
an engine with the fake TensorRT of acnet/runtime/c/tests/trt_fake
(capi_trt_check). They must agree: accept with the same values, or refuse
with a message holding the case's words (and the C status it names), and
never with anything but an acnet error.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.capi_artifacts import capi_build, fuzz_build

import acnet
from acnet.errors import AcnetError, ModelFileError
from acnet.export.aoti import read_package_info
from acnet.runtime.metadata import ModelInfo, parse_json
from acnet.runtime.sidecar import check_engine_compatible, read_sidecar

FUZZ_DIR = Path(acnet.__file__).parent / "runtime" / "c" / "tests" / "fuzz"
sys.path.insert(0, str(FUZZ_DIR))
import case_table  # noqa: E402 - beside the fuzzers, which read the same cases

TABLE = case_table.load()
CASES = TABLE["cases"]
RUNTIME = TABLE["runtime"]


#: The cases issue 27 reports, by name: C (overflow, engine_size, stoi, sidecar disagreements, JSON leniency,
#: float32 normalisation) and Python (exceptions escaping, coercions, missing range checks).
ISSUE_27 = {
    "model_info-class_id_offset_int_max", "sidecar-engine_size_1e300", "sidecar-tensorrt_version_huge_build",
    "sidecar-engine_size_negative", "sidecar-engine_size_string", "sidecar-tensorrt_version_two_numbers",
    "sidecar-schema_version_negative_fraction", "sidecar-schema_version_true", "sidecar-schema_version_half",
    "model_info-num_classes_leading_zero", "model_info-depth_mean_leading_zeros", "model_info-invalid_utf8_byte", "model_info-utf8_encoded_surrogate",
    "model_info-class_names_nul", "model_info-depth_mean_underflows_to_zero", "model_info-rgb_std_subnormal_double",
    "model_info-rgb_std_above_float32", "model_info-depth_std_subnormal_double", "model_info-rgb_mean_huge",
    "model_info-num_classes_infinity", "model_info-num_classes_1e400", "model_info-nested_100000",
    "model_info-num_classes_5000_digits", "model_info-dynamic_hw_string", "model_info-class_names_string",
    "model_info-num_classes_fraction", "model_info-num_classes_string", "model_info-num_classes_zero",
    "model_info-num_classes_300", "model_info-class_id_offset_negative", "model_info-batch_negative",
    "model_info-input_height_zero", "model_info-input_height_negative", "model_info-schema_version_true",
    "model_info-schema_version_negative", "model_info-depth_std_nan",
}


def _id(case: dict) -> str:
    return f"{case['reader']}-{case['name']}"


def _summary(info: ModelInfo) -> dict:
    """What a reader made of a ModelInfo, in kernels_check's terms."""
    n = info.normalization
    return {
        "acnet_version": info.acnet_version, "backbone": info.backbone, "fusion": info.fusion,
        "num_classes": info.num_classes, "class_names": list(info.class_names), "input_height": info.input_height,
        "input_width": info.input_width,
        "normalization": {"rgb_mean": list(n.rgb_mean), "rgb_std": list(n.rgb_std), "depth_mean": n.depth_mean,
                          "depth_std": n.depth_std},
        "depth_unit": info.depth_unit, "output": info.output, "precision": info.precision, "batch": info.batch,
        "dynamic_hw": info.dynamic_hw, "source_sha256": info.source_sha256, "class_id_offset": info.class_id_offset,
        "camera": None if info.camera is None else info.camera.to_dict(),
    }


def _lookup(summary: dict, path: str):
    for part in path.split("."):
        summary = summary[int(part)] if isinstance(summary, list) else summary[part]
    return summary


def write_case(case: dict, folder: Path) -> Path:
    """The case's file(s) in ``folder``: metadata text, or an engine with its sidecar."""
    data = case_table.document(TABLE, case)
    if case["reader"] == "model_info":
        path = folder / f"{case['name']}.json"
        path.write_bytes(data)
        return path
    engine = folder / f"{case['name']}.engine"
    try:  # an engine that fits the sidecar's own tensors when Python reads them (else the base's)
        blob = case_table.engine(TABLE, read_sidecar_dict(data))
    except AcnetError:
        blob = case_table.engine(TABLE)
    engine.write_bytes(blob)
    engine.with_name(engine.name + ".json").write_bytes(data)
    return engine


def read_sidecar_dict(data: bytes) -> dict:
    from acnet.runtime.sidecar import EngineSidecar

    return EngineSidecar.from_dict(parse_json(data)).to_dict()


def python_reads(case: dict, path: Path, tmp: Path) -> tuple[str, object]:
    """("ok", summary) or ("error", message) from every Python reader of the case's format, which must agree."""
    outcomes = []

    def attempt(reader):
        try:
            outcomes.append(("ok", reader()))
        except AcnetError as exc:  # anything else fails the test
            assert isinstance(exc, ModelFileError), f"{type(exc).__name__}: {exc}"
            outcomes.append(("error", str(exc)))

    if case["reader"] == "model_info":
        data = path.read_bytes()
        attempt(lambda: _summary(ModelInfo.from_dict(parse_json(data), source="metadata")))
        package = tmp / f"{case['name']}.pt2"
        package.write_bytes(case_table.package(data))
        attempt(lambda: _summary(read_package_info(package)))
        try:
            record = parse_json(data)
        except ModelFileError:
            record = None
        if isinstance(record, dict):  # ONNX metadata_props: one JSON value per key
            props = {"acnet." + k: json.dumps(v) for k, v in record.items()}
            attempt(lambda: _summary(ModelInfo.from_props(props, source="model.onnx")))
    else:
        def sidecar():
            s = read_sidecar(path)
            check_engine_compatible(s, RUNTIME["tensorrt"], RUNTIME["gpu"], RUNTIME["cc"], engine=path)
            return {"tensorrt_version": s.tensorrt_version, "gpu_name": s.gpu_name,
                    "compute_capability": s.compute_capability, "precision": s.precision,
                    "engine_size": s.engine_size, "model_info": _summary(s.info)}
        attempt(sidecar)
    kinds = {kind for kind, _ in outcomes}
    assert len(kinds) == 1, f"the Python readers disagree: {outcomes}"
    if kinds == {"ok"}:
        assert all(v == outcomes[0][1] for _, v in outcomes), outcomes
    return outcomes[0]


def check_outcome(case: dict, kind: str, value, side: str) -> None:
    """The case's expectation, met by one side's outcome."""
    where = f"{_id(case)} ({side})"
    if "error" in case:
        assert kind == "error", f"{where}: accepted, but should fail with {case['error']!r}"
        assert case["error"] in value, f"{where}: {value!r} lacks {case['error']!r}"
        assert "\n" not in value
    else:
        assert kind == "ok", f"{where}: refused: {value}"
        for path, expected in case.get("expect", {}).items():
            assert _lookup(value, path) == expected, f"{where}: {path} = {_lookup(value, path)!r}, not {expected!r}"


def test_the_table_is_what_the_cases_need():
    names = [_id(c) for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert {c["reader"] for c in CASES} == {"model_info", "sidecar"}
    # Every case issue 27 lists is here, marked as such.
    issue = {_id(c) for c in CASES if c.get("issue")}
    assert ISSUE_27 <= issue, sorted(ISSUE_27 - issue)
    # The base documents are readable, as written by the exporters (make_seeds.py).
    assert ModelInfo.from_dict(TABLE["base"]["model_info"]).num_classes == len(TABLE["base"]["model_info"]["class_names"])


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_python_readers(case, tmp_path):
    path = write_case(case, tmp_path)
    check_outcome(case, *python_reads(case, path, tmp_path), "Python")


def _c_outcomes(program: Path, command: str, cases: list[dict], tmp: Path) -> dict[str, tuple[str, str, object]]:
    """Run a C check program over ``cases``: {id: (status, message, summary or None)}."""
    listing = [{"name": _id(c), "reader": c["reader"], "path": str(write_case(c, tmp)), "runtime": RUNTIME}
               for c in cases]
    (tmp / "cases.json").write_text(json.dumps(listing))
    proc = subprocess.run([str(program), command, str(tmp / "cases.json")], capture_output=True, text=True,
                          errors="replace")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = {}
    for line in proc.stdout.splitlines():
        name, status, rest = line.split("\t", 2)
        out[name] = (status, rest, json.loads(rest) if status in ("ok", "ACNET_OK") else None)
    return out


def _compare(case: dict, c_status: str, c_message: str, c_summary, python: tuple[str, object], side: str) -> None:
    kind = "ok" if c_status in ("ok", "ACNET_OK") else "error"
    check_outcome(case, kind, c_summary if kind == "ok" else c_message, side)
    assert kind == python[0], f"{_id(case)}: C {c_status} {c_message!r} but Python {python}"
    if kind == "error":
        assert c_status == case.get("status", "ACNET_ERROR_INVALID_ARTIFACT"), f"{_id(case)}: {c_status} {c_message}"
        for pattern in (r"invalid UTF-8 at byte (\d+)",):  # where the two readers must point at the same byte
            c_at, py_at = re.search(pattern, c_message), re.search(pattern, python[1])
            if c_at and py_at:
                assert c_at.group(1) == py_at.group(1), (c_message, python[1])


@pytest.mark.slow
def test_c_readers_agree_with_python(tmp_path_factory, tmp_path):
    """kernels_check (json.cpp, schema.cpp, model_info.cpp, sidecar.cpp) on every case, against Python."""
    build = capi_build(tmp_path_factory)[0]
    c = _c_outcomes(build / "kernels_check", "cases", CASES, tmp_path)
    py_dir = tmp_path / "python"
    py_dir.mkdir()
    for case in CASES:
        status, message, summary = c[_id(case)]
        python = python_reads(case, write_case(case, py_dir), py_dir)
        _compare(case, status, message, summary, python, "C readers")
        if status == "ok":
            assert summary == python[1], f"{_id(case)}: C read {summary}, Python {python[1]}"


@pytest.mark.slow
def test_c_api_over_fake_tensorrt_agrees_with_python(tmp_path_factory, tmp_path):
    """acnet_session_create on each sidecar case (tensorrt_backend.cpp with tests/trt_fake), under ASan and UBSan."""
    program = fuzz_build(tmp_path_factory) / "capi_trt_check"
    if not program.is_file():
        pytest.skip("capi_trt_check needs the TensorRT 10 headers (../shared/third_party/tensorrt) and CUDA's")
    sidecars = [c for c in CASES if c["reader"] == "sidecar"]
    c = _c_outcomes(program, "cases", sidecars, tmp_path)
    py_dir = tmp_path / "python"
    py_dir.mkdir()
    for case in sidecars:
        status, message, summary = c[_id(case)]
        python = python_reads(case, write_case(case, py_dir), py_dir)
        if status == "ACNET_OK":
            info = python[1]["model_info"]
            first = info["class_id_offset"]
            assert summary == {"num_classes": info["num_classes"], "input": [info["input_height"], info["input_width"]],
                               "class_ids": list(range(first, first + info["num_classes"])), "segment": "ACNET_OK"}
            summary = python[1]  # the values themselves are kernels_check's to compare
        _compare(case, status, message, summary, python, "C API")


#: Cases the installed command meets in an ONNX model's metadata_props (one JSON value per key).
CLI_CASES = ("class_id_offset_int_max", "rgb_std_subnormal_double", "dynamic_hw_string", "num_classes_string",
             "class_names_nul")


@pytest.mark.slow
def test_the_installed_cli_refuses_bad_metadata_in_one_line(tmp_path):
    """`acnet infer` on an ONNX model carrying a case's metadata: one `acnet: error:` line, exit 2."""
    import onnx
    from support.installed import assert_one_line_error, run_acnet
    from PIL import Image
    from support.runtime_models import frame, make_onnx

    rgb, depth = frame(32, 64)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(depth).save(tmp_path / "depth.png")
    by_name = {c["name"]: c for c in CASES if c["reader"] == "model_info"}
    props = {name: {"acnet." + k: json.dumps(v) for k, v in parse_json(case_table.document(TABLE, by_name[name])).items()}
             for name in CLI_CASES}
    props["num_classes_5000_digits"] = {**props["dynamic_hw_string"], "acnet.dynamic_hw": "false",
                                        "acnet.num_classes": "1" * 5000}
    fragments = {**{name: by_name[name]["error"] for name in CLI_CASES}, "num_classes_5000_digits": "number out of range"}
    for name, metadata in props.items():
        path = make_onnx(tmp_path / f"{name}.onnx", metadata=False)
        model = onnx.load(str(path))
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        path.write_bytes(model.SerializeToString())
        proc = run_acnet("infer", path, "--rgb", tmp_path / "rgb.png", "--depth", tmp_path / "depth.png",
                         "-o", tmp_path / "out")
        assert_one_line_error(proc, str(path), fragments[name])
