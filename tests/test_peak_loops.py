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


def test_measured_peaks_replace_the_formula_where_a_loop_ran():
    """acnet bench's peaks: a measured loop's figure in place of the formula's (which stays in the text); bf16/fp16
    computed in FP32 follow the measured FP32 peak; a precision without a loop keeps its formula."""
    from acnet.benchmarks.peak import with_measured

    info = cpu_info("model name\t: test CPU\nflags\t\t: fma avx2 avx512f avx512_vnni avx512_bf16\ncpu MHz\t\t: 2000.0\n")
    formula = info.peaks(4.0, 2, cores=2)
    fp32 = {"precision": "fp32", "kernel": "fp32-avx512", "gops": 400.0, "instruction": "vfmadd231ps zmm", "method": "m"}
    measured = {"fp32": fp32, "int8": {"gops": None, "reason": "the int8-avx512vnni loop failed"},
                "bf16": {**fp32, "precision": "bf16", "note": "as if AVX512-BF16 were missing"}}
    out = with_measured(formula, measured)
    assert out["fp32"].gflops == 400.0 and out["fp32"].formula.startswith("measured: vfmadd231ps zmm")
    assert f"{formula['fp32'].gflops:.0f}" in out["fp32"].formula  # the formula's figure, for comparison
    assert out["int8"] == formula["int8"] and out["bf16"] == formula["bf16"]  # no loop of their own ran
    assert out["fp16"].gflops == 400.0 and out["fp16"].precision == "fp16" and "FP32" in out["fp16"].note
