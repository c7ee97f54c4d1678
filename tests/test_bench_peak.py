"""acnet bench's CPU peak: the measured clock and the peak of each row's precision. Never asserts a speed."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from acnet.benchmarks.bench import BenchConfig, cpu_clock, run_bench
from acnet.benchmarks.environment import cpu_info

H, W = 64, 96


def _cpu(flags: str, cores: int = 2):
    info = cpu_info(f"model name\t: test CPU\nflags\t\t: {flags}\ncpu MHz\t\t: 2000.0\n")
    return dataclasses.replace(info, usable_cpus=cores, max_mhz=None)


# --------------------------------------------------------------------------- the clock


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler here")
def test_measured_clock_is_a_plausible_all_core_clock(tmp_path):
    from acnet.benchmarks.clock import clock_program, measure_clock

    m = measure_clock(tmp_path, threads=2, trials=200)
    assert 0.5 < m.ghz < 7.0, m  # no core runs outside this; an immediate-add chain read 13.8 "GHz" here
    assert len(m.per_thread_ghz) == 2 and min(m.per_thread_ghz) <= m.ghz <= max(m.per_thread_ghz)
    exe = clock_program(tmp_path)
    built = exe.stat().st_mtime_ns
    assert measure_clock(tmp_path, threads=1, trials=50).ghz > 0.5
    assert clock_program(tmp_path).stat().st_mtime_ns == built  # compiled once, then cached
    assert oct(exe.stat().st_mode & 0o777) == "0o755"


def test_clock_given_measured_or_said_to_be_a_lower_bound(tmp_path, monkeypatch):
    from acnet.benchmarks import clock

    given = cpu_clock(BenchConfig("m.pt", cpu_clock_ghz=4.2), tmp_path)
    assert given["ghz"] == 4.2 and given["source"].startswith("given")

    def unavailable(*args, **kwargs):
        raise clock.ClockUnavailable("no C compiler (cc, gcc or clang) to build the clock measurement")

    monkeypatch.setattr(clock, "measure_clock", unavailable)
    fallback = cpu_clock(BenchConfig("m.pt"), tmp_path)
    assert fallback["source"] == "reported by the OS" and "lower bound" in fallback["note"]
    assert "no C compiler" in fallback["note"]
    with pytest.raises(Exception, match="cpu-clock-ghz"):
        BenchConfig("m.pt", cpu_clock_ghz=4500)  # MHz, not GHz


# --------------------------------------------------------------------------- peaks per precision


def test_peak_of_each_precision():
    zen5 = _cpu("fma avx2 avx512f avx512bw avx512_vnni avx512_bf16").peaks(4.0, 2)
    fp32 = zen5["fp32"].gflops
    assert fp32 == pytest.approx(2 * 4.0 * 2 * 16 * 2)
    assert zen5["int8"].gflops == pytest.approx(4 * fp32) and "VNNI" in zen5["int8"].formula
    assert zen5["int8"].unit == "GOP/s" and zen5["int8"].note == ""
    assert zen5["bf16"].gflops == pytest.approx(2 * fp32)
    assert zen5["fp16"].gflops == fp32 and "computed in FP32" in zen5["fp16"].note

    xeon = _cpu("fma avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_int8 amx_bf16 amx_tile").peaks(2.6, 2)
    assert xeon["fp16"].gflops == pytest.approx(2 * xeon["fp32"].gflops)
    assert "AMX" in xeon["int8"].note and "AMX" in xeon["bf16"].note

    alder = _cpu("fma avx2 avx_vnni").peaks(3.0, 2)  # AVX2 only: 8 FP32 lanes, VEX-encoded VNNI
    assert alder["int8"].gflops == pytest.approx(4 * alder["fp32"].gflops) and "AVX-VNNI" in alder["int8"].formula
    assert alder["bf16"].gflops == alder["fp32"].gflops

    assert _cpu("fma avx2").peaks(3.0, 2)["int8"] is None  # no dot-product instruction: no INT8 peak claimed
    arm = _cpu("fp asimd asimddp asimdhp").peaks(2.0, 1)
    assert arm["fp32"].gflops == pytest.approx(2 * 2.0 * 1 * 4 * 2)
    assert arm["int8"].gflops == pytest.approx(4 * arm["fp32"].gflops)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, tiny_config):
    """A tiny ACNet quantized by ONNX Runtime (QDQ, per-channel), its metadata saying int8."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from acnet.export import graph
    from acnet.export.onnx import OnnxExportOptions, export_onnx
    from support.trained import trained_looking_checkpoint

    root = tmp_path_factory.mktemp("int8")
    ckpt = trained_looking_checkpoint(root / "tiny.pt", tiny_config, (H, W), seed=3)
    fp32 = root / "tiny.onnx"
    export_onnx(ckpt, fp32, OnnxExportOptions(verify=False))

    class Frames(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.feeds = iter([{"rgb": rng.normal(size=(1, 3, H, W)).astype(np.float32),
                                "depth": rng.normal(size=(1, 1, H, W)).astype(np.float32)} for _ in range(2)])

        def get_next(self):
            return next(self.feeds, None)

    int8 = root / "tiny_int8.onnx"
    quantize_static(str(fp32), str(int8), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    proto = onnx.load(str(int8))
    info = graph.read_metadata(onnx.load(str(fp32)))
    graph.set_metadata(proto, dataclasses.replace(info, precision="int8"))
    onnx.save(proto, str(int8))
    assert any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    return ckpt, fp32, int8


def test_int8_rows_are_measured_against_the_int8_peak(int8_model):
    ckpt, fp32, int8 = int8_model
    rows = {}
    for path in (fp32, int8):
        report = run_bench(BenchConfig(path, checkpoint=ckpt, backends=("onnxruntime",), warmup=1, iters=1,
                                       device="cpu", threads=1, cpu_clock_ghz=3.0, progress=False))
        (e,) = report.efficiency()
        rows[e["precision"]] = (e, report)
    e8, report8 = rows["int8"]
    e32, report32 = rows["fp32"]
    peaks = cpu_info().peaks(3.0, 2)
    assert e32["peak_precision"] == "fp32"
    assert e32["peak_gflops_per_s"] == pytest.approx(peaks["fp32"].gflops)
    if peaks["int8"] is None:  # a CPU without VNNI/sdot (AVX2-only Zen 3, say): no INT8 peak is claimed
        assert e8["peak_precision"] is None and e8["fraction_of_peak"] is None
    else:
        assert e8["peak_precision"] == "int8"
        assert e8["peak_gflops_per_s"] == pytest.approx(peaks["int8"].gflops)
        assert e8["fraction_of_peak"] == pytest.approx(e8["gflops_per_s"] / peaks["int8"].gflops)
        assert f"int8: {peaks['int8'].formula}" in report8.table()
    d = report8.to_dict()
    assert d["cpu_clock"]["ghz"] == 3.0 and set(d["cpu_peaks"]) == {"fp32", "bf16", "fp16", "int8"}
