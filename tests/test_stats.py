"""Timing statistics and the environment record (no timing is asserted)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from acnet.benchmarks.environment import collect_environment, cpu_info
from acnet.benchmarks.stats import FIELDS, Stats, percentile, summarize, throughput
from acnet.errors import ConfigError


def test_summary_of_hand_computed_samples():
    s = summarize([4.0, 1.0, 3.0, 2.0, 10.0])
    assert s.n == 5
    assert (s.min, s.max) == (1.0, 10.0)
    assert s.mean == pytest.approx(4.0)
    assert s.median == 3.0
    # sorted 1 2 3 4 10: p90 at rank 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4)
    assert s.p90 == pytest.approx(7.6)
    # p99 at rank 3.96 -> 4 + 0.96 * 6
    assert s.p99 == pytest.approx(9.76)


def test_even_count_median_interpolates():
    assert summarize([1.0, 2.0, 3.0, 4.0]).median == pytest.approx(2.5)
    assert summarize([7.0]).p99 == 7.0


@pytest.mark.parametrize("p", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear(p):
    values = sorted(np.random.default_rng(p).gamma(2.0, 3.0, size=37).tolist())
    assert percentile(values, p) == pytest.approx(np.percentile(values, p, method="linear"))


def test_throughput_is_per_call():
    t = throughput(4, [0.5, 0.25, 1.0])
    assert t.min == pytest.approx(4.0)  # slowest call: 4 images in 1 s
    assert t.max == pytest.approx(16.0)
    assert t.median == pytest.approx(8.0)


def test_bad_samples_are_refused():
    with pytest.raises(ConfigError):
        summarize([])
    with pytest.raises(ConfigError):
        summarize([1.0, float("nan")])
    with pytest.raises(ConfigError):
        throughput(1, [0.0])
    with pytest.raises(ConfigError):
        percentile([1.0], 101)


def test_stats_round_trip_and_scaling():
    s = summarize([1.0, 2.0, 3.0])
    assert Stats.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    ms = s.scaled(1000.0)
    assert [getattr(ms, k) for k in FIELDS] == pytest.approx([1000 * getattr(s, k) for k in FIELDS])


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC 9575F
stepping\t: 1
cpu MHz\t\t: 2596.124
flags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512_bf16
"""


def test_cpu_info_and_peak_formula():
    cpu = cpu_info(CPUINFO)
    assert cpu.model == "AMD EPYC 9575F"
    assert cpu.signature == "AuthenticAMD family 26 model 2 stepping 1"
    assert cpu.simd == ("AVX-512", 16)
    peak = cpu.peak_gflops(clock_ghz=4.0, fma_units=2, cores=2)
    assert peak.gflops == pytest.approx(2 * 4.0 * 2 * 16 * 2)
    assert "2 cores x 4.00 GHz" in peak.formula
    avx2 = cpu_info("model name: x\nflags: sse2 fma avx avx2\n")
    assert avx2.simd == ("AVX2", 8)
    assert avx2.peak_gflops(clock_ghz=3.0, cores=1).gflops == pytest.approx(3.0 * 2 * 8 * 2)
    assert cpu_info("model name: x\n").peak_gflops() is None  # no clock known


def test_environment_records_every_item_or_its_absence():
    import importlib
    import importlib.metadata
    import shutil

    import numpy as np
    import onnxruntime
    import torch

    import acnet

    env = collect_environment()
    json.dumps(env)  # serialisable as is
    assert env["cpu"]["usable_cpus"] == len(os.sched_getaffinity(0))
    # Each item is a value or the reason it is missing, never both or neither.
    items = [env[k] for k in ("gpu", "driver", "cuda")] + list(env["packages"].values())
    for item in items:
        assert (item["value"] is None) != (item["reason"] is None), item
        assert item["reason"] is None or item["reason"].strip(), item
    # ... and they are the facts, probed here independently.
    pk = env["packages"]
    assert pk["acnet"]["value"] == acnet.__version__ and pk["numpy"]["value"] == np.__version__
    assert pk["torch"]["value"] == torch.__version__ and pk["onnxruntime"]["value"] == onnxruntime.__version__
    assert pk["onnx"]["value"] == importlib.metadata.version("onnx")
    try:
        trt_version = importlib.import_module("tensorrt").__version__
    except Exception:
        trt_version = None
    assert pk["tensorrt"]["value"] == trt_version
    if torch.cuda.is_available():
        assert env["gpu"]["value"] == torch.cuda.get_device_name() and env["cuda"]["value"] == torch.version.cuda
    else:
        assert env["cuda"]["value"] is None and env["cuda"]["torch_build_cuda"] == torch.version.cuda
        if shutil.which("nvidia-smi") is None:
            assert env["gpu"]["value"] is None and "torch" in env["gpu"]["reason"]
    if shutil.which("nvidia-smi") is None:
        assert env["driver"] == {"value": None, "reason": "nvidia-smi not found (no NVIDIA driver)"}
