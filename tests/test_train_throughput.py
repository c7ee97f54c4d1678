"""The training-throughput benchmark runs the real training step and reports per precision."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from click.testing import CliRunner

from acnet.benchmarks.throughput import main


def test_throughput_report_on_cpu(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "tp.json"
    result = CliRunner().invoke(main, ["--backbone", "resnet18", "--width-mult", "0.25", "--height", "32",
                                       "--width", "32", "--batch-size", "2", "--precisions", "fp32,bf16,fp16",
                                       "--warmup", "1", "--steps", "2", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    fp32, bf16, fp16 = (report["results"][k] for k in ("fp32", "bf16", "fp16"))
    assert fp32["status"] == bf16["status"] == "ok"
    assert fp16["status"] == "skipped" and "CUDA" in fp16["reason"]
    # Each precision ran the trainer's own step: autocast as asked, weights moving on the same batch.
    assert fp32["autocast"] is None and bf16["autocast"] == "bfloat16"
    assert fp32["grad_scaler"] is False and bf16["grad_scaler"] is False
    for r in (fp32, bf16):
        assert len(r["losses"]) == 2 and all(math.isfinite(v) and v > 0 for v in r["losses"])
        assert r["losses"][0] != r["losses"][1], "the loss never changed: the optimiser did not step"
        # images/s is the batch over each step's own time: the fastest step gives the most images/s.
        assert r["step_seconds"]["n"] == 2
        assert math.isclose(r["images_per_s"]["max"], 2 / r["step_seconds"]["min"], rel_tol=1e-9)
        assert math.isclose(r["images_per_s"]["min"], 2 / r["step_seconds"]["max"], rel_tol=1e-9)
    # The speed-up is bf16's images/s over fp32's from this run.
    assert math.isclose(bf16["speedup_vs_fp32"], bf16["images_per_s"]["median"] / fp32["images_per_s"]["median"],
                        rel_tol=1e-9)
    assert "speedup_vs_fp32" not in fp16
    assert report["environment"]["load_average"]["end"] is not None
    assert "images/s" in result.output and "x" in result.output.split("bf16:")[1].splitlines()[0]


def test_unknown_precision_is_one_line():
    result = CliRunner().invoke(main, ["--precisions", "fp8", "--device", "cpu"])
    assert result.exit_code == 2 and "unknown precision 'fp8'" in result.output


def test_runs_as_a_module_from_its_new_home():
    """``python -m acnet.benchmarks.throughput`` is the documented command."""
    proc = subprocess.run([sys.executable, "-m", "acnet.benchmarks.throughput", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Images/s of training steps" in proc.stdout
    gone = subprocess.run([sys.executable, "-c", "import acnet.training.throughput"], capture_output=True, text=True)
    assert gone.returncode != 0 and "No module named 'acnet.training.throughput'" in gone.stderr
