"""Export: checkpoint to ONNX (FP32/FP16), TensorRT engines and AOTInductor packages."""
