"""CPU time per thread while the pipeline runs, against the capture alone (Linux /proc).

    python benchmarks/stream_thread_cpu.py MODEL.onnx

Shows how much of a core librealsense's decoding thread gets: alone, and
inside ``Pipeline`` beside the workers.
"""
import sys, time, tempfile, os
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.stream_recordings import nyu_frames, record_realsense
from acnet.runtime import Segmenter
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.sources import open_source
real = [(rgb, depth) for _, rgb, depth in nyu_frames(ROOT.parent / "shared" / "data")]
N = 200
frames = [real[i % len(real)] for i in range(N)]
rec = record_realsense(Path(tempfile.mkdtemp()) / "a.db3", frames, depth_scale=0.001)
seg = Segmenter(sys.argv[1], threads=1); seg.segment(*frames[0], 0.001)
tick = os.sysconf("SC_CLK_TCK")
def snap():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            s = open(f"/proc/self/task/{tid}/stat").read()
            name = open(f"/proc/self/task/{tid}/comm").read().strip()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        out[tid] = (name, (int(f[11]) + int(f[12])) / tick, f[15])  # utime+stime, nice? (f[16] is nice)
    return out
for mode in ("alone", "pipeline"):
    a = {}
    with open_source(f"realsense:{rec}") as src:
        it = iter(src if mode == "alone" else Pipeline(seg, src))
        first = next(it)
        a = snap(); t = time.perf_counter(); n = 1
        for _ in it:
            n += 1
            if n == N - 5:
                b = snap(); wall = time.perf_counter() - t; break
        for _ in it: pass
    print(mode, f"{(n - 1) / wall:.1f} fps over {n-1} frames")
    rows = []
    for tid, (name, cpu, _) in b.items():
        base = a.get(tid, (name, 0.0, 0))[1]
        d = cpu - base
        if d > 0.005:
            rows.append((d, tid, name))
    for d, tid, name in sorted(rows, reverse=True):
        print(f"   {name:20s} {tid:>8s} {1e3 * d / (n - 1):6.2f} ms/frame  {100 * d / wall:5.1f} % of a core")
