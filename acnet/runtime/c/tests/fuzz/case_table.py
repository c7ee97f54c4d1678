"""The shared metadata cases (tests/metadata_cases.json) as bytes: for the tests and as fuzzer inputs.

Standard library only: tests/test_metadata_cases.py, fuzz.py and make_seeds.py import it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLE = HERE.parents[4] / "tests" / "metadata_cases.json"
_RAW = "\u0001raw{}\u0001"  # placeholder for a value given as raw bytes


def load(path: Path = TABLE) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _walk(doc, path: str):
    """(container, key) of a dotted path; numeric parts index lists."""
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc.setdefault(part, {})
    last = parts[-1]
    return doc, int(last) if isinstance(doc, list) else last


def document(table: dict, case: dict) -> bytes:
    """The bytes of a case's document: base[reader] edited as the case says."""
    if "text" in case:
        return case["text"].encode("utf-8")
    doc = copy.deepcopy(table["base"][case["reader"]])
    for path in case.get("delete", ()):
        container, key = _walk(doc, path)
        del container[key]
    for path, value in case.get("set", {}).items():
        container, key = _walk(doc, path)
        container[key] = value
    raws = []
    for path, text in case.get("raw", {}).items():
        container, key = _walk(doc, path)
        container[key] = _RAW.format(len(raws))
        raws.append(text.encode("utf-8"))
    for path, hexbytes in case.get("utf8", {}).items():
        container, key = _walk(doc, path)
        container[key] = _RAW.format(len(raws))
        raws.append(b'"' + bytes.fromhex(hexbytes) + b'"')
    if "nest" in case:
        container, key = _walk(doc, case["nest"]["path"])
        container[key] = _RAW.format(len(raws))
        depth = case["nest"]["depth"]
        raws.append(b"[" * depth + b"]" * depth)
    if "pad" in case:
        doc["padding"] = "x" * case["pad"]
    data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    for i, raw in enumerate(raws):
        data = data.replace(json.dumps(_RAW.format(i)).encode(), raw)
    return bytes.fromhex(case.get("hex_prefix", "")) + data


def fake_engine(sidecar: dict) -> str:
    """The text engine of trt_fake (fake_tensorrt.cpp) with the tensors a sidecar describes."""
    lines = ["acnet-fake-tensorrt 1"]
    for mode, tensors in (("input", sidecar["inputs"]), ("output", sidecar["outputs"])):
        for name, shape in tensors.items():
            kind = {"float32": "float", "float16": "half", "int32": "int32"}.get(shape["dtype"], shape["dtype"])
            lo, hi = shape["min"], shape["max"]
            dims = ",".join(str(a if a == b else -1) for a, b in zip(lo, hi))
            profile = f" min {','.join(map(str, lo))} max {','.join(map(str, hi))}" if lo != hi and mode == "input" else ""
            lines.append(f"{mode} {name} {kind} {dims}{profile}")
    return "\n".join(lines) + "\n"


def engine(table: dict, sidecar: dict | None = None) -> bytes:
    """A fake engine for the sidecar (the base one when None), padded to the base's engine_size."""
    base = table["base"]["sidecar"]
    text = fake_engine(sidecar or base).encode()
    return text + b"pad\n" + b" " * max(0, base["engine_size"] - len(text) - 4)


def fuzz_inputs(table: dict) -> dict[str, list[tuple[str, bytes]]]:
    """Every case as an input of each harness that reads its format (fuzz_readers, fuzz_capi, python)."""
    out: dict[str, list[tuple[str, bytes]]] = {"fuzz_readers": [], "fuzz_capi": [], "python": []}
    for case in table["cases"]:
        name, data = f"{case['reader']}-{case['name']}", document(table, case)
        if case["reader"] == "model_info":
            out["fuzz_readers"].append((name, b"\x01" + data))
            out["python"].append((name, b"\x01" + package(data)))
        else:
            blob = engine(table)
            out["fuzz_readers"].append((name, b"\x02" + data))
            out["fuzz_capi"].append((name, b"\x00\x35" + blob + b"\x00" + data))
            out["python"].append((name, b"\x00" + len(blob).to_bytes(2, "big") + data))
    return out


def package_metadata(model_info: bytes) -> bytes:
    """An AOTInductor package's metadata file holding ``model_info`` as its acnet.model_info string.

    The string is escaped as JSON but left as bytes, so text that is not
    UTF-8 stays so.
    """
    escaped = bytearray()
    for b in model_info:
        if b in (0x22, 0x5C):
            escaped += b"\\" + bytes([b])
        elif b < 0x20:
            escaped += b"\\u%04x" % b
        else:
            escaped.append(b)
    return b'{"AOTI_DEVICE_KEY": "cpu", "acnet.model_info": "' + bytes(escaped) + b'"}'


METADATA_ENTRY = "model/data/aotinductor/model/model_metadata.json"


def package(model_info: bytes) -> bytes:
    """A minimal .pt2 (zip) whose only entry is the metadata file (all read_package_info reads)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_ENTRY, package_metadata(model_info))
    return buffer.getvalue()
