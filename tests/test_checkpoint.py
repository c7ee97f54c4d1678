"""Self-describing checkpoints: atomic writes, safe loading, clear refusals."""

from __future__ import annotations

import pickle

import pytest
import torch

from acnet.errors import CheckpointError
from acnet.runtime.preprocess import Normalization
from acnet.training.checkpoint import (
    checkpoint_info,
    load_checkpoint,
    load_model,
    make_record,
    save_checkpoint,
)
from acnet.training.model import build_model


@pytest.fixture()
def saved(tmp_path, tiny_config):
    model = build_model(tiny_config)
    names = [f"class{i}" for i in range(tiny_config.num_classes)]
    norm = Normalization(depth_mean=1.5, depth_std=0.5)
    path = save_checkpoint(tmp_path / "ckpt.pt", make_record(model, tiny_config, names, norm, (64, 96), epoch=3))
    return path, model, names, norm


def test_roundtrip_restores_weights_and_description(saved, tiny_config):
    path, model, names, norm = saved
    loaded, info = load_model(path)
    assert info.model_config == tiny_config
    assert info.class_names == tuple(names)
    assert info.normalization == norm
    assert (info.input_height, info.input_width) == (64, 96)
    assert len(info.sha256) == 64
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert not loaded.training
    assert load_checkpoint(path)["epoch"] == 3


def test_atomic_write_leaves_no_temporary_files(saved):
    path, *_ = saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt"]


def test_failed_write_keeps_previous_checkpoint(saved, tiny_config):
    path, model, names, norm = saved
    before = path.read_bytes()
    record = make_record(model, tiny_config, names, norm, (64, 96))
    with pytest.raises(Exception):
        save_checkpoint(path, {**record, "bad": lambda: None})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt"]


def test_missing_truncated_and_foreign_files(tmp_path, saved):
    path, *_ = saved
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: 2000])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(CheckpointError, match="not an acnet checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="text.pt is a text file, not a checkpoint"):
        load_checkpoint(text)
    # Files a user may give by mistake are named for what they are, not "arbitrary Python objects".
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "frame.png")
    np.save(tmp_path / "depth.npy", np.zeros((4, 4), np.float32))
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, kind in (("frame.png", "a PNG image"), ("depth.npy", "a NumPy array (.npy)"), ("empty.pt", "an empty file")):
        with pytest.raises(CheckpointError, match=f"{name} is {kind.replace('(', '.').replace(')', '.')}, not a checkpoint"):
            load_checkpoint(tmp_path / name)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_arbitrary_objects_are_never_unpickled(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "acnet.checkpoint", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)


def test_weights_that_do_not_fit_are_named(saved, tmp_path):
    path, *_ = saved
    record = load_checkpoint(path)
    record["model_config"] = {**record["model_config"], "num_classes": 7}
    record["class_names"] = [f"c{i}" for i in range(7)]
    other = save_checkpoint(tmp_path / "other.pt", record)
    with pytest.raises(CheckpointError, match=r"key 'decoder\.final_deconv\.weight' has shape"):
        load_model(other)


def test_class_count_mismatch_is_refused(saved):
    path, *_ = saved
    record = load_checkpoint(path)
    record["class_names"] = record["class_names"][:-1]
    with pytest.raises(CheckpointError, match="12 class names for a 13-class model"):
        checkpoint_info(record, path)


@pytest.mark.parametrize("change, message", [
    ({"class_names": 5}, "class_names must be a list of strings, got int"),
    ({"class_names": [1, 2]}, "class_names must be a list of strings, got list"),
    ({"input_size": [33, 33]}, "input height must be a positive multiple of 32, got 33"),
    ({"model_state": [1, 2]}, "its weights are a list, not a dict of tensors"),
    ({"model_state": "weights"}, "its weights are a str, not a dict of tensors"),
])
def test_a_broken_description_names_the_file_and_the_key(saved, tmp_path, change, message):
    """Records that torch.load reads but acnet could not use (an edited or hand-made file): CheckpointError, no bare TypeError."""
    path, *_ = saved
    record = {**load_checkpoint(path), **change}
    bad = save_checkpoint(tmp_path / "bad.pt", record)
    with pytest.raises(CheckpointError, match=f"{bad}.*{message.replace('(', '.').replace(')', '.')}"):
        load_model(bad)


def test_weights_that_are_not_tensors_are_named(saved, tmp_path):
    path, *_ = saved
    record = load_checkpoint(path)
    key = next(iter(record["model_state"]))
    record["model_state"] = {**record["model_state"], key: [0.0, 1.0]}
    bad = save_checkpoint(tmp_path / "bad.pt", record)
    with pytest.raises(CheckpointError, match=f"key {key!r} is a list, not a tensor"):
        load_model(bad)


def test_a_broken_description_is_one_line_from_the_command(saved, tmp_path):
    from support.installed import assert_one_line_error, run_acnet

    path, *_ = saved
    record = {**load_checkpoint(path), "class_names": 5}
    bad = save_checkpoint(tmp_path / "bad.pt", record)
    assert_one_line_error(run_acnet("eval", bad, "--data", "synthetic:2?size=64x96"),
                          f"{bad} has an invalid description: class_names must be a list of strings")


def test_pretrained_weights_of_the_wrong_kind_are_named(tmp_path, tiny_config):
    """Not torch's advice to load with weights_only=False: never for a downloaded file."""
    from acnet.training.model import load_imagenet_weights

    model = build_model(tiny_config)
    (tmp_path / "notes.pth").write_text("resnet weights go here")
    with pytest.raises(CheckpointError, match="notes.pth is a text file, not torchvision's ImageNet .pth file"):
        load_imagenet_weights(model, tmp_path / "notes.pth")
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "hook": _Evil()}, evil)
    with pytest.raises(CheckpointError, match="refusing to unpickle") as caught:
        load_imagenet_weights(model, evil)
    assert "weights_only=False" not in str(caught.value)
