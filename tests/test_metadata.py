"""ModelInfo: the self-description every artefact carries."""

from __future__ import annotations

import json

import pytest

from acnet.errors import ModelFileError
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.preprocess import Normalization


def _info(**kw) -> ModelInfo:
    base = dict(acnet_version="0.1.0", backbone="resnet18", num_classes=3, class_names=("a", "b", "c"),
                input_height=64, input_width=96, normalization=Normalization(depth_mean=2.0))
    return ModelInfo(**{**base, **kw})


def test_props_roundtrip():
    info = _info(precision="fp16", batch=0, dynamic_hw=True, source_sha256="ab" * 32)
    props = info.to_props()
    assert all(k.startswith("acnet.") and isinstance(v, str) for k, v in props.items())
    assert ModelInfo.from_props({**props, "other.key": "x"}) == info
    assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert info.preprocess_config.height == 64


def test_missing_or_foreign_metadata_is_refused():
    with pytest.raises(ModelFileError, match="no acnet metadata"):
        ModelInfo.from_props({"producer": "someone"}, source="x.onnx")
    props = _info().to_props()
    del props["acnet.num_classes"]
    with pytest.raises(ModelFileError, match="'num_classes'"):
        ModelInfo.from_props(props)
    props = _info().to_props()
    props["acnet.schema_version"] = "99"
    with pytest.raises(ModelFileError, match="newer acnet"):
        ModelInfo.from_props(props)


def test_class_count_mismatch_is_refused():
    with pytest.raises(ModelFileError, match="2 class names for 3 classes"):
        _info(class_names=("a", "b"))
