"""Benchmarks: latency/throughput per backend and parity against PyTorch.

Library entry points (what ``acnet bench`` / ``acnet parity`` and
``acnet quickstart`` call)::

    from acnet.benchmarks import BenchConfig, run_bench, ParityConfig, Candidate, run_parity

    report = run_bench(BenchConfig("model.pt", backends=("torch", "onnxruntime"), iters=5))
    print(report.table())          # or .summary(), .to_json()
    parity = run_parity(ParityConfig("model.pt", "synthetic:8", (Candidate("onnx", "model.onnx", "onnxruntime"),)))
    print(parity.summary()); exit_code = 0 if parity.passed else 1

These modules import only numpy at import time; torch, onnxruntime and
TensorRT are imported by the backends that use them.
"""

from acnet.benchmarks.bench import BenchConfig, BenchReport, BenchResult, run_bench
from acnet.benchmarks.parity import Candidate, Gate, ParityConfig, ParityReport, ParityResult, run_parity

__all__ = [
    "BenchConfig", "BenchReport", "BenchResult", "run_bench",
    "Candidate", "Gate", "ParityConfig", "ParityReport", "ParityResult", "run_parity",
]
