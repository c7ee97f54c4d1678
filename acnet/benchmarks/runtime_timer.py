"""The runtime's backends as benchmark backends: ONNX Runtime and TensorRT.

Each timer takes a backend opened as an application opens it
(:func:`acnet.benchmarks.backends.open_runtime`), puts an
:class:`acnet.runtime.Segmenter` around it, and times two things:

- the raw backend (``segmenter.backend.run``): normalised host arrays in,
  host logits out; that is the *latency* figure;
- ``segmenter.segment_batch``: raw frames in, class-id maps out; that is the
  *end-to-end* figure, the runtime's preprocessing and postprocessing included,
  with the backend's run timed inside it for the per-call overhead.

*Compute* is the network alone: on CPU the same call as latency (there is no
copy to leave out); with ONNX Runtime on CUDA a run on inputs and output
already bound in GPU memory (host clock: ONNX Runtime synchronises at the end
of a run); with TensorRT, CUDA events on the engine's stream around
``execute_async_v3``.

A camera-native model (``--io camera``) takes the raw frames themselves, as
its camera gives them (their depth converted once, in ``prepare``, to the
model's depth type): its latency is the backend's run on them, and its
end-to-end figure what the runtime adds around that (checks, no numpy work).
"""

from __future__ import annotations

import time

import numpy as np

from acnet.benchmarks.timing import Call, Frames, Skip, TimedBackend, as_camera_frame, check_batch
from acnet.errors import BackendUnavailableError
from acnet.runtime.segmenter import Segmenter


class RuntimeTimer:
    """Times a runtime backend (``onnxruntime``, ``onnxruntime-trt``, ``tensorrt``, ``openvino``) and a Segmenter around it."""

    def __init__(self, name: str, backend, batch_size: int, input_size: tuple[int, int] | None = None) -> None:
        """``backend`` is open (:func:`acnet.benchmarks.backends.open_runtime`); closing the timer closes it."""
        self.name = name
        self.backend = backend
        # The same backend, its run timed inside each end-to-end call.
        self._network = TimedBackend(self.backend)
        self.segmenter = Segmenter.from_backend(self._network, batch_size, input_size)
        self.info = self.segmenter.info
        self._bound = None
        self._events = None
        self._camera_frames = None  # camera-native models: (rgb batch, depth batch, [(rgb, depth), ...])

    def details(self) -> dict:
        b = self.backend
        # What the row computes in (an FP32 model run by OpenVINO at bf16 is a bf16 row, for its peak).
        d = {"runtime": b.describe(), "precision": getattr(b, "compute_precision", self.info.precision),
             "device": str(b.device), "model": str(getattr(b, "path", ""))}
        if self.name.startswith("onnxruntime"):
            import onnxruntime as ort  # not at the top: a TensorRT-only install has none

            d["framework"] = f"onnxruntime {ort.__version__}"
            d["providers"] = list(getattr(b, "providers", []))
            options = b.session.get_session_options()
            d["graph_optimization_level"] = str(options.graph_optimization_level).split(".")[-1]
            d["intra_op_threads"] = options.intra_op_num_threads or "default (one per physical core)"
        elif b.name == "openvino":
            d.update(b.details())
        else:
            d["framework"] = f"tensorrt {getattr(b, 'trt_version', '?')}"
            d["gpu"] = getattr(b, "gpu_name", None)
        return d

    def prepare(self, frames: Frames) -> None:
        check_batch(self.backend.limits, frames.batch, "model")
        camera = self.info.camera
        if camera is not None:
            h, w = frames.rgb[0].shape[:2]
            if (h, w) != camera.size:
                raise Skip(f"the camera-native model takes {camera.height}x{camera.width} frames, the benchmark's are "
                           f"{h}x{w} (--height/--width)")
            pairs = [as_camera_frame(r, d.astype(np.float32) * np.float32(0.001), d, camera)[:2]
                     for r, d in zip(frames.rgb, frames.depth)]
            self._camera_frames = (np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), pairs)
        if self.backend.device.is_cuda:
            if self.name.startswith("onnxruntime"):
                self._bound = self._bind_on_device(frames)
            else:
                self._events = _CudaEvents()

    def _bind_on_device(self, frames: Frames):
        """Inputs and output in GPU memory, bound once: runs then time the network alone."""
        import onnxruntime as ort  # not at the top: a TensorRT-only install has none

        b = self.backend
        index = b.device.index
        binding = b.session.io_binding()
        rgb_batch, depth_batch = self._inputs(frames)
        rgb = ort.OrtValue.ortvalue_from_numpy(rgb_batch, "cuda", index)
        depth = ort.OrtValue.ortvalue_from_numpy(depth_batch, "cuda", index)
        binding.bind_ortvalue_input(b.signature.rgb, rgb)
        binding.bind_ortvalue_input(b.signature.depth, depth)
        for name in b.signature.outputs:
            binding.bind_output(name, "cuda", index)  # ORT allocates it on the GPU, in the model's dtype
        return binding, (rgb, depth)

    def _inputs(self, frames: Frames):
        """What the backend runs on: the normalised batch, or a camera-native model's raw frames."""
        if self._camera_frames is not None:
            return self._camera_frames[:2]
        return frames.rgb_batch, frames.depth_batch

    def run(self, frames: Frames) -> Call:
        t0 = time.perf_counter()
        out = self.backend.run(*self._inputs(frames))
        latency = time.perf_counter() - t0
        if not self.backend.device.is_cuda:
            return Call(latency, latency, out)
        if self._bound is not None:
            binding = self._bound[0]
            t1 = time.perf_counter()
            self.backend.session.run_with_iobinding(binding)
            return Call(time.perf_counter() - t1, latency, out)
        # TensorRT: the device buffers still hold this batch from the call above.
        return Call(self._events.time_engine(self.backend), latency, out)

    def end_to_end(self, frames: Frames) -> float:
        self._network.take()
        pairs = self._camera_frames[2] if self._camera_frames is not None else zip(frames.rgb, frames.depth)
        self.segmenter.segment_batch(pairs)
        return self._network.take()

    def close(self) -> None:
        self._bound = None
        if self._events is not None:
            self._events.close()
            self._events = None
        self.segmenter.close()


class _CudaEvents:
    """A pair of CUDA events (cuda-python) timing one engine execution on its stream."""

    def __init__(self) -> None:
        try:
            from cuda.bindings import runtime as cudart  # cuda-python: TensorRT rows only
        except ImportError:
            try:
                from cuda import cudart
            except ImportError:
                raise Skip("cuda-python is not installed (pip install 'acnet[tensorrt-cu12]' or 'acnet[tensorrt-cu13]')") from None
        self.rt = cudart
        self.start = self._check(cudart.cudaEventCreate())
        self.end = self._check(cudart.cudaEventCreate())

    def _check(self, result):
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self.rt.cudaError_t.cudaSuccess:
            raise BackendUnavailableError(f"CUDA event call failed: {getattr(err, 'name', err)}")
        return values[0] if values else None

    def close(self) -> None:
        for event in (self.start, self.end):
            self.rt.cudaEventDestroy(event)

    def time_engine(self, backend) -> float:
        """Seconds between events recorded right before and after ``execute_async_v3``.

        Uses the TensorRT backend's execution context and stream, whose
        addresses and input shapes the preceding ``run`` has set.
        """
        rt, stream, context = self.rt, backend._stream, backend._context
        self._check(rt.cudaEventRecord(self.start, stream))
        if not context.execute_async_v3(stream):
            raise BackendUnavailableError("TensorRT failed to execute the engine")
        self._check(rt.cudaEventRecord(self.end, stream))
        self._check(rt.cudaEventSynchronize(self.end))
        return float(self._check(rt.cudaEventElapsedTime(self.start, self.end))) / 1000.0
