"""Helpers the tests share (not tests themselves): ``from support.installed import run_acnet``.

- installed.py: the installed ``acnet`` in a subprocess, and the one-line error check.
- trained.py: trained-looking tiny networks (BatchNorm and ACM weights away from initialisation).
- capi_artifacts.py: the checkpoint, AOTInductor package and C library build several test files share.
- runtime_models.py: torch-free ONNX models for the runtime's tests.
- stream_recordings.py: RGB-D recordings and bags for the streaming tests.
- tensorrt_bindings.py: the real TensorRT 10.16 / 11.4 Python bindings, loaded without a GPU.
- trt_fake.py: a TensorRT that runs on CPU, made from the real bindings' API.
- bilinear_reference.py: an independent bilinear resize and argmax, the reference of the runtime's fast paths.
- error_sweep_files.py: the damaged, foreign and truncated files the error sweep (test_error_sweep.py) feeds the command.
- ros2_harness.py: real rclpy traffic in a private network namespace (publisher, node, subscriber).

pytest puts ``tests/`` on ``sys.path`` (rootdir conftest, prepend import mode), so
``support`` is importable from every test file; scripts outside the tests insert it themselves.
"""
