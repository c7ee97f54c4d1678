"""The CPU's real clock, measured: a chain of dependent register adds, one per cycle.

The FP32 (and INT8) peak is cores x clock x pipes x lanes; the clock that
``/proc/cpuinfo`` shows is often not the one the cores run at (in a VM it is
the nominal or TSC clock, below the boost clock). A register-to-register add
has a latency of exactly one cycle on x86-64 and arm64 cores, so a chain of N
dependent adds takes N cycles, and N / seconds is the clock. The add must not
take an immediate: Intel's Golden Cove cores fold ``add $1`` / ``inc`` chains
in the renamer (such a chain read 13.8 "GHz" on a 2.6 GHz Xeon, where this
chain and a dependent ``imul`` chain, 3 cycles each, both read 2.60 GHz).

Python cannot run such a chain fast enough, so a 40-line C program is
compiled with the system's C compiler on first use and cached by its source
hash. One thread per usable core runs the chain at the same time (the
all-core clock is what a multi-threaded network gets). Each trial is about
30 microseconds, far shorter than a scheduler time slice, and each thread
keeps its fastest trial, so other work on a shared machine interrupts some
trials but not the result; the result is the median over threads. Without
a compiler, or on another architecture, nothing is measured and the caller
says so.

The chain keeps the integer units busy, not the vector units; CPUs that clock
down under heavy AVX-512 load run slower than this while a network runs, so
the peak computed from this clock is an upper bound there, and the share of
peak a lower bound.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from acnet.errors import first_line

log = logging.getLogger(__name__)

#: Dependent adds per loop iteration (the loop's own counter runs beside the chain).
CHAIN = 16

_SOURCE = r"""
/* acnet: measure the clock with a chain of dependent register adds (one cycle each). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__)
#define ADD1 "add %[y], %[x]\n\t"
#elif defined(__aarch64__)
#define ADD1 "add %[x], %[x], %[y]\n\t"
#else
#error "unsupported architecture"
#endif
#define ADD4 ADD1 ADD1 ADD1 ADD1
#define ADD16 ADD4 ADD4 ADD4 ADD4

static long iters, trials, step;
static double best[1024];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void *chain(void *arg) {
  long id = (long)arg, x = id, y = step;
  for (long t = 0; t < trials; t++) {
    double t0 = now();
    for (long i = 0; i < iters; i++) __asm__ volatile(ADD16 : [x] "+r"(x) : [y] "r"(y));
    double ghz = 16.0 * iters / (now() - t0) / 1e9;
    if (ghz > best[id]) best[id] = ghz;
  }
  return (void *)x;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  long threads = atol(argv[1]);
  trials = atol(argv[2]);
  iters = atol(argv[3]);
  step = argc;
  if (threads < 1 || threads > 1024 || trials < 1 || iters < 1) return 2;
  pthread_t tid[1024];
  for (long i = 0; i < threads; i++) pthread_create(&tid[i], 0, chain, (void *)i);
  for (long i = 0; i < threads; i++) pthread_join(tid[i], 0);
  for (long i = 0; i < threads; i++) printf("%.4f\n", best[i]);
  return 0;
}
"""

_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class ClockUnavailable(RuntimeError):
    """The clock cannot be measured here (no C compiler, another architecture); the message says why."""


@dataclass(frozen=True)
class ClockMeasurement:
    """The all-core clock measured by the dependent-add chain."""

    ghz: float
    #: Fastest trial of each thread, GHz.
    per_thread_ghz: tuple[float, ...]
    trials: int
    method: str = f"{CHAIN} dependent register adds per iteration (1 cycle each), one thread per usable core, " \
                  "fastest of the trials per thread, median over threads"

    def to_dict(self) -> dict:
        return {"ghz": self.ghz, "per_thread_ghz": list(self.per_thread_ghz), "trials": self.trials,
                "method": self.method}


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def compiled_program(text: str, name: str, cache_dir: Path, cflags: tuple[str, ...] = (), what: str = "it",
                     error: type[Exception] = RuntimeError) -> Path:
    """``text`` (C) compiled with ``cflags`` into ``cache_dir`` once per source and flags, as ``name``-DIGEST.

    ``error`` (with ``what`` the program is) is raised when there is no compiler or it fails.
    """
    digest = hashlib.sha256((text + " ".join(cflags)).encode()).hexdigest()[:16]
    exe = Path(cache_dir) / f"{name}-{digest}"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    cc = _compiler()
    if cc is None:
        raise error(f"no C compiler (cc, gcc or clang) to build {what}")
    exe.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=exe.parent) as tmp:
        src, out = Path(tmp) / "program.c", Path(tmp) / "program"
        src.write_text(text)
        try:
            subprocess.run([cc, "-O2", "-pthread", *cflags, str(src), "-o", str(out)], check=True, capture_output=True,
                           text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise error(f"{cc} could not build {what}: {first_line(detail, str(exc))}") from None
        out.chmod(0o755)
        os.replace(out, exe)  # atomic: a concurrent run sees the old file or the whole new one
    return exe


def clock_program(cache_dir: Path) -> Path:
    """The compiled measuring program, built once per source and machine type into ``cache_dir``."""
    arch = _ARCHES.get(platform.machine().lower())
    if arch is None:
        raise ClockUnavailable(f"no clock measurement for {platform.machine()} (x86-64 and arm64 only)")
    return compiled_program(_SOURCE, f"acnet-cpu-clock-{arch}", cache_dir,
                            what="the clock measurement", error=ClockUnavailable)


def measure_clock(cache_dir: Path, threads: int | None = None, trials: int = 3000,
                  iters: int = 1 << 13) -> ClockMeasurement:
    """Measure the all-core clock (``threads``: default one per usable CPU); about 0.2 s on an idle CPU.

    Raises :class:`ClockUnavailable` when it cannot be measured here.
    """
    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            threads = os.cpu_count() or 1
    exe = clock_program(cache_dir)
    try:
        out = subprocess.run([str(exe), str(threads), str(trials), str(iters)], check=True, capture_output=True,
                             text=True, timeout=120).stdout
        per_thread = tuple(sorted(float(v) for v in out.split()))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ClockUnavailable(f"the clock measurement failed: {exc}") from None
    if len(per_thread) != threads or not all(0.0 < v < 100.0 for v in per_thread):
        raise ClockUnavailable(f"the clock measurement printed nonsense: {out.strip()!r}")
    mid = len(per_thread) // 2
    median = per_thread[mid] if len(per_thread) % 2 else (per_thread[mid - 1] + per_thread[mid]) / 2
    return ClockMeasurement(round(median, 4), per_thread, trials)  # per_thread is rounded alike


__all__ = ["ClockMeasurement", "ClockUnavailable", "measure_clock"]
