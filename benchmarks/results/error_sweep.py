#!/usr/bin/env python
"""Error-promise sweep: bad input to every ``acnet`` command, and to the library API.

The promise (README, "Commands"): bad input to any command ends in exactly one
line on stderr, ``acnet: error: <message naming the problem>``, exit code 2, no
traceback, no log or progress lines around it; a failed write leaves no partial
file and keeps a previous file at that path. The library raises the typed
exceptions of :mod:`acnet.errors`.

This script builds, in a temporary folder, the few artefacts the cases need (a
tiny checkpoint from a one-step ``acnet train``, its ONNX export, hand-built
ONNX models, folder datasets with good and bad frames, bad config files,
truncated and foreign files, a read-only and a full tmpfs where it may mount
them), then runs every case:

* CLI cases as real processes of the installed ``acnet`` console script (as
  tests/installed.py does): default logging, default workers, the whole of
  stderr captured; clean = exit 2 and stderr exactly one ``acnet: error:``
  line containing every fragment (and, for writes, the previous file kept and
  no temporary file left);
* API cases in one Python subprocess (torch importable): clean = an exception
  from :mod:`acnet.errors` whose message contains every fragment.

Usage::

    python benchmarks/results/error_sweep.py                       # all cases
    python benchmarks/results/error_sweep.py --only infer/          # cases whose name contains 'infer/'
    python benchmarks/results/error_sweep.py --list                 # names only
    python benchmarks/results/error_sweep.py --out /tmp/sweep.jsonl --keep-work

Writes JSON lines to ``--out`` (default benchmarks/results/error-sweep.jsonl):
the environment first, then one record per case, then the summary.
Subprocesses run with OMP_NUM_THREADS=1 (the machine's cores are shared);
cases run one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "error-sweep.jsonl"
NYU_SAMPLES = REPO.parent / "shared" / "data" / "nyuv2-samples"
SUNRGBD_SAMPLES = REPO.parent / "shared" / "data" / "sunrgbd-samples"
PREFIX = "acnet: error: "
SIZE = 64  # the tiny model's input side
MARKER = ".acnet-error-sweep"

sys.path.insert(0, str(REPO / "tests"))
from installed import acnet_command  # noqa: E402  (the tests' rule for which `acnet` is the installed one)


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One bad input: a CLI invocation (``argv``) or a Python-API snippet (``api``)."""

    name: str
    command: str  # for the summary: "train", "export onnx", "api", ...
    argv: list[str] | None = None
    fragments: tuple[str, ...] = ()
    api: str | None = None
    #: API cases: the acnet.errors class expected (any AcnetError is accepted as typed; a different one is noted).
    expect: str | None = None
    #: Paths whose content before the run must be there, unchanged, afterwards (a failed write keeps them).
    keep: tuple[str, ...] = ()
    #: Folders that must hold no new file afterwards (no partial or temporary file left).
    no_new_files: tuple[str, ...] = ()
    #: Paths that must not exist afterwards.
    absent: tuple[str, ...] = ()
    timeout: float = 300.0
    note: str = ""
    needs: str = ""  # "mount": the read-only / full tmpfs (skipped where it cannot be mounted)


def build_cases(W: Path) -> list[Case]:
    """Every case, with paths inside the work folder ``W``."""
    w = lambda *parts: str(W.joinpath(*parts))  # noqa: E731
    ck, onnx = w("ckpt.pt"), w("model.onnx")
    rgb, depth = w("img", "rgb.png"), w("img", "depth.png")
    under = w("afile", "sub")  # a path below a regular file
    afile = w("afile")
    ro, full = w("ro"), w("full")
    cases: list[Case] = []

    def cli(command: str, name: str, argv: list[str], *fragments: str, **kw) -> None:
        cases.append(Case(f"{command.replace(' ', '-')}/{name}", command, argv=argv, fragments=fragments, **kw))

    def api(name: str, code: str, expect: str | None, *fragments: str, **kw) -> None:
        cases.append(Case(f"api/{name}", "api", api=textwrap.dedent(code).strip(), expect=expect, fragments=fragments, **kw))

    tiny = ["--backbone", "resnet18", "--width-mult", "0.25", "--height", str(SIZE), "--width", str(SIZE)]
    syn = f"synthetic:4?size={SIZE}x{SIZE}"
    # A real (tiny) run: one optimiser step; what the option would do is reached.
    run = ["train", *tiny, "--epochs", "1", "--batch-size", "2", "--max-steps", "1", "--val-data", "none", "--no-progress"]
    # Checked and written without training.
    dump = ["train", *tiny, "--dump-config", w("dumped.yaml")]

    # ------------------------------------------------------------------ global / usage
    cli("acnet", "misspelt-command", ["trian"], "no such command 'trian'", "train")
    cli("acnet", "unknown-command", ["frobnicate"], "no such command 'frobnicate'")
    cli("acnet", "unknown-global-option", ["--bogus", "eval"], "--bogus")
    cli("acnet", "unknown-option", ["eval", ck, "--bogus-flag"], "--bogus-flag")
    cli("acnet", "export-unknown-target", ["export", "tflite", ck], "tflite")
    cli("acnet", "data-unknown-subcommand", ["data", "statz", "synthetic"], "statz")
    cli("acnet", "model-unknown-subcommand", ["model", "sumary"], "sumary")
    cli("acnet", "capi-unknown-subcommand", ["capi", "biuld"], "biuld")
    cli("acnet", "missing-option-value", ["eval", ck, "--data"], "--data")
    cli("acnet", "extra-argument", ["eval", ck, ck], ck)

    # ------------------------------------------------------------------ model summary
    ms = ["model", "summary", "--backbone", "resnet18", "--width-mult", "0.25", "--height", "64", "--width", "64", "--classes", "9"]
    cli("model summary", "backbone-unknown", ["model", "summary", "--backbone", "resnet7"], "--backbone", "resnet7")
    cli("model summary", "classes-zero", [*ms, "--classes", "0"], "--classes")
    cli("model summary", "classes-256", [*ms, "--classes", "256"], "--classes")
    cli("model summary", "width-mult-zero", [*ms, "--width-mult", "0"], "--width-mult")
    cli("model summary", "width-mult-1.5", [*ms, "--width-mult", "1.5"], "--width-mult")
    cli("model summary", "width-mult-nan", [*ms, "--width-mult", "nan"], "--width-mult")
    cli("model summary", "height-zero", [*ms, "--height", "0"], "--height")
    cli("model summary", "height-not-multiple-of-32", [*ms, "--height", "50"], "50", "32")
    cli("model summary", "width-negative", [*ms, "--width", "-64"], "--width")
    cli("model summary", "fusion-unknown", [*ms, "--fusion", "late"], "--fusion", "late")
    cli("model summary", "json-under-a-file", [*ms, "--json", w("afile", "s.json")], afile)
    cli("model summary", "json-is-a-folder", [*ms, "--json", w("img")], "--json", w("img"))
    cli("model summary", "json-read-only", [*ms, "--json", w("ro", "s.json")], ro, "read-only", needs="mount")
    cli("model summary", "json-full-disk-keeps-previous", [*ms, "--json", w("full", "prev.json")], "no space left",
        keep=(w("full", "prev.json"),), no_new_files=(full,), needs="mount")

    # ------------------------------------------------------------------ data stats
    cli("data stats", "unknown-spec", ["data", "stats", "bogus:thing"], "bogus:thing")
    cli("data stats", "empty-spec", ["data", "stats", ""], "empty dataset spec")
    cli("data stats", "bare-missing-path", ["data", "stats", w("nope")], w("nope"))
    cli("data stats", "folder-missing", ["data", "stats", f"folder:{w('nope')}"], w("nope"))
    cli("data stats", "folder-is-a-file", ["data", "stats", f"folder:{afile}"], afile)
    cli("data stats", "folder-no-path", ["data", "stats", "folder:"], "folder")
    cli("data stats", "folder-unknown-option", ["data", "stats", f"folder:{w('ds', 'good')}?colour=1"], "colour")
    cli("data stats", "folder-split-missing", ["data", "stats", f"folder:{w('ds', 'good')}", "--split", "val"], "'val'")
    cli("data stats", "folder-depth-scale-nan", ["data", "stats", f"folder:{w('ds', 'good')}?depth_scale=nan"], "depth_scale")
    cli("data stats", "folder-depth-scale-zero", ["data", "stats", f"folder:{w('ds', 'good')}?depth_scale=0"], "depth_scale")
    cli("data stats", "folder-depth-scale-negative", ["data", "stats", f"folder:{w('ds', 'good')}?depth_scale=-1"], "depth_scale")
    cli("data stats", "folder-depth-scale-inf", ["data", "stats", f"folder:{w('ds', 'good')}?depth_scale=inf"], "depth_scale")
    cli("data stats", "folder-depth-scale-text", ["data", "stats", f"folder:{w('ds', 'good')}?depth_scale=mm"], "depth_scale", "'mm'")
    cli("data stats", "folder-depth-format-unknown", ["data", "stats", f"folder:{w('ds', 'good')}?depth_format=kinect"], "kinect")
    cli("data stats", "folder-labels-dir-missing", ["data", "stats", f"folder:{w('ds', 'good')}?labels=semantic_99"], "semantic_99")
    cli("data stats", "label-above-class-count", ["data", "stats", f"folder:{w('ds', 'badlabel')}"], "f3.png", "label 20")
    cli("data stats", "negative-label-npy", ["data", "stats", f"folder:{w('ds', 'neglabel')}"], "f1.npy", "-1")
    cli("data stats", "label-image-is-rgb", ["data", "stats", f"folder:{w('ds', 'rgblabel')}"], "f0.png")
    cli("data stats", "label-path-is-a-folder", ["data", "stats", f"folder:{w('ds', 'labelfolder')}"], "f0.png", "folder")
    cli("data stats", "missing-depth-file", ["data", "stats", f"folder:{w('ds', 'missingdepth')}"], "f2.png", "depth")
    cli("data stats", "depth-size-mismatch", ["data", "stats", f"folder:{w('ds', 'sizemismatch')}"], "f1")
    cli("data stats", "corrupt-rgb", ["data", "stats", f"folder:{w('ds', 'corruptrgb')}"], "f1.png", "not a readable image")
    cli("data stats", "nan-depth-npy", ["data", "stats", f"folder:{w('ds', 'nandepth')}"], "f1.npy", "NaN")
    cli("data stats", "empty-split", ["data", "stats", f"folder:{w('ds', 'emptysplit')}"], "contains no images")
    cli("data stats", "no-label-folder", ["data", "stats", f"folder:{w('ds', 'nolabels')}"], "label folder")
    cli("data stats", "class-names-not-utf8", ["data", "stats", f"folder:{w('ds', 'badnames')}"], "class_names.txt")
    cli("data stats", "class-names-json-garbage", ["data", "stats", f"folder:{w('ds', 'badnamesjson')}"], "class_names.json")
    cli("data stats", "normalization-json-garbage", ["data", "stats", f"folder:{w('ds', 'badnorm')}"], "normalization.json")
    cli("data stats", "normalization-json-zero-std", ["data", "stats", f"folder:{w('ds', 'zeronorm')}"], "normalization.json")
    cli("data stats", "real-nyuv2-samples-no-train-split", ["data", "stats", f"folder:{NYU_SAMPLES}"], "'train'")
    cli("data stats", "sunrgbd-sample-not-prepared", ["data", "stats", f"folder:{SUNRGBD_SAMPLES}"], str(SUNRGBD_SAMPLES))
    cli("data stats", "synthetic-zero-frames", ["data", "stats", "synthetic:0"], "frame count", "0")
    cli("data stats", "synthetic-negative-frames", ["data", "stats", "synthetic:-3"], "-3")
    cli("data stats", "synthetic-frames-text", ["data", "stats", "synthetic:many"], "many")
    cli("data stats", "synthetic-size-zero", ["data", "stats", "synthetic:2?size=0x0"], "0x0")
    cli("data stats", "synthetic-size-garbage", ["data", "stats", "synthetic:2?size=big"], "size", "'big'")
    cli("data stats", "synthetic-seed-text", ["data", "stats", "synthetic:2?seed=abc"], "seed", "'abc'")
    cli("data stats", "synthetic-unknown-option", ["data", "stats", "synthetic:2?colour=red"], "colour")
    cli("data stats", "synthetic-split-unknown", ["data", "stats", "synthetic:2?size=64x64", "--split", "dev"], "'dev'")
    cli("data stats", "nyuv2-mat-missing", ["data", "stats", f"nyuv2-mat:{w('nope.mat')}"], "nope.mat")
    cli("data stats", "nyuv2-mat-text-file", ["data", "stats", f"nyuv2-mat:{w('bad', 'text.mat')}"], "text.mat")
    cli("data stats", "nyuv2-mat-empty-hdf5", ["data", "stats", f"nyuv2-mat:{w('bad', 'empty.mat')}"], "empty.mat")
    cli("data stats", "nyuv2-mat-split-unknown", ["data", "stats", f"nyuv2-mat:{w('bad', 'empty.mat')}?split=val"], "val")
    cli("data stats", "max-frames-zero", ["data", "stats", "synthetic:2?size=64x64", "--max-frames", "0"], "--max-frames")
    cli("data stats", "json-under-a-file", ["data", "stats", "synthetic:2?size=64x64", "--json", w("afile", "n.json")], afile)
    cli("data stats", "json-is-a-folder", ["data", "stats", "synthetic:2?size=64x64", "--json", w("img")], w("img"))
    cli("data stats", "json-read-only", ["data", "stats", "synthetic:2?size=64x64", "--json", w("ro", "n.json")], ro,
        needs="mount")
    cli("data stats", "json-full-disk-keeps-previous",
        ["data", "stats", "synthetic:2?size=64x64", "--json", w("full", "prev.json")], "no space left",
        keep=(w("full", "prev.json"),), no_new_files=(full,), needs="mount")

    # ------------------------------------------------------------------ train: config files
    cfg = lambda name: w("cfg", name)  # noqa: E731
    for name, frags in [
        ("model-not-mapping.yaml", ("model: expected a mapping", "'resnet18'")),
        ("lr-list.yaml", ("lr: expected a finite number", "[0.1, 0.2]")),
        ("unknown-key.yaml", ("unknown key 'lrr'", "'lr'")),
        ("epochs-float.yaml", ("epochs: expected an integer", "1.5")),
        ("momentum-nan.yaml", ("momentum", "nan")),
        ("deep-supervision-maybe.yaml", ("deep_supervision", "'maybe'")),
        ("augmentation-zoom.yaml", ("augmentation.zoom",)),
        ("augmentation-scale-scalar.yaml", ("augmentation.scale", "1.2")),
        ("augmentation-scale-reversed.yaml", ("augmentation scale", "(1.4, 1.0)")),
        ("backbone-unknown.yaml", ("resnet7",)),
        ("model-width-text.yaml", ("model.width", "'big'")),
        ("model-classes-zero.yaml", ("num_classes", "0")),
        ("data-int.yaml", ("data: expected a string", "5")),
        ("height-33.yaml", ("height", "33")),
        ("batch-size-zero.yaml", ("batch_size", "0")),
        ("recipe-unknown.yaml", ("recipe", "'fast'")),
        ("loss-unknown.yaml", ("loss", "'l2'")),
        ("amp-unknown.yaml", ("amp", "'fp8'")),
        ("resume-int.yaml", ("resume", "5")),
        ("val-data-bogus.yaml", ("bogus:thing",)),
        ("workers-negative.yaml", ("num_workers", "-1")),
        ("max-steps-text.yaml", ("max_steps", "'x'")),
        ("not-yaml.yaml", ("not-yaml.yaml", "not valid YAML")),
        ("top-level-list.yaml", ("top-level-list.yaml", "mapping")),
        ("binary.yaml", ("binary.yaml",)),
        ("bad.json", ("bad.json", "not valid JSON")),
        ("list.json", ("list.json", "mapping")),
        ("nan.json", ("lr", "nan")),
    ]:
        cli("train", f"config-{name.replace('.', '-')}", ["train", "--config", cfg(name), "--dump-config", w("dumped.yaml")],
            *frags, absent=(w("dumped.yaml"),))
    cli("train", "config-missing", ["train", "--config", cfg("nope.yaml")], "nope.yaml")
    cli("train", "config-is-a-folder", ["train", "--config", w("cfg")], w("cfg"))

    # ------------------------------------------------------------------ train: flags (checked before training)
    for flag, value, frags in [
        ("--height", "33", ("height", "33")),
        ("--width", "0", ("width", "0")),
        ("--epochs", "0", ("epochs", "0")),
        ("--batch-size", "0", ("batch_size", "0")),
        ("--grad-accum", "0", ("grad_accum", "0")),
        ("--lr", "0", ("lr", "0")),
        ("--lr", "nan", ("lr", "nan")),
        ("--lr", "-1", ("lr", "-1")),
        ("--momentum", "-0.5", ("momentum",)),
        ("--weight-decay", "-1", ("weight_decay",)),
        ("--lr-decay", "0", ("lr_decay",)),
        ("--lr-decay", "1.5", ("lr_decay",)),
        ("--lr-decay-epochs", "0", ("lr_decay_epochs", "0")),
        ("--keep-last", "-1", ("keep_last", "-1")),
        ("--save-every-steps", "-1", ("save_every_steps", "-1")),
        ("--val-every", "0", ("val_every", "0")),
        ("--val-batch-size", "0", ("val_batch_size", "0")),
        ("--max-steps", "0", ("max_steps", "0")),
        ("--seed", "-1", ("seed", "-1")),
        ("--workers", "-1", ("--workers",)),
        ("--log-every", "0", ("log_every", "0")),
        ("--classes", "0", ("num_classes", "0")),
        ("--classes", "256", ("num_classes", "256")),
        ("--width-mult", "0", ("width", "0")),
        ("--width-mult", "2", ("width", "2")),
        ("--width-mult", "inf", ("width", "inf")),
        ("--backbone", "resnet7", ("--backbone", "resnet7")),
        ("--fusion", "late", ("--fusion", "late")),
        ("--loss", "l2", ("--loss", "l2")),
        ("--amp", "fp8", ("--amp", "fp8")),
        ("--recipe", "fast", ("--recipe", "fast")),
        ("--epochs", "many", ("--epochs", "many")),
        ("--focal-gamma", "nan", ("focal_gamma", "nan")),
        ("--focal-gamma", "-1", ("focal", "-1")),
        ("--data", "bogus:thing", ("bogus:thing",)),
        ("--data", "", ("empty dataset spec",)),
        ("--val-data", "bogus:thing", ("bogus:thing",)),
    ]:
        cli("train", f"flag{flag}={value or 'empty'}", [*dump, flag, value], *frags, absent=(w("dumped.yaml"),))
    cli("train", "dump-config-under-a-file", [*dump[:-1], w("afile", "c.yaml")], afile)
    cli("train", "dump-config-is-a-folder", [*dump[:-1], w("img")], w("img"))
    cli("train", "dump-config-read-only", [*dump[:-1], w("ro", "c.yaml")], ro, needs="mount")

    # ------------------------------------------------------------------ train: reached when the run starts
    cli("train", "focal-gamma-negative", [*run, "--data", syn, "--focal-gamma", "-1", "--out", w("runs", "gamma")],
        "focal_gamma", "-1", note="a negative focal-loss gamma up-weights easy pixels: meaningless")
    cli("train", "device-tpu9", [*run, "--data", syn, "--device", "tpu9", "--out", w("runs", "tpu")], "tpu9")
    cli("train", "device-cuda-without-gpu", [*run, "--data", syn, "--device", "cuda", "--out", w("runs", "cuda")], "cuda")
    cli("train", "device-cuda-7", [*run, "--data", syn, "--device", "cuda:7", "--out", w("runs", "cuda7")], "cuda:7")
    cli("train", "data-folder-missing", [*run, "--data", f"folder:{w('nope')}", "--out", w("runs", "x")], w("nope"))
    cli("train", "val-data-folder-missing", [*run, "--data", syn, "--val-data", f"folder:{w('nope')}",
                                             "--out", w("runs", "val")], w("nope"))
    cli("train", "label-above-class-count-workers", [*run, "--data", f"folder:{w('ds', 'badlabel')}",
                                                     "--batch-size", "4", "--out", w("runs", "badlabel")],
        "f3.png", "label 20")
    cli("train", "corrupt-rgb-in-worker", [*run, "--data", f"folder:{w('ds', 'corruptrgb')}", "--batch-size", "4",
                                          "--out", w("runs", "corrupt")], "f1.png")
    cli("train", "nan-depth-in-worker", [*run, "--data", f"folder:{w('ds', 'nandepth')}", "--batch-size", "4",
                                        "--out", w("runs", "nandepth")], "f1.npy")
    cli("train", "val-data-other-class-count", [*run, "--data", f"folder:{w('ds', 'good')}",
                                               "--val-data", f"folder:{w('ds', 'twelve')}", "--out", w("runs", "val12")],
        "12", "9")
    cli("train", "classes-below-labels", [*run, "--data", f"folder:{w('ds', 'good')}", "--classes", "3",
                                         "--out", w("runs", "few")], "3")
    cli("train", "class-weights-unknown", [*run, "--data", syn, "--class-weights", "bogus", "--out", w("runs", "cw1")],
        "bogus")
    cli("train", "class-weights-missing-json", [*run, "--data", syn, "--class-weights", w("nope.json"),
                                               "--out", w("runs", "cw2")], "nope.json")
    cli("train", "class-weights-wrong-length", [*run, "--data", syn, "--class-weights", w("bad", "cw_short.json"),
                                               "--out", w("runs", "cw3")], "cw_short.json", "2")
    cli("train", "class-weights-negative", [*run, "--data", syn, "--class-weights", w("bad", "cw_negative.json"),
                                           "--out", w("runs", "cw4")], "cw_negative.json")
    cli("train", "class-weights-nan", [*run, "--data", syn, "--class-weights", w("bad", "cw_nan.json"),
                                      "--out", w("runs", "cw6")], "cw_nan.json")
    cli("train", "class-weights-not-json", [*run, "--data", syn, "--class-weights", w("bad", "cw_text.json"),
                                           "--out", w("runs", "cw5")], "cw_text.json")
    cli("train", "normalization-missing", [*run, "--data", syn, "--normalization", w("nope.json"),
                                          "--out", w("runs", "n1")], "nope.json")
    cli("train", "normalization-garbage", [*run, "--data", syn, "--normalization", w("bad", "norm_text.json"),
                                          "--out", w("runs", "n2")], "norm_text.json")
    cli("train", "normalization-zero-std", [*run, "--data", syn, "--normalization", w("bad", "norm_zero_std.json"),
                                           "--out", w("runs", "n3")], "norm_zero_std.json")
    cli("train", "pretrained-missing", [*run, "--data", syn, "--pretrained", w("nope.pth"), "--out", w("runs", "p1")],
        "nope.pth")
    cli("train", "pretrained-text", [*run, "--data", syn, "--pretrained", w("bad", "text.pt"), "--out", w("runs", "p2")],
        "text.pt")
    cli("train", "pretrained-is-an-acnet-checkpoint", [*run, "--data", syn, "--pretrained", ck, "--out", w("runs", "p3")],
        ck)
    cli("train", "pretrained-is-onnx", [*run, "--data", syn, "--pretrained", onnx, "--out", w("runs", "p4")], onnx)
    cli("train", "resume-from-missing", [*run, "--data", syn, "--resume-from", w("nope.pt"), "--out", w("runs", "r1")],
        "nope.pt")
    cli("train", "resume-from-truncated", [*run, "--data", syn, "--resume-from", w("bad", "trunc.pt"),
                                          "--out", w("runs", "r2")], "trunc.pt", "truncated")
    cli("train", "resume-from-onnx", [*run, "--data", syn, "--resume-from", onnx, "--out", w("runs", "r3")],
        onnx, "ONNX")
    cli("train", "resume-from-other-architecture",
        ["train", "--backbone", "resnet34", "--width-mult", "0.25", "--height", str(SIZE), "--width", str(SIZE),
         "--epochs", "2", "--batch-size", "2", "--val-data", "none", "--no-progress", "--data", syn,
         "--resume-from", ck, "--out", w("runs", "r4")], ck)
    cli("train", "out-under-a-file", [*run, "--data", syn, "--out", under], afile)
    cli("train", "out-is-a-file", [*run, "--data", syn, "--out", afile], afile)
    cli("train", "out-read-only", [*run, "--data", syn, "--out", w("ro", "run")], ro, needs="mount")
    cli("train", "out-full-disk", [*run, "--data", syn, "--out", w("full", "run")], "no space left", needs="mount",
        no_new_files=(full,))

    # ------------------------------------------------------------------ eval
    ev = lambda *a: ["eval", *a]  # noqa: E731
    gd = f"folder:{w('ds', 'good')}"
    cli("eval", "checkpoint-missing", ev(w("nope.pt")), "nope.pt", "not found")
    cli("eval", "checkpoint-is-a-folder", ev(w("img")), w("img"))
    cli("eval", "checkpoint-empty", ev(w("bad", "empty.pt")), "empty.pt")
    cli("eval", "checkpoint-truncated", ev(w("bad", "trunc.pt")), "trunc.pt", "truncated")
    cli("eval", "checkpoint-text", ev(w("bad", "text.pt")), "text.pt")
    cli("eval", "checkpoint-foreign-dict", ev(w("bad", "foreign.pt")), "foreign.pt", "not an acnet checkpoint")
    cli("eval", "checkpoint-bare-state-dict", ev(w("bad", "statedict.pt")), "statedict.pt")
    cli("eval", "checkpoint-pickled-code", ev(w("bad", "pickle.pt")), "pickle.pt", "arbitrary Python objects")
    cli("eval", "checkpoint-is-onnx", ev(onnx), onnx, "ONNX")
    cli("eval", "checkpoint-is-aoti-package", ev(w("bad", "fake.pt2")), "fake.pt2", "AOTInductor")
    cli("eval", "checkpoint-is-png", ev(rgb), rgb)
    cli("eval", "checkpoint-missing-keys", ev(w("bad", "missingkeys.pt")), "missingkeys.pt", "normalization")
    cli("eval", "checkpoint-weights-do-not-fit", ev(w("bad", "wrongarch.pt")), "wrongarch.pt", "does not fit")
    cli("eval", "checkpoint-bad-input-size", ev(w("bad", "badsize.pt")), "badsize.pt", "33")
    cli("eval", "checkpoint-class-names-not-list", ev(w("bad", "badnames.pt")), "badnames.pt")
    cli("eval", "checkpoint-weights-not-tensors", ev(w("bad", "listweights.pt")), "listweights.pt")
    cli("eval", "checkpoint-zero-std-normalization", ev(w("bad", "zerostd.pt")), "zerostd.pt")
    cli("eval", "checkpoint-newer-format", ev(w("bad", "newer.pt")), "newer.pt", "newer acnet")
    cli("eval", "class-count-mismatch", ev(ck, "--data", f"folder:{w('ds', 'twelve')}"), "9", "12")
    cli("eval", "real-nyuv2-samples-40-classes", ev(ck, "--data", f"folder:{NYU_SAMPLES}"), "9", "40")
    cli("eval", "label-above-class-count", ev(ck, "--data", f"folder:{w('ds', 'badlabel')}"), "f3.png", "label 20")
    cli("eval", "label-above-class-count-2-workers", ev(ck, "--data", f"folder:{w('ds', 'badlabel')}", "--workers", "2"),
        "f3.png", "label 20")
    cli("eval", "nan-depth-2-workers", ev(ck, "--data", f"folder:{w('ds', 'nandepth')}", "--workers", "2"), "f1.npy")
    cli("eval", "depth-size-mismatch", ev(ck, "--data", f"folder:{w('ds', 'sizemismatch')}"), "f1")
    cli("eval", "missing-depth-file", ev(ck, "--data", f"folder:{w('ds', 'missingdepth')}"), "f2.png")
    cli("eval", "json-stdout-label-above-class-count", ev(ck, "--data", f"folder:{w('ds', 'badlabel')}", "--json", "-"),
        "f3.png", "label 20")
    cli("eval", "split-missing", ev(ck, "--data", gd, "--split", "val"), "'val'")
    cli("eval", "data-unknown-spec", ev(ck, "--data", "bogus:thing"), "bogus:thing")
    cli("eval", "data-nyuv2-mat-text", ev(ck, "--data", f"nyuv2-mat:{w('bad', 'text.mat')}"), "text.mat")
    cli("eval", "data-synthetic-zero", ev(ck, "--data", "synthetic:0"), "frame count", "0")
    cli("eval", "device-tpu9", ev(ck, "--device", "tpu9"), "tpu9")
    cli("eval", "device-cuda-without-gpu", ev(ck, "--device", "cuda"), "cuda")
    cli("eval", "device-cuda-5", ev(ck, "--device", "cuda:5"), "cuda:5")
    cli("eval", "device-empty", ev(ck, "--device", ""), "device")
    cli("eval", "batch-size-zero", ev(ck, "--batch-size", "0"), "--batch-size")
    cli("eval", "workers-negative", ev(ck, "--workers", "-1"), "--workers")
    cli("eval", "max-frames-zero", ev(ck, "--max-frames", "0"), "--max-frames")
    cli("eval", "json-under-a-file", ev(ck, "--data", syn, "--json", w("afile", "m.json")), afile)
    cli("eval", "json-is-a-folder", ev(ck, "--data", syn, "--json", w("img")), w("img"))
    cli("eval", "json-read-only", ev(ck, "--data", syn, "--json", w("ro", "m.json")), ro, needs="mount")
    cli("eval", "json-full-disk-keeps-previous", ev(ck, "--data", syn, "--json", w("full", "prev.json")),
        "no space left", keep=(w("full", "prev.json"),), no_new_files=(full,), needs="mount")
    cli("eval", "save-vis-under-a-file", ev(ck, "--data", syn, "--save-vis", under), afile)
    cli("eval", "save-vis-is-a-file", ev(ck, "--data", syn, "--save-vis", afile), afile)
    cli("eval", "save-vis-read-only", ev(ck, "--data", syn, "--save-vis", w("ro", "vis")), ro, needs="mount")

    # ------------------------------------------------------------------ export onnx
    eo = lambda *a: ["export", "onnx", *a]  # noqa: E731
    out = w("exp", "m.onnx")
    cli("export onnx", "checkpoint-missing", eo(w("nope.pt"), "-o", out), "nope.pt", absent=(out,))
    cli("export onnx", "checkpoint-truncated", eo(w("bad", "trunc.pt"), "-o", out), "trunc.pt", absent=(out,))
    cli("export onnx", "checkpoint-foreign", eo(w("bad", "foreign.pt"), "-o", out), "foreign.pt", absent=(out,))
    cli("export onnx", "checkpoint-is-onnx", eo(onnx, "-o", out), onnx, absent=(out,))
    cli("export onnx", "checkpoint-weights-do-not-fit", eo(w("bad", "wrongarch.pt"), "-o", out), "wrongarch.pt",
        absent=(out,))
    cli("export onnx", "checkpoint-nan-weights", eo(w("bad", "nanweights.pt"), "-o", out), "nanweights.pt",
        absent=(out,), note="every weight NaN: the export cannot verify against PyTorch")
    cli("export onnx", "height-not-multiple-of-32", eo(ck, "-o", out, "--height", "33"), "--height", "33", absent=(out,))
    cli("export onnx", "width-zero", eo(ck, "-o", out, "--width", "0"), "--width", absent=(out,))
    cli("export onnx", "batch-zero", eo(ck, "-o", out, "--batch", "0"), "--batch", absent=(out,))
    cli("export onnx", "batch-and-dynamic-batch", eo(ck, "-o", out, "--batch", "2", "--dynamic-batch"), "--batch",
        "--dynamic-batch", absent=(out,))
    cli("export onnx", "opset-5", eo(ck, "-o", out, "--opset", "5"), "opset", "5", absent=(out,))
    cli("export onnx", "opset-99", eo(ck, "-o", out, "--opset", "99"), "opset", "99", absent=(out,))
    cli("export onnx", "fp16-and-int8", eo(ck, "-o", out, "--fp16", "--int8", "--calib-data", syn), "--int8", "--fp16",
        absent=(out,))
    cli("export onnx", "int8-without-calib-data", eo(ck, "-o", out, "--int8"), "--calib-data", absent=(out,))
    cli("export onnx", "calib-data-without-int8", eo(ck, "-o", out, "--calib-data", syn), "--int8", absent=(out,))
    cli("export onnx", "int8-calib-data-missing-folder", eo(ck, "-o", out, "--int8", "--calib-data", f"folder:{w('nope')}"),
        w("nope"), absent=(out,))
    cli("export onnx", "int8-calib-frames-zero", eo(ck, "-o", out, "--int8", "--calib-data", syn, "--calib-frames", "0"),
        "--calib-frames", absent=(out,))
    cli("export onnx", "int8-calib-method-unknown", eo(ck, "-o", out, "--int8", "--calib-data", syn, "--calib-method", "mse"),
        "--calib-method", "mse", absent=(out,))
    cli("export onnx", "int8-target-unknown", eo(ck, "-o", out, "--int8", "--calib-data", syn, "--int8-target", "gpu"),
        "--int8-target", "gpu", absent=(out,))
    cli("export onnx", "int8-agreement-150", eo(ck, "-o", out, "--int8", "--calib-data", syn, "--int8-agreement", "150"),
        "--int8-agreement", absent=(out,))
    cli("export onnx", "int8-agreement-nan", eo(ck, "-o", out, "--int8", "--calib-data", syn, "--int8-agreement", "nan"),
        "--int8-agreement", absent=(out,))
    cli("export onnx", "int8-exclude-unknown-module", eo(ck, "-o", out, "--int8", "--calib-data", syn,
                                                         "--int8-exclude", "decoder.deconv9"), "decoder.deconv9",
        absent=(out,))
    cli("export onnx", "int8-calib-all-blank-frames", eo(ck, "-o", out, "--int8", "--calib-data", f"folder:{w('ds', 'blank')}",
                                                         "--calib-frames", "4"), "blank", absent=(out,))
    cli("export onnx", "output-under-a-file", eo(ck, "-o", w("afile", "m.onnx")), afile)
    cli("export onnx", "output-is-a-folder", eo(ck, "-o", w("img")), w("img"))
    cli("export onnx", "output-is-the-checkpoint", eo(w("ckpt_copy.pt"), "-o", w("ckpt_copy.pt")), "ckpt_copy.pt",
        keep=(w("ckpt_copy.pt"),), note="writing the ONNX over the checkpoint it reads destroys the input")
    cli("export onnx", "output-name-too-long", eo(ck, "-o", w("x" * 300, "m.onnx")), "too long")
    cli("export onnx", "output-read-only", eo(ck, "-o", w("ro", "m.onnx")), ro, "read-only", needs="mount")
    cli("export onnx", "output-full-disk-keeps-previous", eo(ck, "-o", w("full", "prev.onnx")), "no space left",
        keep=(w("full", "prev.onnx"),), no_new_files=(full,), needs="mount")
    cli("export onnx", "failed-int8-keeps-previous", eo(ck, "-o", w("exp", "prev.onnx"), "--int8", "--calib-data",
                                                        f"folder:{w('nope')}"), w("nope"),
        keep=(w("exp", "prev.onnx"),), no_new_files=(w("exp"),))

    # ------------------------------------------------------------------ export trt (no TensorRT here)
    et = lambda *a: ["export", "trt", *a]  # noqa: E731
    eng = w("exp", "m.engine")
    cli("export trt", "onnx-missing", et(w("nope.onnx"), "-o", eng), "nope.onnx")
    cli("export trt", "onnx-empty", et(w("bad", "empty.onnx"), "-o", eng), "empty.onnx")
    cli("export trt", "onnx-truncated", et(w("bad", "trunc.onnx"), "-o", eng), "trunc.onnx")
    cli("export trt", "onnx-is-a-checkpoint", et(ck, "-o", eng), ck)
    cli("export trt", "workspace-zero", et(onnx, "-o", eng, "--workspace-gb", "0"), "--workspace-gb")
    cli("export trt", "workspace-nan", et(onnx, "-o", eng, "--workspace-gb", "nan"), "--workspace-gb")
    cli("export trt", "min-batch-zero", et(onnx, "-o", eng, "--min-batch", "0"), "--min-batch")
    cli("export trt", "min-above-max-batch", et(onnx, "-o", eng, "--min-batch", "4", "--max-batch", "2"), "--min-batch 4")
    cli("export trt", "output-is-the-onnx", et(onnx, "-o", onnx), "-o/--output", keep=(onnx,))
    cli("export trt", "output-under-a-file", et(onnx, "-o", w("afile", "m.engine")), afile)
    cli("export trt", "timing-cache-is-a-folder", et(onnx, "-o", eng, "--timing-cache", w("img")), "--timing-cache")
    cli("export trt", "sidecar-only-engine-missing", et(onnx, "-o", w("exp", "nope.engine"), "--sidecar-only"),
        "nope.engine")
    cli("export trt", "no-tensorrt-installed", et(onnx, "-o", eng), "tensorrt", absent=(eng,),
        note="valid options: the line says what is missing")

    # ------------------------------------------------------------------ export aoti (all refused before compiling)
    ea = lambda *a: ["export", "aoti", *a]  # noqa: E731
    pt2 = w("exp", "m.pt2")
    cli("export aoti", "checkpoint-missing", ea(w("nope.pt"), "-o", pt2), "nope.pt")
    cli("export aoti", "checkpoint-truncated", ea(w("bad", "trunc.pt"), "-o", pt2), "trunc.pt")
    cli("export aoti", "checkpoint-is-onnx", ea(onnx, "-o", pt2), onnx)
    cli("export aoti", "device-tpu9", ea(ck, "-o", pt2, "--device", "tpu9"), "--device", "tpu9")
    cli("export aoti", "device-cuda-without-gpu", ea(ck, "-o", pt2, "--device", "cuda"), "cuda")
    cli("export aoti", "fp16-on-cpu", ea(ck, "-o", pt2, "--fp16"), "--fp16")
    cli("export aoti", "output-not-pt2", ea(ck, "-o", w("exp", "m.onnx")), "m.onnx", ".pt2")
    cli("export aoti", "batch-zero", ea(ck, "-o", pt2, "--batch", "0"), "--batch")
    cli("export aoti", "batch-2000", ea(ck, "-o", pt2, "--batch", "2000"), "--batch")
    cli("export aoti", "batch-and-dynamic-batch", ea(ck, "-o", pt2, "--batch", "2", "--dynamic-batch"), "--dynamic-batch")
    cli("export aoti", "height-not-multiple-of-32", ea(ck, "-o", pt2, "--height", "40"), "--height", "40")
    cli("export aoti", "output-under-a-file", ea(ck, "-o", w("afile", "m.pt2")), afile, timeout=240,
        note="should be refused before the compile starts")
    cli("export aoti", "output-read-only", ea(ck, "-o", w("ro", "m.pt2")), ro, needs="mount", timeout=240,
        note="should be refused before the compile starts")

    # ------------------------------------------------------------------ infer
    out_dir = w("infer-out")
    inf = lambda *a, o=out_dir: ["infer", *a, "-o", o]  # noqa: E731
    bad = lambda n: w("bad", n)  # noqa: E731
    cli("infer", "model-missing", inf(w("nope.onnx"), "--rgb", rgb, "--depth", depth), "nope.onnx")
    cli("infer", "model-is-a-folder", inf(w("img"), "--rgb", rgb, "--depth", depth), w("img"))
    cli("infer", "model-empty", inf(bad("empty.onnx"), "--rgb", rgb, "--depth", depth), "empty.onnx")
    cli("infer", "model-truncated", inf(bad("trunc.onnx"), "--rgb", rgb, "--depth", depth), "trunc.onnx")
    cli("infer", "model-text", inf(bad("text.onnx"), "--rgb", rgb, "--depth", depth), "text.onnx")
    cli("infer", "model-is-a-checkpoint", inf(ck, "--rgb", rgb, "--depth", depth), ck)
    cli("infer", "model-foreign-onnx", inf(w("foreign.onnx"), "--rgb", rgb, "--depth", depth), "foreign.onnx", "metadata")
    cli("infer", "model-malformed-metadata", inf(w("badmeta.onnx"), "--rgb", rgb, "--depth", depth), "badmeta.onnx")
    cli("infer", "model-classes-differ-from-metadata", inf(w("mismatch.onnx"), "--rgb", rgb, "--depth", depth),
        "mismatch.onnx")
    cli("infer", "engine-without-sidecar", inf(bad("fake.engine"), "--rgb", rgb, "--depth", depth), "tensorrt",
        note="without TensorRT the missing package is reported before the sidecar is read")
    cli("infer", "engine-sidecar-garbage", inf(bad("fake2.engine"), "--rgb", rgb, "--depth", depth), "tensorrt",
        note="without TensorRT the missing package is reported before the sidecar is read")
    cli("infer", "rgb-missing", inf(onnx, "--rgb", w("nope.png"), "--depth", depth), "nope.png")
    cli("infer", "depth-missing", inf(onnx, "--rgb", rgb, "--depth", w("nope.png")), "nope.png")
    cli("infer", "rgb-empty-file", inf(onnx, "--rgb", bad("empty.png"), "--depth", depth), "empty.png")
    cli("infer", "rgb-text-file", inf(onnx, "--rgb", bad("text.png"), "--depth", depth), "text.png")
    cli("infer", "rgb-truncated-png", inf(onnx, "--rgb", bad("trunc.png"), "--depth", depth), "trunc.png")
    cli("infer", "rgb-is-16-bit-depth", inf(onnx, "--rgb", depth, "--depth", depth), "depth.png")
    cli("infer", "rgb-decompression-bomb", inf(onnx, "--rgb", bad("bomb.png"), "--depth", depth), "bomb.png")
    cli("infer", "rgb-is-a-folder-named-png", inf(onnx, "--rgb", bad("folder.png"), "--depth", depth), "folder.png")
    cli("infer", "depth-empty-png", inf(onnx, "--rgb", rgb, "--depth", bad("empty.png")), "empty.png")
    cli("infer", "depth-8-bit", inf(onnx, "--rgb", rgb, "--depth", bad("grey8.png")), "grey8.png", "8-bit")
    cli("infer", "depth-is-rgb-image", inf(onnx, "--rgb", rgb, "--depth", rgb), "rgb.png")
    cli("infer", "depth-nan", inf(onnx, "--rgb", rgb, "--depth", bad("nan.npy")), "nan.npy", "NaN")
    cli("infer", "depth-inf", inf(onnx, "--rgb", rgb, "--depth", bad("inf.npy")), "inf.npy")
    cli("infer", "depth-negative", inf(onnx, "--rgb", rgb, "--depth", bad("negative.npy")), "negative.npy")
    cli("infer", "depth-1e38", inf(onnx, "--rgb", rgb, "--depth", bad("far.npy")), "far.npy", "beyond any sensor")
    cli("infer", "depth-empty-npy", inf(onnx, "--rgb", rgb, "--depth", bad("empty.npy")), "empty.npy")
    cli("infer", "depth-corrupt-npy", inf(onnx, "--rgb", rgb, "--depth", bad("corrupt.npy")), "corrupt.npy")
    cli("infer", "depth-object-npy", inf(onnx, "--rgb", rgb, "--depth", bad("object.npy")), "object.npy")
    cli("infer", "depth-complex-npy", inf(onnx, "--rgb", rgb, "--depth", bad("complex.npy")), "complex.npy")
    cli("infer", "depth-bool-npy", inf(onnx, "--rgb", rgb, "--depth", bad("bool.npy")), "bool.npy")
    cli("infer", "depth-int32-above-16-bit", inf(onnx, "--rgb", rgb, "--depth", bad("int32.npy")), "int32.npy")
    cli("infer", "depth-3-channel-npy", inf(onnx, "--rgb", rgb, "--depth", bad("cube.npy")), "cube.npy")
    cli("infer", "depth-npz", inf(onnx, "--rgb", rgb, "--depth", bad("arrays.npy")), "arrays.npy")
    cli("infer", "depth-zero-size", inf(onnx, "--rgb", rgb, "--depth", bad("zerosize.npy")), "zerosize.npy")
    cli("infer", "depth-size-mismatch", inf(onnx, "--rgb", rgb, "--depth", w("img", "depth_small.png")), "depth_small.png")
    cli("infer", "real-nyuv2-rgb-with-small-depth", inf(onnx, "--rgb", str(NYU_SAMPLES / "test" / "rgb" / "0001.png"),
                                                        "--depth", w("img", "depth_small.png")), "depth_small.png")
    cli("infer", "rgb-folder-depth-folder-no-match", inf(onnx, "--rgb", w("in", "rgb"), "--depth", w("in", "depth_other")),
        "f0")
    cli("infer", "rgb-folder-empty", inf(onnx, "--rgb", w("in", "empty"), "--depth", w("in", "depth")), w("in", "empty"))
    cli("infer", "rgb-glob-no-match", inf(onnx, "--rgb", w("in", "rgb", "*.jpg"), "--depth", w("in", "depth")), "*.jpg")
    cli("infer", "depth-folder-two-files-per-frame", inf(onnx, "--rgb", w("in", "rgb"), "--depth", w("in", "depth_dupe")),
        "f0")
    cli("infer", "model-symlink-loop", inf(bad("loop.onnx"), "--rgb", rgb, "--depth", depth), "loop.onnx")
    cli("infer", "output-name-too-long", inf(onnx, "--rgb", rgb, "--depth", depth, o=w("x" * 300)), "too long")
    cli("infer", "second-frame-corrupt", inf(onnx, "--rgb", w("in", "rgb_bad"), "--depth", w("in", "depth")), "f1.png")
    cli("infer", "depth-scale-zero", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "0"), "--depth-scale")
    cli("infer", "depth-scale-negative", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "-0.001"), "--depth-scale")
    cli("infer", "depth-scale-inf", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "inf"), "--depth-scale")
    cli("infer", "depth-scale-nan", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "nan"), "--depth-scale")
    cli("infer", "depth-scale-text", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "mm"), "--depth-scale")
    cli("infer", "depth-scale-1-on-mm-depth", inf(onnx, "--rgb", rgb, "--depth", depth, "--depth-scale", "1"),
        "beyond any sensor")
    cli("infer", "alpha-2", inf(onnx, "--rgb", rgb, "--depth", depth, "--alpha", "2"), "--alpha")
    cli("infer", "alpha-nan", inf(onnx, "--rgb", rgb, "--depth", depth, "--alpha", "nan"), "--alpha")
    cli("infer", "threads-zero", inf(onnx, "--rgb", rgb, "--depth", depth, "--threads", "0"), "--threads")
    cli("infer", "batch-size-zero", inf(onnx, "--rgb", rgb, "--depth", depth, "--batch-size", "0"), "--batch-size")
    cli("infer", "backend-unknown", inf(onnx, "--rgb", rgb, "--depth", depth, "--backend", "openvino"), "--backend")
    cli("infer", "backend-tensorrt-for-onnx", inf(onnx, "--rgb", rgb, "--depth", depth, "--backend", "tensorrt"),
        "model.onnx", "TensorRT backend")
    cli("infer", "device-tpu9", inf(onnx, "--rgb", rgb, "--depth", depth, "--device", "tpu9"), "tpu9")
    cli("infer", "device-cuda-without-gpu", inf(onnx, "--rgb", rgb, "--depth", depth, "--device", "cuda"), "cuda")
    cli("infer", "device-cuda-x", inf(onnx, "--rgb", rgb, "--depth", depth, "--device", "cuda:x"), "cuda:x")
    cli("infer", "output-under-a-file", inf(onnx, "--rgb", rgb, "--depth", depth, o=under), afile)
    cli("infer", "output-is-a-file", inf(onnx, "--rgb", rgb, "--depth", depth, o=afile), afile)
    cli("infer", "output-read-only", inf(onnx, "--rgb", rgb, "--depth", depth, o=w("ro", "out")), ro, "read-only",
        needs="mount")
    cli("infer", "output-full-disk", inf(onnx, "--rgb", rgb, "--depth", depth, o=w("full", "out")), "no space left",
        needs="mount", no_new_files=(full,))

    # ------------------------------------------------------------------ stream
    st = lambda *a: ["stream", *a, "--no-progress"]  # noqa: E731
    src = f"folder:{w('st', 'good')}"
    so = w("stream-out")
    cli("stream", "model-missing", st(w("nope.onnx"), "--source", src, "-o", so), "nope.onnx")
    cli("stream", "model-truncated", st(bad("trunc.onnx"), "--source", src, "-o", so), "trunc.onnx")
    cli("stream", "model-is-a-checkpoint", st(ck, "--source", src, "-o", so), ck)
    cli("stream", "source-missing-option", ["stream", onnx], "--source")
    cli("stream", "source-unknown-kind", st(onnx, "--source", "webcam:0"), "webcam:0")
    cli("stream", "source-empty", st(onnx, "--source", ""), "source")
    cli("stream", "source-folder-missing", st(onnx, "--source", f"folder:{w('nope')}"), w("nope"))
    cli("stream", "source-folder-empty", st(onnx, "--source", f"folder:{w('st', 'empty')}"), w("st", "empty"))
    cli("stream", "source-folder-split-missing", st(onnx, "--source", f"{src}?split=val"), "val")
    cli("stream", "source-folder-unknown-option", st(onnx, "--source", f"{src}?fps=5"), "fps")
    cli("stream", "source-folder-depth-scale-nan", st(onnx, "--source", f"{src}?depth_scale=nan"), "depth_scale")
    cli("stream", "source-folder-depth-scale-inf", st(onnx, "--source", f"{src}?depth_scale=inf"), "depth_scale")
    cli("stream", "source-glob-without-depth", st(onnx, "--source", f"glob:{w('st', 'good', 'rgb', '*.png')}"), "depth")
    cli("stream", "source-glob-no-match", st(onnx, "--source", f"glob:{w('st', 'good', 'rgb', '*.jpg')}?depth="
                                             f"{w('st', 'good', 'depth', '*.png')}"), "*.jpg")
    cli("stream", "source-rosbag-missing", st(onnx, "--source", f"rosbag:{w('nope.bag')}?rgb=/c&depth=/d"), "nope.bag")
    cli("stream", "source-rosbag-text-file", st(onnx, "--source", f"rosbag:{bad('text.bag')}?rgb=/c&depth=/d"), "text.bag")
    cli("stream", "source-rosbag-without-topics", st(onnx, "--source", f"rosbag:{bad('text.bag')}"), "topic")
    cli("stream", "source-realsense-recording-missing", st(onnx, "--source", f"realsense:{w('nope.db3')}"), "nope.db3")
    cli("stream", "source-realsense-recording-text", st(onnx, "--source", f"realsense:{bad('text.bag')}"), "text.bag")
    cli("stream", "source-realsense-no-camera", st(onnx, "--source", "realsense"), "RealSense")
    cli("stream", "source-realsense-width-text", st(onnx, "--source", "realsense?width=wide"), "width", "'wide'")
    cli("stream", "second-frame-corrupt", st(onnx, "--source", f"folder:{w('st', 'badframe')}", "-o", w("stream-bad")),
        "f1.png")
    cli("stream", "nan-depth-frame", st(onnx, "--source", f"folder:{w('st', 'nandepth')}", "-o", w("stream-nan")), "f1", "NaN")
    cli("stream", "queue-size-zero", st(onnx, "--source", src, "--queue-size", "0"), "queue")
    cli("stream", "queue-size-negative", st(onnx, "--source", src, "--queue-size", "-3"), "queue")
    cli("stream", "max-frames-zero", st(onnx, "--source", src, "--max-frames", "0"), "--max-frames")
    cli("stream", "alpha-2", st(onnx, "--source", src, "--alpha", "2"), "--alpha")
    cli("stream", "alpha-nan", st(onnx, "--source", src, "--alpha", "nan"), "--alpha")
    cli("stream", "fps-zero", st(onnx, "--source", src, "-o", w("stream-fps0"), "--fps", "0"), "--fps")
    cli("stream", "fps-negative", st(onnx, "--source", src, "-o", w("stream-fpsneg"), "--fps", "-5"), "--fps")
    cli("stream", "fps-nan", st(onnx, "--source", src, "-o", w("stream-fpsnan"), "--fps", "nan"), "--fps")
    cli("stream", "threads-zero", st(onnx, "--source", src, "--threads", "0"), "threads", "0")
    cli("stream", "threads-negative", st(onnx, "--source", src, "--threads", "-2"), "threads", "-2")
    cli("stream", "drop-unknown", st(onnx, "--source", src, "--drop", "random"), "--drop")
    cli("stream", "backend-unknown", st(onnx, "--source", src, "--backend", "openvino"), "--backend")
    cli("stream", "device-tpu9", st(onnx, "--source", src, "--device", "tpu9"), "tpu9")
    cli("stream", "device-cuda-without-gpu", st(onnx, "--source", src, "--device", "cuda"), "cuda")
    cli("stream", "output-under-a-file", st(onnx, "--source", src, "-o", under), afile)
    cli("stream", "output-is-a-file", st(onnx, "--source", src, "-o", afile), afile)
    cli("stream", "output-read-only", st(onnx, "--source", src, "-o", w("ro", "stream")), ro, needs="mount")
    cli("stream", "json-under-a-file", st(onnx, "--source", src, "--json", w("afile", "s.json")), afile)
    cli("stream", "labels-bag-under-a-file", st(onnx, "--source", src, "--labels-bag", w("afile", "labels")), afile)
    cli("stream", "labels-bag-exists", st(onnx, "--source", src, "--labels-bag", w("img")), w("img"))

    # ------------------------------------------------------------------ bench
    quick = ["--iters", "1", "--warmup", "1", "--no-progress", "--cache-dir", w("cache")]
    be = lambda *a: ["bench", *a, *quick]  # noqa: E731
    cli("bench", "model-missing", be(w("nope.pt")), "nope.pt")
    cli("bench", "model-truncated-checkpoint", be(bad("trunc.pt")), "trunc.pt")
    cli("bench", "model-text-onnx", be(bad("text.onnx")), "text.onnx")
    cli("bench", "model-unknown-kind", be(rgb), rgb)
    cli("bench", "model-foreign-onnx", be(w("foreign.onnx")), "foreign.onnx")
    cli("bench", "batch-zero", be(onnx, "--batch", "0"), "--batch")
    cli("bench", "batch-text", be(onnx, "--batch", "one"), "--batch", "'one'")
    cli("bench", "batch-empty", be(onnx, "--batch", ""), "--batch")
    cli("bench", "height-not-multiple-of-32", be(ck, "--height", "33", "--width", "64"), "33")
    cli("bench", "iters-zero", ["bench", onnx, "--iters", "0"], "--iters")
    cli("bench", "warmup-negative", ["bench", onnx, "--warmup", "-1"], "--warmup")
    cli("bench", "warmup-zero", ["bench", onnx, "--warmup", "0"], "--warmup",
        note="--help says x>=0; the config then refuses 0")
    cli("bench", "batch-list-with-negative", be(onnx, "--batch", "1,-2"), "--batch")
    cli("bench", "duration-negative", be(onnx, "--duration", "-1"), "--duration")
    cli("bench", "duration-inf", be(onnx, "--duration", "inf"), "--duration")
    cli("bench", "threads-zero", be(onnx, "--threads", "0"), "--threads")
    cli("bench", "device-tpu9", be(onnx, "--device", "tpu9"), "tpu9")
    cli("bench", "device-cuda-without-gpu", be(onnx, "--device", "cuda"), "cuda")
    cli("bench", "backend-unknown", be(onnx, "--backend", "openvino"), "openvino")
    cli("bench", "backend-torch-without-checkpoint", be(onnx, "--backend", "torch"), "torch", "--checkpoint")
    cli("bench", "checkpoint-missing", be(onnx, "--checkpoint", w("nope.pt")), "nope.pt")
    cli("bench", "checkpoint-foreign", be(onnx, "--checkpoint", bad("foreign.pt")), "foreign.pt")
    cli("bench", "onnx-truncated", be(ck, "--onnx", bad("trunc.onnx")), "trunc.onnx")
    cli("bench", "onnx-other-network", be(ck, "--onnx", w("tiny5.onnx")), "tiny5.onnx")
    cli("bench", "int8-onnx-missing", be(onnx, "--int8-onnx", w("nope.onnx")), "nope.onnx")
    cli("bench", "engine-missing", be(onnx, "--engine", w("nope.engine")), "nope.engine")
    cli("bench", "aoti-text-file", be(ck, "--aoti", bad("text.pt2"), "--backend", "aoti"), "text.pt2")
    cli("bench", "cache-dir-under-a-file", ["bench", ck, "--iters", "1", "--warmup", "1", "--no-progress",
                                            "--cache-dir", under], afile)
    cli("bench", "cpu-clock-zero", be(onnx, "--cpu-clock-ghz", "0"), "--cpu-clock-ghz")
    cli("bench", "cpu-clock-nan", be(onnx, "--cpu-clock-ghz", "nan"), "--cpu-clock-ghz")
    cli("bench", "fma-units-zero", be(onnx, "--fma-units", "0"), "--fma-units")
    cli("bench", "json-under-a-file", be(onnx, "--json", w("afile", "b.json")), afile)
    cli("bench", "markdown-is-a-folder", be(onnx, "--markdown", w("img")), w("img"))
    cli("bench", "plot-under-a-file", be(onnx, "--plot", w("afile", "b.png")), afile)
    cli("bench", "json-read-only", be(onnx, "--json", w("ro", "b.json")), ro, needs="mount")

    # ------------------------------------------------------------------ parity
    pa = lambda *a, data=syn: ["parity", *a, "--data", data, "--no-progress", "--cache-dir", w("cache")]  # noqa: E731
    cli("parity", "checkpoint-missing", pa(w("nope.pt"), "--onnx", onnx), "nope.pt")
    cli("parity", "checkpoint-truncated", pa(bad("trunc.pt"), "--onnx", onnx), "trunc.pt")
    cli("parity", "checkpoint-is-onnx", pa(onnx, "--onnx", onnx), onnx)
    cli("parity", "data-missing-option", ["parity", ck, "--onnx", onnx], "--data")
    cli("parity", "data-folder-missing", pa(ck, "--onnx", onnx, data=f"folder:{w('nope')}"), w("nope"))
    cli("parity", "data-label-above-class-count", pa(ck, "--onnx", onnx, data=f"folder:{w('ds', 'badlabel')}"), "label 20")
    cli("parity", "data-class-count-mismatch", pa(ck, "--onnx", onnx, data=f"folder:{w('ds', 'twelve')}"), "12")
    cli("parity", "real-nyuv2-samples-40-classes", pa(ck, "--onnx", onnx, data=f"folder:{NYU_SAMPLES}"), "9", "40")
    cli("parity", "onnx-missing", pa(ck, "--onnx", w("nope.onnx")), "nope.onnx")
    cli("parity", "onnx-truncated", pa(ck, "--onnx", bad("trunc.onnx")), "trunc.onnx")
    cli("parity", "onnx-foreign", pa(ck, "--onnx", w("foreign.onnx")), "foreign.onnx")
    cli("parity", "onnx-other-network", pa(ck, "--onnx", w("tiny5.onnx")), "tiny5.onnx")
    cli("parity", "fp16-onnx-missing", pa(ck, "--fp16-onnx", w("nope16.onnx")), "nope16.onnx")
    cli("parity", "int8-onnx-text", pa(ck, "--int8-onnx", bad("text.onnx")), "text.onnx")
    cli("parity", "engine-missing", pa(ck, "--engine", w("nope.engine")), "nope.engine")
    cli("parity", "aoti-missing", pa(ck, "--aoti", w("nope.pt2")), "nope.pt2")
    cli("parity", "aoti-text-file", pa(ck, "--aoti", bad("text.pt2")), "text.pt2")
    cli("parity", "torch-variant-unknown", pa(ck, "--torch", "torch-int4"), "--torch")
    cli("parity", "limit-zero", pa(ck, "--onnx", onnx, "--limit", "0"), "--limit")
    cli("parity", "threads-zero", pa(ck, "--onnx", onnx, "--threads", "0"), "--threads")
    cli("parity", "device-tpu9", pa(ck, "--onnx", onnx, "--device", "tpu9"), "tpu9")
    cli("parity", "reference-device-tpu9", pa(ck, "--onnx", onnx, "--reference-device", "tpu9"), "--reference-device", "tpu9")
    cli("parity", "reference-device-cuda", pa(ck, "--onnx", onnx, "--reference-device", "cuda"), "--reference-device")
    cli("parity", "fp32-agreement-150", pa(ck, "--onnx", onnx, "--fp32-agreement", "150"), "--fp32-agreement")
    cli("parity", "fp32-agreement-nan", pa(ck, "--onnx", onnx, "--fp32-agreement", "nan"), "--fp32-agreement")
    cli("parity", "fp16-dmiou-negative", pa(ck, "--onnx", onnx, "--fp16-dmiou", "-1"), "--fp16-dmiou")
    cli("parity", "cache-dir-under-a-file", ["parity", ck, "--data", syn, "--no-progress", "--cache-dir", under], afile)
    cli("parity", "json-under-a-file", pa(ck, "--onnx", onnx, "--json", w("afile", "p.json")), afile)
    cli("parity", "report-is-a-folder", pa(ck, "--onnx", onnx, "--report", w("img")), w("img"))
    cli("parity", "json-read-only", pa(ck, "--onnx", onnx, "--json", w("ro", "p.json")), ro, needs="mount")

    # ------------------------------------------------------------------ capi
    cli("capi", "build-dir-is-a-file", ["capi", "build", "--build-dir", afile], afile)
    cli("capi", "build-dir-under-a-file", ["capi", "build", "--build-dir", under], afile, timeout=240)
    cli("capi", "build-dir-read-only", ["capi", "build", "--build-dir", w("ro", "build")], ro, needs="mount", timeout=240)
    cli("capi", "build-jobs-zero", ["capi", "build", "--build-dir", w("capi-build"), "-j", "0"], "--jobs")
    cli("capi", "build-aoti-unknown", ["capi", "build", "--build-dir", w("capi-build"), "--aoti", "maybe"], "--aoti")
    cli("capi", "build-tensorrt-on-without-tensorrt", ["capi", "build", "--build-dir", w("capi-trt"), "--tensorrt", "on"],
        "TensorRT", timeout=240)
    cli("capi", "paths-build-dir-is-a-file", ["capi", "paths", "--build-dir", afile], afile)

    # ------------------------------------------------------------------ quickstart (all refused before training)
    cli("quickstart", "epochs-zero", ["quickstart", "--out", w("qs"), "--epochs", "0"], "--epochs", absent=(w("qs"),))
    cli("quickstart", "train-frames-zero", ["quickstart", "--out", w("qs"), "--train-frames", "0"], "--train-frames",
        absent=(w("qs"),))
    cli("quickstart", "test-frames-negative", ["quickstart", "--out", w("qs"), "--test-frames", "-1"], "--test-frames",
        absent=(w("qs"),))
    cli("quickstart", "threads-zero", ["quickstart", "--out", w("qs"), "--threads", "0"], "--threads", absent=(w("qs"),))
    cli("quickstart", "epochs-text", ["quickstart", "--out", w("qs"), "--epochs", "ten"], "--epochs", absent=(w("qs"),))
    cli("quickstart", "out-is-a-file", ["quickstart", "--out", afile], afile)
    cli("quickstart", "out-under-a-file", ["quickstart", "--out", under], afile, timeout=240)
    cli("quickstart", "out-read-only", ["quickstart", "--out", w("ro", "qs")], ro, needs="mount", timeout=240)
    cli("quickstart", "unknown-option", ["quickstart", "--steps", "10"], "--steps")

    # ------------------------------------------------------------------ Python API
    api("Segmenter-missing-file", "Segmenter(W / 'nope.onnx')", "ModelFileError", "nope.onnx")
    api("Segmenter-folder", "Segmenter(W / 'img')", "ModelFileError", "img")
    api("Segmenter-empty-file", "Segmenter(W / 'bad' / 'empty.onnx')", "ModelFileError", "empty.onnx")
    api("Segmenter-truncated", "Segmenter(W / 'bad' / 'trunc.onnx')", "ModelFileError", "trunc.onnx")
    api("Segmenter-text", "Segmenter(W / 'bad' / 'text.onnx')", "ModelFileError", "text.onnx")
    api("Segmenter-checkpoint", "Segmenter(W / 'ckpt.pt')", "ModelFileError", "ckpt.pt")
    api("Segmenter-foreign-onnx", "Segmenter(W / 'foreign.onnx')", "ModelFileError", "foreign.onnx")
    api("Segmenter-malformed-metadata", "Segmenter(W / 'badmeta.onnx')", "ModelFileError", "badmeta.onnx")
    api("Segmenter-path-None", "Segmenter(None)", None, "None")
    api("Segmenter-backend-unknown", "Segmenter(MODEL, backend='openvino')", "ConfigError", "openvino")
    api("Segmenter-device-tpu9", "Segmenter(MODEL, device='tpu9')", "ConfigError", "tpu9")
    api("Segmenter-device-cuda", "Segmenter(MODEL, device='cuda')", "BackendUnavailableError", "cuda")
    api("Segmenter-threads-zero", "Segmenter(MODEL, threads=0)", "ConfigError", "threads")
    api("Segmenter-threads-negative", "Segmenter(MODEL, threads=-4)", "ConfigError", "threads")
    api("Segmenter-threads-text", "Segmenter(MODEL, threads='four')", "ConfigError", "threads")
    api("Segmenter-batch-size-zero", "Segmenter(MODEL, batch_size=0)", "ConfigError", "batch_size")
    api("Segmenter-batch-size-text", "Segmenter(MODEL, batch_size='x')", "ConfigError", "batch_size")
    api("Segmenter-input-size-fixed-model", "Segmenter(MODEL, input_size=(128, 128))", "ConfigError", "64x64")
    api("segment-rgb-2d", "SEG.segment(RGB[..., 0], DEPTH)", "InputError", "rgb")
    api("segment-rgb-float", "SEG.segment(RGB.astype(np.float64), DEPTH)", "InputError", "rgb")
    api("segment-rgb-4-channels", "SEG.segment(np.dstack([RGB, RGB[..., :1]]), DEPTH)", "InputError", "rgb")
    api("segment-rgb-None", "SEG.segment(None, DEPTH)", "InputError", "rgb")
    api("segment-rgb-list", "SEG.segment(RGB.tolist(), DEPTH)", "InputError", "rgb")
    api("segment-depth-None", "SEG.segment(RGB, None)", "InputError", "depth")
    api("segment-depth-size-mismatch", "SEG.segment(RGB, DEPTH[:32, :32])", "InputError", "depth")
    api("segment-depth-nan", "SEG.segment(RGB, np.full((64, 64), np.nan, np.float32))", "InputError", "NaN")
    api("segment-depth-inf", "SEG.segment(RGB, np.full((64, 64), np.inf, np.float32))", "InputError", "depth")
    api("segment-depth-negative", "SEG.segment(RGB, np.full((64, 64), -1.0, np.float32))", "InputError", "depth")
    api("segment-depth-int64", "SEG.segment(RGB, DEPTH.astype(np.int64))", "InputError", "depth")
    api("segment-depth-object", "SEG.segment(RGB, DEPTH.astype(object))", "InputError", "depth")
    api("segment-depth-complex", "SEG.segment(RGB, DEPTH.astype(np.complex64))", "InputError", "depth")
    api("segment-empty-frame", "SEG.segment(RGB[:0, :0], DEPTH[:0, :0])", "InputError", "empty")
    api("segment-depth-scale-nan", "SEG.segment(RGB, DEPTH, depth_scale=float('nan'))", "InputError", "depth_scale")
    api("segment-depth-scale-zero", "SEG.segment(RGB, DEPTH, depth_scale=0)", "InputError", "depth_scale")
    api("segment-depth-scale-text", "SEG.segment(RGB, DEPTH, depth_scale='mm')", "InputError", "depth_scale")
    api("segment-depth-scale-1-on-mm", "SEG.segment(RGB, DEPTH, depth_scale=1.0)", "InputError", "beyond any sensor")
    api("segment_batch-None", "SEG.segment_batch(None)", "InputError", "list of")
    api("segment_batch-one-pair", "SEG.segment_batch((RGB, DEPTH))", "InputError", "one pair")
    api("segment_batch-triple", "SEG.segment_batch([(RGB, DEPTH), (RGB, DEPTH, DEPTH)])", "InputError", "frame 1")
    api("segment_batch-bare-array-item", "SEG.segment_batch([RGB])", "InputError", "frame 0")
    api("segment_batch-second-frame-nan", "SEG.segment_batch([(RGB, DEPTH), (RGB, np.full((64, 64), np.nan, np.float32))])",
        "InputError", "frame 1")
    api("segment_batch-dict", "SEG.segment_batch({'a': (RGB, DEPTH)})", "InputError", "frame 0")
    api("logits-argmax-model", "Segmenter(W / 'argmax.onnx').logits(RGB, DEPTH)", "ConfigError", "--argmax")
    api("read_rgb-missing", "read_rgb(W / 'nope.png')", "InputError", "nope.png")
    api("read_rgb-empty", "read_rgb(W / 'bad' / 'empty.png')", "InputError", "empty.png")
    api("read_rgb-text", "read_rgb(W / 'bad' / 'text.png')", "InputError", "text.png")
    api("read_rgb-truncated", "read_rgb(W / 'bad' / 'trunc.png')", "InputError", "trunc.png")
    api("read_rgb-16-bit", "read_rgb(W / 'img' / 'depth.png')", "InputError", "depth.png")
    api("read_rgb-folder", "read_rgb(W / 'bad' / 'folder.png')", "InputError", "folder.png")
    api("read_rgb-None", "read_rgb(None)", "InputError", "NoneType")
    api("read_rgb-int", "read_rgb(3)", "InputError", "int")
    api("read_rgb-bomb", "read_rgb(W / 'bad' / 'bomb.png')", "InputError", "bomb.png")
    for name in ("empty.png", "text.png", "empty.npy", "corrupt.npy", "object.npy", "complex.npy", "bool.npy",
                 "int32.npy", "cube.npy", "grey8.png", "folder.png", "arrays.npy"):
        api(f"read_depth-{name}", f"read_depth(W / 'bad' / {name!r})", "InputError", name)
    api("read_depth-missing", "read_depth(W / 'nope.npy')", "InputError", "nope.npy")
    api("read_depth-rgb-png", "read_depth(W / 'img' / 'rgb.png')", "InputError", "rgb.png")
    api("write_png-under-a-file", "write_png(W / 'afile' / 'x.png', np.zeros((4, 4), np.uint8))", "OutputError", "afile")
    api("write_png-float64", "write_png(W / 'api-out' / 'f.png', np.zeros((4, 4), np.float64))", "InputError", "f.png",
        absent=(w("api-out", "f.png"),))
    api("write_png-4d", "write_png(W / 'api-out' / 'g.png', np.zeros((2, 2, 2, 2), np.uint8))", "InputError", "shape",
        absent=(w("api-out", "g.png"),))
    api("colorize-float-labels", "colorize(np.zeros((4, 4), np.float32) + 0.5)", "InputError", "labels")
    api("overlay-shape-mismatch", "overlay(RGB, np.zeros((8, 8), np.uint8))", "InputError", "labels")
    api("overlay-alpha-2", "overlay(RGB, np.zeros((64, 64), np.uint8), alpha=2.0)", "ConfigError", "alpha")
    api("open_source-unknown", "open_source('webcam:0')", "ConfigError", "webcam:0")
    api("open_source-folder-missing", "open_source(f'folder:{W}/nope')", "DataError", "nope")
    api("Pipeline-queue-size-zero", "Pipeline(SEG, open_source(f'folder:{W}/st/good'), queue_size=0)", "ConfigError",
        "queue_size")
    api("Pipeline-drop-unknown", "Pipeline(SEG, open_source(f'folder:{W}/st/good'), drop='random')", "ConfigError", "random")
    api("ModelInfo-from-props-empty", "ModelInfo.from_props({})", "ModelFileError", "metadata")
    api("ModelInfo-from-props-garbage", "ModelInfo.from_props({'acnet.num_classes': '{'})", "ModelFileError", "metadata")
    # training side (torch)
    api("TrainConfig-from_dict-not-mapping", "TrainConfig.from_dict(['lr', 0.1])", "ConfigError", "mapping")
    api("TrainConfig-from_dict-unknown-key", "TrainConfig.from_dict({'lrr': 0.1})", "ConfigError", "lrr")
    api("TrainConfig-from_dict-lr-bool", "TrainConfig.from_dict({'lr': True})", "ConfigError", "lr")
    api("TrainConfig-from_dict-epochs-float", "TrainConfig.from_dict({'epochs': 1.5})", "ConfigError", "epochs")
    api("TrainConfig-from_dict-height-33", "TrainConfig.from_dict({'input_height': 33})", "ConfigError", "33")
    api("TrainConfig-from_dict-model-classes-0", "TrainConfig.from_dict({'model': {'num_classes': 0}})", "ConfigError",
        "num_classes")
    api("TrainConfig-from_dict-focal-gamma-negative", "TrainConfig.from_dict({'focal_gamma': -1.0})", "ConfigError",
        "focal_gamma", note="a negative focal-loss gamma up-weights easy pixels: meaningless")
    api("TrainConfig-from_dict-augmentation-scale-reversed",
        "TrainConfig.from_dict({'augmentation': {'scale': [1.4, 1.0]}})", "ConfigError", "scale")
    api("TrainConfig-momentum-nan", "TrainConfig(momentum=float('nan'))", "ConfigError", "momentum")
    api("TrainConfig-weight-decay-nan", "TrainConfig(weight_decay=float('nan'))", "ConfigError", "weight_decay")
    api("TrainConfig-focal-gamma-nan", "TrainConfig(focal_gamma=float('nan'))", "ConfigError", "focal_gamma")
    api("TrainConfig-lr-text", "TrainConfig(lr='fast')", "ConfigError", "lr")
    api("TrainConfig-epochs-bool", "TrainConfig(epochs=True)", "ConfigError", "epochs")
    api("TrainConfig-data-int", "TrainConfig(data=5)", "ConfigError", "data")
    api("TrainConfig-max-steps-bool", "TrainConfig(max_steps=True)", "ConfigError", "max_steps")
    api("ModelConfig-width-nan", "ModelConfig(width=float('nan'))", "ConfigError", "width")
    api("ModelConfig-classes-bool", "ModelConfig(num_classes=True)", "ConfigError", "num_classes")
    api("ModelConfig-backbone-unknown", "ModelConfig(backbone='resnet7')", "ConfigError", "resnet7")
    api("open_dataset-unknown", "open_dataset('bogus:thing')", "ConfigError", "bogus:thing")
    api("open_dataset-folder-missing", "open_dataset(f'folder:{W}/nope')", "DataError", "nope")
    api("open_dataset-label-above", "open_dataset(f'folder:{W}/ds/badlabel', 'test')[3]", "DataError", "label 20")
    api("open_dataset-negative-label", "open_dataset(f'folder:{W}/ds/neglabel', 'test')[1]", "DataError", "-1")
    api("open_dataset-synthetic-negative", "open_dataset('synthetic:-3')", "ConfigError", "-3")
    api("load_checkpoint-text", "load_checkpoint(W / 'bad' / 'text.pt')", "CheckpointError", "text.pt")
    api("load_checkpoint-onnx", "load_checkpoint(W / 'model.onnx')", "CheckpointError", "model.onnx")
    api("load_checkpoint-folder", "load_checkpoint(W / 'img')", "CheckpointError", "img")
    api("load_model-weights-not-tensors", "load_model(W / 'bad' / 'listweights.pt')", "CheckpointError", "listweights.pt")
    api("load_model-class-names-not-list", "load_model(W / 'bad' / 'badnames.pt')", "CheckpointError", "badnames.pt")
    api("export_onnx-missing-checkpoint", "export_onnx(W / 'nope.pt', W / 'api-out' / 'x.onnx')", "CheckpointError", "nope.pt")
    api("OnnxExportOptions-opset-1", "OnnxExportOptions(opset=1)", "ConfigError", "opset")
    api("OnnxExportOptions-batch-0", "OnnxExportOptions(batch=0)", "ConfigError", "batch")
    api("TrtBuildOptions-workspace-nan", "TrtBuildOptions(workspace_gb=float('nan'))", "ConfigError", "--workspace-gb")
    api("preprocess-depth-scale-inf", "preprocess(RGB, DEPTH, PreprocessConfig(64, 64), depth_scale=float('inf'))",
        "InputError", "depth_scale")
    api("PreprocessConfig-size-33x0", "preprocess(RGB, DEPTH, PreprocessConfig(33, 0))", "ConfigError", "33")
    api("Normalization-zero-std", "Normalization(rgb_std=(0.0, 0.0, 0.0))", "ConfigError", "standard deviations")
    return cases


# ----------------------------------------------------------------------------- artefacts


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):
        subprocess.run(["umount", str(path)], capture_output=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    return proc.returncode == 0


def _unmount(W: Path) -> None:
    for name in ("ro", "full"):
        p = W / name
        if os.path.ismount(p):
            subprocess.run(["umount", str(p)], capture_output=True)


def make_mounts(W: Path) -> str:
    """A read-only tmpfs at W/ro and a full 1 MiB tmpfs at W/full, each with a previous file. '' or why not."""
    if not _mount(W / "ro", "size=1m"):
        return "cannot mount a tmpfs here (needs root)"
    (W / "ro" / "prev.json").write_text('{"previous": true}\n')
    subprocess.run(["mount", "-o", "remount,ro", str(W / "ro")], check=True)
    if not _mount(W / "full", "size=1m"):
        return "cannot mount a tmpfs here"
    for name in ("prev.json", "prev.onnx"):
        (W / "full" / name).write_bytes(b"the previous file\n")
    with open(W / "full" / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * (2 << 20))  # to the last byte
    return ""


def _tiny_onnx(path: Path, info, *, classes: int | None = None, names=("rgb", "depth"), output: str = "logits",
               metadata: dict | None = None) -> None:
    """A 1x1-convolution "network" over concat(rgb, depth) (tests/runtime_models.py's), torch-free."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes = classes or info.num_classes
    h, w = info.input_height, info.input_width
    kernel = np.random.default_rng(7).standard_normal((classes, 4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Concat", list(names), ["x"], axis=1), helper.make_node("Conv", ["x", "W"], ["logits"])]
    inits = [numpy_helper.from_array(kernel, "W")]
    if output == "labels":
        inits.append(numpy_helper.from_array(np.array(1, np.int32), "one"))
        nodes += [helper.make_node("ArgMax", ["logits"], ["am"], axis=1, keepdims=0),
                  helper.make_node("Cast", ["am"], ["am32"], to=TensorProto.INT32),
                  helper.make_node("Add", ["am32", "one"], ["labels"])]
        out = helper.make_tensor_value_info("labels", TensorProto.INT32, [1, h, w])
    else:
        out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, h, w])
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [1, 3, h, w]),
                                              helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [1, 1, h, w])],
                              [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    props = info.to_props() if metadata is None else metadata
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def build_artefacts(W: Path, env: dict) -> dict:
    """Everything the cases read, in ``W``. Returns timings."""
    import numpy as np
    from PIL import Image

    t0 = time.perf_counter()
    timings = {}
    for d in ("img", "bad", "cfg", "ds", "in", "st", "exp", "runs", "cache", "api-out"):
        (W / d).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    # --- the tiny checkpoint, from a real one-step training run, and its ONNX export
    run = W / "train-run"
    proc = subprocess.run([*acnet_command(), "train", "--backbone", "resnet18", "--width-mult", "0.25", "--height", str(SIZE),
                           "--width", str(SIZE), "--epochs", "1", "--batch-size", "2", "--data", f"synthetic:4?size={SIZE}x{SIZE}",
                           "--val-data", "none", "--workers", "0", "--max-steps", "1", "--no-progress", "--out", str(run)],
                          capture_output=True, text=True, env=env, cwd=W)
    if proc.returncode != 0:
        sys.exit(f"building the checkpoint failed:\n{proc.stderr}")
    newest = sorted((run / "checkpoints").glob("*.pt"))[-1]
    shutil.copyfile(newest, W / "ckpt.pt")
    shutil.copyfile(newest, W / "ckpt_copy.pt")
    timings["train_s"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    proc = subprocess.run([*acnet_command(), "export", "onnx", str(W / "ckpt.pt"), "-o", str(W / "model.onnx")],
                          capture_output=True, text=True, env=env, cwd=W)
    if proc.returncode != 0:
        sys.exit(f"exporting the ONNX model failed:\n{proc.stderr}")
    timings["export_s"] = round(time.perf_counter() - t1, 1)

    import torch

    torch.set_num_threads(1)
    record = torch.load(W / "ckpt.pt", weights_only=True)
    names = list(record["class_names"])
    classes = len(names)

    # --- bad checkpoints
    bad = W / "bad"
    data = (W / "ckpt.pt").read_bytes()
    (bad / "empty.pt").write_bytes(b"")
    (bad / "trunc.pt").write_bytes(data[:1000])
    (bad / "text.pt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, bad / "foreign.pt")
    torch.save(record["model_state"], bad / "statedict.pt")
    import fractions

    torch.save({"format": "acnet.checkpoint", "x": fractions.Fraction(1, 3)}, bad / "pickle.pt")  # a class, not data

    def variant(name, **changes):
        rec = {k: v for k, v in record.items() if k not in ("optimizer", "scheduler", "scaler", "rng")}
        for k, v in changes.items():
            if v is None:
                rec.pop(k, None)
            else:
                rec[k] = v
        torch.save(rec, bad / name)

    variant("missingkeys.pt", normalization=None)
    variant("wrongarch.pt", model_config={**record["model_config"], "num_classes": 20},
            class_names=[f"c{i}" for i in range(20)])
    variant("badsize.pt", input_size=[33, 33])
    variant("badnames.pt", class_names=5)
    variant("listweights.pt", model_state={k: [1.0, 2.0] for k in record["model_state"]})
    variant("newer.pt", format_version=99)
    variant("zerostd.pt", normalization={**record["normalization"], "rgb_std": [0.0, 0.0, 0.0]})
    variant("nanweights.pt", model_state={k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v)
                                          for k, v in record["model_state"].items()})
    import zipfile

    with zipfile.ZipFile(bad / "fake.pt2", "w") as archive:  # the layout torch._inductor packages write
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/data/aotinductor/model/model.so", b"\x7fELF")
    (bad / "text.pt2").write_text("not a package\n")

    # --- ONNX models: bad files and hand-built ones
    onnx_bytes = (W / "model.onnx").read_bytes()
    (bad / "empty.onnx").write_bytes(b"")
    (bad / "trunc.onnx").write_bytes(onnx_bytes[:4096])
    (bad / "text.onnx").write_text("not a model\n")
    from acnet.runtime.metadata import ModelInfo

    info = ModelInfo(acnet_version="0.1.0", backbone="resnet18", num_classes=5,
                     class_names=tuple(f"class{i}" for i in range(1, 6)), input_height=SIZE, input_width=SIZE)
    _tiny_onnx(W / "tiny5.onnx", info)
    _tiny_onnx(W / "foreign.onnx", info, metadata={})
    _tiny_onnx(W / "wrongio.onnx", info, names=("image", "range"))
    props = info.to_props()
    props["acnet.num_classes"] = '"many"'
    _tiny_onnx(W / "badmeta.onnx", info, metadata=props)
    _tiny_onnx(W / "mismatch.onnx", info, classes=7)
    _tiny_onnx(W / "argmax.onnx", info.with_(output="labels"), output="labels")
    (bad / "fake.engine").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (bad / "fake2.engine").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (bad / "fake2.engine.json").write_text("{ not json")
    (bad / "text.bag").write_text("not a bag\n")

    # --- images and arrays
    img = W / "img"
    def rgb_image(h=SIZE, w=SIZE):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb_image()).save(img / "rgb.png")
    Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(img / "depth.png")
    Image.fromarray(np.full((32, 32), 1500, np.uint16)).save(img / "depth_small.png")
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("hello")
    (bad / "trunc.png").write_bytes((img / "rgb.png").read_bytes()[:80])
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(bad / "grey8.png")
    Image.new("L", (14000, 14000)).save(bad / "bomb.png")
    (bad / "folder.png").mkdir(exist_ok=True)
    (bad / "empty.npy").write_bytes(b"")
    (bad / "corrupt.npy").write_bytes(b"\x93NUMPY junk")
    np.save(bad / "object.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.save(bad / "complex.npy", np.zeros((SIZE, SIZE), complex))
    np.save(bad / "bool.npy", np.zeros((SIZE, SIZE), bool))
    np.save(bad / "int32.npy", np.full((SIZE, SIZE), 70000, np.int32))
    np.save(bad / "cube.npy", np.zeros((SIZE, SIZE, 3), np.float32))
    np.save(bad / "zerosize.npy", np.zeros((0, 0), np.float32))
    np.save(bad / "nan.npy", np.full((SIZE, SIZE), np.nan, np.float32))
    np.save(bad / "inf.npy", np.full((SIZE, SIZE), np.inf, np.float32))
    np.save(bad / "negative.npy", np.full((SIZE, SIZE), -1.0, np.float32))
    np.save(bad / "far.npy", np.full((SIZE, SIZE), 1e38, np.float32))
    with open(bad / "arrays.npy", "wb") as fh:  # an .npz archive under a .npy name
        np.savez(fh, a=np.zeros((SIZE, SIZE), np.float32), b=np.zeros((SIZE, SIZE), np.float32))
    (W / "afile").write_text("a regular file\n")
    (bad / "text.mat").write_text("not HDF5\n")
    import h5py

    with h5py.File(bad / "empty.mat", "w"):
        pass

    # --- infer inputs: folders
    for sub in ("rgb", "depth", "depth_other", "depth_dupe", "rgb_bad", "empty"):
        (W / "in" / sub).mkdir(exist_ok=True)
    for i in range(2):
        Image.fromarray(rgb_image()).save(W / "in" / "rgb" / f"f{i}.png")
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth" / f"f{i}.png")
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth_other" / f"g{i}.png")
    Image.fromarray(rgb_image()).save(W / "in" / "rgb_bad" / "f0.png")
    for i in range(2):
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth_dupe" / f"f{i}.png")
    np.save(W / "in" / "depth_dupe" / "f0.npy", np.full((SIZE, SIZE), 1.5, np.float32))
    os.symlink("loop.onnx", bad / "loop.onnx")
    (W / "in" / "rgb_bad" / "f1.png").write_bytes(b"")

    # --- folder datasets (4 frames per split, the checkpoint's classes)
    def dataset(name, *, labels=None, mutate=None, names_text="\n".join(names), splits=("train", "test")):
        root = W / "ds" / name
        for split in splits:
            for sub in ("rgb", "depth", "semantic_40"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.fromarray(rgb_image()).save(root / split / "rgb" / f"f{i}.png")
                Image.fromarray(np.full((SIZE, SIZE), 1500 + 100 * i, np.uint16)).save(root / split / "depth" / f"f{i}.png")
                label = np.full((SIZE, SIZE), 1 + i % classes, np.uint8)
                label[: SIZE // 2] = 2
                if labels is not None:
                    label = labels(i, label)
                Image.fromarray(label).save(root / split / "semantic_40" / f"f{i}.png")
            if mutate is not None:
                mutate(root / split)
        if names_text is not None:
            (root / "class_names.txt").write_text(names_text)
        return root

    dataset("good")
    dataset("badlabel", labels=lambda i, l: np.full_like(l, 20) if i == 3 else l)

    def neg(split):
        (split / "semantic_40" / "f1.png").unlink()
        np.save(split / "semantic_40" / "f1.npy", np.full((SIZE, SIZE), -1, np.int16))
    dataset("neglabel", mutate=neg)

    def rgblabel(split):
        Image.fromarray(rgb_image()).save(split / "semantic_40" / "f0.png")
    dataset("rgblabel", mutate=rgblabel)

    def labelfolder(split):
        (split / "semantic_40" / "f0.png").unlink()
        (split / "semantic_40" / "f0.png").mkdir()
    dataset("labelfolder", mutate=labelfolder)
    dataset("missingdepth", mutate=lambda split: (split / "depth" / "f2.png").unlink())
    dataset("sizemismatch", mutate=lambda split: Image.fromarray(np.full((32, 32), 1500, np.uint16)).save(split / "depth" / "f1.png"))
    dataset("corruptrgb", mutate=lambda split: (split / "rgb" / "f1.png").write_text("not an image"))

    def nandepth(split):
        (split / "depth" / "f1.png").unlink()
        np.save(split / "depth" / "f1.npy", np.full((SIZE, SIZE), np.nan, np.float32))
    dataset("nandepth", mutate=nandepth)

    def emptysplit(split):
        for p in (split / "rgb").iterdir():
            p.unlink()
    dataset("emptysplit", mutate=emptysplit)
    dataset("nolabels", mutate=lambda split: shutil.rmtree(split / "semantic_40") or (split / "labels").mkdir(),
            names_text=None)
    dataset("twelve", names_text="\n".join(f"other{i}" for i in range(1, 13)))
    dataset("badnames", names_text=None)
    (W / "ds" / "badnames" / "class_names.txt").write_bytes(b"\xff\xfe\x00w\x00a\x00l\x00l\n\xc3\x28\n")
    dataset("badnamesjson", names_text=None)
    (W / "ds" / "badnamesjson" / "class_names.json").write_text('{"wall": 1}')
    dataset("badnorm")
    (W / "ds" / "badnorm" / "normalization.json").write_text("{ not json")
    dataset("zeronorm")
    (W / "ds" / "zeronorm" / "normalization.json").write_text(json.dumps(
        {"rgb_mean": [0.5, 0.5, 0.5], "rgb_std": [0.0, 0.0, 0.0], "depth_mean": 2.0, "depth_std": 0.0}))

    def blank(split):
        for i in range(4):
            Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(split / "rgb" / f"f{i}.png")
            Image.fromarray(np.full((SIZE, SIZE), 2000, np.uint16)).save(split / "depth" / f"f{i}.png")
    dataset("blank", mutate=blank)

    # --- stream sources
    for name in ("good", "badframe", "nandepth", "empty"):
        for sub in ("rgb", "depth"):
            (W / "st" / name / sub).mkdir(parents=True, exist_ok=True)
        if name == "empty":
            continue
        for i in range(3):
            Image.fromarray(rgb_image()).save(W / "st" / name / "rgb" / f"f{i}.png")
            Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "st" / name / "depth" / f"f{i}.png")
    (W / "st" / "badframe" / "rgb" / "f1.png").write_bytes(b"")
    (W / "st" / "nandepth" / "depth" / "f1.png").unlink()
    np.save(W / "st" / "nandepth" / "depth" / "f1.npy", np.full((SIZE, SIZE), np.nan, np.float32))

    # --- config files and option files
    c = W / "cfg"
    yaml_files = {
        "model-not-mapping.yaml": "model: resnet18\n",
        "lr-list.yaml": "lr: [0.1, 0.2]\n",
        "unknown-key.yaml": "lrr: 0.1\n",
        "epochs-float.yaml": "epochs: 1.5\n",
        "momentum-nan.yaml": "momentum: .nan\n",
        "deep-supervision-maybe.yaml": "deep_supervision: maybe\n",
        "augmentation-zoom.yaml": "augmentation:\n  zoom: 2\n",
        "augmentation-scale-scalar.yaml": "augmentation:\n  scale: 1.2\n",
        "augmentation-scale-reversed.yaml": "augmentation:\n  scale: [1.4, 1.0]\n",
        "backbone-unknown.yaml": "model:\n  backbone: resnet7\n",
        "model-width-text.yaml": "model:\n  width: big\n",
        "model-classes-zero.yaml": "model:\n  num_classes: 0\n",
        "data-int.yaml": "data: 5\n",
        "height-33.yaml": "input_height: 33\n",
        "batch-size-zero.yaml": "batch_size: 0\n",
        "recipe-unknown.yaml": "recipe: fast\n",
        "loss-unknown.yaml": "loss: l2\n",
        "amp-unknown.yaml": "amp: fp8\n",
        "resume-int.yaml": "resume: 5\n",
        "val-data-bogus.yaml": "val_data: 'bogus:thing'\n",
        "workers-negative.yaml": "num_workers: -1\n",
        "max-steps-text.yaml": "max_steps: x\n",
        "not-yaml.yaml": "lr: [0.1\nepochs: : :\n",
        "top-level-list.yaml": "- lr\n- 0.1\n",
        "bad.json": '{"lr": 0.1,}',
        "list.json": '["lr", 0.1]',
        "nan.json": '{"lr": NaN}',
    }
    for name, text in yaml_files.items():
        (c / name).write_text(text)
    (c / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (bad / "cw_short.json").write_text("[1.0, 2.0]")
    (bad / "cw_negative.json").write_text(json.dumps([-1.0] * classes))
    (bad / "cw_text.json").write_text("weights: heavy")
    (bad / "cw_nan.json").write_text("[" + ", ".join(["NaN"] * classes) + "]")
    (bad / "norm_text.json").write_text("{ not json")
    (bad / "norm_zero_std.json").write_text(json.dumps(
        {"rgb_mean": [0.5, 0.5, 0.5], "rgb_std": [0.0, 0.0, 0.0], "depth_mean": 2.0, "depth_std": 0.0}))
    (W / "exp" / "prev.onnx").write_bytes(b"the previous export\n")
    timings["artefacts_s"] = round(time.perf_counter() - t0, 1)
    return timings


# ----------------------------------------------------------------------------- running


def _snapshot(case: Case) -> dict:
    for p in case.absent:  # a leftover of an earlier case must not count against this one
        if Path(p).is_file():
            Path(p).unlink()
    keep = {p: (Path(p).read_bytes() if Path(p).is_file() else None) for p in case.keep}
    listing = {d: _files_under(d) for d in case.no_new_files}
    return {"keep": keep, "listing": listing}


def _files_under(folder: str) -> list[str]:
    """Regular files (and links) below ``folder``, relative to it: a partial or temporary file shows here."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def _post_problems(case: Case, before: dict) -> list[str]:
    problems = []
    for p, content in before["keep"].items():
        now = Path(p).read_bytes() if Path(p).is_file() else None
        if content is not None and now != content:
            problems.append(f"the previous file {p} was {'removed' if now is None else 'changed'}")
    for d, names in before["listing"].items():
        new = sorted(set(_files_under(d)) - set(names))
        if new:
            problems.append(f"left new file(s) in {d}: {', '.join(new)}")
    for p in case.absent:
        if Path(p).exists():
            problems.append(f"{p} was written")
    return problems


def classify_cli(case: Case, proc_rc: int | None, stderr: str, timed_out: bool, post: list[str]) -> tuple[bool, list[str], str]:
    reasons: list[str] = []
    lines = stderr.splitlines()
    line = next((l for l in lines if l.startswith(PREFIX)), "")
    if timed_out:
        reasons.append(f"timed out after {case.timeout:.0f} s")
    elif proc_rc == 0:
        reasons.append("accepted (exit 0)")
    elif proc_rc != 2:
        reasons.append(f"exit code {proc_rc}")
    if "Traceback (most recent call last)" in stderr:
        reasons.append("traceback on stderr")
    if len(lines) != 1:
        reasons.append(f"{len(lines)} stderr lines")
    elif not lines[0].startswith(PREFIX):
        reasons.append("stderr line is not 'acnet: error: ...'")
    elif not stderr.endswith("\n"):
        reasons.append("stderr does not end with a newline")
    if line:
        missing = [f for f in case.fragments if f not in line]
        if missing:
            reasons.append("fragment missing: " + ", ".join(repr(f) for f in missing))
    elif not timed_out and proc_rc != 0:
        reasons.append("no 'acnet: error:' line")
    reasons += post
    return not reasons, reasons, line


def run_cli(case: Case, W: Path, env: dict) -> dict:
    before = _snapshot(case)
    start = time.perf_counter()
    timed_out = False
    try:
        proc = subprocess.run([*acnet_command(), *case.argv], capture_output=True, text=True, env=env, cwd=W,
                              timeout=case.timeout, stdin=subprocess.DEVNULL)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        timed_out = True
        rc = None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    seconds = time.perf_counter() - start
    post = _post_problems(case, before)
    clean, reasons, line = classify_cli(case, rc, err, timed_out, post)
    return {"rc": rc, "stderr": err, "stdout_tail": out[-2000:], "line": line, "clean": clean, "reasons": reasons,
            "seconds": round(seconds, 2)}


#: Runs API snippets one by one, each result a JSON line on stdout (the parent restarts it after a crash).
API_RUNNER = r"""
import json, sys, traceback
from pathlib import Path
import numpy as np
W = Path(sys.argv[1])
cases = json.loads(sys.stdin.read())
import torch
torch.set_num_threads(1)
import acnet.errors as errors
from acnet.runtime import Segmenter, read_rgb, read_depth, write_png, colorize, overlay, open_source, Pipeline, ModelInfo
from acnet.runtime.preprocess import preprocess, PreprocessConfig, Normalization
from acnet.training.train import TrainConfig
from acnet.training.config import ModelConfig
from acnet.training.data import open_dataset
from acnet.training.checkpoint import load_checkpoint, load_model
from acnet.export.onnx import export_onnx, OnnxExportOptions
from acnet.export.tensorrt import TrtBuildOptions
from PIL import Image
MODEL = W / "model.onnx"
SEG = Segmenter(MODEL, threads=1)
RGB = np.asarray(Image.open(W / "img" / "rgb.png").convert("RGB"))
DEPTH = np.asarray(Image.open(W / "img" / "depth.png")).astype(np.uint16)
base = dict(globals())
for case in cases:
    ns = dict(base)
    record = {"name": case["name"]}
    try:
        exec(compile(case["code"], case["name"], "exec"), ns)
        record["raised"] = False
    except BaseException as exc:
        record.update(raised=True, exc_type=type(exc).__qualname__, module=type(exc).__module__,
                      acnet=isinstance(exc, errors.AcnetError),
                      classes=[c.__name__ for c in type(exc).__mro__ if c.__module__ == "acnet.errors"],
                      message=str(exc), where=traceback.format_exception(exc)[-2].strip()[:400] if not isinstance(exc, errors.AcnetError) else "")
    print(json.dumps(record), flush=True)
"""


def run_api(cases: list[Case], W: Path, env: dict, progress) -> dict[str, dict]:
    """Run API snippets in a subprocess; restart after the case that crashed it."""
    results: dict[str, dict] = {}
    pending = list(cases)
    while pending:
        payload = json.dumps([{"name": c.name, "code": c.api} for c in pending])
        befores = {c.name: _snapshot(c) for c in pending}
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", API_RUNNER, str(W)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=W)
        proc.stdin.write(payload)
        proc.stdin.close()
        last = start
        for raw in proc.stdout:
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue
            case = next(c for c in pending if c.name == record["name"])
            now = time.perf_counter()
            record["seconds"] = round(now - last, 2)
            last = now
            record.update(_classify_api(case, record, _post_problems(case, befores[case.name])))
            results[case.name] = record
            progress(case, record)
        err = proc.stderr.read()
        proc.wait()
        done = [c for c in pending if c.name in results]
        rest = [c for c in pending if c.name not in results]
        if rest:  # the runner died on rest[0] (or before the first case)
            crashed = rest[0]
            record = {"name": crashed.name, "raised": None, "crashed": True, "rc": proc.returncode, "stderr": err[-4000:],
                      "clean": False, "reasons": [f"the Python process died (exit {proc.returncode})"], "seconds": 0}
            if not done and "Traceback" in err and crashed is pending[0]:
                record["reasons"] = ["the API runner failed to start (see stderr)"]
            results[crashed.name] = record
            progress(crashed, record)
            rest = rest[1:]
        pending = rest
    return results


def _classify_api(case: Case, record: dict, post: list[str]) -> dict:
    reasons, notes = [], []
    if not record["raised"]:
        reasons.append("accepted (no exception)")
    elif not record["acnet"]:
        reasons.append(f"raised {record['module']}.{record['exc_type']}, not an acnet.errors exception")
    else:
        if case.expect and case.expect not in record["classes"]:
            notes.append(f"typed as {record['exc_type']}, expected {case.expect}")
    if record["raised"]:
        missing = [f for f in case.fragments if f not in record["message"]]
        if missing:
            reasons.append("fragment missing: " + ", ".join(repr(f) for f in missing))
    reasons += post
    return {"clean": not reasons, "reasons": reasons, "notes": notes}


# ----------------------------------------------------------------------------- report


def environment() -> dict:
    def cmd(*args):
        try:
            return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=30,
                                  env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name")), "")
    import acnet

    return {
        "type": "environment",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu or platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "acnet_version": acnet.__version__,
        "acnet_commit": cmd("git", "rev-parse", "HEAD"),
        "acnet_worktree_changes": cmd("git", "status", "--porcelain", "--untracked-files=no").splitlines(),
        "acnet_command": acnet_command(),
        "omp_num_threads": "1",
    }


def _indent(text: str, most: int = 20) -> str:
    lines = text.rstrip("\n").splitlines() or ["(empty)"]
    if len(lines) > most:  # the start and the end, where a traceback names the exception
        head, tail = 4, most - 5
        lines = lines[:head] + [f"... ({len(lines) - head - tail} lines left out)"] + lines[-tail:]
    return "\n".join("      " + l for l in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines output (default: %(default)s)")
    parser.add_argument("--only", action="append", default=[], metavar="SUBSTRING",
                        help="run only the cases whose name contains SUBSTRING (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the case names and exit")
    parser.add_argument("--work", type=Path, help="build the artefacts here (default: a new temporary folder)")
    parser.add_argument("--keep-work", action="store_true", help="keep the work folder afterwards")
    args = parser.parse_args()

    if args.list:
        W = (args.work or Path(tempfile.gettempdir()) / "acnet-error-sweep-WORK").resolve()  # names only: nothing made
    else:
        W = (args.work or Path(tempfile.mkdtemp(prefix="acnet-error-sweep-"))).resolve()
    all_cases = build_cases(W)
    names = [c.name for c in all_cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        sys.exit(f"duplicate case names: {duplicates}")
    cases = [c for c in all_cases if not args.only or any(s in c.name for s in args.only)]
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    if not cases:
        sys.exit(f"no case matches {args.only}")

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    if W.is_dir() and any(W.iterdir()):
        if not (W / MARKER).is_file():
            sys.exit(f"--work {W} is not empty and was not made by this script; give a new or empty folder")
        _unmount(W)
        shutil.rmtree(W)  # a fresh build: the bad datasets are made by mutating good ones
    W.mkdir(parents=True, exist_ok=True)
    (W / MARKER).write_text("made by benchmarks/results/error_sweep.py\n")
    print(f"work folder: {W}", flush=True)
    try:
        timings = build_artefacts(W, env)
        mount_problem = make_mounts(W)
        print(f"artefacts built in {timings['artefacts_s']} s (train {timings['train_s']} s, export {timings['export_s']} s)"
              + (f"; {mount_problem}: read-only/full-disk cases skipped" if mount_problem else ""), flush=True)
        records = []
        total = len(cases)
        count = [0]

        def progress(case: Case, r: dict) -> None:
            count[0] += 1
            status = "clean" if r.get("clean") else ("SKIPPED" if r.get("skipped") else "NOT CLEAN")
            extra = "" if r.get("clean") or r.get("skipped") else "  <- " + "; ".join(r.get("reasons", []))[:150]
            print(f"[{count[0]:3d}/{total}] {status:9s} {case.name} ({r.get('seconds', 0):.1f} s){extra}", flush=True)

        api_cases = [c for c in cases if c.api is not None]
        for case in cases:
            if case.api is not None:
                continue
            if case.needs == "mount" and mount_problem:
                r = {"skipped": True, "clean": None, "reasons": [mount_problem], "seconds": 0}
            else:
                r = run_cli(case, W, env)
            records.append((case, r))
            progress(case, r)
        if api_cases:
            api_results = run_api(api_cases, W, env, progress)
            records += [(c, api_results[c.name]) for c in api_cases]
        elapsed = time.perf_counter() - started
    finally:
        _unmount(W)
        if not args.keep_work and args.work is None:
            shutil.rmtree(W, ignore_errors=True)

    # ---- summary
    ran = [(c, r) for c, r in records if not r.get("skipped")]
    clean = [(c, r) for c, r in ran if r["clean"]]
    bad = [(c, r) for c, r in ran if not r["clean"]]
    per: dict[str, list[int]] = {}
    for c, r in ran:
        per.setdefault(c.command, [0, 0])
        per[c.command][0] += 1
        per[c.command][1] += bool(r["clean"])
    print()
    print(f"{'command':16s} {'cases':>6s} {'clean':>6s} {'not clean':>10s}")
    for command in sorted(per):
        n, k = per[command]
        print(f"{command:16s} {n:6d} {k:6d} {n - k:10d}")
    print(f"{'total':16s} {len(ran):6d} {len(clean):6d} {len(bad):10d}"
          + (f"   ({len(records) - len(ran)} skipped)" if len(records) != len(ran) else ""))
    print(f"sweep took {elapsed:.0f} s")
    if bad:
        print(f"\nNOT CLEAN ({len(bad)}):")
        for c, r in bad:
            print(f"\n  {c.name}: {'; '.join(r['reasons'])}")
            if c.note:
                print(f"    note: {c.note}")
            if c.argv is not None:
                print("    $ acnet " + " ".join(_quote(a) for a in c.argv))
                print(f"    exit {r['rc']}, stderr:")
                print(_indent(r["stderr"]))
            else:
                print("    >>> " + c.api.replace("\n", "\n    ... "))
                if r.get("crashed"):
                    print(f"    process died (exit {r['rc']}), stderr:")
                    print(_indent(r["stderr"]))
                elif r.get("raised"):
                    print(f"    raised {r['module']}.{r['exc_type']}: {r['message'][:500]}")
                    if r.get("where"):
                        print(f"    at {r['where']}")
                else:
                    print("    no exception")
    noted = [(c, r) for c, r in ran if r.get("notes")]
    if noted:
        print(f"\nclean, but typed differently than expected ({len(noted)}):")
        for c, r in noted:
            print(f"  {c.name}: {'; '.join(r['notes'])}: {r.get('message', '')[:200]}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    with open(tmp, "w") as fh:
        env_record = environment()
        env_record.update(work_folder=str(W), build_timings=timings, only=args.only, mounts=mount_problem or "ok")
        fh.write(json.dumps(env_record) + "\n")
        for c, r in records:
            fh.write(json.dumps({"type": "case", "name": c.name, "command": c.command,
                                 "kind": "cli" if c.argv is not None else "api",
                                 "argv": c.argv, "api": c.api, "fragments": list(c.fragments), "expect": c.expect,
                                 "note": c.note, **r}) + "\n")
        fh.write(json.dumps({"type": "summary", "cases": len(ran), "clean": len(clean), "not_clean": len(bad),
                             "skipped": len(records) - len(ran), "seconds": round(elapsed, 1),
                             "per_command": {k: {"cases": v[0], "clean": v[1]} for k, v in sorted(per.items())},
                             "not_clean_cases": [c.name for c, _ in bad]}) + "\n")
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out}")
    return 0


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


if __name__ == "__main__":
    sys.exit(main())
