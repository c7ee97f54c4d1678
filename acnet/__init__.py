"""acnet: train, export and deploy ACNet for RGB-D semantic segmentation.

The package has four parts, each importing only what it needs:

- ``acnet.training``: the network (single source of truth), data, losses,
  training loop, metrics and self-describing checkpoints. Needs torch.
- ``acnet.export``: checkpoint to ONNX, FP16 ONNX, TensorRT engines, AOTI.
- ``acnet.runtime``: numpy in, labels out. Never imports torch.
- ``acnet.benchmarks``: latency and parity measurement.
"""

__version__ = "0.1.0"
