"""What slows the RealSense capture beside other work: one background thread of each kind.

    python benchmarks/stream_capture_contention.py MODEL.onnx

Reads a 150-frame RealSense recording of the six NYUv2 frames (as
``stream_pipeline_bench.py`` makes it) while one other thread loops on one
kind of work: a pipeline stage, pure Python (holds the GIL), or GIL-free C
(hashlib, a small matmul). librealsense hands each frame to Python through a
callback, which needs the GIL; its decoder is one thread. Prints ms per frameset.
"""
import sys, time, tempfile, os, threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.stream_recordings import nyu_frames, record_realsense
from acnet.runtime import Segmenter
from acnet.runtime.sources import open_source
real = [(rgb, depth) for _, rgb, depth in nyu_frames(ROOT.parent / "shared" / "data")]
frames = [real[i % len(real)] for i in range(150)]
rec = record_realsense(Path(tempfile.mkdtemp()) / "a.db3", frames, depth_scale=0.001)
seg = Segmenter(sys.argv[1], threads=1)
x = seg.preprocess(*frames[0], 0.001); out = seg.infer([x])[0]
import numpy as np
BIG = bytes(8 << 20)
A = np.random.rand(256, 256).astype(np.float32)
loads = {
    "none": None,
    "postprocess": lambda: seg.postprocess(out, 480, 640),
    "preprocess": lambda: seg.preprocess(*frames[0], 0.001),
    "inference": lambda: seg.infer([x]),
    "pure-python": lambda: sum(range(20000)),
    "hashlib(noGIL)": lambda: __import__("hashlib").sha256(BIG).digest(),
    "matmul(noGIL)": lambda: A @ A,
}
for name, fn in loads.items():
    stop = threading.Event(); count = [0]
    def loop():
        while not stop.is_set():
            fn(); count[0] += 1
    th = threading.Thread(target=loop, daemon=True) if fn else None
    if th: th.start()
    with open_source(f"realsense:{rec}") as src:
        it = iter(src); next(it); t = time.perf_counter(); n = 0
        for _ in it:
            n += 1
            if n == 140: break
        wall = time.perf_counter() - t
        for _ in it: pass
    stop.set()
    if th: th.join()
    print(f"capture with a {name:12s} thread beside it: {1e3 * wall / n:.2f} ms/frameset  (background calls: {count[0]})")
