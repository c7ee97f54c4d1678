"""The C library's check of a CPU package's vector ISA (AOTI_CPU_ISA), amx_tile included.

Inductor writes e.g. "AVX512 AVX512_VNNI AMX_TILE" for a package compiled on
an AMX machine (torch/_inductor/cpu_vec_isa.py, VecAMX); such a package dies
with SIGILL on a CPU without AMX, so the loader must refuse it. The check is
compiled here on its own (acnet/runtime/c/src/cpu_isa.h), with a CPU that
lacks a feature, and with this CPU compared to /proc/cpuinfo.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import acnet

SRC = Path(acnet.__file__).parent / "runtime" / "c" / "src"

HARNESS = r"""
#include <cstdio>
#include <set>
#include <string>
#include "cpu_isa.h"

int main(int argc, char** argv) {
  std::set<std::string> has;
  for (int i = 2; i < argc; ++i) has.insert(argv[i]);
  auto fake = [&](const std::string& t) { return has.count(t) > 0; };
  std::string isa = argv[1];
  std::printf("fake:%s\n", acnet::missing_cpu_feature(isa, fake).c_str());
  std::printf("here:%s\n", acnet::missing_cpu_feature(isa, acnet::this_cpu_supports).c_str());
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++)")
    root = tmp_path_factory.mktemp("cpu-isa")
    (root / "main.cpp").write_text(HARNESS)
    subprocess.run([compiler, "-std=c++17", "-O1", "-Wall", "-Werror", "-I", str(SRC), str(root / "main.cpp"), "-o", str(root / "check")], check=True)

    def run(isa: str, *features: str) -> tuple[str, str]:
        out = subprocess.run([str(root / "check"), isa, *features], capture_output=True, text=True, check=True).stdout.splitlines()
        return out[0].split(":", 1)[1], out[1].split(":", 1)[1]

    return run


def test_amx_package_is_refused_on_a_cpu_without_amx(harness):
    isa = "AVX512 AVX512_VNNI AMX_TILE"  # what inductor writes on a Sapphire Rapids machine
    assert harness(isa, "avx512", "avx512_vnni")[0] == "amx_tile"
    assert harness(isa, "avx512", "avx512_vnni", "amx_tile")[0] == ""
    assert harness("AVX512 AVX512_VNNI", "avx2")[0] == "avx512"
    assert harness("AVX2", "avx2")[0] == ""
    assert harness("INVALID_VEC_ISA")[0] == ""  # scalar code runs anywhere
    assert harness("AVX10_2", "avx2", "avx512")[0] == "avx10_2"  # unknown to this library: not run on faith


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86 feature tokens need an x86 CPU")
def test_this_cpu_is_judged_as_proc_cpuinfo_says(harness):
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    expected = {
        "avx2": {"avx2", "fma"} <= flags,
        "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "amx_tile": "amx_tile" in flags,  # the kernel lists it only when it enables the tile state
    }
    for token, present in expected.items():
        assert (harness(token.upper())[1] == "") == present, token
