"""``acnet capi build`` refusing a build folder or a configuration: one line, CMake's output in a log.

Every case fails before or while configuring (seconds), so none of them
builds the library; the one successful build is tests/support/capi_artifacts.py's.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

from acnet.runtime.capi import BUILD_LOG, first_error
from support.installed import assert_one_line_error, run_acnet
from test_error_promise import full_disk, read_only  # noqa: F401 - fixtures: a full and a read-only tmpfs

#: Options with which configuring fails at once: no backend at all.
NO_BACKEND = ("--aoti", "off", "--tensorrt", "off")

needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")


def test_build_dir_under_a_file_is_named_before_cmake_runs(tmp_path):
    (tmp_path / "afile").write_text("a regular file")
    proc = run_acnet("capi", "build", "--build-dir", tmp_path / "afile" / "sub")
    assert_one_line_error(proc, f"cannot create output directory {tmp_path / 'afile' / 'sub'}", "is a file")
    assert "$ cmake" not in proc.stdout


def test_build_dir_on_a_read_only_mount_is_one_line(read_only):  # noqa: F811
    proc = run_acnet("capi", "build", "--build-dir", read_only / "build")
    assert_one_line_error(proc, f"cannot create output directory {read_only / 'build'}", "read-only file system")
    proc = run_acnet("capi", "build", "--build-dir", read_only)  # the folder exists but cannot be written
    assert_one_line_error(proc, str(read_only), "read-only file system")
    assert "$ cmake" not in proc.stdout


@needs_cmake
def test_configure_failure_names_cmake_error_and_keeps_the_whole_log(tmp_path):
    proc = run_acnet("capi", "build", "--build-dir", tmp_path, *NO_BACKEND)
    log = tmp_path / BUILD_LOG
    assert_one_line_error(proc, "cmake could not configure the C library (exit 1): acnet: no backend available",
                          "AOTInductor: off (ACNET_AOTI=OFF); TensorRT: off (ACNET_TENSORRT=OFF)", f"full log: {log}")
    text = log.read_text()
    assert text.startswith("$ cmake -S ") and "CMake Error at CMakeLists.txt" in text and "-- Configuring incomplete" in text
    # The command is shown, the failed step's output is in the log instead.
    assert proc.stdout.startswith("$ cmake -S ") and "CMake Error" not in proc.stdout


@needs_cmake
def test_verbose_shows_cmake_output_as_it_runs(tmp_path):
    proc = run_acnet("-v", "capi", "build", "--build-dir", tmp_path, *NO_BACKEND)
    assert_one_line_error(proc, "no backend available", f"full log: {tmp_path / BUILD_LOG}")
    assert "-- The CXX compiler identification" in proc.stdout and "CMake Error at" in proc.stdout


def _tensorrt_headers_here() -> bool:
    roots = [os.environ.get("TENSORRT_ROOT", ""), "/usr", "/usr/local", *glob.glob("/usr/local/TensorRT*"),
             *glob.glob("/opt/*")]
    return any(glob.glob(os.path.join(root, "include", pattern, "NvInferRuntime.h"))
               for root in roots if root for pattern in ("", "*-linux-gnu"))


@needs_cmake
def test_tensorrt_on_without_tensorrt_says_what_is_missing(tmp_path):
    if _tensorrt_headers_here():
        pytest.skip("TensorRT is installed: configuring would succeed and build the library")
    proc = run_acnet("capi", "build", "--build-dir", tmp_path, "--aoti", "off", "--tensorrt", "on")
    assert_one_line_error(proc, "could not configure", "ACNET_TENSORRT=ON but TensorRT needs",
                          "NvInferRuntime.h", f"full log: {tmp_path / BUILD_LOG}")


@needs_cmake
def test_log_goes_to_a_temporary_file_when_the_build_dir_is_full(full_disk, tmp_path):  # noqa: F811
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = run_acnet("capi", "build", "--build-dir", full_disk / "build", *NO_BACKEND, env={"TMPDIR": str(temp)})
    line = assert_one_line_error(proc, "cmake could not configure", "No space left on device", f"full log: {temp}")
    (log,) = temp.glob("acnet-build-*.log")
    assert str(log) in line and "CMake Error" in log.read_text()


@pytest.mark.parametrize(
    "output, expected",
    [
        (["-- Detecting CXX compile features - done\n", "CMake Error at CMakeLists.txt:113 (message):\n",
          "  ACNET_TENSORRT=ON but TensorRT needs the CUDA toolkit (found: TRUE),\n",
          "  NvInferRuntime.h (TENSORRT_INCLUDE_DIR-NOTFOUND)\n", "\n", "\n",
          "-- Configuring incomplete, errors occurred!\n"],
         "ACNET_TENSORRT=ON but TensorRT needs the CUDA toolkit (found: TRUE), NvInferRuntime.h (TENSORRT_INCLUDE_DIR-NOTFOUND)"),
        (["CMake Error: Unable to (re)create the private pkgRedirects directory:\n", "/ro/build/CMakeFiles/pkgRedirects\n"],
         "Unable to (re)create the private pkgRedirects directory: /ro/build/CMakeFiles/pkgRedirects"),
        (["CMake Error at /usr/share/cmake/Modules/X.cmake:312 (file):\n", "  file write failed (No space left):\n", "\n",
          "    /full/b/CMakeFiles/x.c\n", "Call Stack (most recent call first):\n", "  X.cmake:323 (WRITE)\n"],
         "file write failed (No space left): /full/b/CMakeFiles/x.c"),
        (["[ 10%] Building CXX object CMakeFiles/acnet.dir/src/acnet.cpp.o\n",
          "/src/acnet.cpp:12:3: error: 'foo' was not declared in this scope\n", "   12 |   foo();\n",
          "gmake[2]: *** [CMakeFiles/acnet.dir/build.make:76: acnet.cpp.o] Error 1\n"],
         "/src/acnet.cpp:12:3: error: 'foo' was not declared in this scope"),
        (["something went wrong\n", "\n"], "something went wrong"),
        ([], "no output"),
    ],
)
def test_first_error_is_one_line(output, expected):
    assert first_error(output) == expected
