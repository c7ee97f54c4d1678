"""CPU milliseconds this process burns in the 200 ms after one call of each backend: residual spin-waiting.

    python benchmarks/residual_spin.py CKPT

A thread pool that spins after its work is done keeps a core busy while the
next backend runs; CPU time over an idle sleep measures it regardless of load.
"""
import resource
import sys
import time
from pathlib import Path
from acnet.benchmarks.artefacts import Artefacts, cached_onnx_export, default_cache_dir, load_torch_model
from acnet.benchmarks.backends import open_timer
from acnet.benchmarks.bench import _frames
import onnxruntime as ort
ck = Path(sys.argv[1])
loaded = load_torch_model(Artefacts(checkpoint=ck), None, None)
info = loaded.info
onnx = cached_onnx_export(ck, info.input_height, info.input_width, default_cache_dir())
tt = open_timer("torch", loaded)
rt = open_timer("onnxruntime", onnx)
so = ort.SessionOptions(); so.add_session_config_entry("session.force_spinning_stop", "1")
stop = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
fr = _frames(info, info.input_height, info.input_width, 1, 0)
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
