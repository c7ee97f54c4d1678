"""The atheris harness of the Python readers (acnet/runtime/c/tests/fuzz/fuzz_python.py): a short run.

read_sidecar, read_package_info and ModelInfo.from_props, from seeds made
from real exports and the shared metadata cases, for ACNET_FUZZ_SECONDS (10
by default): anything but a one-line acnet error, or accepted metadata out
of range, fails the test with the input that did it.
"""

from __future__ import annotations

import os

import pytest
from support.capi_artifacts import fuzz_module

pytestmark = pytest.mark.slow

fuzz = fuzz_module()
SECONDS = int(os.environ.get("ACNET_FUZZ_SECONDS", "10"))


def test_python_readers_replay_seeds_and_cases_clean(tmp_path):
    pytest.importorskip("atheris", reason="atheris (the test extra) is not installed")
    code, line = fuzz.run(None, "python", 0, tmp_path)
    assert code == 0, line


def test_a_short_fuzzing_run_of_the_python_readers_finds_nothing(tmp_path):
    pytest.importorskip("atheris", reason="atheris (the test extra) is not installed")
    code, line = fuzz.run(None, "python", SECONDS, tmp_path)
    print(line)
    assert code == 0, line
