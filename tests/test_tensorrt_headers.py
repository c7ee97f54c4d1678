"""The C library's TensorRT backend compiles against NVIDIA's real TensorRT 10.16 and 11.1 headers.

``g++ -fsyntax-only`` of every C++ source that includes a TensorRT header,
with TensorRT and CUDA as system headers (their own deprecation warnings are
theirs) and ``-Wall -Wextra -Werror`` for acnet's code, so a call that one
release deprecated or removed fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import acnet

pytestmark = pytest.mark.tensorrt_api

C_ROOT = Path(acnet.__file__).parent / "runtime" / "c"
HEADERS = Path(__file__).resolve().parents[1].parent / "shared" / "third_party" / "tensorrt"
CUDA_INCLUDE = next((Path(p) for p in (os.environ.get("CUDA_HOME", "") + "/include", "/usr/local/cuda/include", "/usr/local/cuda-13.0/include")
                     if p != "/include" and (Path(p) / "cuda_runtime_api.h").is_file()), None)


def tensorrt_sources(root: Path = C_ROOT / "src") -> list[Path]:
    """The C++ files under ``root`` (the library's sources) that include a TensorRT header."""
    sources = sorted(root.rglob("*.cpp")) + sorted(root.rglob("*.h"))
    return [p for p in sources if re.search(r'#include\s*[<"]NvInfer', p.read_text())]


def test_the_tensorrt_sources_are_found():
    assert [p.name for p in tensorrt_sources()] == ["tensorrt_backend.cpp"]
    # Outside the library only the fake TensorRT of the tests (built against 10.16, the fuzz build).
    assert sorted(p.name for p in tensorrt_sources(C_ROOT)) == ["fake_tensorrt.cpp", "tensorrt_backend.cpp"]


def _syntax_check(source: Path, include: Path) -> subprocess.CompletedProcess:
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++)")
    return subprocess.run(
        [compiler, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", str(C_ROOT / "include"),
         "-I", str(C_ROOT / "src"), "-isystem", str(include), "-isystem", str(CUDA_INCLUDE), str(source)],
        capture_output=True, text=True, timeout=300,
    )


def test_the_fake_tensorrt_implements_the_real_10_16_interfaces():
    """tests/trt_fake implements TensorRT 10.16's hidden apiv:: classes: every pure virtual, exactly."""
    include = HEADERS / "10.16" / "include"
    if not (include / "NvInferRuntime.h").is_file() or CUDA_INCLUDE is None:
        pytest.skip("the TensorRT 10.16 headers (../shared) or the CUDA headers are not here")
    for name in ("fake_tensorrt.cpp", "fake_cuda.cpp"):
        proc = _syntax_check(C_ROOT / "tests" / "trt_fake" / name, include)
        assert proc.returncode == 0, f"{name}:\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("version", ["10.16", "11.1"])
def test_tensorrt_backend_compiles_against_the_real_headers(version):
    include = HEADERS / version / "include"
    if not (include / "NvInferRuntime.h").is_file():
        pytest.skip(f"the TensorRT {version} headers are not at {include} (../shared is absent)")
    if CUDA_INCLUDE is None:
        pytest.skip("the CUDA toolkit headers (cuda_runtime_api.h) are not under /usr/local/cuda/include")
    header = (include / "NvInferVersion.h").read_text()
    major = re.search(r"#define TRT_MAJOR_ENTERPRISE (\d+)|#define NV_TENSORRT_MAJOR (\d+)", header)
    assert major and int(next(g for g in major.groups() if g)) == int(version.split(".")[0])
    for source in tensorrt_sources():
        proc = _syntax_check(source, include)
        assert proc.returncode == 0, f"{source.name} against TensorRT {version}:\n{proc.stderr[-4000:]}"
