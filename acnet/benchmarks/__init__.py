"""Benchmarks: latency/throughput per backend and parity against PyTorch."""
