"""``acnet capi``: build the C library (libacnet.so, acnet.h) and find what it built.

The build is exactly the documented CMake commands::

    cmake -S <acnet>/runtime/c -B build -DACNET_PYTHON=<this python>
    cmake --build build --parallel

CMake asks ``ACNET_PYTHON`` for ``torch.utils.cmake_prefix_path`` to find the
torch headers and libraries, so this module never imports torch itself (the
runtime stays torch-free).

CMake's and the compiler's output is captured, so a failed build is one
``acnet: error:`` line (the first error message, and where the whole log is),
not pages of CMake above it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping

import click

from acnet._io import atomic_write_text, check_writable
from acnet.errors import BackendUnavailableError, ConfigError, OutputError

log = logging.getLogger(__name__)

#: The CMake project: CMakeLists.txt, include/acnet.h, src/, examples/, tests/.
SOURCE_DIR = Path(__file__).resolve().parent / "c"
#: Where ``acnet capi build`` builds by default (relative to the working directory).
DEFAULT_BUILD_DIR = Path("build")
LIBRARY_NAME = "libacnet.so"
#: Where a failed build's whole output is written, in the build folder.
BUILD_LOG = "acnet-build.log"
BACKEND_CHOICES = ("auto", "on", "off")


def include_dir() -> Path:
    """The folder holding ``acnet.h``."""
    return SOURCE_DIR / "include"


def cmake_commands(
    build_dir: str | os.PathLike = DEFAULT_BUILD_DIR,
    *,
    build_type: str = "Release",
    tests: bool = False,
    aoti: str = "auto",
    tensorrt: str = "auto",
    jobs: int | None = None,
    python: str | None = None,
) -> list[list[str]]:
    """The configure and build commands :func:`build` runs."""
    for name, value in (("aoti", aoti), ("tensorrt", tensorrt)):
        if value not in BACKEND_CHOICES:
            raise ConfigError(f"{name} must be one of {', '.join(BACKEND_CHOICES)}, got {value!r}")
    build_dir = str(build_dir)
    configure = [
        "cmake",
        "-S",
        str(SOURCE_DIR),
        "-B",
        build_dir,
        f"-DACNET_PYTHON={python or sys.executable}",
        f"-DCMAKE_BUILD_TYPE={build_type}",
        f"-DACNET_AOTI={aoti.upper()}",
        f"-DACNET_TENSORRT={tensorrt.upper()}",
        f"-DACNET_BUILD_TESTS={'ON' if tests else 'OFF'}",
    ]
    compile_ = ["cmake", "--build", build_dir, "--parallel", str(jobs or os.cpu_count() or 1)]
    return [configure, compile_]


def build(build_dir: str | os.PathLike = DEFAULT_BUILD_DIR, *, echo=None, **options) -> Path:
    """Configure and build the C library; return the path of ``libacnet.so``.

    ``options`` are those of :func:`cmake_commands`. ``echo`` (e.g.
    ``click.echo``) is given each command line before it runs and its output
    once it succeeded, or line by line as it runs at log level INFO (``-v``).
    A failure raises with the first error message; its whole output is in
    ``BUILD_LOG`` in the build folder (a temporary file where that cannot be
    written). The folder is made first, so an unusable one is named as such.
    """
    if not sys.platform.startswith("linux"):
        raise BackendUnavailableError(f"the acnet C library builds on Linux only, not {sys.platform}")
    if shutil.which("cmake") is None:
        raise BackendUnavailableError("cmake was not found on PATH; install CMake >= 3.18 (e.g. `pip install cmake`)")
    commands = cmake_commands(build_dir, **options)
    check_writable(Path(build_dir) / BUILD_LOG)  # makes the folder, or says in one line why it cannot be
    live = echo is not None and log.isEnabledFor(logging.INFO)
    output: list[str] = []
    for step, command in zip(("configure", "build"), commands):
        line = "$ " + shlex.join(command)
        output.append(line + "\n")
        if echo is not None:
            echo(line)
        start = len(output)
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace") as proc:
            for text in proc.stdout:
                output.append(text)
                if live:
                    echo(text.rstrip("\n"))
        if proc.returncode != 0:
            where = _write_log(Path(build_dir) / BUILD_LOG, "".join(output))
            raise BackendUnavailableError(f"cmake could not {step} the C library (exit {proc.returncode}): "
                                          f"{first_error(output[start:]).rstrip('.')}; {where}")
        if echo is not None and not live and len(output) > start:
            echo("".join(output[start:]).rstrip("\n"))
    (Path(build_dir) / BUILD_LOG).unlink(missing_ok=True)  # an earlier failure's log no longer applies
    return library_path(build_dir)


def first_error(lines: list[str]) -> str:
    """The first error in CMake's or the compiler's output, as one line.

    ``CMake Error: WHAT`` goes on up to a blank line; ``CMake Error at
    FILE:LINE (command):`` is followed by its message, indented and wrapped
    (the location is left out: it is acnet's CMakeLists.txt, not the cause).
    """
    lines = [line.rstrip("\n") for line in lines]
    for i, line in enumerate(lines):
        if not line.startswith("CMake Error"):
            continue
        if line.startswith("CMake Error:"):
            parts = [line[len("CMake Error:"):]]
            for more in lines[i + 1:]:
                if not more.strip() or more.startswith(("--", "CMake ")):
                    break
                parts.append(more)
        else:
            parts = []
            for more in lines[i + 1:]:
                if more.strip() and not more.startswith(" "):
                    break
                parts.append(more)
        return " ".join(part.strip() for part in parts if part.strip()) or line.strip()
    for line in lines:
        if re.search(r"\b(error|undefined reference|cannot find)\b", line, re.IGNORECASE):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


def _write_log(path: Path, text: str) -> str:
    """Write a failed build's output to ``path`` (else a temporary file); "full log: WHERE" for the error line."""
    try:
        atomic_write_text(path, text)
    except OutputError:
        try:
            fd, name = tempfile.mkstemp(prefix="acnet-build-", suffix=".log")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            path = Path(name)
        except OSError as exc:
            return f"its log could not be written ({exc.strerror or exc})"
    return f"full log: {path}"


def library_path(build_dir: str | os.PathLike = DEFAULT_BUILD_DIR) -> Path:
    """``libacnet.so`` in a build folder; ConfigError naming the fix when it is not there."""
    path = Path(build_dir) / LIBRARY_NAME
    if not path.is_file():
        raise ConfigError(f"{path} not found; build the C library first with `acnet capi build --build-dir {build_dir}`")
    return path


def example_path(build_dir: str | os.PathLike = DEFAULT_BUILD_DIR) -> Path:
    """The ``segment`` example program in a build folder."""
    path = Path(build_dir) / "segment"
    if not path.is_file():
        raise ConfigError(f"{path} not found; build the C library first with `acnet capi build --build-dir {build_dir}`")
    return path


def without_torch_lib(library_path: str | None) -> str | None:
    """``LD_LIBRARY_PATH`` less its folders inside a torch installation (``.../torch/lib``); None if nothing is left.

    A program linked against libacnet finds libtorch through the library's
    rpath; running it with torch's own folder off the search path proves
    that. Every other entry stays: on GPU machines the driver's libcuda is
    often found only through it (``/usr/local/nvidia/lib64`` in containers),
    and without it the program sees no GPU. Empty entries, which the loader
    reads as the current folder, are dropped.
    """
    kept = []
    for entry in (library_path or "").split(os.pathsep):
        parts = Path(os.path.normpath(entry)).parts if entry else ()
        if parts and not any(parts[i : i + 2] == ("torch", "lib") for i in range(len(parts) - 1)):
            kept.append(entry)
    return os.pathsep.join(kept) or None


def rpath_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` whose ``LD_LIBRARY_PATH`` leaves libtorch to the rpath (:func:`without_torch_lib`)."""
    env = {k: v for k, v in environ.items() if k != "LD_LIBRARY_PATH"}
    kept = without_torch_lib(environ.get("LD_LIBRARY_PATH"))
    if kept is not None:
        env["LD_LIBRARY_PATH"] = kept
    return env


@click.group("capi")
def capi() -> None:
    """The C library: libacnet.so with the plain-C header acnet.h."""


@capi.command("build")
@click.option("--build-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_BUILD_DIR, show_default=True)
@click.option("--build-type", default="Release", show_default=True, help="CMake build type.")
@click.option("--aoti", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True, help="AOTInductor backend (needs torch).")
@click.option("--tensorrt", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True, help="TensorRT backend (needs TensorRT and CUDA).")
@click.option("--tests", is_flag=True, help="Also build the test programs (capi_check, kernels_check).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel compile jobs (default: all cores).")
def build_command(build_dir, build_type, aoti, tensorrt, tests, jobs):
    """Build libacnet.so and the segment example with CMake."""
    lib = build(build_dir, build_type=build_type, aoti=aoti, tensorrt=tensorrt, tests=tests, jobs=jobs, echo=click.echo)
    click.echo(f"built {lib}")
    click.echo(f"header: {include_dir() / 'acnet.h'}")
    click.echo(f"example: {build_dir / 'segment'} MODEL.pt2 RGB.ppm DEPTH.pgm LABELS.pgm")


@capi.command("paths")
@click.option("--build-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_BUILD_DIR, show_default=True)
def paths_command(build_dir):
    """Print where the header, sources and built library are (for your own build)."""
    click.echo(f"source:  {SOURCE_DIR}")
    click.echo(f"include: {include_dir()}")
    lib = Path(build_dir) / LIBRARY_NAME
    click.echo(f"library: {lib.absolute() if lib.is_file() else f'{lib} (not built yet: acnet capi build)'}")
    click.echo(f"compile: cc app.c -I{include_dir()} -L{Path(build_dir).resolve()} -lacnet -Wl,-rpath,{Path(build_dir).resolve()}")
