"""Pictures of a bench report: latency against batch size, and latency distributions."""

from __future__ import annotations

import os
from pathlib import Path

from acnet._io import atomic_path
from acnet.errors import ConfigError


def plot_bench(report, path: str | os.PathLike) -> Path:
    """Write a PNG with two panels and return its path.

    Left: median latency per image against batch size for each backend, with
    the p90 as the upper whisker (per-image, so batching gains show as a
    falling line). Right: the distribution of every timed call's latency
    (box: quartiles, whiskers: 1.5 IQR, dots: outliers) per backend and batch.
    """
    try:
        import matplotlib  # optional (acnet[train]); only --plot draws

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        raise ConfigError("--plot needs matplotlib (pip install 'acnet[train]' or pip install matplotlib)") from None

    ok = [r for r in report.results if r.ok]
    if not ok:
        raise ConfigError("nothing was measured, so there is nothing to plot")
    path = Path(path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.4]})
    backends = list(dict.fromkeys(r.backend for r in ok))
    for name in backends:
        rows = sorted((r for r in ok if r.backend == name), key=lambda r: r.batch)
        batches = [r.batch for r in rows]
        median = [r.latency_ms.median / r.batch for r in rows]
        upper = [(r.latency_ms.p90 - r.latency_ms.median) / r.batch for r in rows]
        left.errorbar(batches, median, yerr=[[0] * len(rows), upper], marker="o", capsize=3, label=name)
    left.set_xscale("log", base=2)
    all_batches = sorted({r.batch for r in ok})
    left.set_xticks(all_batches, [str(b) for b in all_batches])
    left.set_xlabel("batch size")
    left.set_ylabel("latency per image, ms (median; bar to p90)")
    left.set_title("latency vs batch")
    left.grid(True, alpha=0.3)
    left.legend()

    samples = [r.samples_ms.get("latency_ms") or [r.latency_ms.median] for r in ok]
    labels = [f"{r.backend}\nbatch {r.batch}" for r in ok]
    boxes = right.boxplot(samples, showfliers=True, patch_artist=True)
    colours = {name: f"C{i}" for i, name in enumerate(backends)}
    for patch, r in zip(boxes["boxes"], ok):
        patch.set_facecolor(colours[r.backend])
        patch.set_alpha(0.5)
    right.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
    right.set_ylabel("latency per call, ms")
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_title(f"latency distribution ({report.config.get('iters')}+ timed calls each)")
    right.grid(True, axis="y", alpha=0.3)

    model = report.model
    fig.suptitle(f"acnet bench: {model.get('description', '')} on {report.config.get('device')} "
                 f"({report.environment['cpu']['model'] if str(report.config.get('device')) == 'cpu' else report.environment['gpu'].get('value')})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
