"""ONNX Runtime on CUDA: the TensorRT provider's cache folder, its failure, and the providers really in use.

This machine's onnxruntime has only the CPU provider, so the native layer is
emulated beneath onnxruntime's own Python session code (whose fallback logic
is what users meet): the GPU providers are declared available, the
TensorRT provider creates its engine-cache folder non-recursively and fails
when the parent is missing (as onnxruntime's TensorRT provider does), and the
model runs on the CPU underneath.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.runtime_models import make_onnx

from acnet.errors import BackendUnavailableError, ConfigError
from acnet.runtime.backends.ort import CPU, CUDA, TENSORRT, OnnxRuntimeBackend, choose_providers
from acnet.runtime.backends.base import Device


class EmulatedGpuSession:
    """``C.InferenceSession`` with the CUDA and TensorRT providers of a GPU build (model run on the CPU)."""

    def __init__(self, real_class, *args):
        self._real = real_class(*args)
        self._providers: list[str] = []
        self._options: dict = {}

    def initialize_session(self, providers, provider_options, disabled):
        for name, options in zip(providers, provider_options):
            if name == TENSORRT and options.get("trt_engine_cache_enable") in ("True", "1", True):
                cache = Path(options["trt_engine_cache_path"])
                if not cache.parent.is_dir():
                    raise RuntimeError(f"[TensorRT EP] cannot create directory {cache}")
                cache.mkdir(exist_ok=True)  # one level only, like the provider
        self._real.initialize_session([CPU], [{}], disabled)
        self._providers = list(providers)
        self._options = {p: {k: str(v) for k, v in o.items()} for p, o in zip(providers, provider_options)}
        self._options.setdefault(CUDA, {}).setdefault("device_id", "0")  # a CUDA provider without options runs on 0

    def get_providers(self):
        return self._providers

    def get_provider_options(self):
        return {p: self._options.get(p, {}) for p in self._providers}

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def gpu_onnxruntime(monkeypatch):
    """onnxruntime as on a GPU machine; set ``.session_class`` to change how the native session behaves."""
    import onnxruntime
    import onnxruntime.capi.onnxruntime_inference_collection as collection

    native = collection.C
    real_class = native.InferenceSession

    class Native:
        available = [TENSORRT, CUDA, CPU]
        session_class = EmulatedGpuSession

        def __getattr__(self, name):
            return getattr(native, name)

        def get_available_providers(self):
            return self.available

        def register_tensorrt_plugins_as_custom_ops(self, *args):  # present in GPU builds
            pass

        def InferenceSession(self, *args):  # noqa: N802 (onnxruntime's name)
            return self.session_class(real_class, *args)

    fake = Native()
    monkeypatch.setattr(collection, "C", fake)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: fake.available)
    return fake


@pytest.fixture
def model(tmp_path):
    return make_onnx(tmp_path / "tiny.onnx")


def test_tensorrt_cache_folder_is_created_and_the_device_kept(gpu_onnxruntime, model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-home" / ".cache"))  # nothing exists yet
    backend = OnnxRuntimeBackend(model, "cuda:1")
    assert backend.providers == [TENSORRT, CUDA, CPU]
    assert (tmp_path / "fresh-home" / ".cache" / "acnet" / "ort-tensorrt").is_dir()
    options = backend.session.get_provider_options()
    assert options[TENSORRT]["device_id"] == "1" and options[CUDA]["device_id"] == "1"
    assert capsys.readouterr().out == ""  # onnxruntime's fallback prints to stdout; it never ran


def test_an_uncreatable_cache_folder_is_one_clear_error(gpu_onnxruntime, model, tmp_path):
    (tmp_path / "blocked").write_text("a file where the cache folder's parent should be")
    providers = choose_providers(Device.parse("cuda:0"), gpu_onnxruntime.available, trt_cache_dir=tmp_path / "blocked" / "trt")
    with pytest.raises(ConfigError, match="cannot create the TensorRT engine cache folder .*blocked/trt"):
        OnnxRuntimeBackend(model, "cuda:0", providers=providers)


def test_a_failing_tensorrt_provider_is_reported_and_the_device_kept(gpu_onnxruntime, model, caplog, capsys):
    class NoTensorRT(EmulatedGpuSession):
        def initialize_session(self, providers, provider_options, disabled):
            if TENSORRT in providers:
                raise RuntimeError("libnvinfer.so.10: cannot open shared object file")
            super().initialize_session(providers, provider_options, disabled)

    gpu_onnxruntime.session_class = NoTensorRT
    with caplog.at_level(logging.WARNING, logger="acnet.runtime.backends.ort"):
        backend = OnnxRuntimeBackend(model, "cuda:1")
    assert backend.providers == [CUDA, CPU]
    assert backend.session.get_provider_options()[CUDA]["device_id"] == "1"  # onnxruntime's own fallback runs on 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("TensorRT provider failed on cuda:1" in w and "libnvinfer.so.10" in w for w in warnings), warnings
    assert capsys.readouterr().out == ""


def test_providers_asked_for_but_not_in_use_are_named(gpu_onnxruntime, model, caplog, monkeypatch):
    monkeypatch.setattr(EmulatedGpuSession, "get_providers", lambda self: [p for p in self._providers if p != TENSORRT])
    with caplog.at_level(logging.WARNING, logger="acnet.runtime.backends.ort"):
        OnnxRuntimeBackend(model, "cuda:0")
    assert any(f"not using {TENSORRT} on cuda:0" in r.getMessage() for r in caplog.records)


def test_a_provider_on_another_device_is_refused(gpu_onnxruntime, model, monkeypatch):
    original = EmulatedGpuSession.get_provider_options
    monkeypatch.setattr(EmulatedGpuSession, "get_provider_options",
                        lambda self: {**original(self), CUDA: {"device_id": "0"}})
    with pytest.raises(BackendUnavailableError, match="runs CUDAExecutionProvider on cuda:0, not cuda:1"):
        OnnxRuntimeBackend(model, "cuda:1")
