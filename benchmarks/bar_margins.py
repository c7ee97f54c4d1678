"""Per-seed values of what the two training tests assert, so their bars have a measured margin.

The runs are the tests' own (the configurations are imported from
tests/test_train_overfit.py and tests/test_quickstart.py), with the
``deterministic_torch`` fixture's settings (two threads, deterministic
kernels), one seed at a time. Each run appends one JSON line to the output:

    python benchmarks/bar_margins.py overfit 0 1 2 3 4 >> benchmarks/results/bar-margins.jsonl
    python benchmarks/bar_margins.py quickstart 0 1 >> benchmarks/results/bar-margins.jsonl
    python benchmarks/bar_margins.py --threads 1 quickstart 0 1 >> ...   # as beside another pytest-xdist worker

The quickstart run stops after its evaluation (step 2 of 8): the bars are on
training and evaluation only, and the exports, parity, benchmark and AOTI
steps after it take minutes without changing those numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


class _Stop(Exception):
    pass


def _deterministic(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def overfit(seed: int, out: Path, threads: int) -> dict:
    from test_train_overfit import SCENES, constant_guess_miou, loss_ratio, overfit_config

    from acnet.training.data import open_dataset
    from acnet.training.train import train

    result = train(overfit_config(out, seed))
    baseline, _ = constant_guess_miou(open_dataset(SCENES))
    m = result.final_metrics
    return {"loss_ratio": loss_ratio(result), "miou": m["miou"], "baseline": baseline,
            "pixel_accuracy": m["pixel_accuracy"], "steps": result.global_step,
            "bars": {"loss_ratio <": 0.25, "miou - baseline >": 0.5, "pixel_accuracy >": 0.8}}


def quickstart(seed: int, out: Path, threads: int) -> dict:
    from test_quickstart import epoch_losses, quickstart_test_config

    import acnet.export.onnx as export_onnx_module
    import acnet.quickstart as qs
    import acnet.training.evaluate as evaluate_module

    seen = {}
    evaluate = evaluate_module.evaluate

    def keep(*args, **kwargs):
        seen["eval"] = evaluate(*args, **kwargs)
        return seen["eval"]

    def stop(*args, **kwargs):
        raise _Stop

    evaluate_module.evaluate, export_onnx_module.export_onnx = keep, stop  # run_quickstart imports them when called
    try:
        qs.run_quickstart(quickstart_test_config(out / "qs", seed, threads=threads))
    except _Stop:
        pass
    losses = epoch_losses(out / "qs")
    evaluation = seen["eval"]
    return {"loss_ratio": float(losses[-5:].mean() / losses[0]), "miou": evaluation.miou,
            "baseline": qs._constant_guess_miou(evaluation.confusion), "epochs": len(losses),
            "bars": {"loss_ratio <": 0.7, "miou - baseline >": 0.08, "baseline <": 0.15}}


def main(argv: list[str]) -> None:
    threads = 2  # the deterministic_torch fixture's, alone on two cores
    if argv[:1] == ["--threads"]:
        threads, argv = int(argv[1]), argv[2:]
    kind, seeds = argv[0], [int(s) for s in argv[1:]]
    run = {"overfit": overfit, "quickstart": quickstart}[kind]
    _deterministic(threads)
    for seed in seeds:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):  # the runs' narrative
            values = run(seed, Path(tmp), threads)
        record = {"test": kind, "seed": seed, "threads": threads, **values, "seconds": round(time.perf_counter() - start, 1),
                  "load_average_start": round(load, 2), "load_average_end": round(os.getloadavg()[0], 2)}
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
