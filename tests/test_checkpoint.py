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
    with pytest.raises(CheckpointError):
        load_checkpoint(text)


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
