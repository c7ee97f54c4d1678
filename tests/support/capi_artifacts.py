"""What the C-ABI and AOTI tests share, made once per test session.

Compiling an AOTInductor package (~40 s on two cores) and building the C
library (~20 s) are the slow steps, so each is done once per test run and
cached here (a module imported by several test files is imported once;
fixtures in two files would run twice). With pytest-xdist the workers share
one copy too: the first to need an artefact makes it under a file lock, the
others wait for it and read where it is. Everything is made through the
``acnet`` command line, as a user would.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

#: Input size of the tiny package: small, so compile and inference are quick.
HEIGHT, WIDTH = 64, 96

_made: dict[str, object] = {}


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """A folder every process of this test run sees: the base temp dir, or its parent under xdist."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _once(key: str, make, factory: pytest.TempPathFactory):
    """``make()`` once per test run (all xdist workers together); its (picklable) result after that."""
    if key not in _made:
        root = _shared_root(factory) / "capi-artifacts"
        root.mkdir(exist_ok=True)
        done = root / f"{key}.pickle"
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be making it: wait for that
            if done.is_file():
                _made[key] = pickle.loads(done.read_bytes())
            else:
                _made[key] = make()
                done.write_bytes(pickle.dumps(_made[key]))
    return _made[key]


def acnet_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``acnet ARGS`` in a fresh interpreter, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "acnet.cli", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"acnet {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def checkpoint(factory: pytest.TempPathFactory, config) -> Path:
    """A tiny trained-looking ACNet checkpoint (tests/support/trained.py, fixed seed) for 64x96 inputs.

    Its BatchNorm statistics and ACM weights are far from initialisation, so
    a wrongly folded BatchNorm or ACM in the package shows in every test.
    """

    def make() -> Path:
        from support.trained import trained_looking_checkpoint

        from acnet.runtime.preprocess import Normalization

        names = [f"class {i} é" for i in range(1, config.num_classes + 1)]
        norm = Normalization(rgb_mean=(0.45, 0.42, 0.4), rgb_std=(0.25, 0.26, 0.27), depth_mean=2.5, depth_std=1.1)
        path = factory.mktemp("capi-ckpt") / "tiny.pt"
        return trained_looking_checkpoint(path, config, (HEIGHT, WIDTH), class_names=names, normalization=norm)

    return _once("checkpoint", make, factory)


def aoti_package(factory: pytest.TempPathFactory, config) -> tuple[Path, str, float]:
    """``acnet export aoti`` of :func:`checkpoint` for the CPU: (path, CLI stdout, seconds)."""

    def make():
        out = factory.mktemp("capi-aoti") / "tiny.pt2"
        start = time.perf_counter()
        proc = acnet_cli("export", "aoti", str(checkpoint(factory, config)), "-o", str(out))
        return out, proc.stdout, time.perf_counter() - start

    return _once("aoti", make, factory)


def fold_along_the_wrong_axis(model):
    """What Inductor's freezing did to ACNet (torch 2.14): a transposed convolution's
    BatchNorm folded along dimension 0 (its input channels), wherever the shapes let it
    (as many input as output channels). Used to break a package on purpose."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from acnet.training.model.decoder import TransBasicBlock

    for block in model.modules():
        if isinstance(block, TransBasicBlock) and block.upsample is not None:
            same = block.conv2.in_channels == block.conv2.out_channels
            block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2, transpose=not same)
            block.bn2 = nn.Identity()
            block.upsample = fuse_conv_bn_eval(*block.upsample, transpose=not same)
    return model


def wrongly_folded_package(factory: pytest.TempPathFactory, config) -> Path:
    """A CPU package of :func:`checkpoint` with BatchNorms folded along the wrong axis (``--no-verify``).

    Made in-process, since the fault is monkeypatched into the export.
    """

    def make() -> Path:
        from unittest import mock

        from acnet.export.aoti import AotiExportOptions, compile_package

        out = factory.mktemp("capi-aoti-wrong") / "wrong.pt2"
        with mock.patch("acnet.export.aoti.fold_transposed_batchnorms", fold_along_the_wrong_axis):
            compile_package(checkpoint(factory, config), out, AotiExportOptions(verify=False))
        return out

    return _once("aoti-wrong", make, factory)


def onnx_model(factory: pytest.TempPathFactory, config) -> Path:
    """The same checkpoint exported to ONNX, for the Python runtime's Segmenter."""

    def make() -> Path:
        from acnet.export.onnx import OnnxExportOptions, export_onnx

        out = factory.mktemp("capi-onnx") / "tiny.onnx"
        export_onnx(checkpoint(factory, config), out, OnnxExportOptions())
        return out

    return _once("onnx", make, factory)


#: The camera of the camera-native CLI export: another size than the network's, so its heads resize.
CAMERA_HEIGHT, CAMERA_WIDTH = 72, 112


def _camera_export(factory: pytest.TempPathFactory, config, target: str, suffix: str) -> tuple[Path, str]:
    """``acnet export TARGET --io camera --camera-size 72x112`` of :func:`checkpoint`: (path, CLI stdout)."""

    def make():
        out = factory.mktemp(f"camera-{target}") / f"camera{suffix}"
        proc = acnet_cli("export", target, str(checkpoint(factory, config)), "-o", str(out), "--io", "camera",
                         "--camera-size", f"{CAMERA_HEIGHT}x{CAMERA_WIDTH}")
        return out, proc.stdout

    return _once(f"camera-{target}", make, factory)


def camera_onnx(factory: pytest.TempPathFactory, config) -> tuple[Path, str]:
    """The camera-native ONNX export (camera 72x112): (path, CLI stdout)."""
    return _camera_export(factory, config, "onnx", ".onnx")


def camera_package(factory: pytest.TempPathFactory, config) -> tuple[Path, str]:
    """The camera-native AOTInductor package (camera 72x112), for the C library: (path, CLI stdout)."""
    return _camera_export(factory, config, "aoti", ".pt2")


def camera_variant(factory: pytest.TempPathFactory, config, size: tuple[int, int] | None = None, depth: str = "uint16",
                   scale: float = 0.001, fault: str | None = None) -> Path:
    """A camera-native model of :func:`onnx_model`'s network, its heads joined here (seconds, not a new trace).

    ``size`` None: the network's own (no resize). ``fault``: a head broken on
    purpose (``trained.break_camera_head_on_purpose``), the metadata still right.
    """

    def make() -> Path:
        import onnx

        from acnet.export.camera import attach_heads
        from acnet.export.graph import read_metadata, set_metadata
        from acnet.runtime.metadata import CameraIO
        from support.trained import break_camera_head_on_purpose

        network = onnx.load(onnx_model(factory, config))
        info = read_metadata(network)
        camera = CameraIO(*(size or (info.input_height, info.input_width)), depth, 1.0 if depth == "float32" else scale)
        info = info.with_(camera=camera, output="labels")
        if fault is None:
            model = set_metadata(attach_heads(network, info, 18), info)
        else:
            model = break_camera_head_on_purpose(network, info, fault)
        out = factory.mktemp("camera-variant") / f"camera-{fault or 'ok'}.onnx"
        onnx.save(model, out)
        return out

    key = f"camera-{size}-{depth}-{scale}-{fault}".replace(" ", "")
    return _once(key, make, factory)


def capi_build(factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``acnet capi build --tests`` into a temporary folder: (build dir, CLI stdout)."""
    if shutil.which("cmake") is None or shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("the C library needs cmake and a C++ compiler on PATH")

    def make():
        build = factory.mktemp("capi-build")
        proc = acnet_cli("capi", "build", "--build-dir", str(build), "--tests")
        return build, proc.stdout

    return _once("build", make, factory)


def fuzz_module():
    """acnet/runtime/c/tests/fuzz/fuzz.py, which builds and runs the fuzzers (it lives beside them)."""
    import importlib.util

    import acnet

    script = Path(acnet.__file__).parent / "runtime" / "c" / "tests" / "fuzz" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("acnet_fuzz", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fuzz_build(factory: pytest.TempPathFactory) -> Path:
    """The fuzzers and capi_trt_check (acnet/runtime/c/tests/fuzz), built once with Clang: their folder."""
    fuzz = fuzz_module()
    if shutil.which("cmake") is None or fuzz.clang() is None:
        pytest.skip("the fuzzers need cmake and Clang with libFuzzer (Debian: clang libclang-rt-dev; .ci/run installs them)")
    return _once("fuzz-build", lambda: fuzz.build(factory.mktemp("fuzz-build")), factory)


# --------------------------------------------------------------------------- netpbm files


def write_ppm(path: Path, rgb: np.ndarray) -> Path:
    h, w = rgb.shape[:2]
    path.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(rgb, np.uint8).tobytes())
    return path


def write_pgm16(path: Path, depth: np.ndarray) -> Path:
    h, w = depth.shape
    path.write_bytes(b"P5\n# depth, millimetres\n%d %d\n65535\n" % (w, h) + depth.astype(">u2").tobytes())
    return path


def read_pgm8(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, dims, maxval, rest = data.split(b"\n", 3)
    assert magic == b"P5" and maxval == b"255"
    w, h = (int(v) for v in dims.split())
    return np.frombuffer(rest, np.uint8).reshape(h, w)


# --------------------------------------------------------------------------- a small prepared dataset


def folder_dataset(factory: pytest.TempPathFactory, classes: int, count: int = 6, size: tuple[int, int] = (96, 128)) -> Path:
    """A prepared folder dataset of ``count`` synthetic RGB-D frames with ``classes`` classes, made once.

    The layout is the one ``folder:ROOT`` reads (``ROOT/test/{rgb,depth,semantic_40}/NNNN.png``
    with ``ROOT/class_names.txt``), so parity and the GPU run's frame handling
    can run on a model of any class count. Labels follow the depth (bands of
    0.4 m), 0 (void) where depth is missing.
    """

    def make() -> Path:
        from PIL import Image

        from acnet.export.verify import synthetic_frame

        root = factory.mktemp(f"folder-{classes}-classes")
        for sub in ("rgb", "depth", "semantic_40"):
            (root / "test" / sub).mkdir(parents=True)
        for i in range(count):
            rgb, depth = synthetic_frame(*size, seed=100 + i)
            label = np.where(depth > 0, (depth // 400) % classes + 1, 0).astype(np.uint8)
            name = f"{i + 1:04d}.png"
            Image.fromarray(rgb).save(root / "test" / "rgb" / name)
            Image.fromarray(depth.astype(np.uint16)).save(root / "test" / "depth" / name)
            Image.fromarray(label).save(root / "test" / "semantic_40" / name)
        (root / "class_names.txt").write_text("".join(f"class {k}\n" for k in range(1, classes + 1)))
        return root

    return _once(f"folder-{classes}-{count}-{size[0]}x{size[1]}", make, factory)
