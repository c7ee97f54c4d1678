"""atheris harness for the Python readers of untrusted model files (fuzz.py runs it).

The first byte picks the reader, the rest is its input:

0  read_sidecar: bytes 1-2 give the engine's size (big-endian), the rest is the sidecar;
1  read_package_info: the rest is the .pt2 (zip) file;
2  ModelInfo.from_props: the rest, split at NUL bytes, is key, value, key, value ...
   (ONNX metadata_props), decoded as UTF-8 with replacement as protobuf strings are.

The promise checked: every failure is an ``acnet.errors.AcnetError`` with a
one-line message (anything else escapes and atheris reports it), and what is
accepted is in range.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["acnet", "zipfile", "json"]):
    from acnet.errors import AcnetError
    from acnet.export.aoti import read_package_info
    from acnet.runtime.metadata import ModelInfo
    from acnet.runtime.sidecar import read_sidecar

WORK = tempfile.mkdtemp(prefix="acnet-fuzz-python-", dir=os.environ.get("TMPDIR") or None)
atexit.register(shutil.rmtree, WORK, True)
ENGINE = os.path.join(WORK, "model.engine")
PACKAGE = os.path.join(WORK, "model.pt2")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _check(info: ModelInfo) -> None:
    assert 1 <= info.num_classes <= 255 and len(info.class_names) == info.num_classes, info
    assert 0 <= info.class_id_offset and info.class_id_offset + info.num_classes - 1 <= 255, info
    assert 1 <= info.input_height <= 16384 and 1 <= info.input_width <= 16384 and info.batch >= 0, info
    assert not any("\0" in n for n in info.class_names), info


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind, body = data[0] % 3, data[1:]
    try:
        if kind == 0:
            size = int.from_bytes(body[:2], "big")
            _write(ENGINE, bytes(size))
            _write(ENGINE + ".json", body[2:])
            sidecar = read_sidecar(ENGINE)
            _check(sidecar.info)
            assert 0 <= sidecar.engine_size <= 2**53 - 1
        elif kind == 1:
            _write(PACKAGE, body)
            _check(read_package_info(PACKAGE))
        else:
            parts = body.decode("utf-8", "replace").split("\0")
            _check(ModelInfo.from_props(dict(zip(parts[0::2], parts[1::2]))))
    except AcnetError as exc:
        message = str(exc)
        if not message or "\n" in message:
            raise AssertionError(f"not a one-line message: {message!r}") from None


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
