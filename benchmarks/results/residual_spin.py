"""CPU milliseconds this process burns in the 200 ms after one call of each backend: residual spin-waiting.

    python benchmarks/results/residual_spin.py CKPT

A thread pool that spins after its work is done keeps a core busy while the
next backend runs; CPU time over an idle sleep measures it regardless of load.
"""
import resource
import sys
import time
from pathlib import Path
from acnet.benchmarks.bench import Artefacts, _frames, _load_torch_model, cached_onnx_export, default_cache_dir
from acnet.benchmarks.timing import make_frames
from acnet.benchmarks.torch_timer import TorchTimer
from acnet.benchmarks.runtime_timer import RuntimeTimer
import onnxruntime as ort
ck = Path(sys.argv[1])
model, info, g = _load_torch_model(Artefacts(checkpoint=ck), None, None)
onnx = cached_onnx_export(ck, info.input_height, info.input_width, default_cache_dir())
tt = TorchTimer("torch", model, info, "cpu", None)
rt = RuntimeTimer("onnxruntime", onnx, "cpu", None, 1)
so = ort.SessionOptions(); so.add_session_config_entry("session.force_spinning_stop", "1")
stop = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
raw, pre = _frames(info, info.input_height, info.input_width, 1, 0)
fr = make_frames([r for r, _ in raw], [d for _, d in raw], pre)
tt.prepare(fr); rt.prepare(fr)
feeds = {"rgb": fr.rgb_batch, "depth": fr.depth_batch}
def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def idle_cpu(call, idle=0.2, n=5):
    out = []
    for _ in range(n):
        call(); c0 = cpu(); t0 = time.perf_counter(); time.sleep(idle); out.append((cpu() - c0) * 1e3)
    return out
print("torch  ms CPU in 200 ms idle after a call:", ["%.1f" % x for x in idle_cpu(lambda: tt.run(fr))])
print("ort default:", ["%.1f" % x for x in idle_cpu(lambda: rt.run(fr))])
print("ort force_spinning_stop:", ["%.1f" % x for x in idle_cpu(lambda: stop.run(None, feeds))])
print("nothing:", ["%.1f" % x for x in idle_cpu(lambda: None)])
