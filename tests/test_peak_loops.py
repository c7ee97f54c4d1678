"""The measured peak of each precision (acnet.benchmarks.peak): the loops build, run where the CPU has them, and
say why not where it lacks them. Never asserts a speed beyond plausibility."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from acnet.benchmarks.environment import cpu_info
from acnet.benchmarks.peak import KERNELS, PeakUnavailable, measure_kernel, measure_peaks, source

pytestmark = [
    pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler here"),
    pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the peak loops are x86-64"),
]

FLAGS = set(cpu_info().flags)


def test_every_loop_compiles_to_its_instruction(tmp_path):
    """Each kernel, whether or not this CPU runs it: the compiler emits its instruction once per chain (the
    unrolled chains stay in registers, so the loop measures the pipes, not the stack)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    mnemonic = {"fp32-avx512": "vfmadd", "fp32-avx2": "vfmadd", "int8-avx512vnni": "vpdpbusd",
                "int8-avxvnni": "vpdpbusd", "bf16-avx512": "vdpbf16ps"}
    for kernel in KERNELS:
        src = tmp_path / f"{kernel.name}.c"
        src.write_text(source(kernel))
        asm = subprocess.run([cc, "-O2", "-pthread", *kernel.cflags, "-S", "-o", "-", str(src)], capture_output=True,
                             text=True)
        assert asm.returncode == 0, (kernel.name, asm.stderr[:500])
        assert len(re.findall(rf"\b{mnemonic[kernel.name]}", asm.stdout)) >= 12, kernel.name


def test_fp32_peak_is_measured_and_the_missing_ones_say_why(tmp_path):
    peaks = measure_peaks(FLAGS, tmp_path, threads=2)
    fp32 = peaks["fp32"]
    assert fp32["kernel"] == ("fp32-avx512" if "avx512f" in FLAGS else "fp32-avx2")
    # 2 cores x 0.5..7 GHz x 1..2 pipes x lanes x 2: anything outside is a broken loop, not a slow machine.
    lanes = 16 if "avx512f" in FLAGS else 8
    assert 2 * 0.5 * lanes * 2 < fp32["gops"] < 2 * 7.0 * 2 * lanes * 2, fp32
    assert len(fp32["per_thread_gops"]) == 2
    vnni = "avx512_vnni" in FLAGS or "avx_vnni" in FLAGS
    assert (peaks["int8"]["gops"] is not None) == vnni
    if not vnni:  # e.g. this project's Zen 3: no int8 dot product, so no int8 peak to quote
        assert "no avx_vnni" in peaks["int8"]["reason"] and "no VNNI" in peaks["int8"]["note"]
    if "avx512_bf16" in FLAGS:
        assert peaks["bf16"]["kernel"] == "bf16-avx512" and peaks["bf16"]["gops"] > fp32["gops"]
    else:
        assert peaks["bf16"]["gops"] == fp32["gops"] and "computed in FP32" in peaks["bf16"]["note"]


def test_a_loop_the_cpu_lacks_is_never_run(tmp_path):
    bf16 = next(k for k in KERNELS if k.name == "bf16-avx512")
    with pytest.raises(PeakUnavailable, match="this CPU has no avx512f, avx512_bf16"):
        measure_kernel(bf16, {"avx2", "fma"}, tmp_path)
    assert not list(tmp_path.iterdir())  # not even built
