"""AOTInductor packages (``.pt2``) as benchmark backends: ``aoti`` and ``aoti-fp16``.

The Python runtime (:mod:`acnet.runtime`) runs ONNX models and TensorRT
engines without torch; a ``.pt2`` package needs libtorch, and applications
run it through the C library (``acnet/runtime/c``, ``segment --repeat``
measures that path). Here the package is loaded with torch's own loader,
``torch._inductor.aoti_load_package``, which wraps the same libtorch
model-package loader the C library calls, and put inside the runtime's
:class:`~acnet.runtime.Segmenter` with :meth:`Segmenter.from_backend`, so the
end-to-end figure carries exactly the runtime's pre- and postprocessing.

On CUDA, compute comes from CUDA events around the package's run (inputs
already on the GPU); latency adds the host-to-device and device-to-host copies.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from pathlib import Path

from acnet.benchmarks.timing import Frames, Skip
from acnet.benchmarks.torch_timer import TorchBackend, TorchTimer
from acnet.errors import AcnetError, ConfigError, ModelFileError

log = logging.getLogger(__name__)

#: Backend name -> the precision of the package it runs.
AOTI_BACKENDS = {"aoti": "fp32", "aoti-fp16": "fp16"}
PACKAGE_SUFFIXES = (".pt2",)


def backend_for_precision(precision: str) -> str:
    """``"fp16"`` -> ``"aoti-fp16"``: the backend name that runs a package of that precision."""
    for name, p in AOTI_BACKENDS.items():
        if p == precision:
            return name
    raise ModelFileError(f"no AOTInductor backend runs {precision} packages")


def package_device(path: str | Path) -> str:
    """The device kind a package was compiled for (``"cpu"`` or ``"cuda"``), from its AOTI metadata."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("_metadata.json") and "/aotinductor/" in name:
                    meta = json.loads(archive.read(name))
                    if isinstance(meta, dict) and meta.get("AOTI_DEVICE_KEY"):
                        return str(meta["AOTI_DEVICE_KEY"])
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable AOTInductor package ({exc})") from None
    raise ModelFileError(f"{path} does not say which device it was compiled for (no AOTI_DEVICE_KEY)")


def cached_package(checkpoint: Path, height: int, width: int, precision: str, device: str, cache_dir: Path) -> Path:
    """A dynamic-batch package of ``checkpoint`` for this device and precision, compiled once and cached.

    The name carries the checkpoint's hash, the size, the precision, the
    device (the GPU's name for CUDA: kernels are compiled for its
    architecture) and the torch version that compiled it.
    """
    import torch

    from acnet._io import sha256_file
    from acnet.export.aoti import AotiExportOptions, compile_package
    from acnet.runtime.backends.base import Device

    dev = Device.parse(device)
    where = "cpu"
    if dev.is_cuda:
        if not torch.cuda.is_available():
            raise Skip("CUDA is not available to torch")
        where = "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name(dev.index)).strip("-").lower()
    version = torch.__version__.split("+")[0]
    digest = sha256_file(checkpoint)[:16]
    path = cache_dir / f"{checkpoint.stem}-{digest}-{height}x{width}-{precision}-dynbatch-{where}-torch{version}.pt2"
    if path.is_file():
        log.info("using cached AOTInductor package %s", path)
        return path
    log.info("compiling an AOTInductor package %s (a minute or more)", path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    options = AotiExportOptions(device=str(dev), fp16=precision == "fp16", height=height, width=width, batch=0)
    return compile_package(checkpoint, path, options).output


def resolve_packages(backends, given: Path | None, checkpoint: Path | None, height: int | None, width: int | None,
                     device: str, cache_dir: Path) -> dict:
    """For each requested AOTI backend: the package to run, or the :class:`Skip` saying why none.

    A package given with ``--aoti`` serves the backend of its precision; the
    others are compiled from the checkpoint (dynamic batch) and cached.
    """
    from acnet.export.aoti import read_package_info

    wanted = [b for b in backends if b in AOTI_BACKENDS]
    out: dict = {}
    given_for = None
    if given is not None and wanted:
        given_for = backend_for_precision(read_package_info(given).precision)
    cuda = device.startswith("cuda")
    for name in wanted:
        if name == given_for:
            out[name] = given
        elif AOTI_BACKENDS[name] == "fp16" and not cuda:
            out[name] = Skip("FP16 AOTInductor packages are compiled for CUDA only (--device cuda)")
        elif checkpoint is None:
            out[name] = Skip(f"no {AOTI_BACKENDS[name]} package given (--aoti M.pt2) and no checkpoint to compile one from")
        elif height is None or width is None:
            out[name] = Skip("the input size is unknown: the checkpoint could not be read")
        else:
            try:
                out[name] = cached_package(checkpoint, height, width, AOTI_BACKENDS[name], device, cache_dir)
            except Skip as exc:
                out[name] = exc
            except AcnetError as exc:  # as for engines: the run goes on without this backend
                out[name] = Skip(f"could not compile a package: {exc}")
    return out


class AotiTimer(TorchTimer):
    """Runs an AOTInductor package from Python, as a benchmark timer.

    The timed call (CUDA events inside host-clock latency), the host run and
    the end-to-end path are :class:`TorchTimer`'s, around the package instead
    of the network.
    """

    def __init__(self, name: str, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        from acnet.export.aoti import read_package_info
        from acnet.runtime.backends.base import Device

        if name not in AOTI_BACKENDS:
            raise ConfigError(f"unknown AOTInductor backend {name!r}; use {' or '.join(AOTI_BACKENDS)}")
        self.torch = torch
        self.name = name
        self.path = Path(path)
        self.info = read_package_info(self.path)
        self.precision = self.info.precision
        if self.precision != AOTI_BACKENDS[name]:
            raise ConfigError(f"{self.path} is a {self.precision} package; {name} runs {AOTI_BACKENDS[name]} packages")
        self.compiled_for = package_device(self.path)
        dev = Device.parse(device)
        if self.compiled_for != dev.kind:
            raise Skip(f"{self.path.name} was compiled for {self.compiled_for}, not {dev.kind} "
                       f"(acnet export aoti --device {dev.kind})")
        self.cuda = dev.is_cuda
        if self.cuda and not torch.cuda.is_available():
            raise Skip("CUDA is not available to torch")
        if threads is not None and not self.cuda:
            torch.set_num_threads(int(threads))
        self.device = torch.device(str(dev))
        start = time.perf_counter()
        self.runner = torch._inductor.aoti_load_package(str(self.path), device_index=dev.index if self.cuda else -1)
        self.load_s = time.perf_counter() - start
        self._inputs = None
        self._segmenter = None
        self._events = None

    @property
    def limits(self):
        from acnet.export.aoti import MAX_DYNAMIC_BATCH
        from acnet.runtime.backends.base import BatchLimits

        batch = self.info.batch
        return BatchLimits(1, MAX_DYNAMIC_BATCH) if batch == 0 else BatchLimits(batch, batch)

    def details(self) -> dict:
        torch = self.torch
        d = {
            "framework": f"torch {torch.__version__} AOTInductor",
            "runtime": "torch._inductor.aoti_load_package in the runtime's Segmenter "
                       "(the Python runtime has no .pt2 backend; the C library runs the same package)",
            "precision": self.precision,
            "device": str(self.device),
            "package": str(self.path),
            "batch": str(self.limits),
            "load_s": round(self.load_s, 3),
        }
        if self.cuda:
            d["gpu"] = torch.cuda.get_device_name(self.device)
        else:
            d["threads"] = torch.get_num_threads()
        return d

    def prepare(self, frames: Frames) -> None:
        from acnet.runtime.segmenter import Segmenter

        limits, n = self.limits, frames.batch
        if limits.fixed and n != limits.minimum:
            raise Skip(f"the package has a fixed batch of {limits.minimum}; export with --dynamic-batch to run batch {n}")
        if n > limits.maximum:
            raise Skip(f"batch {n} is outside the package's range ({limits})")
        height, width = frames.rgb_batch.shape[2:]
        if (height, width) != (self.info.input_height, self.info.input_width):
            raise Skip(f"the package runs {self.info.input_height}x{self.info.input_width} inputs, not {height}x{width}")
        super().prepare(frames)  # the inputs (pinned on CUDA) and the CUDA events
        self._segmenter = Segmenter.from_backend(AotiBackend(self), n)  # with the package's batch limits

    def _forward(self, rgb, depth):
        """The package in place of the network: TorchTimer's timed run, host run and end-to-end path use it."""
        return self.runner(rgb, depth)

    def segmenter(self, batch_size: int = 1):
        """A runtime :class:`~acnet.runtime.Segmenter` over this package (for parity and label checks)."""
        from acnet.runtime.segmenter import Segmenter

        return Segmenter.from_backend(AotiBackend(self), batch_size)

    def close(self) -> None:
        self._inputs = None
        self._segmenter = None
        self.runner = None
        if self.cuda:
            self.torch.cuda.empty_cache()


class AotiBackend(TorchBackend):
    """An :class:`AotiTimer` seen as a runtime backend (``acnet.runtime.backends.Backend``)."""

    name = "aoti"

    def __init__(self, timer: AotiTimer) -> None:
        super().__init__(timer)
        self.limits = timer.limits
        self.path = timer.path

    def describe(self) -> str:
        return f"AOTInductor {self.timer.precision} package {self.path.name} on {self.device} ({self.limits})"
