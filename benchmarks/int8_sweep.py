"""Quantize an FP32 ONNX with given options; agreement vs the FP32 ONNX and per-stage errors on eval frames.
usage: dev.py FP32.onnx CALIB_SPEC N TARGET METHOD EVAL_SPEC [EXCLUDE...]   (EXCLUDE 'default' = DEFAULT_EXCLUDE)"""
import sys, time, json, onnx, numpy as np
from acnet.export import int8 as q
from acnet.export.graph import read_metadata
from acnet.export.verify import run_onnx, stage_errors
fp32_path, calib, n, target, method, eval_spec = sys.argv[1:7]
rest = sys.argv[7:]
default = "default" in rest
exclude = tuple(a for a in rest if a != "default")
m = onnx.load(fp32_path); info = read_metadata(m)
frames = q.calibration_frames(calib, int(n), info.preprocess_config)
opts = q.Int8Options(calib, int(n), target, method, exclude=exclude, default_exclude=default)
t = time.time(); qm = q.quantize(m, frames, opts); cal = time.time() - t
ev = q.calibration_frames(eval_spec, 64, info.preprocess_config, split="test")
feeds = [{"rgb": r, "depth": d} for r, d in ev]
errs = stage_errors(m, qm, feeds[:8])
import onnxruntime as ort
sa = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
sb = ort.InferenceSession(qm.SerializeToString(), providers=["CPUExecutionProvider"])
agree = []
for f in feeds:
    a = sa.run(["logits"], f)[0]; b = sb.run(["logits"], f)[0]
    agree.append((a.argmax(1) == b.argmax(1)).mean())
print(json.dumps({"target": target, "method": method, "frames": int(n), "exclude": ("default+" if default else "") + ",".join(exclude), "eval": eval_spec, "eval_frames": len(feeds), "calib_s": round(cal, 1),
  "agreement_pct": round(100 * float(np.mean(agree)), 3), "worst_pct": round(100 * float(np.min(agree)), 2), "bytes": len(qm.SerializeToString()),
  "stages_rel_rms_pct": {e.stage: round(100 * e.rel_rms, 2) for e in errs}}), flush=True)
