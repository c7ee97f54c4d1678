"""Build and run acnet's fuzzers: the libFuzzer harnesses beside this file and the atheris one.

    python acnet/runtime/c/tests/fuzz/fuzz.py build BUILD_DIR
    python acnet/runtime/c/tests/fuzz/fuzz.py run BUILD_DIR TARGET --seconds N [--corpus DIR]
    python acnet/runtime/c/tests/fuzz/fuzz.py all BUILD_DIR --seconds N [--corpus DIR]

TARGET is fuzz_readers, fuzz_capi, fuzz_segment (libFuzzer, in BUILD_DIR) or
python (fuzz_python.py, atheris). Each starts from the committed seeds
(corpus/TARGET, made from real exports by make_seeds.py), the regression
inputs (regressions/TARGET) and the shared metadata cases
(tests/metadata_cases.json, which hold issue 27's), adds what it finds to
--corpus (a temporary folder by default), and ends with one line:
"TARGET: N inputs in S s, no findings" (exit 0) or the finding (exit 1,
the crashing input kept in the corpus folder). tests/test_fuzz.py runs each
for a few seconds; README.md beside this file has the longer runs.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
C_SOURCE = HERE.parent.parent
#: The real TensorRT 10 headers fuzz_capi is built against (the project's shared folder, if there).
DEFAULT_TENSORRT_HEADERS = C_SOURCE.parents[2].parent / "shared" / "third_party" / "tensorrt" / "10.16" / "include"
LIBFUZZER_TARGETS = ("fuzz_readers", "fuzz_capi", "fuzz_segment")
TARGETS = (*LIBFUZZER_TARGETS, "python")
#: ASan/UBSan settings of every run: report, then abort so libFuzzer keeps the input.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def clang() -> tuple[str, str] | None:
    """(clang, clang++) with libFuzzer: the unversioned ones, else the newest clang-NN."""
    if shutil.which("clang") and shutil.which("clang++"):
        return "clang", "clang++"
    versions = sorted((int(m.group(1)) for p in glob.glob("/usr/bin/clang++-*")
                       if (m := re.search(r"clang\+\+-(\d+)$", p))), reverse=True)
    for v in versions:
        if shutil.which(f"clang-{v}"):
            return f"clang-{v}", f"clang++-{v}"
    return None


def build(build_dir: Path, tensorrt_headers: Path | None = None, jobs: int = 2) -> Path:
    """Configure and build the fuzzers with Clang; returns the folder holding them."""
    compilers = clang()
    if compilers is None:
        raise SystemExit("fuzz.py: no clang/clang++ found (Debian: apt-get install clang libclang-rt-dev)")
    headers = tensorrt_headers or Path(os.environ.get("ACNET_TENSORRT_HEADERS", DEFAULT_TENSORRT_HEADERS))
    configure = ["cmake", "-S", str(C_SOURCE), "-B", str(build_dir), "-DACNET_FUZZ=ON",
                 f"-DCMAKE_C_COMPILER={compilers[0]}", f"-DCMAKE_CXX_COMPILER={compilers[1]}",
                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DACNET_TENSORRT_HEADERS={headers}"]
    for command in (configure, ["cmake", "--build", str(build_dir), "--parallel", str(jobs)]):
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"fuzz.py: {' '.join(command)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return build_dir / "tests" / "fuzz"


def seed_dirs(target: str, scratch: Path) -> list[Path]:
    """The committed seeds and regression inputs of ``target``, and the shared metadata cases written
    as its inputs into ``scratch``."""
    dirs = [d for d in (HERE / "corpus" / target, HERE / "regressions" / target) if d.is_dir()]
    sys.path.insert(0, str(HERE))
    import case_table

    if case_table.TABLE.is_file():
        cases = case_table.fuzz_inputs(case_table.load()).get(target, [])
        if cases:
            scratch.mkdir(parents=True, exist_ok=True)
            for name, data in cases:
                (scratch / name).write_bytes(data)
            dirs.append(scratch)
    return dirs


def scratch_dir() -> str:
    """Where the harnesses write their per-input files: memory when there is a tmpfs."""
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def run(binaries: Path | None, target: str, seconds: int, corpus: Path | None = None) -> tuple[int, str]:
    """Fuzz ``target`` for ``seconds`` (0: run the seeds once); (exit status, the one-line summary or the finding)."""
    corpus = corpus or Path(tempfile.mkdtemp(prefix=f"acnet-{target}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    # No single allocation above 128 MB: the fake GPU holds 64 MB, and a reader must not allocate
    # what a header promises before the bytes arrive (issue 27's 24-byte PPM asking for 1.6 GB).
    common = [f"-max_total_time={seconds}" if seconds > 0 else "-runs=0", "-timeout=20", "-rss_limit_mb=3072", "-print_final_stats=1",
              *([] if target == "python" else ["-malloc_limit_mb=128"]),
              f"-artifact_prefix={corpus}/", "-close_fd_mask=3" if target == "fuzz_segment" else "-close_fd_mask=0"]
    binary = Path(binaries or "") / target
    if target != "python" and not binary.is_file():
        return 2, f"{target}: not built ({binary} missing)"
    # The harnesses' files and the cases live in one folder, gone after the run.
    with tempfile.TemporaryDirectory(prefix=f"acnet-{target}-", dir=scratch_dir()) as scratch:
        seeds = [str(d) for d in seed_dirs(target, Path(scratch) / "cases")]
        env = {**os.environ, **SANITIZER_ENV, "TMPDIR": scratch}
        program = [sys.executable, str(HERE / "fuzz_python.py")] if target == "python" else [str(binary)]
        start = time.perf_counter()
        proc = subprocess.run([*program, *common, str(corpus), *seeds], capture_output=True, text=True,
                              errors="replace", env=env)
        elapsed = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log) or re.findall(r"Done (\d+) runs", log)
    executed = int(runs[-1]) if runs else 0
    if proc.returncode != 0:
        found = [line for line in log.splitlines() if "ERROR:" in line or "runtime error" in line or "==ERROR" in line]
        return 1, f"{target}: FINDING after {executed} inputs in {elapsed:.0f} s: " + \
            (found[0] if found else log.strip().splitlines()[-1] if log.strip() else f"exit {proc.returncode}") + \
            f"\n{log[-6000:]}"
    return 0, f"{target}: {executed} inputs in {elapsed:.0f} s, no findings"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("build_dir", type=Path)
    b.add_argument("--tensorrt-headers", type=Path)
    for name in ("run", "all"):
        r = sub.add_parser(name)
        r.add_argument("build_dir", type=Path)
        if name == "run":
            r.add_argument("target", choices=TARGETS)
        r.add_argument("--seconds", type=int, default=60)
        r.add_argument("--corpus", type=Path, help="keep what the fuzzers find here (a folder per target)")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(args.build_dir, args.tensorrt_headers))
        return 0
    binaries = args.build_dir / "tests" / "fuzz"
    status = 0
    for target in ([args.target] if args.command == "run" else TARGETS):
        code, line = run(binaries, target, args.seconds, args.corpus / target if args.corpus else None)
        print(line, flush=True)
        status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main())
