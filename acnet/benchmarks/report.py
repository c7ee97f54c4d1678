"""Human-readable tables and markdown for bench and parity reports.

JSON is each report's ``to_json()``; this module only formats.
"""

from __future__ import annotations

from acnet.benchmarks.environment import environment_lines


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def grid(header: list[str], rows: list[list[str]], markdown: bool = False, left: tuple[int, ...] = (0,)) -> list[str]:
    """Aligned text columns (those in ``left`` flush left, numbers flush right), or a markdown table."""
    if markdown:
        cell = lambda c: str(c).replace("|", "\\|")
        lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return lines + ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


# --------------------------------------------------------------------------- bench


def bench_rows(report) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, notes) of a bench report; skipped backends become notes."""
    speedups = {(s["backend"], s["batch"]): s for s in report.speedups()}
    efficiency = {(e["backend"], e["batch"]): e for e in report.efficiency()}
    header = ["backend", "precision", "batch", "compute ms", "latency ms", "p90", "p99", "end-to-end ms",
              "overhead", "images/s", "speed-up compute", "speed-up latency"]
    if efficiency:
        header.append("% peak")
    rows = []
    for r in report.results:
        if not r.ok:
            continue
        s = speedups.get((r.backend, r.batch))
        row = [
            r.backend,
            str(r.details.get("precision", "")),
            str(r.batch),
            _ms(r.compute_ms.median),
            _ms(r.latency_ms.median),
            _ms(r.latency_ms.p90),
            _ms(r.latency_ms.p99),
            _ms(r.end_to_end_ms.median),
            _overhead(r),
            f"{r.throughput_ips.median:.2f}",
            *(f"{s[k]:.2f}x" if s else ("1.00x" if r.backend == "torch" else "-") for k in ("compute", "latency")),
        ]
        if efficiency:
            e = efficiency.get((r.backend, r.batch))
            row.append(f"{100 * e['fraction_of_peak']:.0f}%" if e and e["fraction_of_peak"] else "-")
        rows.append(row)
    return header, rows, not_measured(report.results)


def _overhead(result) -> str:
    """Median per-call overhead in ms and as a share of the network time of the same calls."""
    if result.overhead_ms is None or result.overhead is None:
        return "-"
    return f"{_ms(result.overhead_ms.median)} ms ({100 * result.overhead:.1f}%)"


def not_measured(results) -> list[str]:
    """One line per backend and reason: "tensorrt: skipped: ..." or "onnxruntime (batch 2, 4): skipped: ..."."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for r in results:
        if not r.ok:
            groups.setdefault((r.backend, r.status, r.reason), []).append(r.batch)
    lines = []
    for (backend, status, reason), batches in groups.items():
        every = len(batches) == sum(1 for r in results if r.backend == backend)
        where = backend if every else f"{backend} (batch {', '.join(map(str, batches))})"
        lines.append(f"{where}: {'skipped' if status == 'skipped' else 'FAILED'}: {reason}")
    return lines


def bench_head(report) -> list[str]:
    cfg, model = report.config, report.model
    size = f"{model['height']}x{model['width']}" if model.get("height") else "size unknown (no model opened)"
    lines = [
        f"acnet bench: {model.get('description', '')}".rstrip(),
        f"device {cfg.get('device')}, input {size}, "
        f"warm-up {cfg.get('warmup')} calls, {cfg.get('iters')} timed iterations (medians unless noted)",
    ]
    lines += environment_lines(report.environment)
    return lines


def bench_legend(report) -> list[str]:
    lines = [
        "compute: the network alone (CUDA events on GPU; wall clock on CPU)",
        "latency: host arrays in -> host logits out (adds H2D and D2H copies on GPU); p90/p99 are of latency",
        "end-to-end: raw frames -> class ids through the runtime (preprocess, network, resize, argmax)",
        "overhead: per end-to-end call, its time minus the network's time inside it (median; % of the network's median)",
        "speed-up: torch FP32 eager compute / this compute, and the same for latency (medians of the same run; "
        "a gap between the two is the copies, which compiling cannot speed up)",
    ]
    efficiency = report.efficiency()
    if report.gflops_per_frame and efficiency:
        lines.append(f"% peak: {report.gflops_per_frame:.1f} G operations (2 x multiply-adds) per frame x batch / "
                     "compute, against the peak of the row's precision:")
        for precision in dict.fromkeys(e["precision"] for e in efficiency):
            peak = report.peak_for(precision)
            if peak is None:
                lines.append(f"  {precision}: no peak known for this CPU (no {precision} dot-product instructions)")
                continue
            note = f" ({peak['note']})" if peak.get("note") else ""
            lines.append(f"  {precision}: {peak['formula']}{note}")
        clock = report.cpu_clock or {}
        if clock.get("source") == "measured":
            m = clock["measurement"]
            lines.append(f"  clock {clock['ghz']:.2f} GHz measured (dependent register adds on {len(m['per_thread_ghz'])} "
                         f"cores at once; the OS reports {clock.get('os_reported_ghz') or '?'} GHz)")
        elif clock.get("note"):
            lines.append(f"  clock {clock.get('ghz') or '?'} GHz {clock['source']}: {clock['note']}")
        if any((e["fraction_of_peak"] or 0) > 1 for e in efficiency):
            lines.append("  (above 100%: that peak is underestimated: the CPU has more units than --fma-units, "
                         "or the backend uses other instructions, such as AMX tiles)")
    return lines


def bench_table(report) -> str:
    header, rows, notes = bench_rows(report)
    lines = bench_head(report) + [""]
    lines += grid(header, rows) if rows else ["(nothing measured)"]
    lines += [""] + bench_legend(report)
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def bench_markdown(report) -> str:
    header, rows, notes = bench_rows(report)
    lines = ["# acnet bench", ""] + [f"- {line}" for line in bench_head(report)] + [""]
    lines += grid(header, rows, markdown=True) if rows else ["(nothing measured)"]
    lines += [""] + [f"- {line}" for line in bench_legend(report)]
    if notes:
        lines += ["", "Not measured:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def bench_summary(report) -> str:
    """A few lines for ``acnet quickstart``: median latency per backend at each batch."""
    lines = []
    speedups = {(s["backend"], s["batch"]): s for s in report.speedups()}
    for r in report.results:
        if r.ok:
            s = speedups.get((r.backend, r.batch))
            extra = f", {s['latency']:.2f}x torch" if s else ""
            lines.append(f"{r.backend} batch {r.batch}: {_ms(r.latency_ms.median)} ms latency, "
                         f"{_ms(r.end_to_end_ms.median)} ms end-to-end, {r.throughput_ips.median:.1f} images/s{extra}")
    lines += not_measured(report.results)
    return "\n".join(lines)


# --------------------------------------------------------------------------- parity


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def parity_rows(report) -> tuple[list[str], list[list[str]]]:
    header = ["model", "backend", "precision", "max |Δlogit|", "mean |Δlogit|", "agreement", "worst frame",
              "mIoU ref", "mIoU", "ΔmIoU pts", "gate", "result"]
    rows = []
    for r in report.results:
        rows.append([
            r.label,
            r.backend,
            r.precision,
            _opt(r.max_abs_logits, ".3g") + ("" if r.max_rel_logits is None else f" ({r.max_rel_logits:.1e} rel)"),
            _opt(r.mean_abs_logits, ".3g"),
            f"{r.agreement_pct:.3f}%",
            f"{r.worst_frame_agreement_pct:.2f}% ({r.worst_frame})",
            _opt(None if r.miou_reference is None else 100 * r.miou_reference, ".2f"),
            _opt(None if r.miou is None else 100 * r.miou, ".2f"),
            _opt(r.delta_miou_points, "+.3f"),
            f"≥{r.gate.min_agreement_pct}%, ≤{r.gate.max_delta_miou_points} pts",
            "pass" if r.passed else "FAIL",
        ])
    return header, rows


def parity_head(report) -> list[str]:
    ref, data = report.reference, report.data
    return [
        f"acnet parity: {ref['backbone']}, {ref['num_classes']} classes, input {ref['input_size'][0]}x{ref['input_size'][1]}; "
        f"reference PyTorch FP32 on {ref.get('device')}",
        f"data: {data['spec']} ({data['split']}), {data['frames']} frames, {data['labelled_pixels']:,} labelled pixels",
    ] + environment_lines(report.environment, timings=False)


def _parity_notes(report) -> list[str]:
    notes = []
    for r in report.results:
        notes.append(f"{r.label}: {r.runtime}")
        if r.failures:
            notes.append(f"{r.label} FAILED: " + "; ".join(r.failures))
        if r.note:
            notes.append(f"{r.label}: note: {r.note}")
    return notes


PARITY_LEGEND = (
    "Δlogit: logits error against PyTorch at the model's input size; agreement: share of pixels with the same "
    "class as PyTorch at each frame's size; mIoU in points (%), ΔmIoU = model - reference"
)


def parity_table(report) -> str:
    header, rows = parity_rows(report)
    lines = parity_head(report) + [""] + grid(header, rows) + ["", PARITY_LEGEND] + _parity_notes(report)
    lines.append("PASSED" if report.passed else "FAILED: at least one model is outside its gate")
    return "\n".join(lines)


def parity_markdown(report) -> str:
    header, rows = parity_rows(report)
    lines = ["# acnet parity", ""] + [f"- {line}" for line in parity_head(report)] + [""]
    lines += grid(header, rows, markdown=True) + ["", PARITY_LEGEND, ""] + [f"- {n}" for n in _parity_notes(report)]
    lines += ["", "**PASSED**" if report.passed else "**FAILED**: at least one model is outside its gate"]
    return "\n".join(lines) + "\n"


def parity_summary(report) -> str:
    lines = []
    for r in report.results:
        miou = "" if r.delta_miou_points is None else f", ΔmIoU {r.delta_miou_points:+.3f} pts"
        err = "" if r.max_abs_logits is None else f", max |Δlogit| {r.max_abs_logits:.3g}"
        verdict = "pass" if r.passed else "FAIL (" + "; ".join(r.failures) + ")"
        ties = "" if r.ties is None else f", {r.ties} tie(s)"
        lines.append(f"{r.label} ({r.precision}, {r.backend}): agreement {r.agreement_pct:.3f}%{ties}{miou}{err}: {verdict}")
    return "\n".join(lines)
