"""The files the error sweep's cases read (tests/test_error_sweep.py): built once, in a few seconds, torch in-process.

A trained-looking checkpoint (tests/support/trained.py) and hand-built ONNX models
(1x1 convolutions carrying acnet metadata) stand in for a trained and exported
network: every case is refused before a network would run. Then truncated,
foreign and garbled files, folder datasets with one bad frame each, bad
config files, stills for infer and stream. Bags and recordings for the
streaming cases are made by tests/support/stream_recordings.py's real writers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

SIZE = 64  # the models' input side


def _tiny_onnx(path: Path, info, *, classes: int | None = None, names=("rgb", "depth"), output: str = "logits",
               metadata: dict | None = None) -> None:
    """A 1x1-convolution "network" over concat(rgb, depth) (tests/support/runtime_models.py's), torch-free."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes = classes or info.num_classes
    h, w = info.input_height, info.input_width
    kernel = np.random.default_rng(7).standard_normal((classes, 4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Concat", list(names), ["x"], axis=1), helper.make_node("Conv", ["x", "W"], ["logits"])]
    inits = [numpy_helper.from_array(kernel, "W")]
    if output == "labels":
        inits.append(numpy_helper.from_array(np.array(1, np.int32), "one"))
        nodes += [helper.make_node("ArgMax", ["logits"], ["am"], axis=1, keepdims=0),
                  helper.make_node("Cast", ["am"], ["am32"], to=TensorProto.INT32),
                  helper.make_node("Add", ["am32", "one"], ["labels"])]
        out = helper.make_tensor_value_info("labels", TensorProto.INT32, [1, h, w])
    else:
        out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, h, w])
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [1, 3, h, w]),
                                              helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [1, 1, h, w])],
                              [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    props = info.to_props() if metadata is None else metadata
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def _camera_onnx(path: Path, info) -> None:
    """A camera-native model's I/O (uint8 RGB and the camera's depth in, uint8 labels and confidence out) over a
    trivial graph: the cases are refused before it runs, by the checks a real camera-native export meets."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = info.camera.size
    depth = TensorProto.UINT16 if info.camera.depth_dtype == "uint16" else TensorProto.FLOAT
    nodes = [helper.make_node("ReduceMax", ["rgb", "axis"], ["labels"], keepdims=0),
             helper.make_node("Identity", ["labels"], ["confidence"]),
             helper.make_node("Size", ["depth"], ["unused"])]
    graph = helper.make_graph(
        nodes, "camera", [helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, h, w, 3]),
                          helper.make_tensor_value_info("depth", depth, [1, h, w])],
        [helper.make_tensor_value_info(n, TensorProto.UINT8, [1, h, w]) for n in ("labels", "confidence")],
        [numpy_helper.from_array(np.array([3], np.int64), "axis")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in info.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def build_files(W: Path) -> None:
    """Everything the cases read, in ``W``."""
    import torch
    from PIL import Image

    for d in ("img", "bad", "cfg", "ds", "in", "st", "exp", "runs", "cache", "api-out"):
        (W / d).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    # --- the tiny checkpoint (trained-looking, 9 classes like the synthetic scenes), another network's, and a model
    from acnet.runtime.metadata import ModelInfo
    from acnet.training.config import ModelConfig
    from support.trained import trained_looking_checkpoint

    names = [f"class{i}" for i in range(1, 10)]
    classes = len(names)
    trained_looking_checkpoint(W / "ckpt.pt", ModelConfig("resnet18", classes, "acm", 0.25), (SIZE, SIZE))
    trained_looking_checkpoint(W / "ckpt34.pt", ModelConfig("resnet34", classes, "acm", 0.25), (SIZE, SIZE))
    shutil.copyfile(W / "ckpt.pt", W / "ckpt_copy.pt")
    record = torch.load(W / "ckpt.pt", weights_only=True)
    described = ModelInfo(acnet_version="0.1.0", backbone="resnet18", num_classes=classes, class_names=tuple(names),
                          input_height=SIZE, input_width=SIZE, width=0.25, source_sha256=record.get("sha256", ""))
    _tiny_onnx(W / "model.onnx", described)  # the checkpoint's description; an FP32 model
    from acnet.runtime.metadata import CameraIO

    for name, depth in (("camera.onnx", "uint16"), ("camera_metres.onnx", "float32")):  # camera-native, 64x64
        _camera_onnx(W / name, described.with_(output="labels", camera=CameraIO(SIZE, SIZE, depth, 1.0 if depth == "float32" else 0.001)))

    # --- bad checkpoints
    bad = W / "bad"
    data = (W / "ckpt.pt").read_bytes()
    (bad / "empty.pt").write_bytes(b"")
    (bad / "trunc.pt").write_bytes(data[:1000])
    (bad / "text.pt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, bad / "foreign.pt")
    torch.save(record["model_state"], bad / "statedict.pt")
    import fractions

    torch.save({"format": "acnet.checkpoint", "x": fractions.Fraction(1, 3)}, bad / "pickle.pt")  # a class, not data

    def variant(name, **changes):
        rec = {k: v for k, v in record.items() if k not in ("optimizer", "scheduler", "scaler", "rng")}
        for k, v in changes.items():
            if v is None:
                rec.pop(k, None)
            else:
                rec[k] = v
        torch.save(rec, bad / name)

    variant("missingkeys.pt", normalization=None)
    variant("wrongarch.pt", model_config={**record["model_config"], "num_classes": 20},
            class_names=[f"c{i}" for i in range(20)])
    variant("badsize.pt", input_size=[33, 33])
    variant("badnames.pt", class_names=5)
    variant("listweights.pt", model_state={k: [1.0, 2.0] for k in record["model_state"]})
    variant("newer.pt", format_version=99)
    variant("zerostd.pt", normalization={**record["normalization"], "rgb_std": [0.0, 0.0, 0.0]})
    variant("nanweights.pt", model_state={k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v)
                                          for k, v in record["model_state"].items()})
    import zipfile

    with zipfile.ZipFile(bad / "fake.pt2", "w") as archive:  # the layout torch._inductor packages write
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/data/aotinductor/model/model.so", b"\x7fELF")
    (bad / "text.pt2").write_text("not a package\n")

    # --- ONNX models: bad files and hand-built ones
    onnx_bytes = (W / "model.onnx").read_bytes()
    (bad / "empty.onnx").write_bytes(b"")
    (bad / "trunc.onnx").write_bytes(onnx_bytes[: len(onnx_bytes) // 2])
    (bad / "text.onnx").write_text("not a model\n")
    info = ModelInfo(acnet_version="0.1.0", backbone="resnet18", num_classes=5,
                     class_names=tuple(f"class{i}" for i in range(1, 6)), input_height=SIZE, input_width=SIZE)
    _tiny_onnx(W / "tiny5.onnx", info)
    _tiny_onnx(W / "foreign.onnx", info, metadata={})
    _tiny_onnx(W / "wrongio.onnx", info, names=("image", "range"))
    props = info.to_props()
    props["acnet.num_classes"] = '"many"'
    _tiny_onnx(W / "badmeta.onnx", info, metadata=props)
    _tiny_onnx(W / "mismatch.onnx", info, classes=7)
    _tiny_onnx(W / "argmax.onnx", info.with_(output="labels"), output="labels")
    _tiny_onnx(W / "wrongsize.onnx", info, metadata=info.with_(input_height=2 * SIZE).to_props())  # graph != metadata
    (bad / "nobin.xml").write_text("<?xml version='1.0'?>\n<net name='x' version='11'></net>\n")  # IR without its .bin
    (bad / "text.xml").write_text("not OpenVINO IR\n")
    (bad / "text.bin").write_bytes(b"\0" * 16)
    (bad / "fake.engine").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (bad / "fake2.engine").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (bad / "fake2.engine.json").write_text("{ not json")
    (bad / "text.bag").write_text("not a bag\n")

    # --- images and arrays
    img = W / "img"
    def rgb_image(h=SIZE, w=SIZE):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb_image()).save(img / "rgb.png")
    Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(img / "depth.png")
    Image.fromarray(np.full((32, 32), 1500, np.uint16)).save(img / "depth_small.png")
    (W / "big").mkdir(exist_ok=True)  # a camera of another size than the camera-native models'
    Image.fromarray(rgb_image(96, 128)).save(W / "big" / "rgb.png")
    Image.fromarray(np.full((96, 128), 1500, np.uint16)).save(W / "big" / "depth.png")
    np.save(bad / "metres.npy", np.full((SIZE, SIZE), 1.5, np.float32))
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("hello")
    (bad / "trunc.png").write_bytes((img / "rgb.png").read_bytes()[:80])
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(bad / "grey8.png")
    Image.new("L", (14000, 14000)).save(bad / "bomb.png")
    (bad / "folder.png").mkdir(exist_ok=True)
    (bad / "empty.npy").write_bytes(b"")
    (bad / "corrupt.npy").write_bytes(b"\x93NUMPY junk")
    np.save(bad / "object.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.save(bad / "complex.npy", np.zeros((SIZE, SIZE), complex))
    np.save(bad / "bool.npy", np.zeros((SIZE, SIZE), bool))
    np.save(bad / "int32.npy", np.full((SIZE, SIZE), 70000, np.int32))
    np.save(bad / "cube.npy", np.zeros((SIZE, SIZE, 3), np.float32))
    np.save(bad / "zerosize.npy", np.zeros((0, 0), np.float32))
    np.save(bad / "nan.npy", np.full((SIZE, SIZE), np.nan, np.float32))
    np.save(bad / "inf.npy", np.full((SIZE, SIZE), np.inf, np.float32))
    np.save(bad / "negative.npy", np.full((SIZE, SIZE), -1.0, np.float32))
    np.save(bad / "far.npy", np.full((SIZE, SIZE), 1e38, np.float32))
    with open(bad / "arrays.npy", "wb") as fh:  # an .npz archive under a .npy name
        np.savez(fh, a=np.zeros((SIZE, SIZE), np.float32), b=np.zeros((SIZE, SIZE), np.float32))
    (W / "afile").write_text("a regular file\n")
    (bad / "text.mat").write_text("not HDF5\n")
    import h5py

    with h5py.File(bad / "empty.mat", "w"):
        pass

    # --- infer inputs: folders
    for sub in ("rgb", "depth", "depth_other", "depth_dupe", "rgb_bad", "empty"):
        (W / "in" / sub).mkdir(exist_ok=True)
    for i in range(2):
        Image.fromarray(rgb_image()).save(W / "in" / "rgb" / f"f{i}.png")
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth" / f"f{i}.png")
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth_other" / f"g{i}.png")
    Image.fromarray(rgb_image()).save(W / "in" / "rgb_bad" / "f0.png")
    for i in range(2):
        Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "in" / "depth_dupe" / f"f{i}.png")
    np.save(W / "in" / "depth_dupe" / "f0.npy", np.full((SIZE, SIZE), 1.5, np.float32))
    os.symlink("loop.onnx", bad / "loop.onnx")
    (W / "in" / "rgb_bad" / "f1.png").write_bytes(b"")

    # --- folder datasets (4 frames per split, the checkpoint's classes)
    def dataset(name, *, labels=None, mutate=None, names_text="\n".join(names), splits=("train", "test")):
        root = W / "ds" / name
        for split in splits:
            for sub in ("rgb", "depth", "semantic_40"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.fromarray(rgb_image()).save(root / split / "rgb" / f"f{i}.png")
                Image.fromarray(np.full((SIZE, SIZE), 1500 + 100 * i, np.uint16)).save(root / split / "depth" / f"f{i}.png")
                label = np.full((SIZE, SIZE), 1 + i % classes, np.uint8)
                label[: SIZE // 2] = 2
                if labels is not None:
                    label = labels(i, label)
                Image.fromarray(label).save(root / split / "semantic_40" / f"f{i}.png")
            if mutate is not None:
                mutate(root / split)
        if names_text is not None:
            (root / "class_names.txt").write_text(names_text)
        return root

    dataset("good")
    dataset("badlabel", labels=lambda i, l: np.full_like(l, 20) if i == 3 else l)

    def neg(split):
        (split / "semantic_40" / "f1.png").unlink()
        np.save(split / "semantic_40" / "f1.npy", np.full((SIZE, SIZE), -1, np.int16))
    dataset("neglabel", mutate=neg)

    def rgblabel(split):
        Image.fromarray(rgb_image()).save(split / "semantic_40" / "f0.png")
    dataset("rgblabel", mutate=rgblabel)

    def labelfolder(split):
        (split / "semantic_40" / "f0.png").unlink()
        (split / "semantic_40" / "f0.png").mkdir()
    dataset("labelfolder", mutate=labelfolder)
    dataset("missingdepth", mutate=lambda split: (split / "depth" / "f2.png").unlink())
    dataset("sizemismatch", mutate=lambda split: Image.fromarray(np.full((32, 32), 1500, np.uint16)).save(split / "depth" / "f1.png"))
    dataset("corruptrgb", mutate=lambda split: (split / "rgb" / "f1.png").write_text("not an image"))

    def nandepth(split):
        (split / "depth" / "f1.png").unlink()
        np.save(split / "depth" / "f1.npy", np.full((SIZE, SIZE), np.nan, np.float32))
    dataset("nandepth", mutate=nandepth)

    def emptysplit(split):
        for p in (split / "rgb").iterdir():
            p.unlink()
    dataset("emptysplit", mutate=emptysplit)
    dataset("nolabels", mutate=lambda split: shutil.rmtree(split / "semantic_40") or (split / "labels").mkdir(),
            names_text=None)
    dataset("twelve", names_text="\n".join(f"other{i}" for i in range(1, 13)))
    dataset("badnames", names_text=None)
    (W / "ds" / "badnames" / "class_names.txt").write_bytes(b"\xff\xfe\x00w\x00a\x00l\x00l\n\xc3\x28\n")
    dataset("badnamesjson", names_text=None)
    (W / "ds" / "badnamesjson" / "class_names.json").write_text('{"wall": 1}')
    dataset("badnorm")
    (W / "ds" / "badnorm" / "normalization.json").write_text("{ not json")
    dataset("zeronorm")
    (W / "ds" / "zeronorm" / "normalization.json").write_text(json.dumps(
        {"rgb_mean": [0.5, 0.5, 0.5], "rgb_std": [0.0, 0.0, 0.0], "depth_mean": 2.0, "depth_std": 0.0}))

    def blank(split):
        for i in range(4):
            Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(split / "rgb" / f"f{i}.png")
            Image.fromarray(np.full((SIZE, SIZE), 2000, np.uint16)).save(split / "depth" / f"f{i}.png")
    dataset("blank", mutate=blank)

    # --- stream sources
    for name in ("good", "badframe", "nandepth", "empty"):
        for sub in ("rgb", "depth"):
            (W / "st" / name / sub).mkdir(parents=True, exist_ok=True)
        if name == "empty":
            continue
        for i in range(3):
            Image.fromarray(rgb_image()).save(W / "st" / name / "rgb" / f"f{i}.png")
            Image.fromarray(np.full((SIZE, SIZE), 1500, np.uint16)).save(W / "st" / name / "depth" / f"f{i}.png")
    (W / "st" / "badframe" / "rgb" / "f1.png").write_bytes(b"")
    (W / "st" / "nandepth" / "depth" / "f1.png").unlink()
    np.save(W / "st" / "nandepth" / "depth" / "f1.npy", np.full((SIZE, SIZE), np.nan, np.float32))

    # --- config files and option files
    c = W / "cfg"
    yaml_files = {
        "model-not-mapping.yaml": "model: resnet18\n",
        "lr-list.yaml": "lr: [0.1, 0.2]\n",
        "unknown-key.yaml": "lrr: 0.1\n",
        "epochs-float.yaml": "epochs: 1.5\n",
        "momentum-nan.yaml": "momentum: .nan\n",
        "deep-supervision-maybe.yaml": "deep_supervision: maybe\n",
        "augmentation-zoom.yaml": "augmentation:\n  zoom: 2\n",
        "augmentation-scale-scalar.yaml": "augmentation:\n  scale: 1.2\n",
        "augmentation-scale-reversed.yaml": "augmentation:\n  scale: [1.4, 1.0]\n",
        "backbone-unknown.yaml": "model:\n  backbone: resnet7\n",
        "model-width-text.yaml": "model:\n  width: big\n",
        "model-classes-zero.yaml": "model:\n  num_classes: 0\n",
        "data-int.yaml": "data: 5\n",
        "height-33.yaml": "input_height: 33\n",
        "batch-size-zero.yaml": "batch_size: 0\n",
        "recipe-unknown.yaml": "recipe: fast\n",
        "loss-unknown.yaml": "loss: l2\n",
        "amp-unknown.yaml": "amp: fp8\n",
        "resume-int.yaml": "resume: 5\n",
        "val-data-bogus.yaml": "val_data: 'bogus:thing'\n",
        "workers-negative.yaml": "num_workers: -1\n",
        "max-steps-text.yaml": "max_steps: x\n",
        "not-yaml.yaml": "lr: [0.1\nepochs: : :\n",
        "top-level-list.yaml": "- lr\n- 0.1\n",
        "bad.json": '{"lr": 0.1,}',
        "list.json": '["lr", 0.1]',
        "nan.json": '{"lr": NaN}',
    }
    for name, text in yaml_files.items():
        (c / name).write_text(text)
    (c / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (bad / "cw_short.json").write_text("[1.0, 2.0]")
    (bad / "cw_negative.json").write_text(json.dumps([-1.0] * classes))
    (bad / "cw_text.json").write_text("weights: heavy")
    (bad / "cw_nan.json").write_text("[" + ", ".join(["NaN"] * classes) + "]")
    (bad / "norm_text.json").write_text("{ not json")
    (bad / "norm_zero_std.json").write_text(json.dumps(
        {"rgb_mean": [0.5, 0.5, 0.5], "rgb_std": [0.0, 0.0, 0.0], "depth_mean": 2.0, "depth_std": 0.0}))
    (W / "exp" / "prev.onnx").write_bytes(b"the previous export\n")
