"""The GPU run's steps: their order, budgets and commands, and the runner that keeps them in time.

The order puts first what the run exists for (benchmarks/gpu/README.md):

1. ``env`` and ``checkpoint``;
2. untimed: ``export`` beside ``capi-build`` only (Inductor autotunes the
   package's kernels and bakes its choices in, so nothing else competes for
   the cores), then ``compile-warm`` alone at batch 1; together they stop in
   time to leave ``--timed-reserve`` seconds;
3. timed, one at a time: ``bench``, ``bench-compile`` at batch 1 (the
   compiled path, the only one that can reach 5x), ``capi``, ``parity``, and
   ``train`` last;
4. ``tests`` only when ``--only`` names it.

Each step runs in its own process group with its own budget; one that fails
or runs out of time is recorded and the run goes on. The report is written
when a step starts, every ``HEARTBEAT_S`` seconds while it runs and when it
ends, so a call killed at its limit still returns everything up to then.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import gpu_report
from acnet._io import atomic_write_text

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).resolve().with_name("gpu_run.py")

STEPS = ("env", "checkpoint", "export", "capi-build", "compile-warm", "bench", "bench-compile", "capi", "parity", "train",
         "camera", "tests")
#: Steps a run leaves out unless ``--only`` names them (the CUDA tests export and compile again: not in the first call).
OPT_IN = ("tests",)
#: Seconds each step may take at most (the whole run's budget cuts them further); bench-compile's is per batch.
BUDGETS = {"env": 90, "checkpoint": 90, "export": 240, "capi-build": 150, "compile-warm": 180, "bench": 150,
           "bench-compile": 150, "capi": 90, "parity": 120, "train": 120, "camera": 150, "tests": 300}
#: Steps that need others' artefacts (added to --only, or reused when already made in --work).
NEEDS = {"export": ("checkpoint",), "compile-warm": ("checkpoint",), "bench": ("checkpoint", "export"),
         "bench-compile": ("checkpoint",), "capi": ("checkpoint", "export", "capi-build"),
         "parity": ("checkpoint", "export"), "camera": ("checkpoint",)}
#: Untimed steps that stop in time to leave --timed-reserve seconds to the timed ones.
UNTIMED = ("export", "capi-build", "compile-warm")
TIMED = ("bench", "bench-compile", "capi", "parity", "train", "camera")
#: compile-warm starts only with this many seconds: a compile cut short fills no cache and wastes
#: the time; bench-compile then compiles in its own (untimed) warm-up instead.
COMPILE_WARM_MIN_S = 60
#: Seconds kept back at the end for the report.
REPORT_RESERVE = 15
#: Seconds between rewrites of the report while a step runs.
HEARTBEAT_S = 15
STATUS_OK = ("ok", "reused")
#: What the device machine sends back: at most 8 files (this run writes 4).
OUT_FILES = ("gpu-run.json", "gpu-run.md", "gpu-run.log", "bench.png")
#: Set by run.sh: when the call began (seconds since the epoch), so --budget covers the install too.
STARTED_ENV = "ACNET_GPU_RUN_STARTED"


def csv(text: str | None) -> list[str]:
    return [t.strip() for t in str(text or "").split(",") if t.strip()]


def select(only: str | None, skip: str | None) -> list[str]:
    """The steps to run, in run order: ``--only``'s (else all but the opt-in ones) with what they need, less ``--skip``."""
    chosen = csv(only) if only else [s for s in STEPS if s not in OPT_IN]
    unknown = [s for s in chosen + csv(skip) if s not in STEPS]
    if unknown:
        raise SystemExit(f"gpu_run: error: unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
    wanted = set(chosen) | {"env"}
    for name in list(wanted):
        wanted |= set(NEEDS.get(name, ()))
    wanted -= set(csv(skip)) - {"env"}
    return [s for s in STEPS if s in wanted]


def rerun_command(argv: list[str], steps: list[str], budget: float) -> str:
    """The run.sh command that reruns ``steps`` with this run's other options (install skipped unless tests run)."""
    keep, skip_next = [], False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in ("--only", "--skip", "--budget"):
            skip_next = True
            continue
        if arg.startswith(("--only=", "--skip=", "--budget=")):
            continue
        keep.append(arg)
    install = [] if "tests" in steps else ["ACNET_GPU_RUN_INSTALL=0"]
    return shlex.join([*install, "benchmarks/gpu/run.sh", *keep, "--only", ",".join(steps), "--budget", f"{budget:g}"])


def parse_junit(path: Path) -> dict | None:
    """Counts and failures of a pytest junit XML."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    problems, skipped = [], {}
    for suite in suites:
        for case in suite.iter("testcase"):
            counts["tests"] += 1
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            for kind, key in (("failure", "failed"), ("error", "errors")):
                node = case.find(kind)
                if node is not None:
                    counts[key] += 1
                    problems.append({"test": name, "kind": key, "message": (node.get("message") or "")[:500]})
            node = case.find("skipped")
            if node is not None:
                counts["skipped"] += 1
                reason = (node.get("message") or "")[:200]
                skipped[reason] = skipped.get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failed"] - counts["errors"] - counts["skipped"]
    return {**counts, "problems": problems, "skip_reasons": skipped}


_VERBOSE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b(?: \((.*)\))?")


def parse_pytest_verbose(text: str) -> dict:
    """Counts from ``pytest -v`` lines, as tests pass: what a tests step killed before its junit XML shows."""
    counts = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    problems, skipped = [], {}
    key = {"PASSED": "passed", "XPASS": "passed", "FAILED": "failed", "ERROR": "errors", "SKIPPED": "skipped",
           "XFAIL": "skipped"}
    for line in text.splitlines():
        match = _VERBOSE.match(line.strip())
        if not match:
            continue
        test, outcome, why = match.groups()
        counts["tests"] += 1
        counts[key[outcome]] += 1
        if key[outcome] in ("failed", "errors"):
            problems.append({"test": test, "kind": key[outcome], "message": ""})
        elif key[outcome] == "skipped":
            reason = re.sub(r"\s*\[\s*\d+%\]$", "", why or "")[:200]
            skipped[reason] = skipped.get(reason, 0) + 1
    return {**counts, "problems": problems, "skip_reasons": skipped, "partial": True}


def _load(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _last_json_line(text: str):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


def _last_error(text: str) -> str | None:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("acnet: error:", "gpu_run: error:")) or re.match(r"^\w+(Error|Exception): ", line):
            return line[:300]
    return lines[-1][:300] if lines else None


def _each(flag: str, values) -> list[str]:
    return [x for v in values for x in (flag, v)]


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # it has just exited
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])  # "pid (comm) state ppid ..."
        out.setdefault(ppid, []).append(int(entry))
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children, tree, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def kill_tree(pid: int) -> None:
    """Kill a step and everything it started (compile workers, compilers, pytest's children).

    Steps stay in the run's own process group, so whatever kills the whole call
    (the device tool at its time limit) kills them too, and none outlives it to
    share the GPU with a rerun. Here the tree is stopped first, so nothing in
    it can start another process between the walk and the kill.
    """
    stopped: set[int] = set()
    for _ in range(3):
        tree = [p for p in process_tree(pid) if p not in stopped]
        if not tree:
            break
        for p in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGSTOP)
        stopped.update(tree)
    for p in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


class Step:
    """One step: its command, what it printed, how it ended and what it measured."""

    FIELDS = ("name", "title", "status", "reason", "command", "returncode", "seconds", "budget_s", "result", "log_tail")

    def __init__(self, name: str, title: str) -> None:
        self.name, self.title = name, title
        #: pending (not reached yet), running, ok, reused, partial, failed, timeout or not-run
        self.status = "pending"
        self.reason = self.command = self.returncode = self.seconds = self.budget_s = self.result = None
        self.log_tail = ""
        self.started = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.FIELDS}


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        now = time.monotonic()
        # --budget counts from run.sh's start when it says when that was (the install is inside the budget).
        started = os.environ.get(STARTED_ENV)
        try:
            before = min(max(0.0, time.time() - float(started)), 600.0) if started else 0.0
        except ValueError:
            before = 0.0
        self.t0 = now - before
        self.deadline = self.t0 + args.budget
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.logs = self.work / "logs"
        for d in (self.out, self.work, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out / "gpu-run.log"
        self.log_path.write_text(f"acnet GPU run, {gpu_report.utc_now()}\n$ {shlex.join(sys.argv)}\n")
        self.cuda = args.device.startswith("cuda")
        self.steps: dict[str, Step] = {}
        self.selected = select(args.only, args.skip)
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path,
                    "TORCHINDUCTOR_CACHE_DIR": str(self.work / "inductor-cache"),
                    "TRITON_CACHE_DIR": str(self.work / "triton-cache"),
                    "TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
        self.frames = Path(args.frames) if args.frames else None
        tag = f"{args.backbone}-w{args.width_mult:g}-{args.height}x{args.width}-seed{args.seed}"
        self.checkpoint = Path(args.checkpoint) if args.checkpoint else self.work / f"acnet-{tag}.pt"
        precision = "fp16" if self.cuda else "fp32"
        self.package = Path(args.aoti_package) if args.aoti_package else \
            self.work / f"acnet-{tag}-{precision}-{args.device.split(':')[0]}-b1-{args.max_batch}.pt2"
        self.capi_dir = Path(args.capi_build) if args.capi_build else self.work / "capi-build"
        self._running: list = []
        self._last_write = 0.0

    # ------------------------------------------------------------------ time and the report

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, title: str) -> Step:
        step = self.steps.setdefault(name, Step(name, title))
        step.title = title
        return step

    def say(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {text}"
        print(line, flush=True)
        with self.log_path.open("a") as f:
            f.write(line + "\n")

    def report(self) -> dict:
        steps = [self.steps[n].to_dict() for n in STEPS if n in self.steps]
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items() if k != "func"}
        markdown = {name: (self.work / f"{name}.md").read_text() for name in ("bench", "parity")
                    if (self.work / f"{name}.md").is_file()}
        return gpu_report.build_report(options, steps, time.monotonic() - self.t0, self.args.budget,
                                       self.args.commit, markdown)

    def write(self) -> dict:
        """gpu-run.json and gpu-run.md as they stand (atomically: a kill mid-write leaves the last good pair)."""
        for name, step in self._running_steps():
            step.log_tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
            if name == "tests":
                step.result = parse_pytest_verbose((self.logs / "tests.log").read_text(errors="replace"))
        report = self.report()
        atomic_write_text(self.out / "gpu-run.json", json.dumps(report, indent=2, default=str) + "\n")
        atomic_write_text(self.out / "gpu-run.md", gpu_report.markdown(report))
        self._last_write = time.monotonic()
        return report

    def _running_steps(self):
        return [(p._acnet[0].name, p._acnet[0]) for p in self._running]

    # ------------------------------------------------------------------ processes

    def start(self, step: Step, command: list[str], budget: float, cwd: Path | None = None, keep: float = 0.0,
              least: float = 5.0):
        """Start ``command`` for ``step`` in its own process group; None when there is no time for it.

        ``keep``: seconds of the run's budget to leave for the steps after this one; ``least``: the
        fewest seconds worth starting it with.
        """
        budget = min(budget, self.remaining() - REPORT_RESERVE - keep)
        step.command = shlex.join(command)
        if budget < least:
            step.status, step.reason = "not-run", f"out of time ({max(budget, 0):.0f} s left for it, needs {least:.0f})"
            self.say(f"{step.name}: not run, {step.reason}")
            self.write()
            return None
        step.budget_s = round(budget, 1)
        step.started = time.monotonic()
        step.status = "running"
        log = (self.logs / f"{step.name}.log").open("w")
        self.say(f"{step.name}: {step.title} (budget {budget:.0f} s)\n    $ {step.command}")
        # In the run's own process group (no new session): a kill of the whole call reaches it too.
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=str(cwd or REPO), env=self.env)
        proc._acnet = (step, log, step.started + budget)  # type: ignore[attr-defined]
        self._running.append(proc)
        self.write()
        return proc

    def wait(self, procs: list) -> None:
        """Wait for every process, killing each at its own deadline; rewrite the report as they run and end."""
        procs = [p for p in procs if p is not None]
        while procs:
            for p in list(procs):
                step, log, until = p._acnet
                if p.poll() is None and time.monotonic() < until:
                    continue
                timed_out = p.poll() is None
                if timed_out:
                    kill_tree(p.pid)
                    p.wait()
                log.close()
                procs.remove(p)
                self._running.remove(p)
                self._finish(step, p.returncode, timed_out)
            if procs and time.monotonic() - self._last_write >= HEARTBEAT_S:
                self.write()
            time.sleep(0.2)

    def run_one(self, step: Step, command: list[str], budget: float, cwd: Path | None = None, **kw) -> None:
        self.wait([self.start(step, command, budget, cwd, **kw)])

    def _finish(self, step: Step, returncode: int, timed_out: bool) -> None:
        step.seconds = round(time.monotonic() - step.started, 1)
        step.returncode = returncode
        text = (self.logs / f"{step.name}.log").read_text(errors="replace")
        step.log_tail = text[-3000:]
        with self.log_path.open("a") as f:
            f.write(f"\n===== {step.name}: {step.command}\n{text[-200_000:]}\n===== {step.name}: "
                    f"exit {returncode} after {step.seconds} s{' (TIMED OUT)' if timed_out else ''}\n")
        if timed_out:
            step.status, step.reason = "timeout", f"killed after its budget of {step.budget_s} s"
        else:
            step.status = "ok" if returncode == 0 else "failed"
            step.reason = None if returncode == 0 else (_last_error(text) or f"exit {returncode}")
        self.say(f"{step.name}: {step.status} in {step.seconds} s" + (f" ({step.reason})" if step.reason else ""))
        self.write()

    # ------------------------------------------------------------------ commands

    def acnet(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "acnet.cli", *args]

    def helper(self, *args: str) -> list[str]:
        return [sys.executable, str(HELPER), *args]

    def size_args(self) -> list[str]:
        return ["--height", str(self.args.height), "--width", str(self.args.width)]

    @property
    def batches(self) -> list[int]:
        return [int(b) for b in csv(self.args.batches)]

    @property
    def compile_batches(self) -> list[int]:
        return [int(b) for b in csv(self.args.compile_batches)]

    # ------------------------------------------------------------------ the run

    def stop(self, signum, frame) -> None:
        """SIGTERM (a call stopped at its limit): kill the running steps, write what there is, and exit."""
        for p in list(self._running):
            kill_tree(p.pid)
            p.wait()
            step, log, _ = p._acnet
            log.close()
            step.log_tail = (self.logs / f"{step.name}.log").read_text(errors="replace")[-3000:]
            step.seconds = round(time.monotonic() - step.started, 1)
            step.status, step.reason = "timeout", "the call was stopped (SIGTERM) while it ran"
            self._running.remove(p)
        self.say(f"gpu_run: stopped by signal {signum}")
        self.finish(128 + signum)
        sys.exit(128 + signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        a = self.args
        self.say(f"acnet GPU run on {a.device}: steps {', '.join(self.selected)}; budget {a.budget:.0f} s "
                 f"({time.monotonic() - self.t0:.0f} s of it spent before this script)")
        for name in self.selected:  # the report lists every selected step from the first write on
            self.step(name, name)
        env = self.step("env", "environment, clocks, library paths and the two ceilings (bf16 matmul, device copy)")
        self.run_one(env, self.helper("env", "--device", a.device, "--matmul-n", str(a.matmul_n),
                                      "--copy-mib", str(a.copy_mib), "--json", str(self.work / "env.json")),
                     BUDGETS["env"])
        env.result = _load(self.work / "env.json")
        if env.result and env.result.get("error"):
            env.status, env.reason = "failed", env.result["error"]
            self.say(f"gpu_run: error: {env.reason}")
            return self.finish(2)

        if "checkpoint" in self.selected:
            self.make_checkpoint()
        ready = self.steps.get("checkpoint") is None or self.steps["checkpoint"].status in STATUS_OK

        # Untimed: the export beside the C build only, then the compile warm-up alone. They stop in time
        # to leave the timed steps --timed-reserve seconds.
        keep = a.timed_reserve if any(n in self.selected for n in TIMED) else 0.0
        procs = [starter(ready, keep) for name, starter in (("export", self.start_export),
                                                            ("capi-build", self.start_capi_build))
                 if name in self.selected]
        self.wait(procs)
        self.collect_export()
        if "compile-warm" in self.selected:
            self.compile_warm(ready, keep)

        # Timed, one at a time, in the order of what matters most.
        for name, fn in (("bench", self.bench), ("bench-compile", self.bench_compile), ("capi", self.capi),
                         ("parity", self.parity), ("train", self.train), ("camera", self.camera), ("tests", self.tests)):
            if name in self.selected:
                fn(ready)
        code = 0 if all(self.steps[n].status in STATUS_OK for n in self.selected) else 1
        return self.finish(code)

    def make_checkpoint(self) -> None:
        a = self.args
        s = self.step("checkpoint", f"trained-looking ACNet-{a.backbone} (width {a.width_mult:g}) at {a.height}x{a.width}")
        if self.checkpoint.is_file():
            s.status, s.reason, s.command = "reused", f"{self.checkpoint} exists", None
            self.say(f"checkpoint: reusing {self.checkpoint}")
            return
        frames = ["--frames", str(self.frames)] if self.frames else []
        self.run_one(s, self.helper("make-checkpoint", "--output", str(self.checkpoint), "--backbone", a.backbone,
                                    "--width-mult", str(a.width_mult), "--seed", str(a.seed), *self.size_args(), *frames),
                     BUDGETS["checkpoint"])
        s.result = _last_json_line(s.log_tail)

    def _needs_checkpoint(self, step: Step, ready: bool) -> bool:
        if not ready:
            step.status, step.reason = "not-run", "no checkpoint (its step failed)"
            self.say(f"{step.name}: not run, no checkpoint")
        return ready

    def start_export(self, ready: bool, keep: float):
        a = self.args
        s = self.step("export", "acnet export aoti" + (f" --device cuda --fp16 --dynamic-batch --max-batch {a.max_batch} "
                                                        "--no-verify" if self.cuda else " (CPU)"))
        if self.package.is_file():
            s.status, s.reason = "reused", f"{self.package} exists"
            self.say(f"export: reusing {self.package}")
            return None
        if not self._needs_checkpoint(s, ready):
            return None
        # --no-verify: parity checks the package against PyTorch on the real frames, with the gates.
        device = ["--device", a.device] + (["--fp16"] if self.cuda else [])
        return self.start(s, self.acnet("export", "aoti", str(self.checkpoint), "-o", str(self.package), *device,
                                        "--dynamic-batch", "--max-batch", str(a.max_batch), "--no-verify",
                                        *self.size_args()), BUDGETS["export"], keep=keep)

    def start_capi_build(self, ready: bool, keep: float):
        s = self.step("capi-build", "acnet capi build (AOTInductor backend)")
        if (self.capi_dir / "libacnet.so").is_file() and (self.capi_dir / "segment").is_file():
            s.status, s.reason = "reused", f"{self.capi_dir} holds libacnet.so and segment"
            self.say(f"capi-build: reusing {self.capi_dir}")
            return None
        return self.start(s, self.acnet("capi", "build", "--build-dir", str(self.capi_dir), "--aoti", "on",
                                        "--tensorrt", "off"), BUDGETS["capi-build"], keep=keep)

    def collect_export(self) -> None:
        e = self.steps.get("export")
        if e is not None and e.status in STATUS_OK and self.package.is_file():
            from acnet.export.aoti import read_package_batch_range

            report = self.package.with_name(self.package.stem + ".aoti.verify.json")
            e.result = {"package": str(self.package), "size_mib": round(self.package.stat().st_size / 2**20, 1),
                        "batch_range": list(read_package_batch_range(self.package)),
                        "verification": (_load(report) or {}).get("verification")}

    def compile_warm(self, ready: bool, keep: float) -> None:
        s = self.step("compile-warm", "torch.compile at the compiled bench's batches to fill Inductor's caches (untimed)")
        backends = csv(self.args.compile_backends)
        if not backends:
            s.status, s.reason = "not-run", "no --compile-backends"
            return
        if not self._needs_checkpoint(s, ready):
            return
        path = self.work / "compile-warm.json"
        path.unlink(missing_ok=True)
        self.run_one(s, self.acnet("bench", str(self.checkpoint), *_each("-b", backends), "--batch",
                                   ",".join(map(str, self.compile_batches)), "--warmup", "1", "--iters", "1",
                                   "--device", self.args.device, *self.size_args(), "--cache-dir",
                                   str(self.work / "cache"), "--json", str(path), "--no-progress"),
                     BUDGETS["compile-warm"], keep=keep, least=COMPILE_WARM_MIN_S)
        report = _load(path) if s.status != "not-run" else None
        if report:
            s.result = {"warmup_s": {f"{r['backend']} b{r['batch']}": r.get("warmup_s") for r in report["results"]},
                        "status": {f"{r['backend']} b{r['batch']}": r["status"] for r in report["results"]}}

    def _package_ready(self) -> bool:
        e = self.steps.get("export")
        return self.package.is_file() and (e is None or e.status in STATUS_OK)

    def bench(self, ready: bool) -> None:
        s = self.step("bench", "acnet bench: eager FP32/TF32, FP16/BF16 autocast, AOTInductor package")
        if not self._needs_checkpoint(s, ready):
            return
        backends = csv(self.args.eager_backends)
        extra = []
        aoti = [b for b in backends if b.startswith("aoti")]
        if aoti and self._package_ready():
            extra = ["--aoti", str(self.package)]
        elif aoti:
            backends = [b for b in backends if not b.startswith("aoti")]
        path = self.work / "bench.json"
        path.unlink(missing_ok=True)
        self.run_one(s, self.acnet("bench", str(self.checkpoint), *_each("-b", backends), *extra, "--batch",
                                   ",".join(map(str, self.batches)), "--warmup", str(self.args.warmup), "--iters",
                                   str(self.args.iters), "--device", self.args.device, *self.size_args(),
                                   "--cache-dir", str(self.work / "cache"), "--json", str(path),
                                   "--markdown", str(self.work / "bench.md"), "--plot", str(self.out / "bench.png"),
                                   "--no-progress"), BUDGETS["bench"])
        s.result = _load(path)
        if s.status == "failed" and s.returncode == 1 and s.result:
            failed = sorted({r["backend"] for r in s.result["results"] if r["status"] == "error"})
            s.status, s.reason = "partial", f"failed backends: {', '.join(failed)}"
        if aoti and not extra:
            s.reason = "; ".join(filter(None, [s.reason, "no AOTInductor package (the export failed or was not run): "
                                                        "its rows are missing"]))
        self.write()

    def bench_compile(self, ready: bool) -> None:
        backends = csv(self.args.compile_backends)
        s = self.step("bench-compile", f"acnet bench: {', '.join(backends) or '(none)'} against eager FP32, one run per batch")
        if not backends:
            s.status, s.reason = "not-run", "no --compile-backends"
            return
        if not self._needs_checkpoint(s, ready):
            return
        runs, statuses, seconds, commands = {}, [], 0.0, []
        s.result, s.status = {"runs": runs}, "running"
        for batch in self.compile_batches:
            sub = Step(f"bench-compile-b{batch}", f"batch {batch}")
            path = self.work / f"bench-compile-b{batch}.json"
            path.unlink(missing_ok=True)
            self.run_one(sub, self.acnet("bench", str(self.checkpoint), "-b", "torch", *_each("-b", backends),
                                         "--batch", str(batch), "--warmup", str(self.args.warmup), "--iters",
                                         str(self.args.iters), "--device", self.args.device, *self.size_args(),
                                         "--cache-dir", str(self.work / "cache"), "--json", str(path),
                                         "--no-progress"), BUDGETS["bench-compile"])
            runs[str(batch)] = {"status": sub.status, "reason": sub.reason, "seconds": sub.seconds,
                                "command": sub.command, "report": _load(path), "log_tail": sub.log_tail}
            statuses.append(sub.status)
            seconds += sub.seconds or 0
            commands.append(sub.command)
        s.command = "; ".join(commands)
        s.seconds = round(seconds, 1)
        s.status = "ok" if all(st == "ok" for st in statuses) else ("partial" if "ok" in statuses else statuses[0])
        bad = [f"batch {b}: {r['status']} ({r['reason']})" for b, r in runs.items() if r["status"] != "ok"]
        s.reason = "; ".join(bad) or None
        self.write()

    def capi(self, ready: bool) -> None:
        s = self.step("capi", "the C example on two frames with --repeat, labels and end-to-end time against the Python runtime")
        if not self._needs_checkpoint(s, ready):
            return
        build = self.steps.get("capi-build")
        if not self._package_ready() or (build is not None and build.status not in STATUS_OK):
            s.status, s.reason = "not-run", "needs the package and the C library (a step before failed)"
            self.say(f"capi: not run ({s.reason})")
            return
        frames = ["--frames", str(self.frames)] if self.frames else []
        path = self.work / "capi.json"
        path.unlink(missing_ok=True)
        self.run_one(s, self.helper("capi-check", "--build", str(self.capi_dir), "--package", str(self.package),
                                    "--device", self.args.device, "--repeat", str(self.args.repeat), "--warmup", "3",
                                    "--work", str(self.work / "capi-frames"), "--json", str(path), *frames),
                     BUDGETS["capi"])
        s.result = _load(path)
        self.write()

    def parity(self, ready: bool) -> None:
        s = self.step("parity", "acnet parity against FP32 on the real frames, with the gates")
        if not self._needs_checkpoint(s, ready):
            return
        if self.frames is None or not (self.frames / "test").is_dir():
            s.status = "not-run"
            s.reason = (f"no frames at {self.frames}: copy ../shared/data/nyuv2-samples into the checkout's "
                        ".gpu-frames/ and name it in carry (benchmarks/gpu/README.md)")
            self.say(f"parity: not run ({s.reason})")
            return
        candidates = _each("--torch", csv(self.args.parity_torch))
        if self._package_ready():
            candidates += ["--aoti", str(self.package)]
        path = self.work / "parity.json"
        path.unlink(missing_ok=True)
        self.run_one(s, self.acnet("parity", str(self.checkpoint), "--data", f"folder:{self.frames}", *candidates,
                                   "--device", self.args.device, "--reference-device", self.args.device,
                                   "--json", str(path), "--report", str(self.work / "parity.md"),
                                   "--no-progress"), BUDGETS["parity"])
        s.result = _load(path)
        if s.status == "failed" and s.returncode == 1 and s.result:
            outside = [f"{r['label']} ({r['precision']}; gate >= {r['gate']['min_agreement_pct']}%, "
                       f"<= {r['gate']['max_delta_miou_points']} pts): {'; '.join(r['failures'])}"
                       for r in s.result["results"] if not r["passed"]]
            s.status, s.reason = "partial", "outside the gate: " + " | ".join(outside)
        self.write()

    def train(self, ready: bool) -> None:
        a = self.args
        s = self.step("train", f"training throughput ({a.train_precisions}) at {a.height}x{a.width}, batch {a.train_batch}")
        path = self.work / "train.json"
        path.unlink(missing_ok=True)
        self.run_one(s, [sys.executable, "-m", "acnet.benchmarks.throughput", "--backbone", a.backbone, "--width-mult",
                         str(a.width_mult), *self.size_args(), "--batch-size", str(a.train_batch),
                         "--precisions", a.train_precisions, "--warmup", str(a.train_warmup), "--steps",
                         str(a.train_steps), "--device", a.device, "--json", str(path)],
                     BUDGETS["train"], cwd=self.work)
        s.result = _load(path)
        self.write()

    def camera(self, ready: bool) -> None:
        a = self.args
        s = self.step("camera", "camera-native vs float model: host work per frame, bytes to the GPU and back, "
                                "frames/s through the stream pipeline (benchmarks/camera_native.py)")
        if not self._needs_checkpoint(s, ready):
            return
        frames = self.frames / "test" if self.frames is not None else None
        if frames is None or not (frames / "rgb").is_dir():
            s.status, s.reason = "not-run", f"no frames at {self.frames} (the six NYUv2 samples: see README.md)"
            self.say(f"camera: not run ({s.reason})")
            return
        path = self.work / "camera.json"
        path.unlink(missing_ok=True)
        self.run_one(s, [sys.executable, str(REPO / "benchmarks" / "camera_native.py"), str(self.checkpoint),
                         "--device", a.device, "--nyu", str(frames), "--size", a.camera_size, "--large", a.camera_large,
                         "--frames", str(a.camera_frames), "--rounds", str(a.camera_rounds), "--repeat", str(a.repeat),
                         "--work", str(self.work / "camera"), "--out", str(path), *([] if a.camera_c else ["--no-c"])],
                     BUDGETS["camera"])
        s.result = _load(path)
        if s.status == "ok" and s.result and s.result.get("stream_skipped"):
            s.status, s.reason = "partial", f"stream not measured: {s.result['stream_skipped']}"
        self.write()

    def tests(self, ready: bool) -> None:
        s = self.step("tests", f"the suite's CUDA tests (pytest {self.args.tests_args})")
        junit = self.work / "tests.xml"
        junit.unlink(missing_ok=True)
        extra = ["--timeout", str(self.args.test_timeout)] if importlib.util.find_spec("pytest_timeout") else []
        # One process (-p no:xdist, also where pytest-xdist is missing): one GPU. -v: each result is in the
        # log as it happens, and the report reads it from there if the step is cut before its junit XML.
        self.run_one(s, [sys.executable, "-m", "pytest", *shlex.split(self.args.tests_args), "-rfEs", "-p",
                         "no:cacheprovider", "-p", "no:xdist", "--junitxml", str(junit), *extra], BUDGETS["tests"])
        if s.status != "not-run":
            s.result = parse_junit(junit) or parse_pytest_verbose((self.logs / "tests.log").read_text(errors="replace"))
        if s.status == "failed" and s.result and s.result.get("failed", 0) + s.result.get("errors", 0) == 0:
            s.reason = s.reason or "pytest exited non-zero"
        self.write()

    # ------------------------------------------------------------------ the end

    def finish(self, code: int) -> int:
        for step in self.steps.values():
            if step.status == "pending":
                step.status, step.reason = "not-run", "the run ended before it (see the steps above)"
        report = self.write()
        table = gpu_report.short_table(report)
        redo = [n for n in self.selected if self.steps[n].status not in STATUS_OK + ("partial",)]
        rerun = (f"rerun what did not finish, within the 30 s the machine stays warm: "
                 + json.dumps({"command": rerun_command(sys.argv[2:], redo, 150), "carry": [".gpu-frames"],
                               "timeout_s": 200})) if redo else "nothing to rerun: every step finished"
        with self.log_path.open("a") as f:
            f.write("\n" + table + "\n\n" + rerun + "\n")
        extra = sorted(p.name for p in self.out.iterdir() if p.name not in OUT_FILES and not p.name.startswith("."))
        print("\n" + table)
        print(f"\nfiles: {', '.join(p for p in OUT_FILES if (self.out / p).exists())} in {self.out}"
              + (f" (and {', '.join(extra)}: not this run's)" if extra else ""))
        print(rerun)
        return code
