"""acnet bench: measurement logic, JSON schema, skipped backends, CLI. Never asserts a speed."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from acnet.benchmarks.bench import (
    SCHEMA,
    BenchConfig,
    BenchReport,
    BenchResult,
    result_from_samples,
    run_bench,
)
from acnet.benchmarks.stats import FIELDS
from acnet.benchmarks.timing import FIGURES, Call, Frames, Samples, measure, measure_all
from acnet.cli import main
from acnet.errors import ConfigError
from support.installed import assert_one_line_error, run_acnet

H, W = 64, 96


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config):
    """Trained-looking (tests/support/trained.py): the exports the bench times are verified on a network whose folds matter."""
    from support.trained import trained_looking_checkpoint

    config = dataclasses.replace(tiny_config, num_classes=9)
    path = tmp_path_factory.mktemp("bench") / "tiny.pt"
    return trained_looking_checkpoint(path, config, (H, W), seed=2, class_names=[f"class{i}" for i in range(9)])


@pytest.fixture(scope="module")
def onnx_model(checkpoint):
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    path = checkpoint.with_suffix(".onnx")
    export_onnx(checkpoint, path, OnnxExportOptions(dynamic_batch=True, verify=False))
    return path


# --------------------------------------------------------------------------- the timing loop


class FakeTimer:
    """Scripted compute/latency times; counts calls so warm-up can be checked."""

    name = "fake"

    def __init__(self, times):
        self.times = list(times)
        self.runs = 0
        self.e2e = 0

    def run(self, frames):
        t = self.times[self.runs]
        self.runs += 1
        return Call(t, 2 * t)

    def end_to_end(self, frames):
        self.e2e += 1
        return 0.0  # seconds of network inside the call


def _frames(batch=1):
    rgb = tuple(np.zeros((H, W, 3), np.uint8) for _ in range(batch))
    depth = tuple(np.zeros((H, W), np.uint16) for _ in range(batch))
    return Frames(rgb, depth, np.zeros((batch, 3, H, W), np.float32), np.zeros((batch, 1, H, W), np.float32))


def test_warmup_calls_are_never_timed():
    # The first (cold) call takes 100 s; with one warm-up call it must not appear.
    timer = FakeTimer([100.0, 1.0, 2.0, 3.0])
    samples = measure(timer, _frames(), warmup=1, iters=3)
    assert samples.compute == [1.0, 2.0, 3.0]
    assert samples.latency == [2.0, 4.0, 6.0]
    assert len(samples.end_to_end) == 3
    assert (timer.runs, timer.e2e) == (4, 4)


def test_round_robin_rotates_and_drops_a_failing_timer():
    calls = []

    class Logged(FakeTimer):
        def __init__(self, name, fail_at=None):
            super().__init__([1.0] * 10)
            self.name, self.fail_at = name, fail_at

        def run(self, frames):
            calls.append(self.name)
            if self.runs == self.fail_at:
                raise RuntimeError("lost")
            return super().run(frames)

    a, b = Logged("a"), Logged("b", fail_at=2)  # b: warm-up, one timed call, then fails
    out = measure_all([a, b], _frames(), warmup=1, iters=3)
    assert calls == ["a", "b", "a", "b", "b", "a"] + ["a"]  # warm-ups, round 1 (a b), round 2 (b fails, a), round 3
    assert len(out["a"].latency) == 3
    assert isinstance(out["b"], RuntimeError)


def test_duration_extends_beyond_iters():
    class Endless(FakeTimer):
        def run(self, frames):
            self.runs += 1
            time.sleep(0.002)
            return Call(0.001, 0.001)

    timer = Endless([])
    samples = measure(timer, _frames(), warmup=1, iters=2, duration_s=0.1)
    assert len(samples.latency) > 2  # kept timing for 0.1 s, about 50 rounds of 2 ms
    assert timer.runs == len(samples.latency) + 1


def test_warmup_and_iters_must_be_positive():
    with pytest.raises(ConfigError, match="first call"):
        measure(FakeTimer([1.0] * 3), _frames(), warmup=0, iters=2)
    with pytest.raises(ConfigError):
        BenchConfig("m.pt", iters=0)
    with pytest.raises(ConfigError, match="batch"):
        BenchConfig("m.pt", batches=(1, 0))
    with pytest.raises(ConfigError, match="unknown backend"):
        BenchConfig("m.pt", backends=("tensorflow",))
    with pytest.raises(ConfigError, match="multiple of 32"):
        BenchConfig("m.pt", height=100, width=96)


def test_result_statistics_come_from_the_samples():
    samples = Samples(compute=[0.010, 0.030, 0.020], latency=[0.011, 0.031, 0.021], end_to_end=[0.020, 0.040, 0.025],
                      network=[0.012, 0.032, 0.022])
    r = result_from_samples("fake", 2, samples, {"precision": "fp32"})
    assert r.compute_ms.median == pytest.approx(20.0)
    assert r.latency_ms.max == pytest.approx(31.0)
    assert r.end_to_end_ms.min == pytest.approx(20.0)
    assert r.throughput_ips.max == pytest.approx(2 / 0.020)  # fastest call, 2 images
    assert r.network_ms.median == pytest.approx(22.0)
    assert r.overhead_ms.median == pytest.approx(8.0)  # per call: 8, 8, 3 ms
    assert r.overhead == pytest.approx(8.0 / 22.0)
    assert r.samples_ms["latency_ms"] == pytest.approx([11.0, 31.0, 21.0])
    assert r.samples_ms["overhead_ms"] == pytest.approx([8.0, 8.0, 3.0])


def test_overhead_is_per_call_not_a_difference_of_medians():
    # Raw calls slowed by something else (40 ms) while the end-to-end calls ran at 10-31 ms: a
    # ratio of medians says -25 %; per call, end-to-end minus its own network time, it is +1 ms.
    samples = Samples(compute=[0.040] * 3, latency=[0.040] * 3, end_to_end=[0.010, 0.030, 0.031],
                      network=[0.009, 0.0295, 0.005])
    r = result_from_samples("fake", 1, samples, {})
    assert r.end_to_end_ms.median < r.latency_ms.median
    assert r.overhead_ms.median == pytest.approx(1.0)
    assert r.overhead == pytest.approx(1.0 / 9.0)
    assert min(r.samples_ms["overhead_ms"]) >= 0


def test_a_network_time_outside_its_call_is_an_error():
    class Liar(FakeTimer):
        def end_to_end(self, frames):
            return 5.0  # longer than the call itself

    with pytest.raises(RuntimeError, match="not within its end-to-end call"):
        measure(Liar([0.001] * 3), _frames(), warmup=1, iters=1)


# --------------------------------------------------------------------------- real runs, tiny model


def _check_schema(d: dict) -> None:
    assert d["schema"] == SCHEMA and d["schema_version"] == 1
    for key in ("created", "config", "model", "environment", "figures", "results", "speedups", "efficiency",
                "gflops_per_frame", "cpu_peak"):
        assert key in d, key
    assert set(d["figures"]) == set(FIGURES)
    for r in d["results"]:
        assert {"backend", "batch", "status", "reason", "details", "overhead", "samples_ms", *FIGURES} <= set(r)
        if r["status"] == "ok":
            assert r["reason"] is None
            for fig in FIGURES:
                stats = r[fig]
                assert set(stats) == {"n", *FIELDS}
                assert stats["min"] <= stats["median"] <= stats["p90"] <= stats["p99"] <= stats["max"]
            for fig in ("compute_ms", "latency_ms", "end_to_end_ms"):
                assert len(r["samples_ms"][fig]) == r[fig]["n"]
        else:
            assert r["status"] in ("skipped", "error")
            assert r["reason"], r
            assert all(r[fig] is None for fig in FIGURES)


def test_bench_checkpoint_torch_and_onnxruntime(checkpoint, onnx_model):
    config = BenchConfig(checkpoint, onnx=onnx_model, backends=("torch", "onnxruntime", "torch-fp16", "tensorrt"),
                         batches=(1, 2), warmup=1, iters=2, device="cpu", threads=1, progress=False)
    report = run_bench(config)
    d = json.loads(report.to_json())
    _check_schema(d)
    status = {(r["backend"], r["batch"]): r["status"] for r in d["results"]}
    assert status == {("torch", 1): "ok", ("torch", 2): "ok", ("onnxruntime", 1): "ok", ("onnxruntime", 2): "ok",
                      ("torch-fp16", 1): "skipped", ("torch-fp16", 2): "skipped",
                      ("tensorrt", 1): "skipped", ("tensorrt", 2): "skipped"}
    reasons = {r["backend"]: r["reason"] for r in d["results"] if r["status"] == "skipped"}
    assert "CUDA" in reasons["torch-fp16"]
    assert "engine" in reasons["tensorrt"]
    # speed-ups are ratios of medians of the same run, against torch FP32
    s = {(x["backend"], x["batch"]): x for x in d["speedups"]}
    ort1, torch1 = report.result("onnxruntime", 1), report.result("torch", 1)
    assert s[("onnxruntime", 1)]["latency"] == pytest.approx(torch1.latency_ms.median / ort1.latency_ms.median)
    assert d["gflops_per_frame"] > 0 and d["efficiency"]
    assert d["model"]["height"] == H and d["model"]["width"] == W
    # the report reads back, and the table names every backend and every reason
    again = BenchReport.from_dict(d)
    assert again.result("torch", 2).latency_ms == report.result("torch", 2).latency_ms
    table = report.table()
    for text in ("torch", "onnxruntime", reasons["tensorrt"], reasons["torch-fp16"], "end-to-end"):
        assert text in table


def test_same_input_reaches_every_backend(checkpoint, onnx_model, monkeypatch):
    """Every timer is handed the identical normalised batch."""
    from acnet.benchmarks import runtime_timer, torch_timer

    seen = []
    for cls in (torch_timer.TorchTimer, runtime_timer.RuntimeTimer):
        original = cls.prepare

        def spy(self, frames, original=original):
            seen.append((self.name, frames.rgb_batch.copy(), frames.depth_batch.copy()))
            return original(self, frames)

        monkeypatch.setattr(cls, "prepare", spy)
    run_bench(BenchConfig(checkpoint, onnx=onnx_model, backends=("torch", "onnxruntime"), warmup=1, iters=1,
                          device="cpu", progress=False))
    assert [name for name, *_ in seen] == ["torch", "onnxruntime"]
    assert np.array_equal(seen[0][1], seen[1][1]) and np.array_equal(seen[0][2], seen[1][2])
    assert seen[0][1].std() > 0.1  # a real-looking frame, not zeros


def test_onnx_only_skips_torch_with_reason(onnx_model, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", str(onnx_model), "-b", "torch", "-b", "onnxruntime", "--iters", "1",
                                       "--warmup", "1", "--device", "cpu", "--no-progress", "--json", str(out)])
    assert result.exit_code == 0, result.output
    d = json.loads(out.read_text())
    _check_schema(d)
    torch_row = next(r for r in d["results"] if r["backend"] == "torch")
    assert torch_row["status"] == "skipped" and "checkpoint" in torch_row["reason"]
    assert next(r for r in d["results"] if r["backend"] == "onnxruntime")["status"] == "ok"
    assert "torch: skipped" in result.output


def test_fixed_batch_model_skips_other_batches(checkpoint, tmp_path):
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    fixed = tmp_path / "fixed.onnx"
    export_onnx(checkpoint, fixed, OnnxExportOptions(batch=1, verify=False))
    report = run_bench(BenchConfig(fixed, backends=("onnxruntime",), batches=(1, 2), warmup=1, iters=1,
                                   device="cpu", progress=False))
    assert report.result("onnxruntime", 1).ok
    skipped = report.result("onnxruntime", 2)
    assert skipped.status == "skipped" and "--dynamic-batch" in skipped.reason


def test_failing_backend_exits_1(onnx_model, monkeypatch, tmp_path):
    from acnet.benchmarks import runtime_timer

    def broken(self, frames):
        raise RuntimeError("device lost")

    monkeypatch.setattr(runtime_timer.RuntimeTimer, "run", broken)
    out = tmp_path / "b.json"
    result = CliRunner().invoke(main, ["bench", str(onnx_model), "-b", "onnxruntime", "--iters", "1", "--warmup", "1",
                                       "--device", "cpu", "--no-progress", "--json", str(out)])
    assert result.exit_code == 1, result.output
    row = json.loads(out.read_text())["results"][0]
    assert row["status"] == "error" and "device lost" in row["reason"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.pt"], "not found"),
        (["{onnx}", "--batch", "1,x"], "--batch"),
        (["{onnx}", "--warmup", "0"], "warmup"),
        (["{onnx}", "--height", "100", "--width", "96"], "multiple of 32"),
        (["{onnx}", "-b", "tensorflow"], "unknown backend"),
        (["{onnx}", "--height", "128", "--width", "128"], "64x96"),
    ],
)
def test_bad_input_is_one_line_exit_2(onnx_model, tmp_path, args, message):
    args = [a.replace("{onnx}", str(onnx_model)) for a in args]
    result = CliRunner().invoke(main, ["bench", *args, "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acnet: error:") and message in lines[0]


QUICK = ("--iters", "1", "--warmup", "1", "--no-progress")


def test_torch_backend_without_a_checkpoint_is_one_line_error(onnx_model, tmp_path):
    """Asked for torch alone, with nothing to run it on: no empty report, one line saying what is missing."""
    proc = run_acnet("bench", onnx_model, "--backend", "torch", *QUICK, "--cache-dir", tmp_path)
    assert_one_line_error(proc, "nothing to measure on cpu", "torch: needs the checkpoint", "--checkpoint")
    assert "nothing measured" not in proc.stdout


def test_device_cuda_without_a_gpu_is_one_line_error(onnx_model, tmp_path):
    import onnxruntime
    import torch

    if torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is usable here: the backends run")
    proc = run_acnet("bench", onnx_model, "--device", "cuda", *QUICK, "--cache-dir", tmp_path)
    line = assert_one_line_error(proc, "nothing to measure on cuda:0", "onnxruntime: ", "CUDA", "tensorrt: ")
    assert line.count("needs the checkpoint") == 1  # the torch backends with the same reason are named together
    assert "torch, torch-fp16, torch-fp16-compile: needs the checkpoint" in line


def test_onnx_of_another_network_is_refused_like_parity(checkpoint, tmp_path):
    """A 5-class model timed against the 9-class checkpoint would give a speed-up of two different networks."""
    from support.runtime_models import make_onnx, tiny_info

    other = make_onnx(tmp_path / "five.onnx", tiny_info(input_height=H, input_width=W))
    proc = run_acnet("bench", checkpoint, "--onnx", other, *QUICK, "--cache-dir", tmp_path)
    assert_one_line_error(proc, f"{other} has 5 classes, the checkpoint 9")
    assert proc.stdout == ""


def test_warmup_help_and_check_agree():
    """The first call builds kernels and caches and is never timed, so --warmup 0 is refused, and --help says so."""
    help_text = " ".join(run_acnet("bench", "--help").stdout.split())
    assert "x>=1" in help_text[help_text.index("--warmup"):help_text.index("--iters")]
    assert_one_line_error(run_acnet("bench", "model.onnx", "--warmup", "0"), "'--warmup'", "x>=1")


def test_header_of_a_report_without_a_model_names_no_none():
    from acnet.benchmarks.report import bench_head

    report = dataclasses.replace(_fake_report(), model={"description": "model could not be opened", "height": None,
                                                       "width": None})
    head = bench_head(report)[1]
    assert "None" not in head and "input size unknown" in head


def _fake_report() -> BenchReport:
    rng = np.random.default_rng(0)
    results = []
    for backend, base in (("torch", 0.02), ("onnxruntime", 0.01)):
        for batch in (1, 2, 4):
            t = list(base * batch * (1 + 0.1 * rng.random(5)))
            results.append(result_from_samples(backend, batch, Samples(t, t, [x * 1.05 for x in t], t),
                                                  {"precision": "fp32"}))
    results.append(BenchResult("tensorrt", 1, "skipped", "TensorRT is not installed"))
    env = {"cpu": {"model": "test CPU", "usable_cpus": 2, "logical_cpus": 2, "simd": "AVX2"},
           "gpu": {"value": None, "reason": "none"}, "driver": {"value": None, "reason": "none"},
           "cuda": {"value": None, "reason": "none"},
           "packages": {k: {"value": "1"} for k in ("acnet", "torch", "onnxruntime", "tensorrt")}}
    return BenchReport(config={"device": "cpu", "iters": 5, "warmup": 1}, model={"description": "test", "height": H, "width": W},
                       environment=env, results=tuple(results))


def test_plot_and_markdown(tmp_path):
    from acnet.benchmarks.plot import plot_bench
    from acnet.benchmarks.report import bench_markdown

    report = _fake_report()
    png = plot_bench(report, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = bench_markdown(report)
    assert md.count("| onnxruntime |") == 3 and "TensorRT is not installed" in md
    speedup = next(s for s in report.speedups() if s["backend"] == "onnxruntime" and s["batch"] == 2)
    torch2, ort2 = (np.median(report.result(b, 2).samples_ms["latency_ms"]) for b in ("torch", "onnxruntime"))
    assert speedup["latency"] == pytest.approx(torch2 / ort2)  # torch over ORT, ratio of medians of the samples
    assert "| onnxruntime | fp32 | 2 |" in md
    # Compute and latency speed-ups side by side: a compiled path's gain shows in compute before the copies hide it.
    assert f"| {speedup['compute']:.2f}x | {speedup['latency']:.2f}x |" in md and "| speed-up compute | speed-up latency |" in md


def test_end_to_end_runs_each_batch_in_one_call(checkpoint, onnx_model, monkeypatch):
    from acnet.benchmarks import backends
    from acnet.runtime.backends import ort

    seen = {"torch": [], "onnxruntime": []}
    for key, cls in (("torch", backends.TorchBackend), ("onnxruntime", ort.OnnxRuntimeBackend)):
        original = cls.run

        def spy(self, rgb, depth, original=original, key=key):
            seen[key].append(rgb.shape[0])
            return original(self, rgb, depth)

        monkeypatch.setattr(cls, "run", spy)
    run_bench(BenchConfig(checkpoint, onnx=onnx_model, backends=("torch", "onnxruntime"), batches=(1, 2), warmup=1,
                          iters=1, device="cpu", progress=False))
    assert seen["torch"] == [1, 1, 2, 2]  # end-to-end calls only (warm-up + timed) per batch
    assert seen["onnxruntime"] == [1] * 4 + [2] * 4  # raw and end-to-end calls


def test_no_backend_is_timed_while_another_ones_threads_spin(onnx_model):
    """ONNX Runtime's workers spin for tens of ms after a run; the next backend must not be timed against them.

    Without the wait, a backend timed right after ONNX Runtime ran against a
    busy core (on 2 cores PyTorch's latency came out 2.6x its own end-to-end
    time). The probe looks at the other threads' states when it is called.
    """
    from acnet.benchmarks.backends import Opening, open_timer
    from acnet.benchmarks.timing import _others_runnable, make_frames

    ort = open_timer("onnxruntime", onnx_model, Opening("cpu", threads=2))
    frames = make_frames([np.full((H, W, 3), 90, np.uint8)], [np.full((H, W), 1500, np.uint16)], ort.segmenter.config)
    ort.prepare(frames)
    ort.end_to_end(frames)
    assert _others_runnable(), "premise: ONNX Runtime's worker is still spinning right after a call"

    class Probe(FakeTimer):
        name = "probe"
        seen: list = []

        def run(self, frames):
            self.seen.append(_others_runnable())
            return super().run(frames)

    probe = Probe([0.001] * 10)
    out = measure_all([ort, probe], frames, warmup=1, iters=4)
    ort.close()
    assert len(out["onnxruntime"].network) == 4 and len(probe.seen) == 5
    assert probe.seen[1:] == [False] * 4  # timed calls (after the warm-up) never overlap ORT's spinning
    waits = out["probe"].settle_s
    assert waits[0] > 0 and waits[1] == 0.0  # rounds alternate (ort, probe), (probe, ort): a wait after ORT only


def test_torch_end_to_end_runs_the_raw_calls_network(checkpoint):
    """Latency and end-to-end go through the same forward function (eager or compiled), timed inside."""
    from acnet.benchmarks.artefacts import Artefacts, load_torch_model
    from acnet.benchmarks.backends import Opening, open_timer
    from acnet.benchmarks.timing import make_frames

    loaded = load_torch_model(Artefacts(checkpoint=checkpoint), None, None)
    timer = open_timer("torch", loaded, Opening("cpu", threads=1))
    frames = make_frames([np.full((H, W, 3), 90, np.uint8)], [np.full((H, W), 1500, np.uint16)],
                         timer_config(loaded.info))
    timer.prepare(frames)
    calls = []
    inner = timer.backend._fn
    timer.backend._fn = lambda rgb, depth: calls.append(rgb.shape) or inner(rgb, depth)
    call = timer.run(frames)
    t0 = time.perf_counter()
    network = timer.end_to_end(frames)
    e2e = time.perf_counter() - t0
    assert calls == [(1, 3, H, W), (1, 3, H, W)]
    assert 0 < network < e2e and call.latency_s > 0
    timer.close()


def timer_config(info):
    from acnet.runtime.preprocess import PreprocessConfig

    return PreprocessConfig(info.input_height, info.input_width, info.normalization)
