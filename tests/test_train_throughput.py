"""The training-throughput benchmark runs the real training step and reports per precision."""

from __future__ import annotations

import json

from click.testing import CliRunner

from acnet.training.throughput import main


def test_throughput_report_on_cpu(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "tp.json"
    result = CliRunner().invoke(main, ["--backbone", "resnet18", "--width-mult", "0.25", "--height", "64",
                                       "--width", "64", "--batch-size", "2", "--precisions", "fp32,bf16,fp16",
                                       "--warmup", "1", "--steps", "2", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    fp32, bf16, fp16 = (report["results"][k] for k in ("fp32", "bf16", "fp16"))
    assert fp32["status"] == bf16["status"] == "ok" and fp32["images_per_s"]["median"] > 0
    assert fp32["step_seconds"]["n"] == 2 and fp32["speedup_vs_fp32"] == 1.0
    assert fp16["status"] == "skipped" and "CUDA" in fp16["reason"]
    assert "environment" in report and "images/s" in result.output


def test_unknown_precision_is_one_line():
    result = CliRunner().invoke(main, ["--precisions", "fp8", "--device", "cpu"])
    assert result.exit_code == 2 and "unknown precision 'fp8'" in result.output
