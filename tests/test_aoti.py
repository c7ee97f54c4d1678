"""`acnet export aoti`: a verified AOTInductor package that carries its metadata."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import zipfile

import pytest
from support.capi_artifacts import HEIGHT, WIDTH, aoti_package, checkpoint, fold_along_the_wrong_axis, wrongly_folded_package
from support.installed import assert_one_line_error, run_acnet

from acnet.errors import ConfigError, ModelFileError


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory, tiny_config):
    return checkpoint(tmp_path_factory, tiny_config)


@pytest.fixture(scope="session")
def package(tmp_path_factory, tiny_config):
    return aoti_package(tmp_path_factory, tiny_config)


@pytest.mark.slow
def test_export_writes_a_verified_package_with_its_metadata(package, ckpt):
    from acnet._io import sha256_file
    from acnet.export.aoti import read_package_info
    from acnet.training.checkpoint import checkpoint_info, load_checkpoint

    path, stdout, seconds = package
    print(f"acnet export aoti (compile + verify) took {seconds:.1f} s")
    assert path.is_file() and zipfile.is_zipfile(path)
    assert f"wrote {path}" in stdout and "AOTInductor, cpu, fp32, batch 1, 64x96" in stdout
    assert "AOTInductor vs PyTorch" in stdout and "passed" in stdout

    info = read_package_info(path)
    expected = checkpoint_info(load_checkpoint(ckpt), ckpt)
    assert (info.input_height, info.input_width) == (HEIGHT, WIDTH)
    assert info.class_names == expected.class_names
    assert info.normalization == expected.normalization
    assert info.source_sha256 == sha256_file(ckpt)
    assert (info.output, info.precision, info.batch) == ("logits", "fp32", 1)

    report = json.loads(path.with_name("tiny.aoti.verify.json").read_text())
    assert report["verification"]["passed"] and report["backend"] == "aoti"
    assert report["verification"]["agreement"] >= 0.999


@pytest.mark.slow
def test_package_metadata_is_what_libtorch_reads(package):
    """The C library reads the metadata through the loader; torch's Python binding shows the same map."""
    import torch

    from acnet.export.aoti import METADATA_KEY, TORCH_VERSION_KEY, read_package_info

    runner = torch._inductor.aoti_load_package(str(package[0]))
    meta = runner.get_metadata()
    assert json.loads(meta[METADATA_KEY]) == read_package_info(package[0]).to_dict()
    assert meta[TORCH_VERSION_KEY] == torch.__version__.split("+")[0]
    assert meta["AOTI_DEVICE_KEY"] == "cpu"


def test_transposed_batchnorms_fold_exactly(ckpt):
    """The fold that keeps Inductor's freezing off ConvTranspose2d+BatchNorm computes the same logits."""
    import torch
    from torch import nn

    from acnet.export.aoti import fold_transposed_batchnorms
    from acnet.training.checkpoint import load_model

    model, _ = load_model(ckpt)
    folded = fold_transposed_batchnorms(copy.deepcopy(model))
    transposed = [m for m in folded.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 9 and all(m.bias is not None for m in transposed)  # 4 stages x 2, plus the head
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) - sum(isinstance(m, nn.BatchNorm2d) for m in folded.modules()) == 8
    torch.manual_seed(0)
    rgb, depth = torch.randn(1, 3, HEIGHT, WIDTH), torch.randn(1, 1, HEIGHT, WIDTH)
    with torch.no_grad():
        reference, out = model(rgb, depth), folded(rgb, depth)
        wrong = fold_along_the_wrong_axis(copy.deepcopy(model))(rgb, depth)
    assert (out - reference).abs().max() < 1e-4 * reference.abs().max()
    # On this trained-looking network, the fold Inductor got wrong is far off (invisible at initialisation).
    assert (wrong - reference).abs().max() > 0.1 * reference.abs().max()


@pytest.mark.slow
def test_verification_refuses_a_wrongly_folded_batchnorm(tmp_path_factory, tiny_config, ckpt, tmp_path, monkeypatch):
    """A package whose BatchNorms were folded along the wrong axis (as freezing did) is refused, nothing written."""
    import shutil

    import torch

    from acnet.errors import ParityError
    from acnet.export.aoti import compile_package

    wrong = wrongly_folded_package(tmp_path_factory, tiny_config)
    # The compiler "produces" the wrong package; the real verification must refuse it.
    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", lambda program, package_path, **kw: shutil.copy(wrong, package_path))
    out = tmp_path / "m.pt2"
    with pytest.raises(ParityError, match="AOTInductor package disagrees with PyTorch") as caught:
        compile_package(ckpt, out)
    print(caught.value)
    assert "not writing" in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_options_refuse_what_cannot_work():
    from acnet.export.aoti import AotiExportOptions

    assert AotiExportOptions(device="CUDA:1").device == "cuda:1"
    with pytest.raises(ConfigError, match="unknown device"):
        AotiExportOptions(device="tpu")
    with pytest.raises(ConfigError, match="--fp16 needs --device cuda"):
        AotiExportOptions(fp16=True)
    with pytest.raises(ConfigError, match="batch must be"):
        AotiExportOptions(batch=-1)
    with pytest.raises(ConfigError, match="multiple of 32"):
        AotiExportOptions(height=100)
    with pytest.raises(ConfigError, match="max_batch must be 2..1024"):
        AotiExportOptions(batch=0, max_batch=1)
    with pytest.raises(ConfigError, match="--max-batch bounds a dynamic batch"):
        AotiExportOptions(batch=4, max_batch=16)


def test_a_dynamic_batch_is_bounded_by_max_batch_and_the_package_says_so(tmp_path):
    """--max-batch 16 (the GPU run's bound, so Inductor keeps 32-bit indexing) reaches torch.export and the package."""
    from acnet.export.aoti import (MAX_BATCH_KEY, METADATA_KEY, AotiExportOptions, batch_dynamic_shapes, package_metadata,
                                   read_package_batch_range)
    from acnet.runtime.metadata import ModelInfo

    options = AotiExportOptions(batch=0, max_batch=16)
    rgb, depth = batch_dynamic_shapes(options)
    assert rgb[0] is depth[0] and (rgb[0].min, rgb[0].max) == (1, 16)  # one symbol for both inputs
    assert batch_dynamic_shapes(AotiExportOptions(batch=2)) is None
    info = ModelInfo("0.1.0", "resnet18", 2, ("a", "b"), HEIGHT, WIDTH, batch=0)
    metadata = package_metadata(info, options, "2.11.0+cu130")
    assert metadata[MAX_BATCH_KEY] == "16" and metadata["acnet.torch_version"] == "2.11.0"
    assert MAX_BATCH_KEY not in package_metadata(info, AotiExportOptions(batch=1), "2.11.0")

    def forged(name: str, meta: dict) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("m/data/aotinductor/model/x_metadata.json", json.dumps(meta))
        return path

    assert read_package_batch_range(forged("bounded.pt2", metadata)) == (1, 16)
    older = {k: v for k, v in metadata.items() if k != MAX_BATCH_KEY}  # made before --max-batch: 1..1024
    assert read_package_batch_range(forged("older.pt2", older)) == (1, 1024)
    fixed = dataclasses.replace(info, batch=1)
    assert read_package_batch_range(forged("fixed.pt2", package_metadata(fixed, AotiExportOptions(), "2.11"))) == (1, 1)
    with pytest.raises(ModelFileError, match="not a batch size"):
        read_package_batch_range(forged("bad.pt2", {**metadata, MAX_BATCH_KEY: "many"}))
    assert json.loads(metadata[METADATA_KEY])["batch"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "{tmp}/m.bin"], "-o/--output: an AOTInductor package must be named *.pt2, got m.bin"),
        (["-o", "{tmp}/m.pt2", "--fp16"], "--fp16 needs --device cuda"),
        (["-o", "{tmp}/m.pt2", "--height", "70"], "Invalid value for '--height': '70' is not a positive multiple of 32"),
        (["-o", "{tmp}/m.pt2", "--batch", "2", "--dynamic-batch"], "either --batch or --dynamic-batch"),
        (["-o", "{tmp}/m.pt2", "--device", "gpu"], "Invalid value for '--device': 'gpu' is not a device"),
        (["-o", "{tmp}/m.pt2", "--device", "cuda:x"], "Invalid value for '--device': 'cuda:x' is not a device"),
        (["-o", "{tmp}/m.pt2", "--width", "0"], "Invalid value for '--width': '0' is not a positive multiple of 32"),
        (["-o", "{tmp}/m.pt2", "--width", "-64"], "Invalid value for '--width': '-64' is not a positive multiple of 32"),
        (["-o", "{tmp}/m.pt2", "--batch", "0"], "Invalid value for '--batch': 0 is not in the range 1<=x<=1024"),
        (["-o", "{tmp}/m.pt2", "--batch", "4096"], "Invalid value for '--batch': 4096 is not in the range 1<=x<=1024"),
        (["-o", "{tmp}/m.pt2", "--max-batch", "16"], "--max-batch bounds a dynamic batch: give it with --dynamic-batch"),
    ],
)
def test_cli_refuses_bad_options_in_one_line(args, message, ckpt, tmp_path):
    assert message in _one_line_error(["export", "aoti", str(ckpt), *(a.format(tmp=tmp_path) for a in args)])
    assert not list(tmp_path.iterdir()), "nothing may be written when the export is refused"


def _one_line_error(args: list[str]) -> str:
    """Run the installed ``acnet``; assert exit 2 and that the whole of stderr is one error line."""
    return assert_one_line_error(run_acnet(*args))


def test_cli_missing_or_foreign_checkpoint_is_one_line_exit_2(tmp_path):
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint at all")
    for source, message in ((tmp_path / "missing.pt", "not found"), (foreign, "foreign.pt is a text file, not a checkpoint")):
        assert message in _one_line_error(["export", "aoti", str(source), "-o", str(tmp_path / "m.pt2")])
    assert not (tmp_path / "m.pt2").exists()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="this machine has a GPU, so --device cuda would compile")
def test_cuda_export_without_a_gpu_is_refused_before_compiling(ckpt, tmp_path):
    line = _one_line_error(["export", "aoti", str(ckpt), "-o", str(tmp_path / "m.pt2"), "--device", "cuda"])
    assert "needs a CUDA GPU" in line


def test_read_package_info_refuses_foreign_files(tmp_path):
    from acnet.export.aoti import read_package_info

    with pytest.raises(ModelFileError, match="not found"):
        read_package_info(tmp_path / "missing.pt2")
    text = tmp_path / "text.pt2"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable AOTInductor package"):
        read_package_info(text)
    empty = tmp_path / "empty.pt2"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("m/data/aotinductor/model/x_metadata.json", json.dumps({"AOTI_DEVICE_KEY": "cpu"}))
    with pytest.raises(ModelFileError, match="carries no acnet metadata"):
        read_package_info(empty)


def _package_with(path, metadata: bytes, *, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("m/data/aotinductor/model/x_metadata.json", metadata)
    return path


def test_read_package_info_raises_only_acnet_errors_on_corrupt_packages(tmp_path):
    """What issue 27 found escaping read_package_info: zlib.error, NotImplementedError, TypeError,
    AttributeError and UnicodeDecodeError, each now one ModelFileError."""
    from acnet.export.aoti import read_package_info

    good = json.dumps({"acnet.model_info": json.dumps({"num_classes": 2})}).encode()
    deflated = _package_with(tmp_path / "deflated.pt2", good * 50, compression=zipfile.ZIP_DEFLATED)
    data = bytearray(deflated.read_bytes())
    start = data.index(b"x_metadata.json") + len("x_metadata.json")  # the entry's deflate stream
    data[start] = 0b111  # the last block, of the reserved type 3: zlib.error "invalid block type"
    (tmp_path / "zlib.pt2").write_bytes(bytes(data))
    method = bytearray(_package_with(tmp_path / "m.pt2", good).read_bytes())
    for offset in (8, method.index(b"PK\x01\x02") + 10):  # compression method 99 in both headers
        method[offset:offset + 2] = (99).to_bytes(2, "little")
    (tmp_path / "method.pt2").write_bytes(bytes(method))
    cases = {
        "zlib.pt2": "not a readable AOTInductor package",
        "method.pt2": "not a readable AOTInductor package",
        "number.pt2": "'acnet.model_info' is not a JSON string",
        "list.pt2": "'acnet.model_info' is not a JSON string",
        "list-text.pt2": "has malformed acnet metadata: not a JSON object",
        "latin1.pt2": "invalid UTF-8 at byte",
        "deep.pt2": "nested deeper than 64 levels",
    }
    _package_with(tmp_path / "number.pt2", b'{"acnet.model_info": 5}')
    _package_with(tmp_path / "list.pt2", b'{"acnet.model_info": ["a"]}')
    _package_with(tmp_path / "list-text.pt2", b'{"acnet.model_info": "[1, 2]"}')
    _package_with(tmp_path / "latin1.pt2", '{"acnet.model_info": "caf\u00e9"}'.encode("latin-1"))
    _package_with(tmp_path / "deep.pt2", b'{"acnet.model_info": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    for name, message in cases.items():
        with pytest.raises(ModelFileError, match=message):
            read_package_info(tmp_path / name)


def test_fp16_wrapper_takes_and_returns_float32(tiny_config):
    """What an --fp16 package computes (compiled for CUDA only; checked here in eager mode)."""
    import torch
    from support.trained import trained_looking_model

    from acnet.export.aoti import _fp16_with_fp32_io

    model = trained_looking_model(tiny_config)
    rgb, depth = torch.randn(1, 3, 32, 32), torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        reference = model(rgb, depth)
        half = _fp16_with_fp32_io(copy.deepcopy(model))
        out = half(rgb, depth)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert next(half.parameters()).dtype == torch.float16
    agreement = (out.argmax(1) == reference.argmax(1)).float().mean().item()
    assert agreement > 0.95


def test_export_module_imports_torch_lazily():
    code = "import sys, acnet.export.aoti; assert 'torch' not in sys.modules, 'imported torch'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_torch_older_than_the_aoti_apis_is_refused(monkeypatch, tmp_path):
    """torch < 2.8 lacks aoti_load_package(device_index=): refused in one line before any work."""
    import torch

    from acnet.errors import BackendUnavailableError
    from acnet.export.aoti import compile_package

    monkeypatch.setattr(torch, "__version__", "2.7.1+cpu")
    with pytest.raises(BackendUnavailableError, match=r"needs torch>=2\.8 .*this is torch 2\.7\.1\+cpu: pip install 'torch>=2\.8'") as info:
        compile_package(tmp_path / "missing.pt", tmp_path / "m.pt2")
    assert "\n" not in str(info.value) and not (tmp_path / "m.pt2").exists()


def test_pyproject_states_the_same_torch_lower_bound():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from pathlib import Path

    from acnet.export.aoti import MIN_TORCH

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["optional-dependencies"]["train"] if r.startswith("torch>="))
    assert torch_req == "torch>=" + ".".join(map(str, MIN_TORCH))
