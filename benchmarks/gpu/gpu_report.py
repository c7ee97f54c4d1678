"""The GPU run's report: one JSON with everything, markdown for people, a short table for the reply.

``build_report`` gathers the steps' results (written after every step, so a
run killed at its limit still returns what finished), the top-level
``speedups`` of every bench run, the bench medians and the targets of issue
13. ``merge`` joins a first run and its rerun; ``results_stem`` names the
committed files after the GPU the env step saw (``gpu-h100-run``,
``gpu-h200-run``). Tables and time come from acnet's own report helpers.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from acnet.benchmarks.artefacts import utc_now
from acnet.benchmarks.environment import environment_lines
from acnet.benchmarks.report import grid

REPO = Path(__file__).resolve().parents[2]
SCHEMA = "acnet.gpu-run"
SCHEMA_VERSION = 2
MET = {True: "yes", False: "NO", None: "-"}
#: What a parity target says about BF16's gate (acnet parity has none of its own for bf16).
BF16_GATE = ("bf16 is judged by the FP16 gate (>= 99.5% agreement, <= 0.2 points ΔmIoU): acnet parity has no bf16 "
             "gate of its own and judges every reduced precision by FP16's. bf16 keeps 8 mantissa bits to FP16's 11, "
             "about 8x FP16's rounding error, so on ResNet-50 a FAIL here is expected, not a fault of the toolchain")


# =========================================================================== names


def gpu_name(report: dict) -> str | None:
    """The GPU the env step saw (torch's name for it), or None (a CPU dry run, or env failed)."""
    env = _steps(report).get("env", {}).get("result") or {}
    props = env.get("gpu_properties") or {}
    return props.get("name") or ((env.get("environment") or {}).get("gpu") or {}).get("value") or None


def gpu_slug(name: str | None) -> str:
    """``"NVIDIA H100 80GB HBM3"`` -> ``"h100"``, ``"NVIDIA H200"`` -> ``"h200"``; ``"cpu"`` without a GPU.

    The first word that is a model number (letters then digits, as H100,
    A100, L40S); else the whole name, lower-case, words joined by '-'.
    """
    if not name:
        return "cpu"
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w and w.lower() != "nvidia"]
    for word in words:
        if re.fullmatch(r"[A-Za-z]{1,3}\d{2,4}[A-Za-z]*", word):
            return word.lower()
    return "-".join(w.lower() for w in words) or "gpu"


def results_stem(report: dict) -> str:
    """The name of the committed results files: ``gpu-h100-run``, ``gpu-h200-run`` (``gpu-cpu-run`` for a dry run)."""
    return f"gpu-{gpu_slug(gpu_name(report))}-run"


# =========================================================================== what was measured


def _steps(report: dict) -> dict:
    return {s["name"]: s for s in report["steps"]}


def bench_reports(steps: dict) -> list[tuple[str, dict]]:
    """Every bench report of the run, named: the eager one and one per compiled batch."""
    out = []
    b = steps.get("bench")
    if b and b.get("result"):
        out.append(("bench", b["result"]))
    c = steps.get("bench-compile")
    for batch, run in ((c or {}).get("result") or {}).get("runs", {}).items():
        if run.get("report"):
            out.append((f"bench-compile b{batch}", run["report"]))
    return out


def speedups(steps: dict) -> list[dict]:
    """Every bench entry's ratios of medians against eager FP32 of the same run, with the run it came from."""
    keys = ("backend", "batch", "baseline", "compute", "latency", "end_to_end")
    return [{"run": run, **{k: s.get(k) for k in keys}} for run, report in bench_reports(steps)
            for s in report.get("speedups", [])]


def bench_rows(steps: dict) -> list[dict]:
    """One row per measured backend and batch, with its speed-ups against eager FP32 of the same run."""
    rows = []
    for run, report in bench_reports(steps):
        speed = {(s["backend"], s["batch"]): s for s in report.get("speedups", [])}
        for r in report["results"]:
            if r["status"] != "ok":
                continue
            if r["backend"] == "torch" and any(x["backend"] == "torch" and x["batch"] == r["batch"] for x in rows):
                continue  # the compiled runs' own baseline; the eager run's is shown
            s = speed.get((r["backend"], r["batch"]), {})
            base = 1.0 if r["backend"] == "torch" else None
            compute, latency, e2e = (r[k]["median"] for k in ("compute_ms", "latency_ms", "end_to_end_ms"))
            rows.append({"run": run, "backend": r["backend"], "precision": r["details"].get("precision"), "batch": r["batch"],
                         "compute_ms": compute, "latency_ms": latency, "end_to_end_ms": e2e,
                         "compute_ips": 1000 * r["batch"] / compute, "end_to_end_ips": r["throughput_ips"]["median"],
                         "speedup_compute": s.get("compute", base), "speedup_latency": s.get("latency", base),
                         "speedup_end_to_end": s.get("end_to_end", base), "warmup_s": r.get("warmup_s")})
    return rows


def bench_problems(steps: dict) -> list[str]:
    out = []
    for _, report in bench_reports(steps):
        for r in report["results"]:
            if r["status"] != "ok":
                out.append(f"{r['backend']} batch {r['batch']}: {r['status']}: {r['reason']}")
    return sorted(set(out))


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _parity_target(parity: dict | None, precision: str) -> dict:
    name = {"fp16": "FP16 passes the FP16 parity gate on the real frames",
            "bf16": "BF16 against the FP16 parity gate (its gate: no bf16 gate of its own)"}[precision]
    rows = [r for r in (parity or {}).get("results", []) if r["precision"] == precision]
    if not rows:
        return {"target": name, "measured": None, "met": None}
    text = "; ".join(f"{r['label']} {r['agreement_pct']:.3f}%, ΔmIoU {_fmt(r['delta_miou_points'], '+.3f')} "
                     f"(gate >= {r['gate']['min_agreement_pct']}%, <= {r['gate']['max_delta_miou_points']} pts): "
                     f"{'pass' if r['passed'] else 'FAIL'}" for r in rows)
    return {"target": name, "measured": text, "met": all(r["passed"] for r in rows),
            **({"note": BF16_GATE} if precision == "bf16" else {})}


def targets(steps: dict) -> list[dict]:
    """Issue 13's targets, each with what was measured and whether it was met (None: not measured)."""
    rows = bench_rows(steps)
    out = []
    b1 = [r for r in rows if r["batch"] == 1 and r["speedup_compute"]]
    best = max(b1, key=lambda r: r["speedup_compute"], default=None)
    out.append({"target": "best path >= 5x eager FP32 at batch 1 (compute)",
                "measured": None if best is None else f"{best['backend']}: {best['speedup_compute']:.2f}x compute, "
                                                      f"{_fmt(best['speedup_latency'], '.2f')}x latency",
                "met": None if best is None else best["speedup_compute"] >= 5})
    fastest = min((r for r in rows if r["batch"] == 1), key=lambda r: r["compute_ms"], default=None)
    out.append({"target": "<= 2.5 ms per 480x640 frame at batch 1 (compute)",
                "measured": None if fastest is None else f"{fastest['backend']}: {fastest['compute_ms']:.2f} ms compute, "
                                                         f"{fastest['latency_ms']:.2f} ms latency, {fastest['end_to_end_ms']:.2f} ms end-to-end",
                "met": None if fastest is None else fastest["compute_ms"] <= 2.5})
    b8 = max((r for r in rows if r["batch"] == 8), key=lambda r: r["compute_ips"], default=None)
    out.append({"target": ">= 1,000 images/s at batch 8 (compute)",
                "measured": None if b8 is None else f"{b8['backend']}: {b8['compute_ips']:.0f} images/s compute, "
                                                    f"{b8['end_to_end_ips']:.0f} end-to-end",
                "met": None if b8 is None else b8["compute_ips"] >= 1000})
    parity = (steps.get("parity") or {}).get("result")
    out += [_parity_target(parity, "fp16"), _parity_target(parity, "bf16")]
    train = ((steps.get("train") or {}).get("result") or {}).get("results", {})
    amp = {k: v["speedup_vs_fp32"] for k, v in train.items() if k != "fp32" and "speedup_vs_fp32" in v}
    out.append({"target": "AMP training >= 2x FP32 in images/s",
                "measured": ", ".join(f"{k} {v:.2f}x" for k, v in amp.items()) or None,
                "met": (max(amp.values()) >= 2) if amp else None})
    capi = (steps.get("capi") or {}).get("result") or {}
    agree = capi.get("agreement_pct")
    out.append({"target": "C library's AOTI CUDA path agrees 100% with the Python runtime",
                "measured": None if agree is None else f"{agree:.3f}% (worst of {len(capi.get('results', []))} frames)",
                "met": None if agree is None else agree == 100.0})
    over = capi.get("c_over_python_end_to_end")
    out.append({"target": "C library end-to-end within 5% of the Python runtime's",
                "measured": None if over is None else f"{100 * over:+.1f}% (C example's median over the Python "
                                                      "runtime's, same frame and package, uint8 in, labels out)",
                "met": None if over is None else over <= 0.05})
    return out


# =========================================================================== the report


def git_commit() -> str | None:
    """This checkout's commit, where git and .git exist (not on the device machine: .git does not travel)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_report(options: dict, steps: list[dict], wall_s: float, budget_s: float | None, commit: str | None,
                 markdown: dict | None = None) -> dict:
    """Everything of one run so far (steps as ``Step.to_dict()``)."""
    by_name = {s["name"]: s for s in steps}
    env = (by_name.get("env") or {}).get("result") or {}
    report = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created": utc_now(),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]), "options": options,
        "git_commit": commit or git_commit(), "budget_s": budget_s, "wall_s": round(wall_s, 1),
        "steps": steps, "environment": env.get("environment"),
    }
    report["gpu"] = gpu_name(report)
    report["speedups"] = speedups(by_name)
    report["bench_rows"] = bench_rows(by_name)
    report["targets"] = targets(by_name)
    report["markdown"] = dict(markdown or {})
    return report


def merge(reports: list[dict]) -> dict:
    """A first run and its reruns as one report: a later step replaces an earlier one of the same name
    unless it did not run. Runs on different GPUs are refused: their figures do not mix."""
    gpus = {gpu_name(r) for r in reports} - {None}
    if len(gpus) > 1:
        raise ValueError(f"the runs were on different GPUs ({', '.join(sorted(gpus))}); report them separately")
    merged = dict(reports[0])
    steps = {s["name"]: s for s in reports[0]["steps"]}
    order = [s["name"] for s in reports[0]["steps"]]
    for r in reports[1:]:
        for s in r["steps"]:
            if s["name"] not in steps:
                order.append(s["name"])
            if s["status"] != "not-run" or s["name"] not in steps:
                steps[s["name"]] = s
        merged["markdown"] = {**merged.get("markdown", {}), **r.get("markdown", {})}
    merged["steps"] = [steps[n] for n in order]
    merged["command"] = " && ".join(r["command"] for r in reports)
    merged["git_commit"] = " then ".join(dict.fromkeys(str(r.get("git_commit")) for r in reports))
    merged["wall_s"] = round(sum(r["wall_s"] for r in reports), 1)
    merged["gpu"] = gpu_name(merged)
    merged["speedups"] = speedups(steps)
    merged["bench_rows"] = bench_rows(steps)
    merged["targets"] = targets(steps)
    merged["merged_from"] = [r["created"] for r in reports]
    return merged


# =========================================================================== for people


def _item(item: dict) -> str:
    """An environment item: its value, or 'none (why)'."""
    return str(item["value"]) if item.get("value") is not None else f"none ({item.get('reason')})"


def key_figure(step: dict) -> str:
    """The one line that matters for each step."""
    r = step.get("result") or {}
    name = step["name"]
    try:
        if name == "env" and r.get("ceilings"):
            c = r["ceilings"]
            q = ((r.get("nvidia_smi_after") or {}).get("query") or {})
            gpu = (r.get("gpu_properties") or {}).get("name") or r["environment"]["gpu"].get("value") or "no GPU"
            # the driver itself, not libcudart (which `grep libcuda` lists too)
            libcuda = any(line.startswith("libcuda.so") for line in (r.get("library_paths") or {}).get("ldconfig_libcuda") or [])
            return (f"{gpu}, torch {r['environment']['packages']['torch']['value']}, CUDA {_item(r['environment']['cuda'])}, "
                    f"driver {_item(r['environment']['driver'])}; bf16 matmul {c['matmul_bf16']['tflops']:.1f} TFLOP/s, "
                    f"copy {c['copy']['gb_per_s']:.0f} GB/s" + (f"; SM clock {q.get('clocks.sm')}" if q else "")
                    + f"; the driver's libcuda.so in ldconfig: {'yes' if libcuda else 'NO'}")
        if name == "tests" and r:
            return f"{r['passed']} passed, {r['failed']} failed, {r['errors']} errors, {r['skipped']} skipped"
        if name == "export" and r:
            v = r.get("verification") or {}
            return f"{r['size_mib']} MiB; verify agreement {100 * v.get('agreement', float('nan')):.3f}%" if v else f"{r['size_mib']} MiB"
        if name == "compile-warm" and r:
            return ", ".join(f"{k} {_fmt(v, '.0f')} s" for k, v in r["warmup_s"].items())
        if name == "bench" and r:
            ok = [x for x in r["results"] if x["status"] == "ok"]
            return f"{len(ok)} of {len(r['results'])} backend x batch measured"
        if name == "train" and r:
            return ", ".join(f"{k} {v['images_per_s']['median']:.1f} img/s" if v.get("status") == "ok" else f"{k} {v['status']}"
                             for k, v in r["results"].items())
        if name == "capi" and r and r.get("agreement_pct") is not None:
            medians = ", ".join(f"{x['c_median_ms']:.2f}" for x in r["results"] if x["status"] == "ok")
            return (f"C median {medians} ms; agreement {r['agreement_pct']:.3f}%; "
                    f"C vs Python end-to-end {100 * r['c_over_python_end_to_end']:+.1f}%")
        if name == "parity" and r:
            return "; ".join(f"{x['label']} {x['agreement_pct']:.2f}% {'pass' if x['passed'] else 'FAIL'}" for x in r["results"])
        if name == "bench-compile" and r:
            return "; ".join(f"b{b} {run['status']}" for b, run in r["runs"].items())
        if name == "camera" and r:
            parts = [f"{case}: " + ", ".join(f"{m} {x['fps']:.1f} fps, {x['outside_wall_ms']:.2f} ms outside the network"
                                             for m, x in per.items()) for case, per in (r.get("stream") or {}).items()]
            sizes = ", ".join(f"{k} {v['total'] / 1e6:.2f} MB" for k, v in r["bytes_per_frame"].items())
            return "; ".join(parts + [f"per frame to the GPU and back: {sizes}"])
        if name == "checkpoint" and r:
            return f"{r['classes']} classes ({r['class_names_from']})"
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "(result unreadable)"
    return ""


def short_table(report: dict) -> str:
    """What to read first: steps, bench medians, targets (the device tool shows the end of the output)."""
    steps = _steps(report)
    lines = [f"acnet GPU run on {report.get('gpu') or 'no GPU'}: {report['wall_s']} s of a {report['budget_s']} s budget; "
             f"{report['created']}; commit {report.get('git_commit') or 'unknown'}", ""]
    lines += grid(["step", "status", "s", "key figure / reason"],
                  [[s["name"], s["status"], _fmt(s["seconds"], ".0f"),
                    (key_figure(s) or "") + (f"  [{s['reason']}]" if s.get("reason") else "")]
                   for s in report["steps"]], left=(0, 1, 3))
    rows = report.get("bench_rows") or []
    if rows:
        lines += ["", "medians; speed-up = eager FP32 (TF32 off) / this, same run; img/s = batch / compute"]
        lines += grid(["backend", "b", "compute ms", "latency ms", "e2e ms", "img/s", "e2e img/s", "x compute", "x latency"],
                      [[r["backend"], str(r["batch"]), f"{r['compute_ms']:.2f}", f"{r['latency_ms']:.2f}",
                        f"{r['end_to_end_ms']:.2f}", f"{r['compute_ips']:.0f}", f"{r['end_to_end_ips']:.0f}",
                        _fmt(r["speedup_compute"], ".2f") + "x", _fmt(r["speedup_latency"], ".2f") + "x"] for r in rows])
    problems = bench_problems(steps)
    if problems:
        lines += ["", "not measured: " + "; ".join(problems)[:1500]]
    lines += [""] + grid(["target", "measured", "met"],
                         [[t["target"], t["measured"] or "-", MET[t["met"]]] for t in report["targets"]], left=(0, 1))
    return "\n".join(line.rstrip() for line in lines)


def markdown(report: dict) -> str:
    steps = _steps(report)
    env = report.get("environment") or {}
    lines = ["# acnet GPU run", "",
             f"- {report.get('gpu') or 'no GPU'}; created {report['created']}, {report['wall_s']} s of a "
             f"{report['budget_s']} s budget",
             f"- command: `{report['command']}`", f"- commit: {report.get('git_commit') or 'unknown (not given with --commit)'}"]
    if env:
        lines += [f"- {line}" for line in environment_lines(env)]
    paths = ((steps.get("env") or {}).get("result") or {}).get("library_paths")
    if paths:
        lines.append(f"- LD_LIBRARY_PATH `{paths.get('LD_LIBRARY_PATH') or ''}`; `ldconfig -p | grep libcuda`: "
                     + ("; ".join(f"`{x}`" for x in paths.get("ldconfig_libcuda") or []) or "none"))
    lines += ["", "## Steps", ""]
    lines += grid(["step", "status", "seconds", "budget", "key figure", "reason"],
                  [[s["name"], s["status"], _fmt(s["seconds"], ".1f"), _fmt(s["budget_s"], ".0f"), key_figure(s),
                    s.get("reason") or ""] for s in report["steps"]], markdown=True)
    lines += ["", "## Targets", ""]
    lines += grid(["target", "measured", "met"], [[t["target"], t["measured"] or "-", MET[t["met"]]] for t in report["targets"]],
                  markdown=True)
    lines += [f"\n{t['target']}: {t['note']}." for t in report["targets"] if t.get("note")]
    rows = report.get("bench_rows") or []
    if rows:
        lines += ["", "## Inference (medians)", "",
                  "Compute: CUDA events around the network; latency: pinned host arrays in, pinned host logits out; "
                  "end-to-end: raw frames to class ids through the runtime's Segmenter. Speed-ups: eager FP32 (TF32 "
                  "off, cudnn.benchmark on) over this, compute and latency, in the same run.", ""]
        lines += grid(["run", "backend", "precision", "batch", "compute ms", "latency ms", "end-to-end ms",
                       "images/s (compute)", "images/s (end-to-end)", "speed-up compute", "speed-up latency", "warm-up s"],
                      [[r["run"], r["backend"], r["precision"], r["batch"], f"{r['compute_ms']:.3f}", f"{r['latency_ms']:.3f}",
                        f"{r['end_to_end_ms']:.3f}", f"{r['compute_ips']:.1f}", f"{r['end_to_end_ips']:.1f}",
                        _fmt(r["speedup_compute"], ".2f") + "x", _fmt(r["speedup_latency"], ".2f") + "x",
                        _fmt(r["warmup_s"], ".1f")] for r in rows], markdown=True)
    problems = bench_problems(steps)
    if problems:
        lines += ["", "Not measured:", ""] + [f"- {p}" for p in problems]
    env_step = (steps.get("env") or {}).get("result") or {}
    if env_step.get("ceilings"):
        c = env_step["ceilings"]
        lines += ["", "## Ceilings", "",
                  f"- bf16 {c['matmul_bf16']['n']}³ matrix product: {c['matmul_bf16']['tflops']:.1f} TFLOP/s "
                  f"(median of {len(c['matmul_bf16']['ms'])}, relative error vs float64 {c['matmul_bf16']['relative_error_vs_float64']:.1e}, "
                  f"checked: {c['matmul_bf16']['passed']})",
                  f"- device copy of {c['copy']['mib']} MiB: {c['copy']['gb_per_s']:.0f} GB/s counting read + write "
                  f"(checked: {c['copy']['passed']})"]
    train = (steps.get("train") or {}).get("result")
    if train:
        lines += ["", "## Training throughput", ""]
        lines += grid(["precision", "status", "images/s", "ms/step", "vs fp32", "autocast", "TF32 convs"],
                      [[k, "ok", f"{v['images_per_s']['median']:.2f}", f"{1000 * v['step_seconds']['median']:.1f}",
                        _fmt(v.get("speedup_vs_fp32"), ".2f") + "x", v.get("autocast"), v.get("cudnn_allow_tf32")]
                       if v.get("status") == "ok" else [k, f"{v.get('status')}: {v.get('reason')}", "", "", "", "", ""]
                       for k, v in train["results"].items()], markdown=True)
    capi = (steps.get("capi") or {}).get("result")
    if capi:
        lines += ["", "## C library (AOTInductor package)", ""]
        lines += grid(["frame", "C median ms (min-max)", "Python end-to-end ms", "C vs Python end-to-end",
                       "package latency ms", "package compute ms", "agreement"],
                      [[r["frame"], f"{r['c_median_ms']:.2f} ({r['c_min_ms']:.2f}-{r['c_max_ms']:.2f})",
                        f"{r['python_end_to_end_ms']:.2f}", f"{100 * r['c_over_python_end_to_end']:+.1f}%",
                        f"{r['package_latency_ms']:.2f}", f"{r['package_compute_ms']:.2f}", f"{r['agreement_pct']:.3f}%"]
                       if r["status"] == "ok" else [r["frame"], f"failed: {r['stderr'][-200:].strip()}", "", "", "", "", ""]
                       for r in capi["results"]], markdown=True)
    tests = (steps.get("tests") or {}).get("result")
    if tests:
        lines += ["", "## CUDA tests", "", f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
                  f"{tests['skipped']} skipped" + (" (from the log: the step did not finish)" if tests.get("partial") else "")]
        lines += [f"- {p['kind']}: `{p['test']}`: {p['message']}" for p in tests["problems"]]
        lines += [f"- skipped {n}x: {reason}" for reason, n in tests["skip_reasons"].items()]
    for name, text in (report.get("markdown") or {}).items():
        lines += ["", f"## acnet {name} (full table)", "", text.replace("\n# ", "\n### ").lstrip("# ").strip()]
    return "\n".join(lines) + "\n"
