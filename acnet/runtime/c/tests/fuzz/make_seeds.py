"""Make the fuzzers' seed corpora (corpus/*) and the base documents of tests/metadata_cases.json from real exports.

    python acnet/runtime/c/tests/fuzz/make_seeds.py     # from the repository root; ~1 minute (AOTI compile)

A tiny trained-looking checkpoint (tests/trained.py) is exported with the
real export code: ONNX (its metadata_props), an AOTInductor package (its
metadata file) and the engine sidecar ``acnet export trt`` writes for that
ONNX (its _engine_sidecar, for the fake GPU and TensorRT of tests/trt_fake,
since no TensorRT runs here), beside a fake engine with the same shapes.
The RGB-D frames are a real NYUv2 frame (../shared/data), shrunk. The
output is small and committed; rerun this when the metadata format changes.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

from case_table import TABLE as CASES, fake_engine

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[4]
#: What the fake TensorRT and CUDA of tests/trt_fake report (fake_gpu.h, the TensorRT 10.16 headers).
FAKE_RUNTIME = {"tensorrt": "10.16.0", "gpu": "NVIDIA Fake GPU", "cc": "8.7"}
SIZE = (32, 32)


def format_cases(doc: dict) -> str:
    """tests/metadata_cases.json as people edit it: the base documents indented, one case a line."""
    parts = [f" {json.dumps(k)}: {json.dumps(v, indent=1, ensure_ascii=False)}" for k, v in doc.items() if k != "cases"]
    cases = ",\n".join("  " + json.dumps(case, ensure_ascii=False) for case in doc["cases"])
    return "{\n" + ",\n".join(parts) + ',\n "cases": [\n' + cases + "\n ]\n}\n"


def netpbm(kind: str, array, maxval: int) -> bytes:
    import numpy as np

    h, w = array.shape[:2]
    dtype = ">u2" if maxval > 255 else np.uint8
    return f"P{kind}\n{w} {h}\n{maxval}\n".encode() + np.ascontiguousarray(array).astype(dtype).tobytes()


def write(folder: str, name: str, data: bytes) -> None:
    path = HERE / "corpus" / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main() -> None:
    sys.path.insert(0, str(REPO / "tests"))  # the test helpers: tests/support
    with tempfile.TemporaryDirectory(prefix="acnet-seeds-") as tmp:
        make(Path(tmp))


def make(tmp: Path) -> None:
    import numpy as np
    import onnx
    from PIL import Image
    from support.trained import trained_looking_checkpoint

    from acnet.export.aoti import AotiExportOptions, compile_package
    from acnet.export.onnx import OnnxExportOptions, export_onnx
    from acnet.export.tensorrt import GpuInfo, _engine_sidecar, profile_shapes, read_onnx
    from acnet.runtime.preprocess import Normalization
    from acnet.training.config import ModelConfig

    config = ModelConfig(backbone="resnet18", num_classes=5, fusion="acm", width=0.25)
    names = ["wall", "floor", "chair é", "table 🚀", 'say "hi"']
    norm = Normalization(rgb_mean=(0.485, 0.416, 0.398), rgb_std=(0.264, 0.273, 0.283), depth_mean=2.84, depth_std=0.99)
    ckpt = trained_looking_checkpoint(tmp / "tiny.pt", config, SIZE, class_names=names, normalization=norm)

    onnx_path = tmp / "tiny.onnx"
    export_onnx(ckpt, onnx_path, OnnxExportOptions())
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    package = compile_package(ckpt, tmp / "tiny.pt2", AotiExportOptions()).output
    with zipfile.ZipFile(package) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith("_metadata.json") and "/aotinductor/" in n)
        meta_bytes = archive.read(meta_name)
    model_info = json.loads(json.loads(meta_bytes)["acnet.model_info"])

    source = read_onnx(onnx_path)
    inputs, outputs = profile_shapes(source, (1, 1, 1))
    engine_text = fake_engine({"inputs": {k: v.to_dict() for k, v in inputs.items()},
                               "outputs": {k: v.to_dict() for k, v in outputs.items()}}).encode()
    gpu = GpuInfo(FAKE_RUNTIME["gpu"], FAKE_RUNTIME["cc"])
    sidecar = _engine_sidecar(source, FAKE_RUNTIME["tensorrt"] + ".7", gpu, "fp32", inputs, outputs, engine_text,
                              {"fp16_source": "none"}).to_dict()
    sidecar["source_onnx"] = "tiny.onnx"  # not this machine's temporary path
    sidecar_text = json.dumps(sidecar, indent=2).encode()
    dynamic = _engine_sidecar(source, FAKE_RUNTIME["tensorrt"] + ".7", gpu, "fp32", *profile_shapes(source, (1, 2, 4)),
                              b"", {}).to_dict()
    dynamic_engine = fake_engine(dynamic).encode()
    dynamic["engine_size"] = len(dynamic_engine)
    dynamic["source_onnx"] = "tiny.onnx"

    # fuzz_readers: first byte 0 = JSON reader, 1 = ModelInfo, 2 = sidecar
    write("fuzz_readers", "aoti-package-metadata.json", b"\x00" + meta_bytes)
    write("fuzz_readers", "onnx-metadata-props.json", b"\x00" + json.dumps(props).encode())
    write("fuzz_readers", "model-info.json", b"\x01" + json.dumps(model_info).encode())
    write("fuzz_readers", "sidecar.json", b"\x02" + sidecar_text)
    write("fuzz_readers", "sidecar-dynamic-batch.json", b"\x02" + json.dumps(dynamic).encode())
    # fuzz_capi: device byte, frame-shape byte, engine, NUL, sidecar
    write("fuzz_capi", "static", b"\x00\x35" + engine_text + b"\x00" + sidecar_text)
    write("fuzz_capi", "dynamic-batch", b"\x02\x7a" + dynamic_engine + b"\x00" + json.dumps(dynamic).encode())
    # python: 0 = read_sidecar (2-byte engine size first), 1 = read_package_info, 2 = from_props
    write("python", "sidecar", b"\x00" + len(engine_text).to_bytes(2, "big") + sidecar_text)
    small = io.BytesIO()
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(meta_name, meta_bytes)
    write("python", "package-metadata", b"\x01" + small.getvalue())
    write("python", "onnx-props", b"\x02" + "\0".join(x for kv in props.items() for x in kv).encode())
    # fuzz_segment: flags byte, RGB.ppm, \0\0, DEPTH.pgm (a real frame, shrunk to 16x12)
    frames = REPO.parent / "shared" / "data" / "nyuv2-samples" / "test"
    if (frames / "rgb" / "0001.png").is_file():
        rgb = np.asarray(Image.open(frames / "rgb" / "0001.png").convert("RGB").resize((16, 12), Image.BILINEAR))
        depth = np.asarray(Image.open(frames / "depth" / "0001.png").resize((16, 12), Image.NEAREST)).astype(np.uint16)
    else:
        rng = np.random.default_rng(0)
        rgb, depth = rng.integers(0, 256, (12, 16, 3)), rng.integers(0, 9000, (12, 16))
    pgm = netpbm("5", depth, 65535)
    write("fuzz_segment", "frame", b"\x00" + netpbm("6", rgb, 255) + b"\0\0" + pgm)
    write("fuzz_segment", "frame-maxval-100", b"\x10" + netpbm("6", rgb * 100 // 255, 100) + b"\0\0" + pgm)
    write("fuzz_segment", "frame-16-bit-rgb", b"\x12" + netpbm("6", rgb.astype(np.uint32) * 257, 65535) + b"\0\0" + pgm)

    # The shared cases start from these documents (the engine file is padded to engine_size).
    sidecar["engine_size"] = 4096
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    cases["runtime"] = FAKE_RUNTIME
    cases["base"] = {"model_info": model_info, "sidecar": sidecar}
    CASES.write_text(format_cases(cases), encoding="utf-8")
    print(f"seeds in {HERE / 'corpus'}, base documents in {CASES}")


if __name__ == "__main__":
    main()
