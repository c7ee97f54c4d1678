"""The CPU's peak per precision, measured: loops of the instructions each precision's kernels are built from.

``% of peak`` compares a network's operations per second with what the core
can do in that precision. The formula (cores x clock x pipes x lanes) needs
the clock and the pipe count, which the OS does not tell; here the peak is
measured instead, with the instruction the runtime's kernels use:

- fp32: ``vfmadd`` (AVX-512 ``_mm512_fmadd_ps``, else AVX2 ``_mm256_fmadd_ps``):
  2 FLOPs per lane;
- int8: VNNI ``vpdpbusd`` (AVX512-VNNI ``_mm512_dpbusd_epi32``, else
  AVX-VNNI ``_mm256_dpbusd_avx_epi32``): 4 u8 x s8 multiply-adds per 32-bit
  lane, 8 ops; a CPU without VNNI has no single int8 instruction to measure
  (oneDNN combines ``vpmaddubsw``/``vpmaddwd``/``vpaddd`` there), so none is quoted;
- bf16: AVX512-BF16 ``vdpbf16ps`` (``_mm512_dpbf16_ps``): 2 bf16 multiply-adds
  per lane, 4 FLOPs; without it bf16 runs in FP32 and the FP32 peak applies.

Each thread (one per usable core, all at once) runs 12 independent
accumulator chains, enough to cover the instruction's latency on every pipe,
in trials of a few microseconds, far shorter than a scheduler time slice,
and keeps its fastest trial, so other work on a shared machine interrupts some
trials but not the result; the peak is the sum over threads. AMX tiles
(``amx_int8``, ``amx_bf16``) are not measured: oneDNN uses them where present,
and they are far faster than these vector peaks (a row's share is then an
upper bound).

Python cannot issue these instructions, so a small C program per kernel is
built with the system's C compiler on first use and cached by its source hash
(as :mod:`acnet.benchmarks.clock` does); a kernel the CPU lacks is never run.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from acnet.benchmarks.clock import compiled_program

#: Independent accumulator chains per thread.
CHAINS = 12


@dataclass(frozen=True)
class Kernel:
    """One peak loop: the precision it bounds, the CPU flags it needs, its compiler flags, its code."""

    name: str
    precision: str
    #: /proc/cpuinfo flags that must all be present.
    flags: tuple[str, ...]
    cflags: tuple[str, ...]
    #: Operations per instruction (2 x multiply-adds).
    ops: int
    declare: str
    step: str
    reduce: str
    instruction: str


KERNELS = (
    Kernel("fp32-avx512", "fp32", ("avx512f",), ("-mavx512f", "-mfma"), 16 * 2,
           "__m512 acc[CHAINS]; __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);"
           " for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);",
           "acc[i] = _mm512_fmadd_ps(acc[i], b, c);", "sink += _mm512_reduce_add_ps(acc[i]);",
           "vfmadd231ps zmm (AVX-512 FMA): 16 lanes x 2 FLOPs"),
    Kernel("fp32-avx2", "fp32", ("avx2", "fma"), ("-mavx2", "-mfma"), 8 * 2,
           "__m256 acc[CHAINS]; __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);"
           " for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);",
           "acc[i] = _mm256_fmadd_ps(acc[i], b, c);",
           "{ float t[8]; _mm256_storeu_ps(t, acc[i]); for (int k = 0; k < 8; k++) sink += t[k]; }",
           "vfmadd231ps ymm (AVX2 FMA): 8 lanes x 2 FLOPs"),
    Kernel("int8-avx512vnni", "int8", ("avx512f", "avx512_vnni"), ("-mavx512f", "-mavx512vnni"), 16 * 4 * 2,
           "__m512i acc[CHAINS]; __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);"
           " for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_epi32(i);",
           "acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);", "sink += (float)_mm512_reduce_add_epi32(acc[i]);",
           "vpdpbusd zmm (AVX512-VNNI): 16 lanes x 4 u8*s8 multiply-adds x 2 ops"),
    Kernel("int8-avxvnni", "int8", ("avx_vnni",), ("-mavx2", "-mavxvnni"), 8 * 4 * 2,
           "__m256i acc[CHAINS]; __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);"
           " for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_epi32(i);",
           "acc[i] = _mm256_dpbusd_avx_epi32(acc[i], a, b);",
           "{ int t[8]; _mm256_storeu_si256((__m256i *)t, acc[i]); for (int k = 0; k < 8; k++) sink += (float)t[k]; }",
           "vpdpbusd ymm (AVX-VNNI): 8 lanes x 4 u8*s8 multiply-adds x 2 ops"),
    Kernel("bf16-avx512", "bf16", ("avx512f", "avx512_bf16"), ("-mavx512f", "-mavx512bf16"), 16 * 2 * 2,
           "__m512 acc[CHAINS]; __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);"
           " for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);",
           "acc[i] = _mm512_dpbf16_ps(acc[i], a, b);", "sink += _mm512_reduce_add_ps(acc[i]);",
           "vdpbf16ps zmm (AVX512-BF16): 16 lanes x 2 bf16 multiply-adds x 2 FLOPs"),
)

_SOURCE = r"""
/* acnet: the peak of one instruction, CHAINS independent chains per thread, fastest trial per thread. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define CHAINS @CHAINS@
static long iters, trials;
static double best[1024];
static volatile float sinks[1024];
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static void *work(void *arg) {
  long id = (long)arg;
  float sink = 0;
  @DECLARE@
  for (long t = 0; t < trials; t++) {
    double t0 = now();
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 64
      for (int i = 0; i < CHAINS; i++) { @STEP@ }  /* unrolled: the chains stay in registers */
    }
    double rate = (double)iters * CHAINS / (now() - t0);
    if (rate > best[id]) best[id] = rate;
  }
  for (int i = 0; i < CHAINS; i++) { @REDUCE@ }
  sinks[id] = sink;
  return 0;
}
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  long threads = atol(argv[1]); trials = atol(argv[2]); iters = atol(argv[3]);
  if (threads < 1 || threads > 1024 || trials < 1 || iters < 1) return 2;
  pthread_t tid[1024];
  for (long i = 0; i < threads; i++) pthread_create(&tid[i], 0, work, (void *)i);
  for (long i = 0; i < threads; i++) pthread_join(tid[i], 0);
  for (long i = 0; i < threads; i++) printf("%.6e\n", best[i]);  /* instructions per second */
  return 0;
}
"""


class PeakUnavailable(RuntimeError):
    """A peak cannot be measured here; the message says why."""


@dataclass(frozen=True)
class MeasuredPeak:
    """A measured peak: giga-operations per second over all threads, and how."""

    precision: str
    kernel: str
    gops: float
    per_thread_gops: tuple[float, ...]
    instruction: str
    trials: int

    def to_dict(self) -> dict:
        return {"precision": self.precision, "kernel": self.kernel, "gops": self.gops,
                "per_thread_gops": list(self.per_thread_gops), "instruction": self.instruction, "trials": self.trials,
                "method": f"{CHAINS} independent chains per thread, one thread per usable core at once, fastest trial "
                          f"per thread, summed over threads"}


def source(kernel: Kernel) -> str:
    return (_SOURCE.replace("@CHAINS@", str(CHAINS)).replace("@DECLARE@", kernel.declare)
            .replace("@STEP@", kernel.step).replace("@REDUCE@", kernel.reduce))


def kernel_program(kernel: Kernel, cache_dir: Path) -> Path:
    """The compiled loop of ``kernel``, built once per source into ``cache_dir``."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise PeakUnavailable(f"no peak loops for {platform.machine()} (x86-64 only)")
    return compiled_program(source(kernel), f"acnet-peak-{kernel.name}", cache_dir, kernel.cflags,
                            what=f"the {kernel.name} loop", error=PeakUnavailable)


def measure_kernel(kernel: Kernel, cpu_flags, cache_dir: Path, threads: int | None = None, trials: int = 400,
                   iters: int = 2000) -> MeasuredPeak:
    """Run ``kernel`` on every usable core at once; PeakUnavailable when this CPU lacks its instructions."""
    missing = [f for f in kernel.flags if f not in set(cpu_flags)]
    if missing:
        raise PeakUnavailable(f"this CPU has no {', '.join(missing)}")
    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            threads = os.cpu_count() or 1
    exe = kernel_program(kernel, cache_dir)
    try:
        out = subprocess.run([str(exe), str(threads), str(trials), str(iters)], check=True, capture_output=True,
                             text=True, timeout=300).stdout
        rates = tuple(float(v) for v in out.split())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise PeakUnavailable(f"the {kernel.name} loop failed: {exc}") from None
    if len(rates) != threads or not all(r > 0 for r in rates):
        raise PeakUnavailable(f"the {kernel.name} loop printed nonsense: {out.strip()!r}")
    per_thread = tuple(round(r * kernel.ops / 1e9, 2) for r in rates)
    return MeasuredPeak(kernel.precision, kernel.name, round(sum(per_thread), 1), per_thread, kernel.instruction, trials)


def measure_peaks(cpu_flags, cache_dir: Path, threads: int | None = None) -> dict:
    """``{precision: MeasuredPeak.to_dict() or {"gops": None, "reason": ...}}`` for fp32, int8 and bf16.

    For each precision the widest kernel the CPU has is measured. bf16 without
    AVX512-BF16 is computed in FP32: its peak is the FP32 one, said so.
    """
    out: dict = {}
    for precision in ("fp32", "int8", "bf16"):
        reasons = []
        for kernel in (k for k in KERNELS if k.precision == precision):
            try:
                out[precision] = measure_kernel(kernel, cpu_flags, cache_dir, threads).to_dict()
                break
            except PeakUnavailable as exc:
                reasons.append(f"{kernel.name}: {exc}")
        else:
            out[precision] = {"gops": None, "reason": "; ".join(reasons)}
    if out["bf16"]["gops"] is None and out["fp32"]["gops"] is not None:
        out["bf16"] = {**out["fp32"], "precision": "bf16",
                       "note": f"no AVX512-BF16 ({out['bf16']['reason']}): bf16 is computed in FP32, FP32 peak"}
    if out["int8"]["gops"] is None:
        out["int8"]["note"] = ("no VNNI: int8 is computed with vpmaddubsw/vpmaddwd/vpaddd chains, "
                               "no single instruction's peak to quote")
    return out


def with_measured(peaks: dict, measured: dict) -> dict:
    """The formula's peaks (``environment.CpuInfo.peaks``: ``{precision: PeakEstimate or None}``) with each one
    this CPU's loops measured put in its place; precisions computed in FP32 (no bf16 or fp16 arithmetic) follow
    the measured FP32 peak. The formula's figure stays in the text, for comparison."""
    out = dict(peaks)
    for precision, m in measured.items():
        base = peaks.get(precision)
        if base is None or not m.get("gops") or m.get("precision", precision) != m["kernel"].split("-")[0]:
            continue  # not measured here, or (bf16 without AVX512-BF16) the FP32 loop under another name
        formula = (f"measured: {m['instruction']}, {m['method']} = {m['gops']:.0f} {base.unit} "
                   f"(the formula: {base.formula})")
        out[precision] = dataclasses.replace(base, gflops=m["gops"], formula=formula)
    fp32 = peaks.get("fp32")
    for precision, base in peaks.items():
        if precision != "fp32" and base is not None and fp32 is not None and out[precision] is base \
                and base.gflops == fp32.gflops:  # computed in FP32 at its rate
            out[precision] = out["fp32"].relabel(precision, base.note)
    return out


__all__ = ["KERNELS", "MeasuredPeak", "PeakUnavailable", "measure_peaks", "with_measured"]
