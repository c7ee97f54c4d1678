"""The libFuzzer harnesses (acnet/runtime/c/tests/fuzz) under ASan and UBSan: a short run of each.

Each starts from seeds made from real exports, the shared metadata cases
(tests/metadata_cases.json) and the regression inputs of issue 27, first
replayed alone, then fuzzed for ACNET_FUZZ_SECONDS (10 by default: the suite's time; the long run is in the fuzz README). A
finding fails the test with the sanitizer's report; the input is kept in
the test's temporary folder. README.md beside the harnesses has the long run.
"""

from __future__ import annotations

import os

import pytest
from support.capi_artifacts import fuzz_build, fuzz_module

pytestmark = pytest.mark.slow

fuzz = fuzz_module()
SECONDS = int(os.environ.get("ACNET_FUZZ_SECONDS", "10"))


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    return fuzz_build(tmp_path_factory)


def _built(binaries, target):
    if not (binaries / target).is_file():
        pytest.skip(f"{target} needs the TensorRT 10 headers (../shared/third_party/tensorrt) and CUDA's")


@pytest.mark.parametrize("target", fuzz.LIBFUZZER_TARGETS)
def test_seeds_and_regressions_replay_clean(binaries, target, tmp_path):
    """Every committed seed, regression input and shared case, once, with no finding."""
    _built(binaries, target)
    code, line = fuzz.run(binaries, target, 0, tmp_path)
    assert code == 0, line
    executed = int(line.split(": ")[1].split()[0])
    assert executed >= len(list((fuzz.HERE / "corpus" / target).iterdir())), line


@pytest.mark.parametrize("target", fuzz.LIBFUZZER_TARGETS)
def test_a_short_fuzzing_run_finds_nothing(binaries, target, tmp_path):
    _built(binaries, target)
    code, line = fuzz.run(binaries, target, SECONDS, tmp_path)
    print(line)
    assert code == 0, line
