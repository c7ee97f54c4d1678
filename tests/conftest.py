"""Shared fixtures. Tests use small widths and inputs; real sizes belong in benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NYU_SAMPLES = SHARED_DATA / "nyuv2-samples"


#: The slowest files (measured on 2 cores), started first under pytest-xdist so that none of them
#: starts last and leaves the other worker idle; the rest follow in their usual order. test_quickstart
#: makes its own artefacts; test_capi makes those the next four share (tests/support/capi_artifacts.py).
SLOW_FILES_FIRST = ("test_quickstart.py", "test_capi.py", "test_error_promise.py", "test_gpu_run.py", "test_aoti.py",
                    "test_bench_gpu_paths.py", "test_fuzz.py")


#: pytest-xdist workers when no -n is given: the suite is sized for two cores.
WORKERS = 2


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook turns -n into workers
def pytest_cmdline_main(config):
    """Two pytest-xdist workers unless -n says otherwise (-n0: one process), each running whole files
    (module fixtures are made once) in collection order (SLOW_FILES_FIRST). Without pytest-xdist,
    with --pdb or --collect-only, or on one core, pytest runs as it would without this hook."""
    option = config.option
    if (not config.pluginmanager.hasplugin("xdist") or os.environ.get("PYTEST_XDIST_WORKER")
            or config.getoption("usepdb") or option.collectonly):
        return
    if option.numprocesses is None and not option.tx and option.dist == "no":
        workers = min(WORKERS, len(os.sched_getaffinity(0)))
        option.numprocesses = workers if workers > 1 else None
    if option.numprocesses and option.dist == "no":
        option.dist, option.loadscopereorder = "loadfile", False


def threads_per_worker() -> int:
    """CPU threads one test process may use: both cores alone, one each beside another pytest-xdist worker."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, len(os.sched_getaffinity(0)) // workers))


def pytest_configure(config):
    # Two cores: keep torch from oversubscribing when tests run beside each other. More OpenMP threads
    # than free cores spin at every barrier waiting for a preempted one (a training step 50x slower was
    # seen): beside another worker, threads also sleep instead of spinning.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_per_worker()))
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cuda_unavailable() -> str | None:
    """Why the CUDA tests cannot run here, or None when torch sees a GPU."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        built = torch.version.cuda
        return f"no CUDA GPU visible to torch {torch.__version__}" + ("" if built else " (built without CUDA)")
    return None


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker collects, and all must agree on the order
        rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    # Tests marked `cuda` run on a GPU machine (benchmarks/gpu/run.sh runs `-m cuda`); elsewhere they skip.
    marked = [item for item in items if item.get_closest_marker("cuda")]
    reason = cuda_unavailable() if marked else None
    if reason:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=f"needs a CUDA GPU: {reason}"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips when absent (a user's fresh clone)."""
    if not NYU_SAMPLES.is_dir():
        pytest.skip(f"real RGB-D frames not found at {SHARED_DATA} (only present in the project's workspace)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_config():
    """A fast network for tests: resnet18 at quarter width, 13 classes."""
    from acnet.training.config import ModelConfig

    return ModelConfig(backbone="resnet18", num_classes=13, fusion="acm", width=0.25)


@pytest.fixture
def deterministic_torch():
    """Deterministic kernels and a fixed thread count (yielded) for a test that trains to a bar; restored after."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads_per_worker())
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield threads_per_worker()
    torch.use_deterministic_algorithms(deterministic)
    torch.set_num_threads(threads)
